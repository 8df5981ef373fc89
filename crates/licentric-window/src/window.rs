//! The window itself: GTK 3 widgets showing what [`crate::view`] says, and sending the user's
//! actions to [`crate::agent`]. Each widget a test or a screen reader needs to find has an
//! accessible id (`badge`, `key`, …); buttons and fields are named by their labels.
//!
//! Here the window is built and wired; `render` shows a status, `actions` runs what the
//! user asks (one at a time, with progress and Cancel) and says its outcome.

use std::cell::{Cell, RefCell};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Instant;

use gtk::glib;
use gtk::prelude::*;
use licentric_agent::proxy::ProxyInUse;
use licentric_core::KeyPrefix;
use licentric_desktop::settings::SettingsFile;
use licentric_proto::ipc::{Retrying, Status};

use crate::agent::{Ask, Event, Request};
use crate::view::{self, Card};

mod actions;
mod cards;
mod dialogs;
mod render;
mod settings;
mod widgets;

use widgets::{heading, id, label, named, put, tone};

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
    asks: mpsc::Sender<Ask>,
    window: gtk::Window,
    gone: gtk::Label,
    pages: gtk::Stack,
    stack: gtk::Stack,
    activation: cards::Activation,
    status: cards::Status,
    settings: settings::Settings,
    // What it remembers.
    /// The status shown; none while the agent cannot be reached (nothing shown is current).
    current: RefCell<Option<Status>>,
    busy: Cell<Option<(Busy, Instant)>>,
    /// Bumped by each wait started, so that an old wait's timer stops.
    wait: Cell<u64>,
    /// A progress question is on its way: the next tick does not ask again.
    asking: Cell<bool>,
    /// The last retry the agent told of, for the wait under way.
    retry: RefCell<Option<Retrying>>,
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
    /// This machine's fingerprint, once the agent said it (for the diagnostics).
    machine_asked: Cell<bool>,
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
        asks: mpsc::Sender<Ask>,
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
            &format!(
                "Licensing has stopped: the licensing service running in the background has stopped, so what this window showed is no longer current. If it starts again, this window follows it; to start it now, close this window and open {} again.",
                product.app_name
            ),
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
            asks,
            window,
            gone,
            pages,
            stack,
            activation,
            status,
            settings,
            current: RefCell::new(None),
            busy: Cell::new(None),
            wait: Cell::new(0),
            asking: Cell::new(false),
            retry: RefCell::new(None),
            said: Cell::new(0),
            failed_since: RefCell::new(None),
            cancel_refused: RefCell::new(String::new()),
            deactivated: RefCell::new(String::new()),
            machine_asked: Cell::new(false),
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
            put(&ui.activation.error, "");
            put(&ui.activation.help, "");
            if ui.activation.progress.text() == view::CANCELLED {
                put(&ui.activation.progress, "");
            }
            ui.check_key(false);
        });
        // Leaving the field judges what is in it as finished (a key cut short says so).
        let ui = Rc::clone(self);
        a.key.connect_focus_out_event(move |key, _| {
            if !key.text().is_empty() && ui.activation.error.text().is_empty() {
                ui.check_key(true);
            }
            glib::Propagation::Proceed
        });
        let ui = Rc::clone(self);
        a.offline.connect_expanded_notify(move |offline| {
            if offline.is_expanded() {
                put(&ui.activation.error, "");
                put(&ui.activation.help, "");
            }
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
        self.on(&st.diagnostics, |ui| {
            let _ = ui.asks.send(Ask::Report);
        });
        for cancel in [&a.cancel, &a.again_cancel, &st.cancel] {
            self.on(cancel, Ui::cancel);
        }
        // Escape ends a wait, as its Cancel button does — where one is offered.
        let ui = Rc::clone(self);
        self.window.connect_key_press_event(move |_, event| {
            let offered = ui
                .busy
                .get()
                .and_then(|(busy, _)| ui.cancel_button(busy))
                .is_some_and(|b| b.is_visible());
            if event.keyval() == gtk::gdk::keys::constants::Escape && offered {
                ui.cancel();
                return glib::Propagation::Stop;
            }
            glib::Propagation::Proceed
        });
        self.wire_drops();
        // Settings says what is saved now, and the apps that asked, each time it is shown.
        let ui = Rc::clone(self);
        self.pages.connect_visible_child_name_notify(move |pages| {
            if pages.visible_child_name().as_deref() == Some("settings") {
                ui.settings.reload();
                let _ = ui.asks.send(Ask::Clients);
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

    /// A licence file dropped on the window is imported where one is asked for: on the
    /// activation card, or on the status card of a machine that renews by file.
    fn wire_drops(self: &Rc<Self>) {
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
                let Some(path) = data
                    .uris()
                    .first()
                    .and_then(|uri| glib::filename_from_uri(uri).ok().map(|(path, _)| path))
                else {
                    return;
                };
                let card = ui
                    .current
                    .borrow()
                    .as_ref()
                    .map(|s| view::card(s, &ui.product.name, &ui.times()));
                let renewal = match card {
                    Some(Card::Activation { .. }) => false,
                    Some(Card::Status(c)) if c.renews_by_file => true,
                    // Nothing here asks for a licence file.
                    _ => return,
                };
                ui.pages.set_visible_child_name("licence");
                if !renewal {
                    ui.activation.offline.set_expanded(true);
                }
                ui.import_from(&path, renewal);
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
            // Whether this machine is activated is not known yet: once a status comes. Put
            // in the field meanwhile, so that it is not lost if none comes.
            self.activation.key.set_text(&key);
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
                put(&self.activation.error, "");
                put(&self.activation.progress, "");
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
                let back = self.gone.is_visible();
                self.gone.hide();
                self.pages.show();
                if back {
                    self.clear_messages();
                }
                self.render(&s);
                let waiting = self.link_key.take();
                if let Some(key) = waiting {
                    self.link_key(key);
                }
                if !self.machine_asked.replace(true) {
                    let _ = self.asks.send(Ask::Machine);
                }
            }
            Event::Gone => self.agent_gone(),
            Event::Done(answer) => self.finished(answer),
            // The user quit the product from its tray: its window goes too.
            Event::Quit => self.window.close(),
            Event::Progress(retry) => {
                self.asking.set(false);
                self.retry.replace(retry);
            }
            Event::CancelRefused(why) => {
                self.cancel_refused
                    .replace(format!(" Cannot cancel: {why}"));
            }
            Event::Clients(seen) => self.settings.show_clients(&seen, &self.times()),
            Event::Machine(machine) => self.status.show_machine(&machine),
            Event::ForReport {
                fingerprint,
                clients,
            } => self.show_diagnostics(&fingerprint, &clients),
        }
    }

    /// The agent cannot be reached: nothing shown is current. Every page and open dialog
    /// goes, and one line says so, until a status comes again.
    fn agent_gone(&self) {
        self.current.replace(None);
        self.gone.show();
        self.pages.hide();
        for w in gtk::Window::list_toplevels() {
            if let Ok(dialog) = w.downcast::<gtk::Dialog>() {
                dialog.close();
            }
        }
    }
}
