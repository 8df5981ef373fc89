//! The window itself: GTK 3 widgets showing what [`crate::view`] says, and sending the user's
//! actions to [`crate::agent`]. Each widget a test or a screen reader needs to find has an
//! accessible id (`badge`, `key`, …); buttons and fields are named by their labels.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Instant;

use gtk::glib;
use gtk::prelude::*;
use licentric_core::{KeyPrefix, LicenseKey};
use licentric_proto::ipc::Status;
use time::OffsetDateTime;

use crate::agent::{Answer, Event, Failure, Request, Side};
use crate::view::{self, Card};

/// What the window needs to know of its product.
pub struct Product {
    /// The window's title: the app's name.
    pub app_name: String,
    /// The product's name, in sentences.
    pub name: String,
    /// The vendor's key prefix.
    pub prefix: KeyPrefix,
    /// Whether it is the test environment (said beside the name).
    pub test: bool,
    /// The default name of a saved activation request.
    pub request_name: String,
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
    RequestFile,
    Import,
}

/// The window's widgets and what it remembers between events.
pub struct Ui {
    product: Product,
    requests: mpsc::Sender<Request>,
    side: RefCell<Side>,
    window: gtk::Window,
    gone: gtk::Label,
    stack: gtk::Stack,
    // The activation card.
    notice: gtk::Box,
    notice_text: gtk::Label,
    again: gtk::Button,
    key: gtk::Entry,
    feedback: gtk::Label,
    activate: gtk::Button,
    activate_progress: gtk::Label,
    activate_cancel: gtk::Button,
    activate_error: gtk::Label,
    activate_help: gtk::Label,
    save_request: gtk::Button,
    import: gtk::Button,
    offline_message: gtk::Label,
    // The status card.
    badge: gtk::Label,
    detail: gtk::Label,
    facts: Facts,
    timeline: gtk::LevelBar,
    timeline_start: gtk::Label,
    timeline_end: gtk::Label,
    timeline_text: gtk::Label,
    refresh: gtk::Button,
    deactivate: gtk::Button,
    action_cancel: gtk::Button,
    action_message: gtk::Label,
    // What it remembers.
    current: RefCell<Option<Status>>,
    busy: Cell<Option<(Busy, Instant)>>,
    /// Bumped by each message said, so that a message's timer clears only its own words.
    said: Cell<u64>,
    /// What the status card said when it failed, and the last contact known then.
    failed_since: RefCell<Option<Option<String>>>,
    /// Why the last Cancel was not taken.
    cancel_refused: RefCell<String>,
    /// What a deactivation says once done, as the status before it asked (the agent's push
    /// of the new status comes before the answer).
    deactivated: RefCell<String>,
}

struct Facts {
    key: gtk::Label,
    entitlements: gtk::Label,
    expires: gtk::Label,
    machines_label: gtk::Label,
    machines: gtk::Label,
    store_label: gtk::Label,
    store: gtk::Label,
    runs_in_label: gtk::Label,
    runs_in: gtk::Label,
}

fn id<W: IsA<gtk::Widget>>(widget: &W, name: &str) {
    widget.set_widget_name(name);
    if let Some(accessible) = widget.accessible() {
        atk::prelude::AtkObjectExt::set_accessible_id(&accessible, name);
    }
}

fn label(text: &str, name: &str) -> gtk::Label {
    let l = gtk::Label::new(Some(text));
    l.set_xalign(0.0);
    l.set_line_wrap(true);
    l.set_selectable(false);
    id(&l, name);
    l
}

fn class<W: IsA<gtk::Widget>>(widget: &W, names: &[&str]) {
    let style = widget.style_context();
    for c in style.list_classes() {
        if ["ok", "warn", "bad", "neutral", "error"].contains(&c.as_str()) {
            style.remove_class(&c);
        }
    }
    for c in names {
        style.add_class(c);
    }
}

/// A time in this computer's zone and style, as GLib says it.
fn local(t: OffsetDateTime, format: &str) -> String {
    glib::DateTime::from_unix_utc(t.unix_timestamp())
        .and_then(|d| d.to_local())
        .and_then(|d| d.format(format))
        .map_or_else(|_| t.to_string(), |s| s.to_string())
}

fn when(t: OffsetDateTime) -> String {
    local(t, "%-d %B %Y, %H:%M")
}

fn day(t: OffsetDateTime) -> String {
    local(t, "%-d %B %Y")
}

impl Ui {
    /// Builds the window (not shown yet).
    pub fn new(product: Product, requests: mpsc::Sender<Request>, side: Side) -> Rc<Ui> {
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
        let window = gtk::Window::new(gtk::WindowType::Toplevel);
        window.set_title(&product.app_name);
        window.set_default_size(600, 560);
        window.set_icon_name(Some("dialog-password"));

        let column = gtk::Box::new(gtk::Orientation::Vertical, 12);
        column.set_border_width(18);
        let header = gtk::Box::new(gtk::Orientation::Horizontal, 8);
        let title = label("", "product-name");
        title.set_markup(&format!(
            "<span size='x-large' weight='bold'>{}</span>",
            glib::markup_escape_text(&product.name)
        ));
        header.pack_start(&title, false, false, 0);
        if product.test {
            let env = gtk::Label::new(Some("Test"));
            class(&env, &["env"]);
            id(&env, "environment");
            header.pack_start(&env, false, false, 0);
        }
        column.pack_start(&header, false, false, 0);

        let gone = label(
            "The licensing service running in the background has stopped, so what this window showed is no longer current. This window follows it when it starts again.",
            "agent-gone",
        );
        class(&gone, &["error"]);
        gone.set_no_show_all(true);
        column.pack_start(&gone, false, false, 0);

        let stack = gtk::Stack::new();
        stack.add_named(&label("Loading…", "loading"), "loading");

        // ------------------------------------------------------------ activation
        let activation = gtk::Box::new(gtk::Orientation::Vertical, 8);
        let heading = label("", "activation-title");
        heading.set_markup(&format!(
            "<span size='large' weight='bold'>Activate {}</span>",
            glib::markup_escape_text(&product.name)
        ));
        activation.pack_start(&heading, false, false, 0);
        let notice = gtk::Box::new(gtk::Orientation::Vertical, 6);
        let notice_text = label("", "activation-notice");
        let again = gtk::Button::with_label("Activate again");
        id(&again, "activate-again");
        notice.pack_start(&notice_text, false, false, 0);
        notice.pack_start(&again, false, false, 0);
        notice.set_no_show_all(true);
        activation.pack_start(&notice, false, false, 0);
        let key_label = gtk::Label::with_mnemonic("Licence _key");
        key_label.set_xalign(0.0);
        let key = gtk::Entry::new();
        id(&key, "key");
        key.set_placeholder_text(Some(&format!("{}-XXXX-XXXX-XXXX-XXXX", product.prefix)));
        key.set_activates_default(true);
        key_label.set_mnemonic_widget(Some(&key));
        // Named by its label for assistive technology too (GTK 3 relates them, but a screen
        // reader reads the entry's own name).
        if let Some(accessible) = key.accessible() {
            atk::prelude::AtkObjectExt::set_name(&accessible, "Licence key");
        }
        let feedback = label("Paste the key from your purchase e-mail.", "key-feedback");
        class(&feedback, &["feedback"]);
        activation.pack_start(&key_label, false, false, 0);
        activation.pack_start(&key, false, false, 0);
        activation.pack_start(&feedback, false, false, 0);
        let row = gtk::Box::new(gtk::Orientation::Horizontal, 8);
        let activate = gtk::Button::with_label("Activate");
        id(&activate, "activate");
        activate.set_can_default(true);
        activate.style_context().add_class("suggested-action");
        let activate_cancel = gtk::Button::with_label("Cancel");
        id(&activate_cancel, "activate-cancel");
        activate_cancel.set_no_show_all(true);
        let activate_progress = label("", "activate-progress");
        row.pack_start(&activate, false, false, 0);
        row.pack_start(&activate_cancel, false, false, 0);
        row.pack_start(&activate_progress, true, true, 0);
        activation.pack_start(&row, false, false, 0);
        let activate_error = label("", "activate-error");
        class(&activate_error, &["error"]);
        let activate_help = label("", "activate-help");
        class(&activate_help, &["muted"]);
        activation.pack_start(&activate_error, false, false, 0);
        activation.pack_start(&activate_help, false, false, 0);

        let offline = gtk::Expander::new(Some("No internet on this computer? Activate offline"));
        id(&offline, "offline-activation");
        let steps = gtk::Box::new(gtk::Orientation::Vertical, 6);
        steps.pack_start(
            &label(
                "1. Save an activation request for this computer, and take it to a device with internet access.",
                "offline-step-1",
            ),
            false,
            false,
            0,
        );
        let save_request = gtk::Button::with_label("Save activation request…");
        id(&save_request, "save-request");
        steps.pack_start(&save_request, false, false, 0);
        steps.pack_start(
            &label(
                "2. Submit it with your licence key on the vendor's site, then bring back the licence file.",
                "offline-step-2",
            ),
            false,
            false,
            0,
        );
        steps.pack_start(
            &label("3. Import the licence file here:", "offline-step-3"),
            false,
            false,
            0,
        );
        let import = gtk::Button::with_label("Choose licence file…");
        id(&import, "import");
        steps.pack_start(&import, false, false, 0);
        let offline_message = label("", "offline-message");
        steps.pack_start(&offline_message, false, false, 0);
        offline.add(&steps);
        activation.pack_start(&offline, false, false, 0);
        stack.add_named(&activation, "activation");

        // ------------------------------------------------------------ status
        let status = gtk::Box::new(gtk::Orientation::Vertical, 8);
        let badge = label("", "badge");
        class(&badge, &["badge"]);
        badge.set_halign(gtk::Align::Start);
        badge.set_can_focus(true);
        let detail = label("", "state-detail");
        status.pack_start(&badge, false, false, 0);
        status.pack_start(&detail, false, false, 0);
        let grid = gtk::Grid::new();
        grid.set_column_spacing(12);
        grid.set_row_spacing(4);
        let mut row_at = 0;
        let mut fact = |name: &str, value_id: &str| {
            let n = label(name, &format!("{value_id}-label"));
            class(&n, &["muted"]);
            let v = label("", value_id);
            v.set_selectable(true);
            grid.attach(&n, 0, row_at, 1, 1);
            grid.attach(&v, 1, row_at, 1, 1);
            row_at += 1;
            (n, v)
        };
        let (_, key_fact) = fact("Key", "license-key");
        let (_, entitlements) = fact("Entitlements", "entitlements");
        let (_, expires) = fact("Expires", "license-expires");
        let (machines_label, machines) = fact("Machines", "machines");
        let (store_label, store) = fact("Key stored in", "credential-store");
        let (runs_in_label, runs_in) = fact("Runs in", "runs-in");
        status.pack_start(&grid, false, false, 0);

        let timeline_title = label("", "timeline-title");
        timeline_title.set_markup("<b>Offline licence</b>");
        let timeline = gtk::LevelBar::for_interval(0.0, 1.0);
        id(&timeline, "timeline");
        timeline.set_mode(gtk::LevelBarMode::Continuous);
        let ends = gtk::Box::new(gtk::Orientation::Horizontal, 8);
        let timeline_start = label("", "timeline-start");
        let timeline_end = label("", "timeline-end");
        timeline_end.set_xalign(1.0);
        ends.pack_start(&timeline_start, true, true, 0);
        ends.pack_end(&timeline_end, true, true, 0);
        let timeline_text = label("", "timeline-text");
        class(&timeline_text, &["muted"]);
        status.pack_start(&timeline_title, false, false, 0);
        status.pack_start(&timeline, false, false, 0);
        status.pack_start(&ends, false, false, 0);
        status.pack_start(&timeline_text, false, false, 0);

        let actions = gtk::Box::new(gtk::Orientation::Horizontal, 8);
        let refresh = gtk::Button::with_label("Refresh now");
        id(&refresh, "refresh");
        let deactivate = gtk::Button::with_label("Deactivate…");
        id(&deactivate, "deactivate");
        deactivate.style_context().add_class("destructive-action");
        let action_cancel = gtk::Button::with_label("Cancel");
        id(&action_cancel, "action-cancel");
        action_cancel.set_no_show_all(true);
        actions.pack_start(&refresh, false, false, 0);
        actions.pack_start(&deactivate, false, false, 0);
        actions.pack_start(&action_cancel, false, false, 0);
        status.pack_start(&actions, false, false, 0);
        let action_message = label("", "action-message");
        status.pack_start(&action_message, false, false, 0);
        stack.add_named(&status, "status");

        column.pack_start(&stack, true, true, 0);
        window.add(&column);

        let ui = Rc::new(Ui {
            product,
            requests,
            side: RefCell::new(side),
            window,
            gone,
            stack,
            notice,
            notice_text,
            again,
            key,
            feedback,
            activate,
            activate_progress,
            activate_cancel,
            activate_error,
            activate_help,
            save_request,
            import,
            offline_message,
            badge,
            detail,
            facts: Facts {
                key: key_fact,
                entitlements,
                expires,
                machines_label,
                machines,
                store_label,
                store,
                runs_in_label,
                runs_in,
            },
            timeline,
            timeline_start,
            timeline_end,
            timeline_text,
            refresh,
            deactivate,
            action_cancel,
            action_message,
            current: RefCell::new(None),
            busy: Cell::new(None),
            said: Cell::new(0),
            failed_since: RefCell::new(None),
            cancel_refused: RefCell::new(String::new()),
            deactivated: RefCell::new(String::new()),
        });
        ui.wire();
        ui
    }

    /// Shows the window and brings it to the front.
    pub fn present(&self) {
        self.window.show_all();
        self.window.present();
    }

    fn wire(self: &Rc<Self>) {
        self.window.connect_destroy(|_| gtk::main_quit());
        self.window.set_default(Some(&self.activate));
        let ui = Rc::clone(self);
        self.key.connect_changed(move |_| {
            // A new key: what was said of the last one no longer applies.
            ui.activate_error.set_text("");
            ui.activate_help.set_text("");
            if ui.activate_progress.text() == view::CANCELLED {
                ui.activate_progress.set_text("");
            }
            ui.check_key(false);
        });
        let ui = Rc::clone(self);
        self.activate
            .connect_clicked(move |_| ui.start_activation());
        let ui = Rc::clone(self);
        self.again
            .connect_clicked(move |_| ui.start(Busy::ActivateAgain, Request::Refresh));
        let ui = Rc::clone(self);
        self.refresh
            .connect_clicked(move |_| ui.start(Busy::Refresh, Request::Refresh));
        let ui = Rc::clone(self);
        self.deactivate
            .connect_clicked(move |_| ui.confirm_deactivation());
        for cancel in [&self.activate_cancel, &self.action_cancel] {
            let ui = Rc::clone(self);
            cancel.connect_clicked(move |_| ui.cancel());
        }
        let ui = Rc::clone(self);
        self.save_request
            .connect_clicked(move |_| ui.start(Busy::RequestFile, Request::RequestFile));
        let ui = Rc::clone(self);
        self.import
            .connect_clicked(move |_| ui.choose_license_file());
        // Escape ends a wait, as its Cancel button does.
        let ui = Rc::clone(self);
        self.window.connect_key_press_event(move |_, event| {
            if event.keyval() == gtk::gdk::keys::constants::Escape && ui.busy.get().is_some() {
                ui.cancel();
                return glib::Propagation::Stop;
            }
            glib::Propagation::Proceed
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

    /// Handles what the agent said.
    pub fn event(self: &Rc<Self>, event: Event) {
        match event {
            Event::Status(s) => {
                self.gone.hide();
                self.stack.set_sensitive(true);
                self.render(&s);
            }
            Event::Gone => {
                self.gone.show();
                self.stack.set_sensitive(false);
            }
            Event::Done(answer) => self.finished(answer),
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
            self.say(&self.action_message, "", false);
        }
        *self.current.borrow_mut() = Some(s.clone());
        let times = self.times();
        let shown = self.stack.visible_child_name();
        match view::card(s, &self.product.name, &times) {
            Card::Activation { notice } => {
                if shown.as_deref() != Some("activation") {
                    self.clear_messages();
                }
                self.notice.set_visible(notice.is_some());
                self.notice_text.set_text(notice.as_deref().unwrap_or(""));
                self.stack.set_visible_child_name("activation");
                if shown.as_deref() == Some("loading") {
                    self.key.grab_focus();
                }
            }
            Card::Status(c) => {
                if shown.as_deref() != Some("status") {
                    self.clear_messages();
                }
                // Activated, the key field has nothing to hold.
                self.key.set_text("");
                class(&self.badge, &[c.tone.class()]);
                if self.badge.text() != c.badge {
                    self.badge.set_text(&c.badge);
                }
                if self.detail.text() != c.detail {
                    self.detail.set_text(&c.detail);
                }
                let f = &self.facts;
                f.key.set_text(&c.key);
                f.entitlements.set_text(&c.entitlements);
                f.expires.set_text(&c.expires);
                f.machines_label.set_text(c.machines_label);
                f.machines.set_text(&c.machines);
                f.store.set_text(c.store.as_deref().unwrap_or(""));
                f.store.set_visible(c.store.is_some());
                f.store_label.set_visible(c.store.is_some());
                f.runs_in.set_text(c.runs_in.as_deref().unwrap_or(""));
                f.runs_in.set_visible(c.runs_in.is_some());
                f.runs_in_label.set_visible(c.runs_in.is_some());
                match &c.timeline {
                    Some(t) => {
                        self.timeline.set_value(t.passed);
                        self.timeline_start.set_text(&t.start);
                        self.timeline_end.set_text(&t.end);
                        self.timeline_text.set_text(&t.text);
                        if let Some(a) = self.timeline.accessible() {
                            atk::prelude::AtkObjectExt::set_name(
                                &a,
                                &format!("Offline licence: {}", t.text),
                            );
                        }
                    }
                    None => {
                        self.timeline.set_value(0.0);
                        self.timeline_start.set_text("");
                        self.timeline_end.set_text("");
                        self.timeline_text.set_text("");
                    }
                }
                self.timeline.set_visible(c.timeline.is_some());
                self.refresh.set_visible(c.refreshes);
                self.stack.set_visible_child_name("status");
            }
        }
    }

    /// Every message about a previous state or attempt: gone when its card is left.
    fn clear_messages(&self) {
        for l in [
            &self.action_message,
            &self.activate_error,
            &self.activate_help,
            &self.activate_progress,
            &self.offline_message,
        ] {
            l.set_text("");
            class(l, &[]);
        }
        self.failed_since.replace(None);
        if self.key.text().is_empty() {
            self.check_key(false);
        }
    }

    fn check_key(&self, finished: bool) -> Option<LicenseKey> {
        let text = self.key.text();
        let f = view::key_feedback(&text, &self.product.prefix, finished);
        class(&self.feedback, &[f.tone.class()]);
        self.feedback.set_text(&f.text);
        let formatted = f.formatted?;
        if finished && text.as_str() != formatted {
            self.key.set_text(&formatted);
        }
        LicenseKey::parse(&formatted, &self.product.prefix).ok()
    }

    fn start_activation(self: &Rc<Self>) {
        match self.check_key(true) {
            Some(key) => self.start(Busy::Activate, Request::Activate(key)),
            None => self.key.grab_focus(),
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
        progress.set_text(text);
        class(progress, &[]);
        if busy == Busy::Activate {
            self.activate_error.set_text("");
            self.activate_help.set_text("");
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
        match busy {
            Busy::Activate | Busy::ActivateAgain => (&self.activate_progress, "Activating…"),
            Busy::Refresh => (&self.action_message, "Refreshing…"),
            Busy::Deactivate => (&self.action_message, "Deactivating…"),
            Busy::RequestFile => (&self.offline_message, "Making the request…"),
            Busy::Import => (&self.offline_message, "Importing…"),
        }
    }

    fn cancel_button(&self, busy: Busy) -> Option<&gtk::Button> {
        match busy {
            Busy::Activate | Busy::ActivateAgain => Some(&self.activate_cancel),
            Busy::Refresh => Some(&self.action_cancel),
            Busy::Deactivate => self
                .current
                .borrow()
                .as_ref()
                .is_none_or(|s| !view::is_floating(s))
                .then_some(&self.action_cancel),
            Busy::RequestFile | Busy::Import => None,
        }
    }

    fn set_actions_sensitive(&self, on: bool) {
        for b in [
            &self.activate,
            &self.again,
            &self.refresh,
            &self.deactivate,
            &self.save_request,
            &self.import,
        ] {
            b.set_sensitive(on);
        }
    }

    fn cancel(&self) {
        if let Err(e) = self.side.borrow_mut().cancel() {
            self.cancel_refused
                .replace(format!(" Cannot cancel: {}", e.message));
        }
    }

    /// Says `text` in `message`; a success is the news of a moment and goes after a few
    /// seconds unless something else was said there since (errors stay).
    fn say(&self, message: &gtk::Label, text: &str, error: bool) {
        let token = self.said.get() + 1;
        self.said.set(token);
        message.set_text(text);
        class(message, if error { &["error"] } else { &[] });
    }

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
        self.activate_cancel.hide();
        self.action_cancel.hide();
        let (progress, _) = self.progress_of(busy);
        progress.set_text("");
        match (busy, answer) {
            (_, Err(e)) if e.code == "cancelled" => {
                let stands = self
                    .current
                    .borrow()
                    .as_ref()
                    .map(|s| view::card(s, &self.product.name, &self.times()));
                let text = match (busy, stands) {
                    (Busy::Deactivate, Some(Card::Status(c))) => {
                        format!("Cancelled. {}", c.deactivation.stands)
                    }
                    _ => view::CANCELLED.to_owned(),
                };
                self.say(progress, &text, false);
            }
            (Busy::Activate, Err(e)) => {
                // The server's word stands over the format check's: no green "looks right"
                // above it.
                self.feedback.set_text("");
                class(&self.feedback, &["feedback"]);
                self.say(&self.activate_error, &e.message, true);
                self.activate_help.set_text(
                    view::help(e.most_precise())
                        .or_else(|| view::help(&e.code))
                        .unwrap_or(""),
                );
            }
            (Busy::ActivateAgain, Err(e)) => self.say(progress, &e.message, true),
            (Busy::RequestFile | Busy::Import, Err(e)) => {
                let entitled = self.current.borrow().as_ref().is_some_and(|s| s.entitled);
                let words = view::import_words(e.most_precise(), entitled).unwrap_or(&e.message);
                self.say(&self.offline_message, words, true);
            }
            (_, Err(e)) => {
                self.failed_since.replace(Some(
                    self.current
                        .borrow()
                        .as_ref()
                        .and_then(|s| s.last_refresh_at.clone()),
                ));
                self.say(&self.action_message, &e.message, true);
            }
            (_, Ok(Answer::RequestFile(text))) => self.save_request_file(&text),
            (busy, Ok(Answer::Status(s))) => {
                self.render(&s);
                match busy {
                    Busy::Activate => {
                        self.key.set_text("");
                        self.badge.grab_focus();
                    }
                    Busy::Refresh => {
                        self.say(&self.action_message, "Refreshed.", false);
                        self.settle(&self.action_message.clone());
                    }
                    Busy::Deactivate => {
                        // The result goes where the user is looking: the card now shown.
                        let text = self.deactivated.take();
                        let shown = self.stack.visible_child_name();
                        if shown.as_deref() == Some("activation") {
                            self.say(&self.activate_progress, &text, false);
                            self.key.grab_focus();
                        } else {
                            self.say(&self.action_message, &text, false);
                        }
                    }
                    Busy::Import => {
                        self.say(
                            &self.action_message,
                            "Activated: the licence file is installed.",
                            false,
                        );
                    }
                    Busy::ActivateAgain | Busy::RequestFile => {}
                }
            }
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
        let dialog = gtk::MessageDialog::new(
            Some(&self.window),
            gtk::DialogFlags::MODAL | gtk::DialogFlags::DESTROY_WITH_PARENT,
            gtk::MessageType::Question,
            gtk::ButtonsType::None,
            "Deactivate this machine?",
        );
        dialog.set_secondary_text(Some(&c.deactivation.confirm));
        dialog.add_button("Cancel", gtk::ResponseType::Cancel);
        let yes = dialog.add_button("Deactivate", gtk::ResponseType::Accept);
        yes.style_context().add_class("destructive-action");
        dialog.set_default_response(gtk::ResponseType::Cancel);
        let ui = Rc::clone(self);
        let done = c.deactivation.done;
        dialog.connect_response(move |dialog, response| {
            dialog.close();
            if response == gtk::ResponseType::Accept {
                ui.deactivated.replace(done.clone());
                ui.start(Busy::Deactivate, Request::Deactivate);
            }
        });
        dialog.show_all();
    }

    fn save_request_file(&self, text: &str) {
        let chooser = gtk::FileChooserNative::new(
            Some("Save activation request"),
            Some(&self.window),
            gtk::FileChooserAction::Save,
            Some("Save"),
            Some("Cancel"),
        );
        chooser.set_do_overwrite_confirmation(true);
        chooser.set_current_name(&self.product.request_name);
        if chooser.run() != gtk::ResponseType::Accept {
            return;
        }
        let Some(path) = chooser.filename() else {
            return;
        };
        match licentric_agent::storage::write_atomic(&path, text.as_bytes()) {
            Ok(()) => self.say(
                &self.offline_message,
                &format!("Saved to {}", path.display()),
                false,
            ),
            Err(e) => self.say(
                &self.offline_message,
                &format!("Could not save it: {e}"),
                true,
            ),
        }
    }

    fn choose_license_file(self: &Rc<Self>) {
        let chooser = gtk::FileChooserNative::new(
            Some("Import licence file"),
            Some(&self.window),
            gtk::FileChooserAction::Open,
            Some("Import"),
            Some("Cancel"),
        );
        if chooser.run() != gtk::ResponseType::Accept {
            return;
        }
        let Some(path) = chooser.filename() else {
            return;
        };
        match crate::import::read(&path) {
            Ok(text) => self.start(Busy::Import, Request::Import(text)),
            Err(words) => self.say(&self.offline_message, &words, true),
        }
    }
}
