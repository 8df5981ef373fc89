//! The settings page: desktop notifications and start at login (the same file and entry the
//! app's window uses), the proxy in use and how to change it, the local applications that
//! asked for the licence, and About.

use gtk::prelude::*;
use licentric_proto::ipc::ClientSeen;

use super::Product;
use super::widgets::{Facts, class, heading, id, label, tone};
use crate::view;

/// The settings page's widgets.
pub(super) struct Settings {
    pub(super) root: gtk::ScrolledWindow,
    clients: gtk::Grid,
    clients_empty: gtk::Label,
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
        let message = label("", "settings-message");
        let notifications = gtk::CheckButton::with_label("Show desktop notifications");
        id(&notifications, "setting-notifications");
        notifications.set_active(
            product
                .settings
                .load(licentric_desktop::settings::Settings {
                    notifications: product.notifications_default,
                })
                .notifications,
        );
        let file = product.settings.clone();
        let said = message.clone();
        notifications.connect_toggled(move |b| {
            let saved = file.save(&licentric_desktop::settings::Settings {
                notifications: b.is_active(),
            });
            say(&said, saved.map_err(|e| e.to_string()));
        });
        page.pack_start(&notifications, false, false, 0);
        let login = gtk::CheckButton::with_label("Start at login (in the tray)");
        id(&login, "setting-autostart");
        let entry = licentric_desktop::login::xdg::file(&product.login.name);
        login.set_active(entry.as_ref().is_some_and(|f| f.exists()));
        let (wanted, program) = (product.login.clone(), product.app_program.clone());
        let said = message.clone();
        login.connect_toggled(move |b| {
            say(
                &said,
                start_at_login(&wanted, program.as_deref(), b.is_active()),
            );
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
        page.pack_start(&message, false, false, 0);

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
        if let Some(url) = &product.help_url {
            let link = gtk::LinkButton::with_label(url, url);
            id(&link, "about-help");
            link.set_halign(gtk::Align::Start);
            about.row_of("Help", &link);
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
        Settings {
            root,
            clients,
            clients_empty,
        }
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
        for (column, title) in ["Application", "Last query", "Queries"].iter().enumerate() {
            let l = heading(title, "", "medium");
            self.clients.attach(&l, column as i32, 0, 1, 1);
        }
        for (row, client) in seen.iter().enumerate() {
            let (name, last, count) = view::client(client, times);
            for (column, text) in [name, last, count].iter().enumerate() {
                let l = label(text, &format!("client-{row}-{column}"));
                self.clients.attach(&l, column as i32, row as i32 + 1, 1, 1);
            }
        }
        self.clients.show_all();
    }
}

/// Says a setting's outcome under the settings: saved, or why not.
fn say(message: &gtk::Label, outcome: Result<(), String>) {
    match outcome {
        Ok(()) => {
            message.set_text("Saved.");
            tone(message, &[]);
        }
        Err(e) => {
            message.set_text(&format!("Could not save it: {e}"));
            tone(message, &["error"]);
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
