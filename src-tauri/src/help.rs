//! The vendor's help page, opened in the system's browser: only the address built into the
//! app (its brand, checked to be `https://` when the vendor build is made), never one the page
//! names, and never in the app's own webview.

use crate::error::UiError;

/// Opens `url`, an `https://` address, with the system's opener (`xdg-open` on Linux, `open`
/// on macOS, the URL handler on Windows), without waiting for the browser.
///
/// # Errors
/// `help_unavailable` when there is no such address or no opener to run.
pub fn open(url: Option<&str>) -> Result<(), UiError> {
    let url = url
        .filter(|u| licentric_agent::brand::is_help_url(u))
        .ok_or_else(|| UiError::new("help_unavailable", "This app names no help page."))?;
    let mut opener = opener(url);
    let mut child = opener
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| {
            UiError::new(
                "help_unavailable",
                format!(
                    "The help page cannot be opened here ({e}): copy its address into a browser."
                ),
            )
        })?;
    // Waited for, so its end leaves no zombie while the app runs.
    std::thread::spawn(move || child.wait());
    Ok(())
}

#[cfg(target_os = "macos")]
fn opener(url: &str) -> std::process::Command {
    let mut command = std::process::Command::new("/usr/bin/open");
    command.arg(url);
    command
}

#[cfg(windows)]
fn opener(url: &str) -> std::process::Command {
    let mut command = std::process::Command::new("rundll32.exe");
    command.args(["url.dll,FileProtocolHandler", url]);
    command
}

#[cfg(not(any(target_os = "macos", windows)))]
fn opener(url: &str) -> std::process::Command {
    let mut command = std::process::Command::new("xdg-open");
    command.arg(url);
    command
}
