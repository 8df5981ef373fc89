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
        let show = move || {
            if let Err(e) = notify_rust::Notification::new()
                .appname(&app)
                .summary(&summary)
                .body(&body)
                .show()
            {
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
