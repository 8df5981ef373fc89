//! Notifications behind [`Notifier`]: desktop ones through `notify-rust`, or none (servers).

/// Tells the user about something that changed.
pub trait Notifier: Send + Sync {
    /// Shows a notification.
    fn notify(&self, summary: &str, body: &str);
}

/// Desktop notifications (freedesktop D-Bus, macOS, Windows) through `notify-rust`. Shown on
/// a blocking thread; a missing notification daemon is logged, never fatal.
#[derive(Debug, Clone)]
pub struct DesktopNotifier {
    /// The application name shown with each notification.
    pub app_name: String,
}

impl Notifier for DesktopNotifier {
    fn notify(&self, summary: &str, body: &str) {
        let (app, summary, body) = (self.app_name.clone(), summary.to_owned(), body.to_owned());
        // The app's icon and desktop entry (both named after its binary, as the package
        // installs them): the desktop shows and groups the notification as the app's.
        let entry = crate::brand::built_in().binary.clone();
        let show = move || {
            let mut note = notify_rust::Notification::new();
            note.appname(&app)
                .icon(&entry)
                .summary(&summary)
                .body(&body);
            #[cfg(all(unix, not(target_os = "macos")))]
            note.hint(notify_rust::Hint::DesktopEntry(entry.clone()));
            if let Err(e) = note.show() {
                tracing::debug!(error = %e, "no notification daemon answered");
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn_blocking(show);
            }
            Err(_) => show(),
        }
    }
}

/// No notifications: headless servers, or `notifications.enabled = false`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Notifier for Silent {
    fn notify(&self, summary: &str, _body: &str) {
        tracing::info!(summary, "notification (not shown: notifications are off)");
    }
}

/// The user's settings file in the data folder, which the app's Settings write
/// (`{"notifications": bool}`).
pub const SETTINGS_FILE: &str = "companion-settings.json";

/// Whether the user lets notifications be shown, as the settings file at `path` says
/// (`"notifications": true` or `false`); with no file, or one that cannot be read, `default`
/// (the configuration's).
pub fn user_allows(path: &std::path::Path, default: bool) -> bool {
    std::fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .and_then(|settings| {
            settings
                .get("notifications")
                .and_then(serde_json::Value::as_bool)
        })
        .unwrap_or(default)
}

/// `inner`, as the user chose in the app's Settings: read at each notification, so a choice
/// made in the window reaches an agent running apart from it (at login, or beside the app).
pub struct AsTheUserChose<N> {
    /// Where notifications go when allowed.
    pub inner: N,
    /// The settings file ([`SETTINGS_FILE`] in the data folder).
    pub settings: std::path::PathBuf,
    /// Whether they are shown while the user has chosen nothing: the configuration's
    /// `[notifications] enabled`. The user's choice wins over it either way, as in the app.
    pub default: bool,
}

impl<N: Notifier> Notifier for AsTheUserChose<N> {
    fn notify(&self, summary: &str, body: &str) {
        if user_allows(&self.settings, self.default) {
            self.inner.notify(summary, body);
        } else {
            tracing::info!(
                summary,
                "notification (not shown: the user turned them off)"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Shown(std::sync::Mutex<Vec<String>>);

    impl Notifier for &Shown {
        fn notify(&self, summary: &str, _body: &str) {
            self.0.lock().unwrap().push(summary.to_owned());
        }
    }

    #[test]
    fn the_users_choice_in_the_settings_file_is_followed_at_each_notification() {
        let dir = tempfile::tempdir().unwrap();
        let shown = Shown::default();
        let notifier = AsTheUserChose {
            inner: &shown,
            settings: dir.path().join(SETTINGS_FILE),
            default: true,
        };
        notifier.notify("no file: shown", "");
        std::fs::write(
            dir.path().join(SETTINGS_FILE),
            br#"{"notifications": false}"#,
        )
        .unwrap();
        notifier.notify("turned off: not shown", "");
        std::fs::write(
            dir.path().join(SETTINGS_FILE),
            br#"{"notifications": true}"#,
        )
        .unwrap();
        notifier.notify("turned on: shown", "");
        std::fs::write(dir.path().join(SETTINGS_FILE), b"{damaged").unwrap();
        notifier.notify("damaged: shown", "");
        assert_eq!(
            *shown.0.lock().unwrap(),
            ["no file: shown", "turned on: shown", "damaged: shown"]
        );
    }

    #[test]
    fn the_user_turns_on_what_the_configuration_turns_off() {
        let dir = tempfile::tempdir().unwrap();
        let shown = Shown::default();
        let notifier = AsTheUserChose {
            inner: &shown,
            settings: dir.path().join(SETTINGS_FILE),
            default: false,
        };
        notifier.notify("off by default: not shown", "");
        std::fs::write(
            dir.path().join(SETTINGS_FILE),
            br#"{"notifications": true}"#,
        )
        .unwrap();
        notifier.notify("turned on: shown", "");
        assert_eq!(*shown.0.lock().unwrap(), ["turned on: shown"]);
    }
}
