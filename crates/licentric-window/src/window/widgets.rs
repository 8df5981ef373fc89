//! Small helpers for building the window's widgets: accessible ids, labels, style classes,
//! rows of facts, and times in this computer's zone.

use gtk::glib;
use gtk::prelude::*;
use time::OffsetDateTime;

/// Gives `widget` the id `name`: its widget name (for the style sheet) and its accessible id
/// (for assistive technology and the tests).
pub(super) fn id<W: IsA<gtk::Widget>>(widget: &W, name: &str) {
    widget.set_widget_name(name);
    if let Some(accessible) = widget.accessible() {
        atk::prelude::AtkObjectExt::set_accessible_id(&accessible, name);
    }
}

/// Names `widget` for assistive technology (a field by its label, say).
pub(super) fn named<W: IsA<gtk::Widget>>(widget: &W, name: &str) {
    if let Some(accessible) = widget.accessible() {
        atk::prelude::AtkObjectExt::set_name(&accessible, name);
    }
}

/// A left-aligned, wrapping label with the id `name` (lines no longer than a reader's).
pub(super) fn label(text: &str, name: &str) -> gtk::Label {
    let l = gtk::Label::new(Some(text));
    l.set_xalign(0.0);
    l.set_line_wrap(true);
    l.set_max_width_chars(72);
    id(&l, name);
    l
}

/// A label for messages: shown only while it says something ([`put`]), so an empty one
/// leaves no gap.
pub(super) fn message(name: &str) -> gtk::Label {
    let l = label("", name);
    l.set_no_show_all(true);
    l.hide();
    l
}

/// Says `text` in the message label `l` (hidden when empty).
pub(super) fn put(l: &gtk::Label, text: &str) {
    l.set_text(text);
    l.set_visible(!text.is_empty());
}

/// Offers `button` or not. In a flow of buttons each sits in a child of its own, which goes
/// with it, so a hidden button leaves no gap (and a shown one is not kept in a hidden child).
pub(super) fn offer(button: &gtk::Button, on: bool) {
    button.set_no_show_all(!on);
    button.set_visible(on);
    if let Some(child) = button
        .parent()
        .and_then(|p| p.downcast::<gtk::FlowBoxChild>().ok())
    {
        child.set_no_show_all(!on);
        child.set_visible(on);
    }
}

/// A link to `url`, saying `text`, opened in the user's browser — without this process's
/// `GDK_GL=disable` (the window's, not the browser's).
pub(super) fn link(url: &str, text: &str) -> gtk::LinkButton {
    let l = gtk::LinkButton::with_label(url, text);
    l.set_halign(gtk::Align::Start);
    if let Some(child) = l.child().and_then(|c| c.downcast::<gtk::Label>().ok()) {
        child.set_line_wrap(true);
        child.set_xalign(0.0);
    }
    l.connect_activate_link(|l| {
        let uri = l.uri().map(|u| u.to_string()).unwrap_or_default();
        let context = gtk::prelude::WidgetExt::display(l).app_launch_context();
        let opened = match &context {
            Some(context) => {
                context.unsetenv("GDK_GL");
                gtk::gio::AppInfo::launch_default_for_uri(&uri, Some(context))
            }
            None => {
                gtk::gio::AppInfo::launch_default_for_uri(&uri, None::<&gtk::gio::AppLaunchContext>)
            }
        };
        if let Err(e) = opened {
            l.set_label(&format!("{uri} ({e})"));
        }
        glib::Propagation::Stop
    });
    l
}

/// A label in bold (a section's title).
pub(super) fn heading(text: &str, name: &str, size: &str) -> gtk::Label {
    let l = label("", name);
    l.set_markup(&format!(
        "<span size='{size}' weight='bold'>{}</span>",
        glib::markup_escape_text(text)
    ));
    l
}

/// A button with the id `name`.
pub(super) fn button(text: &str, name: &str) -> gtk::Button {
    let b = gtk::Button::with_label(text);
    id(&b, name);
    b
}

/// The classes that say a tone or an error: one at a time.
const TONES: [&str; 5] = ["ok", "warn", "bad", "neutral", "error"];

/// Sets `widget`'s tone classes to `names` (the others go; other classes stay).
pub(super) fn tone<W: IsA<gtk::Widget>>(widget: &W, names: &[&str]) {
    let style = widget.style_context();
    for c in style.list_classes() {
        if TONES.contains(&c.as_str()) {
            style.remove_class(&c);
        }
    }
    for c in names {
        style.add_class(c);
    }
}

/// Adds the class `name` to `widget`.
pub(super) fn class<W: IsA<gtk::Widget>>(widget: &W, name: &str) {
    widget.style_context().add_class(name);
}

/// Rows of facts: a muted name beside a selectable value.
pub(super) struct Facts {
    grid: gtk::Grid,
    rows: i32,
}

impl Facts {
    pub(super) fn new() -> Facts {
        let grid = gtk::Grid::new();
        grid.set_column_spacing(12);
        grid.set_row_spacing(4);
        Facts { grid, rows: 0 }
    }

    /// A row named `name`, its value's id `value_id`: the name's label and the value's.
    pub(super) fn row(&mut self, name: &str, value_id: &str) -> (gtk::Label, gtk::Label) {
        let n = label(name, &format!("{value_id}-label"));
        class(&n, "muted");
        n.set_valign(gtk::Align::Start);
        let v = label("", value_id);
        v.set_selectable(true);
        v.set_hexpand(true);
        self.grid.attach(&n, 0, self.rows, 1, 1);
        self.grid.attach(&v, 1, self.rows, 1, 1);
        self.rows += 1;
        (n, v)
    }

    /// A row whose value is `widget`.
    pub(super) fn row_of<W: IsA<gtk::Widget>>(&mut self, name: &str, widget: &W) {
        let n = label(name, "");
        class(&n, "muted");
        self.grid.attach(&n, 0, self.rows, 1, 1);
        self.grid.attach(widget, 1, self.rows, 1, 1);
        self.rows += 1;
    }

    pub(super) fn grid(&self) -> &gtk::Grid {
        &self.grid
    }
}

/// A time in this computer's zone and style, as GLib says it.
fn local(t: OffsetDateTime, format: &str) -> String {
    glib::DateTime::from_unix_utc(t.unix_timestamp())
        .and_then(|d| d.to_local())
        .and_then(|d| d.format(format))
        .map_or_else(|_| t.to_string(), |s| s.to_string())
}

/// A day and a time ("6 December 2026, 14:05"), here.
pub(super) fn when(t: OffsetDateTime) -> String {
    local(t, "%-d %B %Y, %H:%M")
}

/// A day ("6 December 2026"), here.
pub(super) fn day(t: OffsetDateTime) -> String {
    local(t, "%-d %B %Y")
}
