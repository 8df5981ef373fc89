//! The window's dialogs: confirming a deactivation, choosing the day a borrowed seat comes
//! back, the diagnostics report (Copy, Save…), and the desktop's file dialogs.

use std::path::PathBuf;

use gtk::glib;
use gtk::prelude::*;

use super::widgets::{button, id, label, named};

/// Asks whether to go on with `question` (explained by `text`) through a button labelled
/// `yes`; `then` runs on yes. Cancel is the default: Enter or Escape does nothing harmful.
pub(super) fn confirm(
    parent: &gtk::Window,
    question: &str,
    text: &str,
    yes: &str,
    then: impl Fn() + 'static,
) {
    let dialog = gtk::MessageDialog::new(
        Some(parent),
        gtk::DialogFlags::MODAL | gtk::DialogFlags::DESTROY_WITH_PARENT,
        gtk::MessageType::Question,
        gtk::ButtonsType::None,
        question,
    );
    dialog.set_secondary_text(Some(text));
    dialog.add_button("Cancel", gtk::ResponseType::Cancel);
    let go = dialog.add_button(yes, gtk::ResponseType::Accept);
    go.style_context().add_class("destructive-action");
    dialog.set_default_response(gtk::ResponseType::Cancel);
    dialog.connect_response(move |dialog, response| {
        dialog.close();
        if response == gtk::ResponseType::Accept {
            then();
        }
    });
    dialog.show_all();
}

/// Asks until the end of which day to borrow a seat (from today; six days on, by default,
/// within the usual limit of seven); `then` gets that end as RFC 3339, on this computer's
/// clock.
pub(super) fn borrow(parent: &gtk::Window, then: impl Fn(String) + 'static) {
    let dialog = gtk::Dialog::with_buttons(
        Some("Borrow a seat"),
        Some(parent),
        gtk::DialogFlags::MODAL | gtk::DialogFlags::DESTROY_WITH_PARENT,
        &[
            ("Cancel", gtk::ResponseType::Cancel),
            ("Borrow", gtk::ResponseType::Accept),
        ],
    );
    let area = dialog.content_area();
    area.set_spacing(8);
    area.set_border_width(12);
    area.pack_start(
        &label(
            "Keep one seat of the floating licence on this computer for a trip: it stays licensed until the end of the day you choose, with or without a network, and nobody else can use that seat meanwhile. Return it early when you are back.",
            "borrow-text",
        ),
        false,
        false,
        0,
    );
    area.pack_start(
        &label("Until the end of", "borrow-until-label"),
        false,
        false,
        0,
    );
    let calendar = gtk::Calendar::new();
    id(&calendar, "borrow-until");
    named(&calendar, "Until the end of");
    if let Ok(in_six) = glib::DateTime::now_local().and_then(|d| d.add_days(6)) {
        calendar.select_month(in_six.month() as u32 - 1, in_six.year() as u32);
        calendar.select_day(in_six.day_of_month() as u32);
    }
    area.pack_start(&calendar, false, false, 0);
    let refused = label("", "borrow-refused");
    area.pack_start(&refused, false, false, 0);
    dialog.set_default_response(gtk::ResponseType::Accept);
    dialog.connect_response(move |dialog, response| {
        if response != gtk::ResponseType::Accept {
            dialog.close();
            return;
        }
        let (year, month, day) = calendar.date();
        let end =
            glib::DateTime::from_local(year as i32, month as i32 + 1, day as i32, 23, 59, 59.0)
                .and_then(|d| d.to_utc())
                .and_then(|d| d.format("%Y-%m-%dT%H:%M:%SZ"));
        let today = glib::DateTime::now_local()
            .and_then(|d| d.format("%Y-%m-%d"))
            .map(|d| d.to_string());
        let chosen = format!("{year:04}-{:02}-{day:02}", month + 1);
        match end {
            Ok(end) if today.as_ref().is_ok_and(|t| chosen >= *t) => {
                dialog.close();
                then(end.to_string());
            }
            _ => refused.set_text("Choose today or a later day."),
        }
    });
    dialog.show_all();
}

/// Shows the diagnostics `report`, with Copy and Save…; `save_as` names the file.
pub(super) fn diagnostics(parent: &gtk::Window, report: &str, save_as: &str) {
    let dialog = gtk::Dialog::with_buttons(
        Some("Diagnostics"),
        Some(parent),
        gtk::DialogFlags::MODAL | gtk::DialogFlags::DESTROY_WITH_PARENT,
        &[("Close", gtk::ResponseType::Close)],
    );
    dialog.set_default_size(560, 420);
    let area = dialog.content_area();
    area.set_spacing(8);
    area.set_border_width(12);
    area.pack_start(
        &label(
            "A report for support. It holds no licence key (only its last characters).",
            "diagnostics-about",
        ),
        false,
        false,
        0,
    );
    let text = gtk::TextView::new();
    id(&text, "diagnostics-text");
    named(&text, "Diagnostics report");
    text.set_editable(false);
    text.set_monospace(true);
    if let Some(buffer) = text.buffer() {
        buffer.set_text(report);
    }
    let scrolled = gtk::ScrolledWindow::new(None::<&gtk::Adjustment>, None::<&gtk::Adjustment>);
    scrolled.add(&text);
    area.pack_start(&scrolled, true, true, 0);
    let row = gtk::Box::new(gtk::Orientation::Horizontal, 8);
    let copy = button("Copy", "diagnostics-copy");
    let save = button("Save…", "diagnostics-save");
    let message = label("", "diagnostics-message");
    row.pack_start(&copy, false, false, 0);
    row.pack_start(&save, false, false, 0);
    row.pack_start(&message, true, true, 0);
    area.pack_start(&row, false, false, 0);
    let copied = report.to_owned();
    let said = message.clone();
    copy.connect_clicked(move |_| {
        gtk::Clipboard::get(&gtk::gdk::SELECTION_CLIPBOARD).set_text(&copied);
        said.set_text("Copied.");
    });
    let saved = report.to_owned();
    let (name, window) = (save_as.to_owned(), dialog.clone());
    save.connect_clicked(move |_| {
        let (saved, message) = (saved.clone(), message.clone());
        save_file(
            window.upcast_ref(),
            "Save diagnostics",
            &name,
            move |path| {
                message.set_text(&write(&path, &saved));
            },
        );
    });
    dialog.connect_response(|dialog, _| dialog.close());
    dialog.show_all();
}

/// Asks where to save a file named `name`; `then` gets the place (nothing when cancelled).
/// The dialog is the desktop's, and the window goes on meanwhile (no nested main loop: the
/// agent's news keeps coming).
pub(super) fn save_file(
    parent: &gtk::Window,
    title: &str,
    name: &str,
    then: impl Fn(PathBuf) + 'static,
) {
    let chooser = gtk::FileChooserNative::new(
        Some(title),
        Some(parent),
        gtk::FileChooserAction::Save,
        Some("Save"),
        Some("Cancel"),
    );
    chooser.set_do_overwrite_confirmation(true);
    chooser.set_current_name(name);
    choose(chooser, then);
}

/// Asks which licence file to import; `then` gets it (nothing when cancelled).
pub(super) fn open_file(parent: &gtk::Window, then: impl Fn(PathBuf) + 'static) {
    let chooser = gtk::FileChooserNative::new(
        Some("Import licence file"),
        Some(parent),
        gtk::FileChooserAction::Open,
        Some("Import"),
        Some("Cancel"),
    );
    // Where a licence file obtained elsewhere usually is: the downloads, else the home folder.
    let folder = glib::user_special_dir(glib::UserDirectory::Downloads)
        .filter(|d| d.is_dir())
        .unwrap_or_else(glib::home_dir);
    let _ = chooser.set_current_folder(&folder);
    choose(chooser, then);
}

/// Shows `chooser` (modal to its window), held until it is answered.
fn choose(chooser: gtk::FileChooserNative, then: impl Fn(PathBuf) + 'static) {
    chooser.set_modal(true);
    let held = std::cell::RefCell::new(Some(chooser.clone()));
    chooser.connect_response(move |c, response| {
        if response == gtk::ResponseType::Accept
            && let Some(path) = c.filename()
        {
            then(path);
        }
        // Answered: no longer held (the reference the handler kept goes).
        held.borrow_mut().take();
    });
    chooser.show();
}

/// Writes `text` to `path` (whole, private to the user) and says where, or why not.
pub(super) fn write(path: &std::path::Path, text: &str) -> String {
    match licentric_agent::storage::write_atomic(path, text.as_bytes()) {
        Ok(()) => format!("Saved to {}", path.display()),
        Err(e) => format!("Could not save it: {e}"),
    }
}
