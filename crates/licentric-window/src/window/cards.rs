//! The licence page's two cards, built: activation (no licence here yet) and status.

use gtk::prelude::*;

use super::Product;
use super::widgets::{Facts, button, class, heading, id, label, link, message, named, offer, tone};

/// The timeline's colours: the time passed and now, the next refresh.
const NOW: &str = "#1e7a3a";
const REFRESH: &str = "#3465a4";

/// A small square of `colour`, for the legend.
fn swatch(colour: &str) -> gtk::Label {
    let l = gtk::Label::new(None);
    l.set_markup(&format!("<span foreground='{colour}'>▮</span>"));
    l
}

/// The offline period as a bar: the time passed filled up to now, and a mark at the next
/// refresh (`marks`, fractions of the period, set by the window).
fn bar(marks: &std::rc::Rc<std::cell::Cell<(f64, Option<f64>)>>) -> gtk::DrawingArea {
    let area = gtk::DrawingArea::new();
    area.set_size_request(-1, 14);
    let marks = std::rc::Rc::clone(marks);
    area.connect_draw(move |area, cr| {
        let (w, h) = (
            f64::from(area.allocated_width()),
            f64::from(area.allocated_height()),
        );
        let (now, refresh) = marks.get();
        let rgb = |hex: &str| {
            let v = u32::from_str_radix(hex.trim_start_matches('#'), 16).unwrap_or(0);
            (
                f64::from((v >> 16) & 0xff) / 255.0,
                f64::from((v >> 8) & 0xff) / 255.0,
                f64::from(v & 0xff) / 255.0,
            )
        };
        cr.set_source_rgba(0.5, 0.5, 0.5, 0.25);
        cr.rectangle(0.0, 3.0, w, h - 6.0);
        let _ = cr.fill();
        let (r, g, b) = rgb(NOW);
        cr.set_source_rgb(r, g, b);
        cr.rectangle(0.0, 3.0, w * now.clamp(0.0, 1.0), h - 6.0);
        let _ = cr.fill();
        cr.rectangle((w * now.clamp(0.0, 1.0) - 1.5).max(0.0), 0.0, 3.0, h);
        let _ = cr.fill();
        if let Some(at) = refresh {
            let (r, g, b) = rgb(REFRESH);
            cr.set_source_rgb(r, g, b);
            cr.rectangle((w * at.clamp(0.0, 1.0) - 1.5).max(0.0), 0.0, 3.0, h);
            let _ = cr.fill();
        }
        gtk::glib::Propagation::Stop
    });
    area
}

/// A column under the heading `title` (its id `name`).
fn section(title: &str, name: &str) -> gtk::Box {
    let column = gtk::Box::new(gtk::Orientation::Vertical, 4);
    column.pack_start(&heading(title, name, "medium"), false, false, 0);
    column
}

/// The activation card's widgets.
pub(super) struct Activation {
    pub(super) root: gtk::Box,
    pub(super) notice: gtk::Box,
    pub(super) notice_text: gtk::Label,
    pub(super) again: gtk::Button,
    pub(super) again_progress: gtk::Label,
    pub(super) again_cancel: gtk::Button,
    pub(super) key: gtk::Entry,
    pub(super) feedback: gtk::Label,
    pub(super) activate: gtk::Button,
    pub(super) progress: gtk::Label,
    pub(super) cancel: gtk::Button,
    pub(super) error: gtk::Label,
    pub(super) help: gtk::Label,
    pub(super) offline: gtk::Expander,
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
        // Deactivated from elsewhere (signed by the server): why, and the stored key offered.
        let notice = gtk::Box::new(gtk::Orientation::Vertical, 6);
        let notice_text = label("", "activation-notice");
        let again_row = gtk::Box::new(gtk::Orientation::Horizontal, 8);
        let again = button("Activate again", "activate-again");
        let again_cancel = button("Cancel", "activate-again-cancel");
        again_cancel.set_no_show_all(true);
        let again_progress = message("activate-again-progress");
        again_row.pack_start(&again, false, false, 0);
        again_row.pack_start(&again_cancel, false, false, 0);
        again_row.pack_start(&again_progress, true, true, 0);
        notice.pack_start(&notice_text, false, false, 0);
        notice.pack_start(&again_row, false, false, 0);
        // Shown with its contents only when there is something to say.
        notice.show_all();
        notice.set_no_show_all(true);
        notice.hide();
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
            let help = link(
                url,
                &format!("Can't find your key? Open the help page ({url})"),
            );
            id(&help, "key-help-link");
            root.pack_start(&help, false, false, 0);
        }

        let row = gtk::Box::new(gtk::Orientation::Horizontal, 8);
        let activate = button("Activate", "activate");
        activate.set_can_default(true);
        class(&activate, "suggested-action");
        let cancel = button("Cancel", "activate-cancel");
        cancel.set_no_show_all(true);
        let progress = message("activate-progress");
        row.pack_start(&activate, false, false, 0);
        row.pack_start(&cancel, false, false, 0);
        row.pack_start(&progress, true, true, 0);
        root.pack_start(&row, false, false, 0);
        let error = message("activate-error");
        tone(&error, &["error"]);
        let help = message("activate-help");
        class(&help, "muted");
        root.pack_start(&error, false, false, 0);
        root.pack_start(&help, false, false, 0);

        let offline = gtk::Expander::new(Some("No internet on this computer? Activate offline"));
        // Turning to the offline steps: a word about the key field no longer applies.
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
                1 => {
                    if let Some(url) = &product.help_url {
                        let help = link(url, &format!("Your vendor's help page says where: {url}"));
                        id(&help, "offline-help");
                        steps.pack_start(&help, false, false, 0);
                    }
                }
                2 => steps.pack_start(&import, false, false, 0),
                _ => {}
            }
        }
        save_request.set_halign(gtk::Align::Start);
        import.set_halign(gtk::Align::Start);
        let offline_message = message("offline-message");
        steps.pack_start(&offline_message, false, false, 0);
        offline.add(&steps);
        root.pack_start(&offline, false, false, 0);

        Activation {
            root,
            notice,
            notice_text,
            again,
            again_progress,
            again_cancel,
            offline,
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
    pub(super) timeline_box: gtk::Box,
    pub(super) timeline: gtk::DrawingArea,
    /// Where the bar's marks are: now, and the next refresh (fractions of the period).
    pub(super) marks: std::rc::Rc<std::cell::Cell<(f64, Option<f64>)>>,
    pub(super) legend_refresh: gtk::Label,
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
        let licence = section("Licence", "licence-title");
        let mut facts = Facts::new();
        let (_, key) = facts.row("Key", "license-key");
        let (_, entitlements) = facts.row("Entitlements", "entitlements");
        let (_, expires) = facts.row("Expires", "license-expires");
        let (machines_label, machines) = facts.row("Machines", "machines");
        licence.pack_start(facts.grid(), false, false, 0);
        let machine = section("This machine", "machine-title");
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

        let timeline_box = gtk::Box::new(gtk::Orientation::Vertical, 4);
        timeline_box.pack_start(
            &heading("Offline licence", "timeline-title", "medium"),
            false,
            false,
            0,
        );
        let marks = std::rc::Rc::new(std::cell::Cell::new((0.0, None)));
        let timeline = bar(&marks);
        id(&timeline, "timeline");
        timeline_box.pack_start(&timeline, false, false, 0);
        let ends = gtk::Box::new(gtk::Orientation::Horizontal, 8);
        let timeline_start = label("", "timeline-start");
        let legend = gtk::Box::new(gtk::Orientation::Horizontal, 4);
        legend.pack_start(&swatch(NOW), false, false, 0);
        legend.pack_start(&label("now", "legend-now"), false, false, 0);
        let legend_refresh = label("", "legend-refresh");
        legend_refresh.set_markup(&format!(
            "  <span foreground='{REFRESH}'>▮</span> next refresh"
        ));
        legend.pack_start(&legend_refresh, false, false, 0);
        let timeline_end = label("", "timeline-end");
        timeline_end.set_xalign(1.0);
        ends.pack_start(&timeline_start, true, true, 0);
        ends.set_center_widget(Some(&legend));
        ends.pack_end(&timeline_end, true, true, 0);
        timeline_box.pack_start(&ends, false, false, 0);
        let timeline_text = label("", "timeline-text");
        class(&timeline_text, "muted");
        timeline_box.pack_start(&timeline_text, false, false, 0);
        root.pack_start(&timeline_box, false, false, 0);

        // They wrap to a second line rather than widen the window.
        let actions = gtk::FlowBox::new();
        actions.set_selection_mode(gtk::SelectionMode::None);
        actions.set_column_spacing(8);
        actions.set_row_spacing(8);
        actions.set_homogeneous(false);
        let refresh = button("Refresh now", "refresh");
        let renew_request = button("Renewal request…", "renew-request");
        let renew_import = button("Import licence file…", "renew-import");
        let borrow = button("Borrow…", "borrow");
        let give_back = button("Return seat", "return");
        let deactivate = button("Deactivate…", "deactivate");
        class(&deactivate, "destructive-action");
        let diagnostics = button("Diagnostics…", "diagnostics");
        let cancel = button("Cancel", "action-cancel");
        // Deactivate and Diagnostics are always offered; the others as the status says.
        for (b, offered) in [
            (&refresh, false),
            (&renew_request, false),
            (&renew_import, false),
            (&borrow, false),
            (&give_back, false),
            (&deactivate, true),
            (&diagnostics, true),
            (&cancel, false),
        ] {
            actions.add(b);
            offer(b, offered);
        }
        root.pack_start(&actions, false, false, 0);
        let message = message("action-message");
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
            timeline_box,
            timeline,
            marks,
            legend_refresh,
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
