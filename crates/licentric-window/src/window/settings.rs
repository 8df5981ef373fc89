//! The settings page: desktop notifications and start at login (the same file and entry the
//! app's window uses), the proxy in use and how to change it, the local applications that
//! asked for the licence, and About.

use std::cell::Cell;
use std::rc::Rc;

use gtk::glib;
use gtk::prelude::*;
use licentric_proto::ipc::ClientSeen;

use super::Product;
use super::widgets::{Facts, class, heading, id, label, link, message, put, tone};
use crate::view;

/// The settings page's widgets.
pub(super) struct Settings {
    pub(super) root: gtk::ScrolledWindow,
    notifications: gtk::CheckButton,
    login: gtk::CheckButton,
    clients: gtk::Grid,
    clients_empty: gtk::Label,
    /// Set while the boxes are set from the files: their handlers then save nothing.
    loading: Rc<Cell<bool>>,
    settings: licentric_desktop::settings::SettingsFile,
    notifications_default: bool,
    login_entry: licentric_desktop::login::Entry,
}

impl Settings {
    pub(super) fn new(product: &Product) -> Settings {
        let page = gtk::Box::new(gtk::Orientation::Vertical, 10);
        page.pack_start(
            &heading("Settings", "settings-title", "large"),
            false,
            false,
            0,
        );
        let said = message("settings-message");
        let loading = Rc::new(Cell::new(false));
        let notifications = gtk::CheckButton::with_label("Show desktop notifications");
        id(&notifications, "setting-notifications");
        let (file, guard, words) = (product.settings.clone(), Rc::clone(&loading), said.clone());
        notifications.connect_toggled(move |b| {
            if guard.get() {
                return;
            }
            let saved = file.save(&licentric_desktop::settings::Settings {
                notifications: b.is_active(),
            });
            settled(b, &guard, &words, saved.map_err(|e| e.to_string()));
        });
        page.pack_start(&notifications, false, false, 0);
        let login = gtk::CheckButton::with_label("Start at login (in the tray)");
        id(&login, "setting-autostart");
        let (wanted, program) = (product.login.clone(), product.app_program.clone());
        let (guard, words) = (Rc::clone(&loading), said.clone());
        login.connect_toggled(move |b| {
            if guard.get() {
                return;
            }
            let written = start_at_login(&wanted, program.as_deref(), b.is_active());
            settled(b, &guard, &words, written);
        });
        page.pack_start(&login, false, false, 0);
        let mut facts = Facts::new();
        let (_, proxy) = facts.row("Proxy", "setting-proxy");
        proxy.set_text(&view::proxy(&product.proxy));
        page.pack_start(facts.grid(), false, false, 0);
        let hint = label(
            &view::proxy_hint(product.preferences.as_deref(), &product.app_name),
            "setting-proxy-hint",
        );
        class(&hint, "muted");
        page.pack_start(&hint, false, false, 0);
        page.pack_start(&said, false, false, 0);

        page.pack_start(
            &heading(
                "Applications that asked for the licence",
                "clients-title",
                "large",
            ),
            false,
            false,
            0,
        );
        let clients = gtk::Grid::new();
        id(&clients, "clients");
        clients.set_column_spacing(18);
        clients.set_row_spacing(4);
        page.pack_start(&clients, false, false, 0);
        let clients_empty = label("None since the licensing service started.", "clients-empty");
        class(&clients_empty, "muted");
        page.pack_start(&clients_empty, false, false, 0);

        page.pack_start(&heading("About", "about-title", "large"), false, false, 0);
        let mut about = Facts::new();
        about
            .row("Product", "about-product")
            .1
            .set_text(&product.name);
        about
            .row("Application", "about-app-name")
            .1
            .set_text(&product.app_name);
        about
            .row("Version", "version-app")
            .1
            .set_text(env!("CARGO_PKG_VERSION"));
        match &product.help_url {
            Some(url) => {
                let help = link(url, url);
                id(&help, "about-help");
                about.row_of("Help", &help);
            }
            None => about
                .row("Help", "about-help")
                .1
                .set_text("Ask the vendor of your software."),
        }
        page.pack_start(about.grid(), false, false, 0);
        let details = gtk::Expander::new(Some("Details (for support)"));
        id(&details, "about-details");
        let mut more = Facts::new();
        more.row("Window", "version-window")
            .1
            .set_text("native (GTK 3)");
        more.row("IPC protocol", "version-protocol")
            .1
            .set_text(&licentric_proto::PROTOCOL_VERSION.to_string());
        more.row("Local socket", "socket")
            .1
            .set_text(&product.socket);
        more.row("Licence answers", "served-by").1.set_text(
            "the licensing service running in the background (this window is its client)",
        );
        details.add(more.grid());
        page.pack_start(&details, false, false, 0);

        let root = gtk::ScrolledWindow::new(None::<&gtk::Adjustment>, None::<&gtk::Adjustment>);
        root.set_policy(gtk::PolicyType::Never, gtk::PolicyType::Automatic);
        root.add(&page);
        let settings = Settings {
            root,
            notifications,
            login,
            clients,
            clients_empty,
            loading,
            settings: product.settings.clone(),
            notifications_default: product.notifications_default,
            login_entry: product.login.clone(),
        };
        settings.reload();
        settings
    }

    /// Sets the boxes from what is saved now (another window, or the app, may have changed
    /// it): the settings file, and whether the start-at-login entry exists.
    pub(super) fn reload(&self) {
        self.loading.set(true);
        let saved = self.settings.load(licentric_desktop::settings::Settings {
            notifications: self.notifications_default,
        });
        self.notifications.set_active(saved.notifications);
        let entry = licentric_desktop::login::xdg::file(&self.login_entry.name);
        self.login
            .set_active(entry.as_ref().is_some_and(|f| f.exists()));
        self.loading.set(false);
    }

    /// Lists the local apps that asked the agent (`times` says when).
    pub(super) fn show_clients(&self, seen: &[ClientSeen], times: &view::Times<'_>) {
        for child in self.clients.children() {
            self.clients.remove(&child);
        }
        self.clients_empty.set_visible(seen.is_empty());
        if seen.is_empty() {
            return;
        }
        for (column, title) in (0..).zip(["Application", "Last query", "Queries"]) {
            self.clients
                .attach(&heading(title, "", "medium"), column, 0, 1, 1);
        }
        for (row, client) in (1..).zip(seen) {
            let (name, last, count) = view::client(client, times);
            for (column, text) in (0..).zip([name, last, count]) {
                let l = label(&text, &format!("client-{}-{column}", row - 1));
                self.clients.attach(&l, column, row, 1, 1);
            }
        }
        self.clients.show_all();
    }
}

/// Says a setting's outcome under the settings: saved (for a few seconds), or why not — and
/// then the box goes back to what is saved, so that it never shows what is not.
fn settled(
    b: &gtk::CheckButton,
    loading: &Rc<Cell<bool>>,
    said: &gtk::Label,
    outcome: Result<(), String>,
) {
    match outcome {
        Ok(()) => {
            put(said, "Saved.");
            tone(said, &[]);
            let said = said.clone();
            glib::timeout_add_seconds_local_once(4, move || {
                if said.text() == "Saved." {
                    put(&said, "");
                }
            });
        }
        Err(e) => {
            put(said, &format!("Could not save it: {e}"));
            tone(said, &["error"]);
            loading.set(true);
            b.set_active(!b.is_active());
            loading.set(false);
        }
    }
}

/// Writes or removes the start-at-login entry (the app's: it starts the app in the tray).
fn start_at_login(
    entry: &licentric_desktop::login::Entry,
    program: Option<&std::path::Path>,
    on: bool,
) -> Result<(), String> {
    let file = licentric_desktop::login::xdg::file(&entry.name)
        .ok_or("no home folder to keep the entry in")?;
    if on {
        let program = program.ok_or("the app is not installed beside this window")?;
        licentric_desktop::login::xdg::write(&file, &entry.name, program, &entry.args)
    } else {
        match std::fs::remove_file(&file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.to_string()),
            _ => Ok(()),
        }
    }
}
