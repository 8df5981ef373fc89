//! The licence page's two cards, built: activation (no licence here yet) and status.

use gtk::prelude::*;

use super::Product;
use super::widgets::{Facts, button, class, heading, id, label, named, tone};

/// The activation card's widgets.
pub(super) struct Activation {
    pub(super) root: gtk::Box,
    pub(super) notice: gtk::Box,
    pub(super) notice_text: gtk::Label,
    pub(super) again: gtk::Button,
    pub(super) key: gtk::Entry,
    pub(super) feedback: gtk::Label,
    pub(super) activate: gtk::Button,
    pub(super) progress: gtk::Label,
    pub(super) cancel: gtk::Button,
    pub(super) error: gtk::Label,
    pub(super) help: gtk::Label,
    pub(super) save_request: gtk::Button,
    pub(super) import: gtk::Button,
    pub(super) offline_message: gtk::Label,
}

impl Activation {
    pub(super) fn new(product: &Product) -> Activation {
        let root = gtk::Box::new(gtk::Orientation::Vertical, 8);
        root.pack_start(
            &heading(
                &format!("Activate {}", product.name),
                "activation-title",
                "large",
            ),
            false,
            false,
            0,
        );
        let notice = gtk::Box::new(gtk::Orientation::Vertical, 6);
        let notice_text = label("", "activation-notice");
        let again = button("Activate again", "activate-again");
        again.set_halign(gtk::Align::Start);
        notice.pack_start(&notice_text, false, false, 0);
        notice.pack_start(&again, false, false, 0);
        notice.set_no_show_all(true);
        root.pack_start(&notice, false, false, 0);

        let key_label = gtk::Label::with_mnemonic("Licence _key");
        key_label.set_xalign(0.0);
        let key = gtk::Entry::new();
        id(&key, "key");
        key.set_placeholder_text(Some(&format!("{}-XXXX-XXXX-XXXX-XXXX", product.prefix)));
        key.set_activates_default(true);
        key_label.set_mnemonic_widget(Some(&key));
        // Named by its label for assistive technology too (GTK 3 relates them, but a screen
        // reader reads the entry's own name).
        named(&key, "Licence key");
        let feedback = label("Paste the key from your purchase e-mail.", "key-feedback");
        class(&feedback, "feedback");
        root.pack_start(&key_label, false, false, 0);
        root.pack_start(&key, false, false, 0);
        root.pack_start(&feedback, false, false, 0);
        if let Some(url) = &product.help_url {
            let help = gtk::LinkButton::with_label(url, "Can't find your key? Open the help page");
            id(&help, "key-help-link");
            help.set_halign(gtk::Align::Start);
            root.pack_start(&help, false, false, 0);
        }

        let row = gtk::Box::new(gtk::Orientation::Horizontal, 8);
        let activate = button("Activate", "activate");
        activate.set_can_default(true);
        class(&activate, "suggested-action");
        let cancel = button("Cancel", "activate-cancel");
        cancel.set_no_show_all(true);
        let progress = label("", "activate-progress");
        row.pack_start(&activate, false, false, 0);
        row.pack_start(&cancel, false, false, 0);
        row.pack_start(&progress, true, true, 0);
        root.pack_start(&row, false, false, 0);
        let error = label("", "activate-error");
        tone(&error, &["error"]);
        let help = label("", "activate-help");
        class(&help, "muted");
        root.pack_start(&error, false, false, 0);
        root.pack_start(&help, false, false, 0);

        let offline = gtk::Expander::new(Some("No internet on this computer? Activate offline"));
        id(&offline, "offline-activation");
        let steps = gtk::Box::new(gtk::Orientation::Vertical, 6);
        let save_request = button("Save activation request…", "save-request");
        let import = button("Choose licence file…", "import");
        for (i, step) in [
            "1. Save an activation request for this computer, and take it to a device with internet access.",
            "2. Submit it with your licence key on the vendor's site, then bring back the licence file.",
            "3. Import the licence file here (or drop it on this window):",
        ]
        .iter()
        .enumerate()
        {
            steps.pack_start(
                &label(step, &format!("offline-step-{}", i + 1)),
                false,
                false,
                0,
            );
            match i {
                0 => steps.pack_start(&save_request, false, false, 0),
                2 => steps.pack_start(&import, false, false, 0),
                _ => {}
            }
        }
        save_request.set_halign(gtk::Align::Start);
        import.set_halign(gtk::Align::Start);
        let offline_message = label("", "offline-message");
        steps.pack_start(&offline_message, false, false, 0);
        offline.add(&steps);
        root.pack_start(&offline, false, false, 0);

        Activation {
            root,
            notice,
            notice_text,
            again,
            key,
            feedback,
            activate,
            progress,
            cancel,
            error,
            help,
            save_request,
            import,
            offline_message,
        }
    }
}

/// The status card's widgets.
pub(super) struct Status {
    pub(super) root: gtk::Box,
    pub(super) badge: gtk::Label,
    pub(super) detail: gtk::Label,
    pub(super) key: gtk::Label,
    pub(super) entitlements: gtk::Label,
    pub(super) expires: gtk::Label,
    pub(super) machines_label: gtk::Label,
    pub(super) machines: gtk::Label,
    pub(super) store_label: gtk::Label,
    pub(super) store: gtk::Label,
    pub(super) runs_in_label: gtk::Label,
    pub(super) runs_in: gtk::Label,
    pub(super) fingerprint: gtk::Label,
    pub(super) parts: gtk::Box,
    pub(super) timeline: gtk::LevelBar,
    pub(super) timeline_start: gtk::Label,
    pub(super) timeline_end: gtk::Label,
    pub(super) timeline_text: gtk::Label,
    pub(super) refresh: gtk::Button,
    pub(super) renew_request: gtk::Button,
    pub(super) renew_import: gtk::Button,
    pub(super) borrow: gtk::Button,
    pub(super) give_back: gtk::Button,
    pub(super) deactivate: gtk::Button,
    pub(super) diagnostics: gtk::Button,
    pub(super) cancel: gtk::Button,
    pub(super) message: gtk::Label,
}

impl Status {
    pub(super) fn new() -> Status {
        let root = gtk::Box::new(gtk::Orientation::Vertical, 8);
        let badge = label("", "badge");
        class(&badge, "badge");
        badge.set_halign(gtk::Align::Start);
        badge.set_can_focus(true);
        let detail = label("", "state-detail");
        root.pack_start(&badge, false, false, 0);
        root.pack_start(&detail, false, false, 0);

        let pair = gtk::Box::new(gtk::Orientation::Horizontal, 18);
        pair.set_homogeneous(true);
        let licence = gtk::Box::new(gtk::Orientation::Vertical, 4);
        licence.pack_start(
            &heading("Licence", "licence-title", "medium"),
            false,
            false,
            0,
        );
        let mut facts = Facts::new();
        let (_, key) = facts.row("Key", "license-key");
        let (_, entitlements) = facts.row("Entitlements", "entitlements");
        let (_, expires) = facts.row("Expires", "license-expires");
        let (machines_label, machines) = facts.row("Machines", "machines");
        licence.pack_start(facts.grid(), false, false, 0);
        let machine = gtk::Box::new(gtk::Orientation::Vertical, 4);
        machine.pack_start(
            &heading("This machine", "machine-title", "medium"),
            false,
            false,
            0,
        );
        let mut facts = Facts::new();
        let (_, name) = facts.row("Name", "machine-name");
        name.set_text(&gtk::glib::host_name());
        let (_, fingerprint) = facts.row("Fingerprint", "fingerprint");
        let (store_label, store) = facts.row("Key stored in", "credential-store");
        let (runs_in_label, runs_in) = facts.row("Runs in", "runs-in");
        machine.pack_start(facts.grid(), false, false, 0);
        let expander = gtk::Expander::new(Some("Its parts"));
        id(&expander, "machine-parts");
        let parts = gtk::Box::new(gtk::Orientation::Vertical, 2);
        let about = label(
            "The licence knows this machine by these parts, each hashed for this product: no serial number or address leaves it.",
            "parts-about",
        );
        class(&about, "muted");
        parts.pack_start(&about, false, false, 0);
        expander.add(&parts);
        machine.pack_start(&expander, false, false, 0);
        pair.pack_start(&licence, true, true, 0);
        pair.pack_start(&machine, true, true, 0);
        root.pack_start(&pair, false, false, 0);

        let timeline_title = heading("Offline licence", "timeline-title", "medium");
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
        class(&timeline_text, "muted");
        for w in [
            timeline_title.upcast_ref::<gtk::Widget>(),
            timeline.upcast_ref(),
            ends.upcast_ref(),
            timeline_text.upcast_ref(),
        ] {
            root.pack_start(w, false, false, 0);
        }

        let actions = gtk::Box::new(gtk::Orientation::Horizontal, 8);
        let refresh = button("Refresh now", "refresh");
        let renew_request = button("Renewal request…", "renew-request");
        let renew_import = button("Import licence file…", "renew-import");
        let borrow = button("Borrow…", "borrow");
        let give_back = button("Return seat", "return");
        let deactivate = button("Deactivate…", "deactivate");
        class(&deactivate, "destructive-action");
        let diagnostics = button("Diagnostics…", "diagnostics");
        let cancel = button("Cancel", "action-cancel");
        for b in [
            &refresh,
            &renew_request,
            &renew_import,
            &borrow,
            &give_back,
            &deactivate,
            &diagnostics,
            &cancel,
        ] {
            b.set_no_show_all(true);
            actions.pack_start(b, false, false, 0);
        }
        for b in [&deactivate, &diagnostics] {
            b.show();
        }
        root.pack_start(&actions, false, false, 0);
        let message = label("", "action-message");
        root.pack_start(&message, false, false, 0);

        Status {
            root,
            badge,
            detail,
            key,
            entitlements,
            expires,
            machines_label,
            machines,
            store_label,
            store,
            runs_in_label,
            runs_in,
            fingerprint,
            parts,
            timeline,
            timeline_start,
            timeline_end,
            timeline_text,
            refresh,
            renew_request,
            renew_import,
            borrow,
            give_back,
            deactivate,
            diagnostics,
            cancel,
            message,
        }
    }

    /// This machine's fingerprint (its start) and parts, as the agent knows them.
    pub(super) fn show_machine(&self, machine: &licentric_proto::ipc::FingerprintResult) {
        self.fingerprint.set_text(&format!(
            "{}…",
            &machine.fingerprint.get(..12).unwrap_or("")
        ));
        for part in &machine.components {
            let l = label(&crate::view::part(part), &format!("part-{}", part.kind));
            self.parts.pack_start(&l, false, false, 0);
            l.show();
        }
    }
}
