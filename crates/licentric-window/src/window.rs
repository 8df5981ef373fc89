//! The window itself: GTK 3 widgets showing what [`crate::view`] says, and sending the user's
//! actions to [`crate::agent`]. Each widget a test or a screen reader needs to find has an
//! accessible id (`badge`, `key`, …); buttons and fields are named by their labels.

use std::cell::{Cell, RefCell};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Instant;

use gtk::glib;
use gtk::prelude::*;
use licentric_agent::proxy::ProxyInUse;
use licentric_core::{KeyPrefix, LicenseKey};
use licentric_desktop::settings::SettingsFile;
use licentric_proto::ipc::Status;
use time::OffsetDateTime;

use crate::agent::{Answer, Event, Failure, Request, Side};
use crate::view::{self, Card};

mod cards;
mod dialogs;
mod settings;
mod widgets;

use widgets::{day, heading, id, label, named, tone, when};

/// What the window needs to know of its product and its desktop.
pub struct Product {
    /// The window's title: the app's name.
    pub app_name: String,
    /// The product's name, in sentences.
    pub name: String,
    /// The vendor's key prefix.
    pub prefix: KeyPrefix,
    /// Whether it is the test environment (said beside the name).
    pub test: bool,
    /// The vendor's help page ("where is my key?").
    pub help_url: Option<String>,
    /// The binary's name, for the files it saves (`<binary>-activation-request.txt`).
    pub binary: String,
    /// The user's settings (desktop notifications), in the agent's data folder.
    pub settings: SettingsFile,
    /// Notifications when the user has not chosen: the configuration's.
    pub notifications_default: bool,
    /// The start-at-login entry.
    pub login: licentric_desktop::login::Entry,
    /// The app that entry starts (beside this program), if installed.
    pub app_program: Option<PathBuf>,
    /// The proxy in use for the licensing server.
    pub proxy: ProxyInUse,
    /// The preferences file where a proxy is set.
    pub preferences: Option<String>,
    /// The agent's socket, for support.
    pub socket: String,
    /// The licensing server, for the diagnostics.
    pub api_base_url: String,
}

const CSS: &str = "
.badge { padding: 6px 12px; border-radius: 4px; font-weight: bold; font-size: 120%; }
.badge.ok { background-color: #1e7a3a; color: #ffffff; }
.badge.warn { background-color: #8a5a00; color: #ffffff; }
.badge.bad { background-color: #a61b1b; color: #ffffff; }
.badge.neutral { background-color: #555555; color: #ffffff; }
.feedback.ok { color: #1e7a3a; }
.feedback.bad, .error { color: #a61b1b; }
.muted { opacity: 0.75; }
.env { background-color: #8a5a00; color: #ffffff; border-radius: 4px; padding: 0 6px; }
";

/// Which long request runs, so its answer goes where its button is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Busy {
    Activate,
    ActivateAgain,
    Refresh,
    Deactivate,
    /// An activation request (from the activation card), or a renewal request (status card).
    RequestFile {
        renewal: bool,
    },
    /// A licence file imported from the activation card, or a renewal (status card).
    Import {
        renewal: bool,
    },
    Borrow,
    Return,
}

/// The window's widgets and what it remembers between events.
pub struct Ui {
    product: Product,
    requests: mpsc::Sender<Request>,
    side: RefCell<Side>,
    window: gtk::Window,
    gone: gtk::Label,
    pages: gtk::Stack,
    stack: gtk::Stack,
    activation: cards::Activation,
    status: cards::Status,
    settings: settings::Settings,
    // What it remembers.
    current: RefCell<Option<Status>>,
    busy: Cell<Option<(Busy, Instant)>>,
    /// Bumped by each message said, so that a message's timer clears only its own words.
    said: Cell<u64>,
    /// The last contact known when the status card said a failure (a later one makes it old
    /// news).
    failed_since: RefCell<Option<Option<String>>>,
    /// Why the last Cancel was not taken.
    cancel_refused: RefCell<String>,
    /// What a deactivation says once done, as the status before it asked (the agent's push
    /// of the new status comes before the answer).
    deactivated: RefCell<String>,
    /// Whether this machine's parts were shown.
    machine_shown: Cell<bool>,
    /// A link's key that came before the first status (whether it fills the key field
    /// depends on whether this machine is activated).
    link_key: RefCell<Option<String>>,
}

impl Ui {
    /// Builds the window (not shown yet).
    pub fn new(
        app: &gtk::Application,
        product: Product,
        requests: mpsc::Sender<Request>,
        side: Side,
    ) -> Rc<Ui> {
        let css = gtk::CssProvider::new();
        if css.load_from_data(CSS.as_bytes()).is_ok()
            && let Some(screen) = gtk::gdk::Screen::default()
        {
            gtk::StyleContext::add_provider_for_screen(
                &screen,
                &css,
                gtk::STYLE_PROVIDER_PRIORITY_APPLICATION,
            );
        }
        let window = gtk::ApplicationWindow::new(app).upcast::<gtk::Window>();
        window.set_title(&product.app_name);
        window.set_default_size(600, 600);
        window.set_icon_name(Some(&product.binary));

        let column = gtk::Box::new(gtk::Orientation::Vertical, 12);
        column.set_border_width(18);
        let header = gtk::Box::new(gtk::Orientation::Horizontal, 8);
        header.pack_start(
            &heading(&product.name, "product-name", "x-large"),
            false,
            false,
            0,
        );
        if product.test {
            let env = gtk::Label::new(Some("Test"));
            widgets::class(&env, "env");
            id(&env, "environment");
            header.pack_start(&env, false, false, 0);
        }
        let pages = gtk::Stack::new();
        let switcher = gtk::StackSwitcher::new();
        switcher.set_stack(Some(&pages));
        named(&switcher, "Sections");
        header.pack_end(&switcher, false, false, 0);
        column.pack_start(&header, false, false, 0);

        let gone = label(
            "Licensing has stopped: the licensing service running in the background has stopped, so what this window showed is no longer current. If it starts again, this window follows it.",
            "agent-gone",
        );
        tone(&gone, &["error"]);
        gone.set_no_show_all(true);
        column.pack_start(&gone, false, false, 0);

        let stack = gtk::Stack::new();
        stack.add_named(&label("Loading…", "loading"), "loading");
        let activation = cards::Activation::new(&product);
        stack.add_named(&activation.root, "activation");
        let status = cards::Status::new();
        stack.add_named(&status.root, "status");
        let licence = gtk::ScrolledWindow::new(None::<&gtk::Adjustment>, None::<&gtk::Adjustment>);
        licence.set_policy(gtk::PolicyType::Never, gtk::PolicyType::Automatic);
        licence.add(&stack);
        pages.add_titled(&licence, "licence", "Licence");
        let settings = settings::Settings::new(&product);
        pages.add_titled(&settings.root, "settings", "Settings");
        column.pack_start(&pages, true, true, 0);
        window.add(&column);

        let ui = Rc::new(Ui {
            product,
            requests,
            side: RefCell::new(side),
            window,
            gone,
            pages,
            stack,
            activation,
            status,
            settings,
            current: RefCell::new(None),
            busy: Cell::new(None),
            said: Cell::new(0),
            failed_since: RefCell::new(None),
            cancel_refused: RefCell::new(String::new()),
            deactivated: RefCell::new(String::new()),
            machine_shown: Cell::new(false),
            link_key: RefCell::new(None),
        });
        ui.wire();
        ui
    }

    /// Shows the window and brings it to the front (its widgets are shown once: what a
    /// status hid since stays hidden when it is brought back).
    pub fn present(&self) {
        if !self.window.is_visible() {
            self.window.show_all();
        }
        self.window.present();
    }

    fn wire(self: &Rc<Self>) {
        self.window.set_default(Some(&self.activation.activate));
        let a = &self.activation;
        let ui = Rc::clone(self);
        a.key.connect_changed(move |_| {
            // A new key: what was said of the last one no longer applies.
            ui.activation.error.set_text("");
            ui.activation.help.set_text("");
            if ui.activation.progress.text() == view::CANCELLED {
                ui.activation.progress.set_text("");
            }
            ui.check_key(false);
        });
        self.on(&a.activate, Ui::start_activation);
        self.on(&a.again, |ui| {
            ui.start(Busy::ActivateAgain, Request::Refresh)
        });
        self.on(&a.save_request, |ui| {
            ui.start(Busy::RequestFile { renewal: false }, Request::RequestFile);
        });
        self.on(&a.import, |ui| ui.choose_license_file(false));
        let st = &self.status;
        self.on(&st.refresh, |ui| ui.start(Busy::Refresh, Request::Refresh));
        self.on(&st.renew_request, |ui| {
            ui.start(Busy::RequestFile { renewal: true }, Request::RequestFile);
        });
        self.on(&st.renew_import, |ui| ui.choose_license_file(true));
        self.on(&st.deactivate, Ui::confirm_deactivation);
        self.on(&st.borrow, |ui| {
            let asks = Rc::clone(ui);
            dialogs::borrow(&ui.window, move |until| {
                asks.start(Busy::Borrow, Request::Borrow(until));
            });
        });
        self.on(&st.give_back, |ui| ui.start(Busy::Return, Request::Return));
        self.on(&st.diagnostics, Ui::show_diagnostics);
        self.on(&a.cancel, Ui::cancel);
        self.on(&st.cancel, Ui::cancel);
        // Escape ends a wait, as its Cancel button does.
        let ui = Rc::clone(self);
        self.window.connect_key_press_event(move |_, event| {
            if event.keyval() == gtk::gdk::keys::constants::Escape && ui.busy.get().is_some() {
                ui.cancel();
                return glib::Propagation::Stop;
            }
            glib::Propagation::Proceed
        });
        // A licence file dropped on the window, while it asks for one, is imported.
        self.window.drag_dest_set(
            gtk::DestDefaults::ALL,
            &[gtk::TargetEntry::new(
                "text/uri-list",
                gtk::TargetFlags::OTHER_APP,
                0,
            )],
            gtk::gdk::DragAction::COPY,
        );
        let ui = Rc::clone(self);
        self.window
            .connect_drag_data_received(move |_, _, _, _, data, _, _| {
                let file = data
                    .uris()
                    .first()
                    .and_then(|uri| glib::filename_from_uri(uri).ok().map(|(path, _)| path));
                if let Some(path) = file {
                    ui.import_from(
                        &path,
                        ui.stack.visible_child_name().as_deref() == Some("status"),
                    );
                }
            });
        // Settings lists the apps that asked when it is shown.
        let ui = Rc::clone(self);
        self.pages.connect_visible_child_name_notify(move |pages| {
            if pages.visible_child_name().as_deref() == Some("settings") {
                let seen = ui.side.borrow_mut().clients();
                ui.settings.show_clients(&seen, &ui.times());
            }
        });
        // Time passes while the window is open: keep "N days left" and the timeline current.
        let ui = Rc::clone(self);
        glib::timeout_add_seconds_local(60, move || {
            let current = ui.current.borrow().clone();
            if let Some(s) = current {
                ui.render(&s);
            }
            glib::ControlFlow::Continue
        });
    }

    /// Runs `action` when `button` is pressed.
    fn on(self: &Rc<Self>, button: &gtk::Button, action: impl Fn(&Rc<Ui>) + 'static) {
        let ui = Rc::clone(self);
        button.connect_clicked(move |_| action(&ui));
    }

    /// A licence key from a link (`<scheme>://activate?key=…`, handed over by the app): it goes
    /// into the key field — or, this machine being activated already, it is not taken
    /// silently, nor ignored without a word.
    pub fn link_key(self: &Rc<Self>, key: String) {
        let current = self.current.borrow().clone();
        let Some(status) = current else {
            self.link_key.replace(Some(key));
            return;
        };
        self.pages.set_visible_child_name("licence");
        match view::card(&status, &self.product.name, &self.times()) {
            Card::Status(_) => {
                let words = view::link_while_activated(
                    status.license_key_hint.as_deref(),
                    &key,
                    &self.product.prefix,
                );
                self.say(&self.status.message, &words, false);
            }
            Card::Activation { .. } => {
                self.activation.error.set_text("");
                self.activation.progress.set_text("");
                self.activation.key.set_text(&key);
                self.check_key(true);
                self.activation.key.grab_focus();
            }
        }
    }

    /// Handles what the agent said.
    pub fn event(self: &Rc<Self>, event: Event) {
        match event {
            Event::Status(s) => {
                self.gone.hide();
                self.pages.set_sensitive(true);
                self.render(&s);
                let waiting = self.link_key.take();
                if let Some(key) = waiting {
                    self.link_key(key);
                }
                if !self.machine_shown.get()
                    && let Ok(machine) = self.side.borrow_mut().machine()
                {
                    self.status.show_machine(&machine);
                    self.machine_shown.set(true);
                }
            }
            Event::Gone => {
                self.gone.show();
                // Nothing shown is current: no dialog of it stays, and nothing can be asked.
                self.pages.set_sensitive(false);
                for w in gtk::Window::list_toplevels() {
                    if let Ok(dialog) = w.downcast::<gtk::Dialog>() {
                        dialog.close();
                    }
                }
            }
            Event::Done(answer) => self.finished(answer),
            // The user quit the product from its tray: its window goes too.
            Event::Quit => self.window.close(),
        }
    }

    fn times(&self) -> view::Times<'static> {
        view::Times {
            now: OffsetDateTime::now_utc(),
            when: &when,
            day: &day,
        }
    }

    fn render(&self, s: &Status) {
        // A failure said on the status card is old news once a later contact succeeded.
        let stale = matches!(&*self.failed_since.borrow(), Some(since) if s.last_refresh_at.is_some() && *since != s.last_refresh_at);
        if stale {
            self.failed_since.replace(None);
            self.say(&self.status.message, "", false);
        }
        *self.current.borrow_mut() = Some(s.clone());
        let shown = self.stack.visible_child_name();
        match view::card(s, &self.product.name, &self.times()) {
            Card::Activation { notice } => {
                if shown.as_deref() != Some("activation") {
                    self.clear_messages();
                }
                let a = &self.activation;
                a.notice.set_visible(notice.is_some());
                a.notice_text.set_text(notice.as_deref().unwrap_or(""));
                self.stack.set_visible_child_name("activation");
                if shown.as_deref() == Some("loading") {
                    a.key.grab_focus();
                }
            }
            Card::Status(c) => {
                if shown.as_deref() != Some("status") {
                    self.clear_messages();
                }
                self.show_status(&c);
                self.stack.set_visible_child_name("status");
            }
        }
    }

    fn show_status(&self, c: &view::StatusCard) {
        // Activated, the key field has nothing to hold.
        self.activation.key.set_text("");
        let st = &self.status;
        tone(&st.badge, &[c.tone.class()]);
        // Written only when it changes: a screen reader would read the same words again.
        if st.badge.text() != c.badge {
            st.badge.set_text(&c.badge);
        }
        if st.detail.text() != c.detail {
            st.detail.set_text(&c.detail);
        }
        st.key.set_text(&c.key);
        st.entitlements.set_text(&c.entitlements);
        st.expires.set_text(&c.expires);
        st.machines_label.set_text(c.machines_label);
        st.machines.set_text(&c.machines);
        st.store.set_text(c.store.as_deref().unwrap_or(""));
        st.store.set_visible(c.store.is_some());
        st.store_label.set_visible(c.store.is_some());
        st.runs_in.set_text(c.runs_in.as_deref().unwrap_or(""));
        st.runs_in.set_visible(c.runs_in.is_some());
        st.runs_in_label.set_visible(c.runs_in.is_some());
        let t = c.timeline.as_ref();
        st.timeline.set_value(t.map_or(0.0, |t| t.passed));
        st.timeline_start.set_text(t.map_or("", |t| &t.start));
        st.timeline_end.set_text(t.map_or("", |t| &t.end));
        st.timeline_text.set_text(t.map_or("", |t| &t.text));
        if let Some(t) = t {
            named(&st.timeline, &format!("Offline licence: {}", t.text));
        }
        st.timeline.set_visible(t.is_some());
        st.refresh.set_visible(c.refreshes);
        st.renew_request.set_visible(c.renews_by_file);
        st.renew_import.set_visible(c.renews_by_file);
        st.borrow.set_visible(c.borrows);
        st.give_back.set_visible(c.returns);
    }

    /// Every message about a previous state or attempt: gone when its card is left.
    fn clear_messages(&self) {
        let a = &self.activation;
        for l in [
            &self.status.message,
            &a.error,
            &a.help,
            &a.progress,
            &a.offline_message,
        ] {
            l.set_text("");
            tone(l, &[]);
        }
        tone(&a.error, &["error"]);
        self.failed_since.replace(None);
        if a.key.text().is_empty() {
            self.check_key(false);
        }
    }

    fn check_key(&self, finished: bool) -> Option<LicenseKey> {
        let key = &self.activation.key;
        let text = key.text();
        let f = view::key_feedback(&text, &self.product.prefix, finished);
        tone(&self.activation.feedback, &[f.tone.class()]);
        self.activation.feedback.set_text(&f.text);
        let formatted = f.formatted?;
        if finished && text.as_str() != formatted {
            key.set_text(&formatted);
        }
        LicenseKey::parse(&formatted, &self.product.prefix).ok()
    }

    fn start_activation(self: &Rc<Self>) {
        match self.check_key(true) {
            Some(key) => self.start(Busy::Activate, Request::Activate(key)),
            None => self.activation.key.grab_focus(),
        }
    }

    /// Sends `request`, disabling the actions until it ends and showing its progress.
    fn start(self: &Rc<Self>, busy: Busy, request: Request) {
        if self.busy.get().is_some() {
            return;
        }
        self.busy.set(Some((busy, Instant::now())));
        self.cancel_refused.replace(String::new());
        self.set_actions_sensitive(false);
        let (progress, text) = self.progress_of(busy);
        self.say(progress, text, false);
        if busy == Busy::Activate {
            self.activation.error.set_text("");
            self.activation.help.set_text("");
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
            let Some((now_busy, started)) = ui.busy.get() else {
                return glib::ControlFlow::Break;
            };
            if now_busy != busy {
                return glib::ControlFlow::Break;
            }
            let seconds = started.elapsed().as_secs();
            if seconds >= 2 {
                let retry = ui.side.borrow_mut().progress();
                let (progress, text) = ui.progress_of(busy);
                let words = view::waiting(
                    text,
                    seconds,
                    retry.as_ref().map(|r| (r.because.as_str(), r.attempt)),
                );
                progress.set_text(&format!("{words}{}", ui.cancel_refused.borrow()));
                if let Some(cancel) = ui.cancel_button(busy) {
                    cancel.show();
                }
            }
            glib::ControlFlow::Continue
        });
    }

    /// Where a request's progress is said, and its words while it waits.
    fn progress_of(&self, busy: Busy) -> (&gtk::Label, &'static str) {
        let (a, st) = (&self.activation, &self.status);
        match busy {
            Busy::Activate | Busy::ActivateAgain => (&a.progress, "Activating…"),
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
    fn cancel_button(&self, busy: Busy) -> Option<&gtk::Button> {
        match busy {
            Busy::Activate | Busy::ActivateAgain => Some(&self.activation.cancel),
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

    fn cancel(self: &Rc<Self>) {
        if let Err(e) = self.side.borrow_mut().cancel() {
            self.cancel_refused
                .replace(format!(" Cannot cancel: {}", e.message));
        }
    }

    /// Says `text` in `message` (an error in red).
    fn say(&self, message: &gtk::Label, text: &str, error: bool) {
        self.said.set(self.said.get() + 1);
        message.set_text(text);
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
                message.set_text("");
            }
        });
    }

    fn finished(self: &Rc<Self>, answer: Result<Answer, Failure>) {
        let Some((busy, _)) = self.busy.take() else {
            return;
        };
        self.set_actions_sensitive(true);
        self.activation.cancel.hide();
        self.status.cancel.hide();
        let (progress, _) = self.progress_of(busy);
        progress.set_text("");
        match answer {
            Err(e) => self.failed(busy, progress, &e),
            Ok(Answer::RequestFile(text)) => {
                let name = format!("{}-activation-request.txt", self.product.binary);
                if let Some(path) =
                    dialogs::save_file(&self.window, "Save activation request", &name)
                {
                    let mut said = dialogs::write(&path, &text);
                    if matches!(busy, Busy::RequestFile { renewal: true }) {
                        said.push_str(". Use it with your licence key on the vendor's site, then import the licence file you get back.");
                    }
                    self.say(progress, &said, false);
                }
            }
            Ok(Answer::Status(s)) => {
                self.render(&s);
                self.succeeded(busy);
            }
        }
    }

    /// Says why `busy` failed, where its button is.
    fn failed(self: &Rc<Self>, busy: Busy, progress: &gtk::Label, e: &Failure) {
        if e.code == "cancelled" {
            let stands = match busy {
                Busy::Deactivate => Some(match self.current.borrow().as_ref() {
                    Some(s) if view::is_floating(s) => "The licence stays on this computer.",
                    _ => "This computer is still activated.",
                }),
                _ => None,
            };
            let text =
                stands.map_or_else(|| view::CANCELLED.to_owned(), |s| format!("Cancelled. {s}"));
            self.say(progress, &text, false);
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
                self.activation.help.set_text(help.unwrap_or(""));
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
                self.say(&self.status.message, &e.message, true);
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
            Busy::Activate => {
                self.activation.key.set_text("");
                self.status.badge.grab_focus();
                return;
            }
            Busy::ActivateAgain | Busy::RequestFile { .. } => return,
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
        if !on_status {
            self.activation.key.grab_focus();
        }
    }

    fn confirm_deactivation(self: &Rc<Self>) {
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

    fn choose_license_file(self: &Rc<Self>, renewal: bool) {
        if let Some(path) = dialogs::open_file(&self.window) {
            self.import_from(&path, renewal);
        }
    }

    /// Imports the licence file at `path`, from the status card (`renewal`) or the
    /// activation card.
    fn import_from(self: &Rc<Self>, path: &std::path::Path, renewal: bool) {
        match crate::import::read(path) {
            Ok(text) => self.start(Busy::Import { renewal }, Request::Import(text)),
            Err(words) => {
                let (place, _) = self.progress_of(Busy::Import { renewal });
                self.say(place, &words, true);
            }
        }
    }

    fn show_diagnostics(self: &Rc<Self>) {
        let Some(status) = self.current.borrow().clone() else {
            return;
        };
        let machine = self.side.borrow_mut().machine();
        let clients = self.side.borrow_mut().clients();
        let fingerprint = machine.map(|m| m.fingerprint).unwrap_or_default();
        let report =
            licentric_desktop::diagnostics::report(&licentric_desktop::diagnostics::Inputs {
                app_version: env!("CARGO_PKG_VERSION"),
                os: glib::os_info("PRETTY_NAME")
                    .map_or_else(|| "Linux".to_owned(), |s| s.to_string()),
                product_name: &self.product.name,
                api_base_url: &self.product.api_base_url,
                socket: self.product.socket.clone(),
                fingerprint: &fingerprint,
                status: &status,
                clients: &clients,
                generated_at: OffsetDateTime::now_utc()
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default(),
            });
        let name = format!("{}-diagnostics.txt", self.product.binary);
        dialogs::diagnostics(&self.window, &report, &name);
    }
}
