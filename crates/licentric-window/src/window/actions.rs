//! What the user asks, one at a time: sent to the agent, its wait shown (the seconds, the
//! retries, Cancel after two seconds), and its outcome said where the user is looking.

use std::rc::Rc;
use std::time::Instant;

use gtk::glib;
use gtk::prelude::*;
use licentric_proto::ipc::{ClientSeen, Status};
use time::OffsetDateTime;

use super::widgets::{offer, put, tone};
use super::{Busy, Card, Ui, dialogs};
use crate::agent::{Answer, Ask, Failure, Request};
use crate::view;

/// The codes that mean the server was not reached: after them, what stands is said too.
const UNREACHED: [&str; 3] = ["network_unavailable", "server_unavailable", "tls_error"];

impl Ui {
    pub(super) fn start_activation(self: &Rc<Self>) {
        match self.check_key(true) {
            Some(key) => self.start(Busy::Activate, Request::Activate(key)),
            None => self.activation.key.grab_focus(),
        }
    }

    /// Sends `request`, disabling the actions until it ends and showing its progress.
    pub(super) fn start(self: &Rc<Self>, busy: Busy, request: Request) {
        if self.busy.get().is_some() {
            return;
        }
        self.busy.set(Some((busy, Instant::now())));
        let wait = self.wait.get() + 1;
        self.wait.set(wait);
        self.retry.replace(None);
        self.cancel_refused.replace(String::new());
        self.set_actions_sensitive(false);
        let (progress, text) = self.progress_of(busy);
        self.say(progress, text, false);
        if busy == Busy::Activate {
            put(&self.activation.error, "");
            put(&self.activation.help, "");
        }
        if self.requests.send(request).is_err() {
            self.finished(Err(Failure {
                code: "window_error".into(),
                reason: None,
                message:
                    "The window lost its link to the licensing service: close it and open it again."
                        .into(),
            }));
            return;
        }
        let ui = Rc::clone(self);
        glib::timeout_add_local(std::time::Duration::from_millis(500), move || {
            match ui.busy.get() {
                Some((_, started)) if ui.wait.get() == wait => ui.waited(busy, started),
                _ => glib::ControlFlow::Break,
            }
        });
    }

    /// A tick of the wait for `busy`, started at `started`: after two seconds, how long, the
    /// retry the agent last told of, and Cancel.
    fn waited(&self, busy: Busy, started: Instant) -> glib::ControlFlow {
        let seconds = started.elapsed().as_secs();
        if seconds < 2 {
            return glib::ControlFlow::Continue;
        }
        // Asked on the side connection's thread; its answer comes as an event.
        if !self.asking.replace(true) {
            let _ = self.asks.send(Ask::Progress);
        }
        let retry = self.retry.borrow();
        let words = view::waiting(
            self.progress_of(busy).1,
            seconds,
            retry.as_ref().map(|r| (r.because.as_str(), r.attempt)),
        );
        put(
            self.progress_of(busy).0,
            &format!("{words}{}", self.cancel_refused.borrow()),
        );
        if let Some(cancel) = self.cancel_button(busy) {
            offer(cancel, true);
        }
        glib::ControlFlow::Continue
    }

    /// Where a request's progress is said, and its words while it waits.
    pub(super) fn progress_of(&self, busy: Busy) -> (&gtk::Label, &'static str) {
        let (a, st) = (&self.activation, &self.status);
        match busy {
            Busy::Activate => (&a.progress, "Activating…"),
            Busy::ActivateAgain => (&a.again_progress, "Activating…"),
            Busy::Refresh => (&st.message, "Refreshing…"),
            Busy::Deactivate => (&st.message, "Deactivating…"),
            Busy::RequestFile { renewal: false } => (&a.offline_message, "Making the request…"),
            Busy::Import { renewal: false } => (&a.offline_message, "Importing…"),
            Busy::RequestFile { renewal: true } => (&st.message, "Making the request…"),
            Busy::Import { renewal: true } => (&st.message, "Importing…"),
            Busy::Borrow => (&st.message, "Borrowing a seat…"),
            Busy::Return => (&st.message, "Returning the seat…"),
        }
    }

    /// The Cancel offered while `busy` waits: none where the wait must not stop halfway (a
    /// floating licence's seats given back, a seat borrowed or returned).
    pub(super) fn cancel_button(&self, busy: Busy) -> Option<&gtk::Button> {
        match busy {
            Busy::Activate => Some(&self.activation.cancel),
            Busy::ActivateAgain => Some(&self.activation.again_cancel),
            Busy::Refresh => Some(&self.status.cancel),
            Busy::Deactivate => self
                .current
                .borrow()
                .as_ref()
                .is_none_or(|s| !view::is_floating(s))
                .then_some(&self.status.cancel),
            Busy::RequestFile { .. } | Busy::Import { .. } | Busy::Borrow | Busy::Return => None,
        }
    }

    /// The button that started `busy`, where the focus goes back after it.
    fn button_of(&self, busy: Busy) -> &gtk::Button {
        let (a, st) = (&self.activation, &self.status);
        match busy {
            Busy::Activate => &a.activate,
            Busy::ActivateAgain => &a.again,
            Busy::Refresh => &st.refresh,
            Busy::Deactivate => &st.deactivate,
            Busy::RequestFile { renewal: false } => &a.save_request,
            Busy::Import { renewal: false } => &a.import,
            Busy::RequestFile { renewal: true } => &st.renew_request,
            Busy::Import { renewal: true } => &st.renew_import,
            Busy::Borrow => &st.borrow,
            Busy::Return => &st.give_back,
        }
    }

    fn set_actions_sensitive(&self, on: bool) {
        let (a, st) = (&self.activation, &self.status);
        for b in [
            &a.activate,
            &a.again,
            &a.save_request,
            &a.import,
            &st.refresh,
            &st.renew_request,
            &st.renew_import,
            &st.borrow,
            &st.give_back,
            &st.deactivate,
        ] {
            b.set_sensitive(on);
        }
    }

    pub(super) fn cancel(self: &Rc<Self>) {
        let _ = self.asks.send(Ask::Cancel);
    }

    /// Says `text` in `message` (an error in red).
    pub(super) fn say(&self, message: &gtk::Label, text: &str, error: bool) {
        self.said.set(self.said.get() + 1);
        put(message, text);
        tone(message, if error { &["error"] } else { &[] });
    }

    /// A success is the news of a moment: it goes after a few seconds, unless something else
    /// was said since (errors stay until the next action).
    fn settle(self: &Rc<Self>, message: &gtk::Label) {
        let token = self.said.get();
        let ui = Rc::clone(self);
        let message = message.clone();
        glib::timeout_add_seconds_local_once(4, move || {
            if ui.said.get() == token {
                put(&message, "");
            }
        });
    }

    pub(super) fn finished(self: &Rc<Self>, answer: Result<Answer, Failure>) {
        let Some((busy, _)) = self.busy.take() else {
            return;
        };
        self.set_actions_sensitive(true);
        for cancel in [
            &self.activation.cancel,
            &self.activation.again_cancel,
            &self.status.cancel,
        ] {
            offer(cancel, false);
        }
        let (progress, _) = self.progress_of(busy);
        put(progress, "");
        match answer {
            Err(e) => self.failed(busy, progress, &e),
            Ok(Answer::RequestFile(text)) => self.save_request(busy, &text),
            Ok(Answer::Status(s)) => {
                self.render(&s);
                self.succeeded(busy);
            }
        }
    }

    /// Asks where to save the activation (or renewal) request `text`, and says where it went.
    fn save_request(self: &Rc<Self>, busy: Busy, text: &str) {
        let name = format!("{}-activation-request.txt", self.product.binary);
        let (ui, text) = (Rc::clone(self), text.to_owned());
        dialogs::save_file(
            &self.window,
            "Save activation request",
            &name,
            move |path| {
                let mut said = dialogs::write(&path, &text);
                if matches!(busy, Busy::RequestFile { renewal: true }) {
                    said.push_str(". Use it with your licence key on the vendor's site, then import the licence file you get back.");
                }
                ui.say(ui.progress_of(busy).0, &said, false);
            },
        );
    }

    /// Says why `busy` failed, where its button is.
    fn failed(self: &Rc<Self>, busy: Busy, progress: &gtk::Label, e: &Failure) {
        // What stands after a deactivation that did not happen.
        let stands = match self.current.borrow().as_ref() {
            Some(s) if view::is_floating(s) => "The licence stays on this computer.",
            _ => "This computer is still activated.",
        };
        if e.code == "cancelled" {
            let text = if busy == Busy::Deactivate {
                format!("Cancelled. {stands}")
            } else {
                view::CANCELLED.to_owned()
            };
            self.say(progress, &text, false);
            // The focus goes back to where the wait began.
            if busy == Busy::Activate {
                self.activation.key.grab_focus();
            } else {
                self.button_of(busy).grab_focus();
            }
            return;
        }
        let entitled = self.current.borrow().as_ref().is_some_and(|s| s.entitled);
        match busy {
            Busy::Activate => {
                // The server's word stands over the format check's: no green "looks right"
                // above it.
                self.activation.feedback.set_text("");
                tone(&self.activation.feedback, &[]);
                self.say(&self.activation.error, &e.message, true);
                let help = view::help(e.most_precise()).or_else(|| view::help(&e.code));
                put(&self.activation.help, help.unwrap_or(""));
                self.activation.key.grab_focus();
            }
            Busy::RequestFile { .. } | Busy::Import { .. } => {
                let words = view::import_words(e.most_precise(), entitled).unwrap_or(&e.message);
                self.say(progress, words, true);
            }
            Busy::ActivateAgain => self.say(progress, &e.message, true),
            _ => {
                self.failed_since.replace(Some(
                    self.current
                        .borrow()
                        .as_ref()
                        .and_then(|s| s.last_refresh_at.clone()),
                ));
                // What stands is said when the server was not reached: another failure may
                // come after it.
                let unreached =
                    UNREACHED.contains(&e.most_precise()) || UNREACHED.contains(&e.code.as_str());
                let text = if busy == Busy::Deactivate && unreached {
                    format!("{} {stands}", e.message)
                } else {
                    e.message.clone()
                };
                self.say(&self.status.message, &text, true);
                self.button_of(busy).grab_focus();
            }
        }
    }

    /// Says that `busy` succeeded, where the user is looking (the card now shown).
    fn succeeded(self: &Rc<Self>, busy: Busy) {
        let on_status = self.stack.visible_child_name().as_deref() == Some("status");
        let here = if on_status {
            &self.status.message
        } else {
            &self.activation.progress
        };
        let (text, lasting) = match busy {
            Busy::Activate | Busy::ActivateAgain => {
                self.activation.key.set_text("");
                if on_status {
                    self.status.badge.grab_focus();
                }
                return;
            }
            Busy::RequestFile { .. } => return,
            Busy::Refresh => ("Refreshed.".to_owned(), false),
            Busy::Deactivate => (self.deactivated.take(), true),
            Busy::Import { renewal: false } => {
                ("Activated: the licence file is installed.".to_owned(), false)
            }
            Busy::Import { renewal: true } => {
                ("Renewed: the new licence file is installed.".to_owned(), false)
            }
            Busy::Borrow => (
                "Seat borrowed: this computer keeps it until the day you chose, with or without a network.".to_owned(),
                false,
            ),
            Busy::Return => ("Seat returned: it is free for others.".to_owned(), false),
        };
        self.say(here, &text, false);
        if !lasting {
            self.settle(here);
        }
        if on_status {
            let button = self.button_of(busy);
            if button.is_visible() {
                button.grab_focus();
            } else {
                self.status.badge.grab_focus();
            }
        } else {
            self.activation.key.grab_focus();
        }
    }

    pub(super) fn confirm_deactivation(self: &Rc<Self>) {
        let Some(Card::Status(c)) = self
            .current
            .borrow()
            .as_ref()
            .map(|s| view::card(s, &self.product.name, &self.times()))
        else {
            return;
        };
        let ui = Rc::clone(self);
        let done = c.deactivation.done;
        dialogs::confirm(
            &self.window,
            "Deactivate this machine?",
            &c.deactivation.confirm,
            "Deactivate",
            move || {
                ui.deactivated.replace(done.clone());
                ui.start(Busy::Deactivate, Request::Deactivate);
            },
        );
    }

    pub(super) fn choose_license_file(self: &Rc<Self>, renewal: bool) {
        let ui = Rc::clone(self);
        dialogs::open_file(&self.window, move |path| ui.import_from(&path, renewal));
    }

    /// Imports the licence file at `path`, from the status card (`renewal`) or the
    /// activation card.
    pub(super) fn import_from(self: &Rc<Self>, path: &std::path::Path, renewal: bool) {
        let (place, _) = self.progress_of(Busy::Import { renewal });
        if self.busy.get().is_some() {
            self.say(
                place,
                "Wait until the current operation ends, then import the file again.",
                true,
            );
            return;
        }
        match crate::import::read(path) {
            Ok(text) => self.start(Busy::Import { renewal }, Request::Import(text)),
            Err(words) => self.say(place, &words, true),
        }
    }

    /// The diagnostics report, for the status shown, this machine's `fingerprint` and the
    /// local apps that asked.
    pub(super) fn show_diagnostics(self: &Rc<Self>, fingerprint: &str, clients: &[ClientSeen]) {
        let Some(status): Option<Status> = self.current.borrow().clone() else {
            return;
        };
        let report =
            licentric_desktop::diagnostics::report(&licentric_desktop::diagnostics::Inputs {
                app_version: env!("CARGO_PKG_VERSION"),
                os: glib::os_info("PRETTY_NAME")
                    .map_or_else(|| "Linux".to_owned(), |s| s.to_string()),
                product_name: &self.product.name,
                api_base_url: &self.product.api_base_url,
                socket: self.product.socket.clone(),
                fingerprint,
                status: &status,
                clients,
                generated_at: OffsetDateTime::now_utc()
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default(),
            });
        let name = format!("{}-diagnostics.txt", self.product.binary);
        dialogs::diagnostics(&self.window, &report, &name);
    }
}
