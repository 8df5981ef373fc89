//! The XDG autostart entry of start at login (Linux and the BSDs): a desktop entry in
//! `~/.config/autostart` named after the product, whose command is quoted as the Desktop Entry
//! specification says. The app and the native window write the same entry.

use std::path::{Path, PathBuf};

/// The entry's file for `name` (the name the autostart plugin gave it, so an entry written
/// by an earlier version is the same one): `/` cannot be in a file name.
#[must_use]
pub fn file(name: &str) -> Option<PathBuf> {
    let dirs = directories::BaseDirs::new()?;
    let name = name.replace(['/', '\0'], "-");
    Some(
        dirs.config_dir()
            .join("autostart")
            .join(format!("{name}.desktop")),
    )
}

/// Writes the entry starting `program` with `args`, whole or not at all.
///
/// # Errors
/// What kept it from being written.
pub fn write(file: &Path, name: &str, program: &Path, args: &[String]) -> Result<(), String> {
    let text = entry(name, &program.display().to_string(), args)?;
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    licentric_agent::storage::write_atomic(file, text.as_bytes())
        .map_err(|e| format!("{}: {e}", file.display()))
}

/// The program an entry written now starts: [`program`] for `exe`, a program of this
/// process's installation (the app, or this program itself), run from where it is.
///
/// # Errors
/// When `exe` cannot be found.
pub fn program_of(exe: std::io::Result<PathBuf>) -> Result<PathBuf, String> {
    Ok(program(
        exe.map_err(|e| e.to_string())?,
        std::env::var_os("APPIMAGE").map(PathBuf::from),
        std::env::var_os("APPDIR").map(PathBuf::from),
    ))
}

/// An entry `name` written before that starts a program in an AppImage's mount (earlier
/// versions wrote that path; the mount goes when the app ends, and another local user could
/// make it again) is written again, to start `program` with `args`. Whether it was.
///
/// # Errors
/// What kept it from being written again.
pub fn refresh(name: &str, program: &Path, args: &[String]) -> Result<bool, String> {
    let Some(file) = file(name) else {
        return Ok(false);
    };
    let Ok(text) = std::fs::read_to_string(&file) else {
        return Ok(false);
    };
    if starts_from_a_mount(&text) && !starts(&text, &program.display().to_string()) {
        write(&file, name, program, args)?;
        return Ok(true);
    }
    Ok(false)
}

/// Whether the entry `text` starts a program inside an AppImage's mount (`/tmp/.mount_…`).
pub fn starts_from_a_mount(text: &str) -> bool {
    text.lines()
        .any(|line| line.starts_with("Exec=") && line.contains("/.mount_"))
}

/// Whether the entry `text` starts `exe`.
pub fn starts(text: &str, exe: &str) -> bool {
    let wanted = format!("Exec={}", quoted(exe));
    text.lines()
        .any(|line| line == wanted || line.starts_with(&format!("{wanted} ")))
}

/// The program the entry starts: `exe`, this program — or, run from an AppImage (`exe`
/// inside the image's mount, `appdir`), the AppImage file itself. The mount is a folder in
/// `/tmp` that goes when the app ends, and that another local user could make in its place
/// for the entry to start their program at the next login.
pub fn program(exe: PathBuf, appimage: Option<PathBuf>, appdir: Option<PathBuf>) -> PathBuf {
    match (appimage, appdir) {
        (Some(image), Some(dir)) if image.is_absolute() && exe.starts_with(&dir) => image,
        _ => exe,
    }
}

/// The entry's text: `exe` with `args`, each quoted.
///
/// # Errors
/// A name or an argument that a desktop entry cannot hold (a line break, a control
/// character).
pub fn entry(name: &str, exe: &str, args: &[String]) -> Result<String, String> {
    let brand = licentric_agent::brand::built_in();
    let plain = |text: &str| {
        if text.chars().any(char::is_control) {
            Err(format!("{text:?} cannot be written in a login entry"))
        } else {
            Ok(text.to_owned())
        }
    };
    let name = plain(name)?;
    let exec = std::iter::once(exe)
        .chain(args.iter().map(String::as_str))
        .map(|arg| plain(arg).map(|arg| quoted(&arg)))
        .collect::<Result<Vec<_>, _>>()?
        .join(" ");
    Ok(format!(
        "[Desktop Entry]\nType=Application\nVersion=1.0\nName={name}\n\
         Comment=Keeps the licence of {name} and shows it in the tray ({app})\n\
         Exec={exec}\nIcon={icon}\nTerminal=false\nStartupNotify=false\n\
         X-GNOME-Autostart-enabled=true\n",
        app = brand.app_name,
        icon = brand.binary,
    ))
}

/// `arg` as one argument of `Exec`: in double quotes, with `"`, `` ` ``, `$` and `\`
/// escaped by a backslash (the quoting rule), `%` doubled (not a field code), and then
/// every backslash doubled (the string escape, which is undone first).
fn quoted(arg: &str) -> String {
    let mut out = String::with_capacity(arg.len() + 2);
    out.push('"');
    for c in arg.chars() {
        match c {
            '"' | '`' | '$' => out.extend(['\\', '\\', c]),
            '\\' => out.push_str("\\\\\\\\"),
            '%' => out.push_str("%%"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_known_by_the_program_it_starts() {
        let args = ["--hidden".to_owned()];
        let text = entry("Acme CAD", "/opt/Acme CAD.AppImage", &args).unwrap();
        assert!(starts(&text, "/opt/Acme CAD.AppImage"));
        assert!(
            !starts(&text, "/opt/Acme"),
            "a prefix of the path is another program"
        );
        let old = entry("Acme CAD", "/tmp/.mount_AcmeCAx1/usr/bin/app", &args).unwrap();
        assert!(!starts(&old, "/opt/Acme CAD.AppImage"));
        assert!(starts_from_a_mount(&old) && !starts_from_a_mount(&text));
    }

    #[test]
    fn from_an_appimage_the_entry_starts_the_appimage_not_its_mount() {
        let mount = PathBuf::from("/tmp/.mount_AcmeCAx1");
        let inside = mount.join("usr/bin/licentric-companion");
        let image = PathBuf::from("/home/u/Apps/Acme-CAD.AppImage");
        assert_eq!(
            program(inside.clone(), Some(image.clone()), Some(mount.clone())),
            image
        );
        // Not run from the image (a variable left over from elsewhere): this program.
        let installed = PathBuf::from("/usr/bin/licentric-companion");
        assert_eq!(
            program(installed.clone(), Some(image.clone()), Some(mount)),
            installed
        );
        assert_eq!(program(inside.clone(), Some(image), None), inside);
        assert_eq!(
            program(
                inside.clone(),
                Some("Acme.AppImage".into()),
                Some("/tmp".into())
            ),
            inside,
            "a relative path starts nothing at login"
        );
    }

    #[test]
    fn arguments_are_quoted_as_the_specification_says() {
        assert_eq!(quoted("/usr/bin/app"), r#""/usr/bin/app""#);
        assert_eq!(quoted("/a b/c.toml"), r#""/a b/c.toml""#);
        assert_eq!(quoted(r#"say "hi""#), r#""say \\"hi\\"""#);
        assert_eq!(quoted(r"a\b"), r#""a\\\\b""#);
        assert_eq!(quoted("$HOME 100%"), r#""\\$HOME 100%%""#);
    }

    #[test]
    fn a_line_break_cannot_reach_the_entry() {
        let refused = entry(
            "Acme",
            "/usr/bin/app",
            &["--config".into(), "/a\nExec=x".into()],
        );
        assert!(refused.is_err(), "{refused:?}");
        assert!(entry("Acme\nExec=x", "/usr/bin/app", &[]).is_err());
    }

    /// GLib — what GNOME and most desktops start autostart entries with — reads the
    /// arguments back as written: `gio launch` runs the entry, and the program it starts
    /// writes down what it was given.
    #[test]
    fn glib_starts_the_entry_with_its_arguments() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("a b $x");
        std::fs::create_dir(&folder).unwrap();
        let said = folder.join("said");
        let program = folder.join("print args");
        std::fs::write(
            &program,
            format!(
                "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > '{0}.tmp'\nmv '{0}.tmp' '{0}'\n",
                said.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        let args: Vec<String> = ["--hidden", "--config", r#"/My "Files"/100% \ `x`.toml"#]
            .map(str::to_owned)
            .to_vec();
        let text = entry("Acme CAD (test)", &program.display().to_string(), &args).unwrap();
        let file = folder.join("acme.desktop");
        std::fs::write(&file, text).unwrap();
        let launched = std::process::Command::new("gio")
            .arg("launch")
            .arg(&file)
            .status()
            .expect("gio (libglib2.0-bin) runs the entry");
        assert!(launched.success());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let got = loop {
            // `gio launch` does not wait for the program it starts.
            match std::fs::read_to_string(&said) {
                Ok(text) => break text,
                _ if std::time::Instant::now() > deadline => panic!("the entry did not run"),
                _ => std::thread::sleep(std::time::Duration::from_millis(20)),
            }
        };
        assert_eq!(got.lines().collect::<Vec<_>>(), args);
    }
}
