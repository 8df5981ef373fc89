//! The real GUI under test: an X server (Xvfb) of its own, a notification daemon (dunst) on
//! the test's D-Bus session, and the app in a real WebKitGTK webview driven over WebDriver
//! (`WebKitWebDriver`, with `TAURI_WEBVIEW_AUTOMATION=true` so the app's webview accepts
//! automation). Everything is stopped on drop.
//!
//! The WebDriver client is a few lines over `ureq` on one kept-alive connection: the endpoints
//! the tests need (session, elements, script, screenshot) and nothing else.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::bin;

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// The environment that keeps the app's webview window where the native window is installed
/// beside it (as it is in the build folder): the webview's tests drive the webview.
pub const WEBVIEW: (&str, &str) = ("LICENTRIC_WINDOW", "webview");

/// Whether the GUI's tools are installed (`.ci/test` installs them; see `.ci/lib.sh`).
pub fn require_tools() {
    for tool in ["Xvfb", "WebKitWebDriver", "dunst", "dbus-send"] {
        let found = std::env::var_os("PATH")
            .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).exists()));
        assert!(
            found,
            "{tool} is missing: run the GUI tests through .ci/test, which installs xvfb, webkit2gtk-driver and dunst"
        );
    }
    assert!(
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "no D-Bus session: run the tests inside .ci/with-secret-service (as .ci/test does)"
    );
}

/// An Xvfb display, a dunst logging every notification it receives, and a tray host
/// (`tray-host.py`: the StatusNotifierWatcher a desktop's panel serves), as on a desktop.
pub struct Desktop {
    pub display: String,
    pub notifications: PathBuf,
    tray_log: PathBuf,
    xvfb: Child,
    dunst: Child,
    tray: Child,
}

impl Desktop {
    /// Starts Xvfb on a free display (it picks one and tells us) and dunst on it.
    pub fn start(root: &Path) -> Desktop {
        let mut xvfb = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1280x900x24",
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(xvfb.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let display = format!(":{}", line.trim());
        assert!(display.len() > 1, "Xvfb did not say which display it took");
        let notifications = root.join("notifications.log");
        // Line-buffered, so each notification is in the file as soon as dunst prints it.
        let dunst = Command::new("stdbuf")
            .args(["-oL", "dunst", "-print"])
            .env("DISPLAY", &display)
            .stdout(std::fs::File::create(&notifications).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let tray_log = root.join("tray-host.log");
        let tray = Command::new("python3")
            .arg(support_script("tray-host.py"))
            .arg("serve")
            .stdout(std::fs::File::create(&tray_log).unwrap())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let desktop = Desktop {
            display,
            notifications,
            tray_log,
            xvfb,
            dunst,
            tray,
        };
        wait_for(
            "the tray host on the session bus",
            Duration::from_secs(20),
            || {
                desktop
                    .tray_output()
                    .lines()
                    .any(|l| l == "ready")
                    .then_some(())
            },
        );
        wait_for("dunst on the session bus", Duration::from_secs(20), || {
            crate::bus_name_owned("org.freedesktop.Notifications", None).then_some(())
        });
        desktop
    }

    /// What dunst printed so far.
    pub fn notifications(&self) -> String {
        std::fs::read_to_string(&self.notifications).unwrap_or_default()
    }

    fn tray_output(&self) -> String {
        std::fs::read_to_string(&self.tray_log).unwrap_or_default()
    }

    /// How many tray icons registered with the host are shown now: those whose bus name
    /// still has an owner (a panel drops an icon whose name is gone).
    pub fn tray_icons(&self) -> usize {
        let names: std::collections::BTreeSet<String> = self
            .tray_output()
            .lines()
            .filter_map(|l| {
                l.strip_prefix("item ")?
                    .split(' ')
                    .next()
                    .map(str::to_owned)
            })
            .collect();
        if names.is_empty() {
            return 0;
        }
        let out = Command::new("python3")
            .arg(support_script("tray-host.py"))
            .arg("live")
            .args(&names)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "asking which tray icons are shown: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).lines().count()
    }

    /// The last tray icon registered with the host: its bus name and object path.
    pub fn tray_icon(&self) -> (String, String) {
        wait_for("a tray icon", Duration::from_secs(20), || {
            let output = self.tray_output();
            let line = output.lines().rev().find(|l| l.starts_with("item "))?;
            let mut parts = line.split(' ').skip(1);
            Some((parts.next()?.to_owned(), parts.next()?.to_owned()))
        })
    }

    /// The labels of the tray icon's menu, as a panel shows them (`(disabled)` marks the
    /// items that only inform).
    pub fn tray_menu(&self) -> Vec<String> {
        self.read_tray_menu()
            .unwrap_or_else(|e| panic!("reading the tray menu: {e}"))
    }

    /// As [`tray_menu`](Self::tray_menu), or why it could not be read: while a tray
    /// process replaces its icon, the last one registered may be gone.
    pub fn read_tray_menu(&self) -> Result<Vec<String>, String> {
        let (name, path) = self.tray_icon();
        let out = Command::new("python3")
            .arg(support_script("tray-host.py"))
            .args(["menu", &name, &path])
            .output()
            .unwrap();
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect())
    }

    /// Clicks the tray menu's item `label`.
    pub fn tray_click(&self, label: &str) {
        let (name, path) = self.tray_icon();
        let status = Command::new("python3")
            .arg(support_script("tray-host.py"))
            .args(["click", &name, &path, label])
            .status()
            .unwrap();
        assert!(status.success(), "clicking {label:?} in the tray menu");
    }
}

/// A helper script of `tests/support/` (the tray host, the X11 helpers).
pub fn support_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("support")
        .join(name)
}

impl Drop for Desktop {
    fn drop(&mut self) {
        for child in [&mut self.tray, &mut self.dunst, &mut self.xvfb] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Polls `probe` until it gives a value; panics with `what` after `timeout`. For waiting on
/// a state another process reaches (the DOM after an event, a daemon on the bus), where no
/// signal reaches the test.
pub fn wait_for<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The companion app in a WebDriver session.
pub struct App {
    driver: Child,
    http: ureq::Agent,
    base: String,
    session: Option<String>,
    pub log: PathBuf,
    /// The app's configuration (`LICENTRIC_CONFIG`), to find its process.
    config: Option<PathBuf>,
}

impl App {
    /// Starts WebKitWebDriver and, through it, `licentric-companion` with `env` (its
    /// configuration, machine id, …) on `desktop`.
    pub fn start(root: &Path, desktop: &Desktop, env: &[(&str, &str)]) -> App {
        App::start_with_args(root, desktop, env, &[])
    }

    /// As [`start`](App::start), the app given `args` (a link, say).
    pub fn start_with_args(
        root: &Path,
        desktop: &Desktop,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> App {
        App::start_program(&bin("licentric-companion"), root, desktop, env, args)
    }

    /// As [`start_with_args`](App::start_with_args), the app being `program` (a vendor's
    /// build, say).
    pub fn start_program(
        program: &Path,
        root: &Path,
        desktop: &Desktop,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> App {
        let port = free_port();
        let log = root.join("app.log");
        let mut driver = Command::new("WebKitWebDriver");
        driver
            .arg(format!("--port={port}"))
            .env("TAURI_WEBVIEW_AUTOMATION", "true")
            .env("DISPLAY", &desktop.display)
            .env("LICENTRIC_LOG", "debug")
            // WebDriver's screenshots (webkit_web_view_get_snapshot) never return without
            // accelerated compositing, which the app turns off for its users (src-tauri's
            // main.rs): on for the sessions driven here. The tray's test and the desktop
            // benchmark start the app as users do, without it.
            .env("WEBKIT_DISABLE_COMPOSITING_MODE", "0")
            .env(WEBVIEW.0, WEBVIEW.1)
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::options().append(true).open(&log).unwrap());
        for (k, v) in env {
            driver.env(k, v);
        }
        let http: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let mut app = App {
            driver: driver.spawn().unwrap(),
            http,
            base: format!("http://127.0.0.1:{port}"),
            session: None,
            log,
            config: env
                .iter()
                .find(|(k, _)| *k == "LICENTRIC_CONFIG")
                .map(|(_, v)| PathBuf::from(v)),
        };
        wait_for("WebKitWebDriver", Duration::from_secs(20), || {
            app.http
                .get(format!("{}/status", app.base))
                .call()
                .ok()
                .filter(|r| r.status() == 200)
        });
        let caps = json!({"capabilities": {"alwaysMatch": {"webkitgtk:browserOptions": {
            "binary": program, "args": args
        }}}});
        let created = app.request("POST", "/session", Some(caps));
        app.session = Some(
            created["sessionId"]
                .as_str()
                .unwrap_or_else(|| panic!("no session: {created}; app log: {}", app.app_log()))
                .to_owned(),
        );
        app
    }

    /// The app's and the driver's output.
    pub fn app_log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn request(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base);
        let response = match (method, body) {
            ("GET", _) => self.http.get(&url).call(),
            ("DELETE", _) => self.http.delete(&url).call(),
            (_, body) => self
                .http
                .post(&url)
                .send_json(body.unwrap_or_else(|| json!({}))),
        };
        let mut response = response.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let value: Value = response.body_mut().read_json().unwrap_or(Value::Null);
        value.get("value").cloned().unwrap_or(value)
    }

    fn session_path(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session.as_deref().unwrap_or(""))
    }

    /// Runs `script` in the page (its `arguments` are `args`) and returns its result.
    pub fn js(&self, script: &str, args: Value) -> Value {
        self.request(
            "POST",
            &self.session_path("/execute/sync"),
            Some(json!({"script": script, "args": args})),
        )
    }

    /// The text of the element with this id ("" if absent or hidden).
    pub fn text(&self, id: &str) -> String {
        self.js(
            "const e = document.getElementById(arguments[0]); return e && !e.closest('[hidden]') ? e.textContent.trim() : '';",
            json!([id]),
        )
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// Whether the element with this id is rendered, as the browser lays it out (a `hidden`
    /// attribute that a style overrides does not count), and not folded away in a closed
    /// `<details>`.
    pub fn visible(&self, id: &str) -> bool {
        self.js(
            "const e = document.getElementById(arguments[0]); \
             if (!e || e.closest('details:not([open]) > :not(summary)')) return false; \
             return e.checkVisibility ? e.checkVisibility() : !e.closest('[hidden]');",
            json!([id]),
        ) == Value::Bool(true)
    }

    /// Waits until the element with this id shows text that `accept`s, and returns it.
    pub fn wait_text(&self, id: &str, accept: impl Fn(&str) -> bool) -> String {
        let mut last = String::new();
        let found = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            wait_for(&format!("#{id}"), Duration::from_secs(30), || {
                last = self.text(id);
                accept(&last).then(|| last.clone())
            })
        }));
        found.unwrap_or_else(|_| {
            panic!(
                "#{id} never showed the expected text; it shows {last:?}.\napp log:\n{}",
                self.app_log()
            )
        })
    }

    fn element(&self, id: &str) -> String {
        let found = self.request(
            "POST",
            &self.session_path("/element"),
            Some(json!({"using": "css selector", "value": format!("#{id}")})),
        );
        found[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element #{id}: {found}"))
            .to_owned()
    }

    /// Clicks the element with this id, as a user would.
    pub fn click(&self, id: &str) {
        let element = self.element(id);
        let out = self.request(
            "POST",
            &self.session_path(&format!("/element/{element}/click")),
            None,
        );
        assert!(out.get("error").is_none(), "click #{id}: {out}");
    }

    /// Types `text` into the element with this id, key by key.
    pub fn type_into(&self, id: &str, text: &str) {
        let element = self.element(id);
        let out = self.request(
            "POST",
            &self.session_path(&format!("/element/{element}/value")),
            Some(json!({"text": text})),
        );
        assert!(out.get("error").is_none(), "type into #{id}: {out}");
    }

    /// Chooses `file` in the file input with this id, as the file picker would.
    pub fn choose_file(&self, id: &str, file: &Path) {
        self.type_into(id, &file.display().to_string());
    }

    /// Empties the field with this id.
    pub fn clear(&self, id: &str) {
        let element = self.element(id);
        self.request(
            "POST",
            &self.session_path(&format!("/element/{element}/clear")),
            None,
        );
    }

    /// The handles of the app's open windows.
    pub fn windows(&self) -> Vec<String> {
        self.request("GET", &self.session_path("/window/handles"), None)
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Saves a screenshot of the window to `path` (PNG), after the window had time to paint.
    pub fn screenshot(&self, path: &Path) {
        use base64::Engine as _;
        // The webview paints a frame or two after the DOM changes.
        self.js(
            "return new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(() => done(true))));",
            json!([]),
        );
        let shot = self.request("GET", &self.session_path("/screenshot"), None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot.as_str().unwrap_or_default())
            .unwrap_or_else(|e| panic!("screenshot: {e}: {shot}"));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, &png).unwrap();
        keep_for_the_docs(path);
    }
}

impl Drop for App {
    fn drop(&mut self) {
        if self.session.is_some() {
            let path = self.session_path("");
            let _ = self.http.delete(format!("{}{path}", self.base)).call();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        // An app left behind (a failed test, a driver killed mid-session) would keep the
        // single-instance name on the bus, and every later launch would hand over to it.
        if let Some(config) = &self.config {
            while let Some(pid) = app_pid(config) {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// `LICENTRIC_UPDATE_SCREENSHOTS=1`: the documentation's copy of the screenshot at `path` too
/// (as golden files are regenerated), so docs/screenshots shows the app as the tests last saw
/// it.
fn keep_for_the_docs(path: &Path) {
    if std::env::var_os(UPDATE_SCREENSHOTS_ENV).is_some()
        && let Some(name) = path.file_name()
    {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots");
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::copy(path, docs.join(name)).unwrap();
    }
}

/// Saves the window titled `title` on `desktop` as it is on screen, in the screenshots'
/// folder as `name` (the native window's, which no WebDriver takes).
pub fn window_screenshot(desktop: &Desktop, title: &str, name: &str) {
    let path = screenshot_dir().join(name);
    std::fs::create_dir_all(screenshot_dir()).unwrap();
    assert!(
        x11_helper_with(
            desktop,
            "screenshot.py",
            title,
            &[&path.display().to_string()]
        ),
        "no window titled {title:?} to take"
    );
    keep_for_the_docs(&path);
}

/// Runs the X11 helper `script` (python-xlib) about the window titled `title` on `desktop`:
/// whether it answered yes (exit 0) rather than no (exit 1); anything else fails the test.
fn x11_helper(desktop: &Desktop, script: &str, title: &str) -> bool {
    x11_helper_with(desktop, script, title, &[])
}

fn x11_helper_with(desktop: &Desktop, script: &str, title: &str, options: &[&str]) -> bool {
    let out = Command::new("python3")
        .arg(support_script(script))
        .arg(title)
        .args(options)
        .env("DISPLAY", &desktop.display)
        .output()
        .unwrap();
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "{script} failed (is python-xlib installed?): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.status.success()
}

/// Closes the top-level windows titled `title` on `desktop` as a window manager would when the
/// user clicks the close button (`close-window.py`); false if there was none.
pub fn close_like_a_user(desktop: &Desktop, title: &str) -> bool {
    x11_helper(desktop, "close-window.py", title)
}

/// Whether the top-level window titled `title` is on screen (mapped and viewable), as a user
/// would see it — not only that a window or a web process exists.
pub fn window_visible(desktop: &Desktop, title: &str) -> bool {
    x11_helper(desktop, "window-state.py", title)
}

/// Whether the window titled `title` is on screen with its page drawn in it (many colours in
/// its pixels, not a blank fill): what the user sees, however the webview composites.
pub fn window_painted(desktop: &Desktop, title: &str) -> bool {
    x11_helper_with(desktop, "window-state.py", title, &["--painted"])
}

/// A process as `/proc` shows it.
pub struct Process {
    pub pid: u32,
    pub parent: u32,
    pub name: String,
    dir: PathBuf,
}

impl Process {
    /// The program it runs.
    pub fn exe(&self) -> Option<PathBuf> {
        std::fs::read_link(self.dir.join("exe")).ok()
    }

    /// Whether `arg` is one of its arguments.
    pub fn has_arg(&self, arg: &str) -> bool {
        Process::has(&self.dir.join("cmdline"), arg)
    }

    /// Whether `pair` (`NAME=value`) is in its environment.
    pub fn has_env(&self, pair: &str) -> bool {
        Process::has(&self.dir.join("environ"), pair)
    }

    fn has(list: &Path, item: &str) -> bool {
        std::fs::read(list)
            .is_ok_and(|bytes| bytes.split(|b| *b == 0).any(|v| v == item.as_bytes()))
    }
}

/// The processes running now (those this user may read).
pub fn processes() -> Vec<Process> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let status = std::fs::read_to_string(entry.path().join("status")).ok()?;
            let field = |name: &str| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(|v| v.trim().to_owned())
            };
            Some(Process {
                pid,
                parent: field("PPid:")?.parse().ok()?,
                name: field("Name:")?,
                dir: entry.path(),
            })
        })
        .collect()
}

/// `root` and its descendants, parents first.
pub fn descendants(root: u32) -> Vec<u32> {
    let all = processes();
    let mut found = vec![root];
    let mut next = 0;
    while next < found.len() {
        let parent = found[next];
        found.extend(all.iter().filter(|p| p.parent == parent).map(|p| p.pid));
        next += 1;
    }
    found
}

/// The pid of the `licentric-companion` running with `LICENTRIC_CONFIG=config`.
pub fn app_pid(config: &Path) -> Option<u32> {
    let wanted = format!("LICENTRIC_CONFIG={}", config.display());
    let app = bin("licentric-companion");
    processes()
        .into_iter()
        .find(|p| p.exe().as_ref() == Some(&app) && p.has_env(&wanted))
        .map(|p| p.pid)
}

/// How many WebKit web processes (one per live webview) run under `pid`.
pub fn webview_processes(pid: u32) -> usize {
    let under = descendants(pid);
    processes()
        .iter()
        .filter(|p| p.name.starts_with("WebKitWebProces") && p.pid != pid && under.contains(&p.pid))
        .count()
}

fn free_port() -> u16 {
    // WebKitWebDriver needs a port number; ask the OS for a free one.
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Set it to copy every screenshot into `docs/screenshots/` as well.
pub const UPDATE_SCREENSHOTS_ENV: &str = "LICENTRIC_UPDATE_SCREENSHOTS";

/// Where the tests keep their screenshots (`target/gui-screenshots`); the README's come from
/// here (copied to `docs/screenshots/`).
pub fn screenshot_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .unwrap()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("gui-screenshots")
}
