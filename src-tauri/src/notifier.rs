//! Desktop notifications the user can switch off from the app without restarting the agent.

use std::sync::atomic::{AtomicBool, Ordering};

use licentric_agent::notify::{DesktopNotifier, Notifier, Silent};

/// `notify-rust` notifications behind an on/off switch.
#[derive(Debug)]
pub struct Switchable {
    on: AtomicBool,
    desktop: DesktopNotifier,
}

impl Switchable {
    /// Notifications for `app_name`, initially `on` or off.
    pub fn new(app_name: String, on: bool) -> Switchable {
        Switchable {
            on: AtomicBool::new(on),
            desktop: DesktopNotifier { app_name },
        }
    }

    /// Switches notifications on or off.
    pub fn set(&self, on: bool) {
        self.on.store(on, Ordering::Relaxed);
    }
}

impl Notifier for Switchable {
    fn notify(&self, summary: &str, body: &str) {
        if self.on.load(Ordering::Relaxed) {
            self.desktop.notify(summary, body);
        } else {
            Silent.notify(summary, body);
        }
    }
}
