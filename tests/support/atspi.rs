//! The native window as a screen reader sees it, and as the tests drive it: AT-SPI, the
//! desktop's accessibility bus (`at-spi-bus-launcher` on the test's session bus, the registry
//! it starts), asked over D-Bus. A widget is found by its accessible id (the window sets one
//! on each widget a user reads or uses), and only while it is showing — what the user sees.
//! Buttons are pressed through their accessible action, and fields filled through their
//! editable text, as assistive technology does.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use dbus::blocking::Connection;
use dbus::blocking::stdintf::org_freedesktop_dbus::Properties as _;

use crate::gui::wait_for;

const CALL: Duration = Duration::from_secs(5);
const ACCESSIBLE: &str = "org.a11y.atspi.Accessible";

/// AT-SPI's state bits (`AtspiStateType`), in the first word of `GetState`.
const FOCUSED: u32 = 12;
const SENSITIVE: u32 = 24;
const SHOWING: u32 = 25;

/// The accessibility bus of the test's session, with its registry.
pub struct Accessibility {
    launcher: Child,
    bus: Connection,
}

/// An accessible object: a window, a button, a label…
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    owner: String,
    path: dbus::Path<'static>,
}

impl Accessibility {
    /// Starts the accessibility bus on the session bus of the test (and the display, where the
    /// bus's address is also published), and connects to it.
    pub fn start(display: &str, root: &Path) -> Accessibility {
        let launcher = Command::new("/usr/libexec/at-spi-bus-launcher")
            .arg("--launch-immediately")
            .env("DISPLAY", display)
            // Its socket goes under $XDG_RUNTIME_DIR (or ~/.cache): the test's own.
            .env("XDG_RUNTIME_DIR", root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "at-spi-bus-launcher (at-spi2-core) is missing: run the GUI tests through .ci/test",
            );
        wait_for(
            "the accessibility bus on the session bus",
            Duration::from_secs(20),
            || crate::bus_name_owned("org.a11y.Bus", None).then_some(()),
        );
        let session = Connection::new_session().unwrap();
        let (address,): (String,) = session
            .with_proxy("org.a11y.Bus", "/org/a11y/bus", CALL)
            .method_call("org.a11y.Bus", "GetAddress", ())
            .unwrap();
        let mut channel = dbus::channel::Channel::open_private(&address).unwrap();
        channel.register().unwrap();
        Accessibility {
            launcher,
            bus: Connection::from(channel),
        }
    }

    /// The application whose program is `name` (its accessible name), once it is on the bus.
    pub fn app(&self, name: &str) -> Node {
        let root = Node {
            owner: "org.a11y.atspi.Registry".into(),
            path: dbus::Path::from("/org/a11y/atspi/accessible/root"),
        };
        wait_for(
            &format!("{name} on the accessibility bus"),
            Duration::from_secs(20),
            || {
                self.children(&root)
                    .into_iter()
                    .find(|app| self.name(app) == name)
            },
        )
    }

    fn children(&self, node: &Node) -> Vec<Node> {
        let answer: Result<(Vec<(String, dbus::Path<'static>)>,), _> = self
            .bus
            .with_proxy(&node.owner, &node.path, CALL)
            .method_call(ACCESSIBLE, "GetChildren", ());
        answer.map_or_else(
            |_| Vec::new(),
            |(children,)| {
                children
                    .into_iter()
                    .map(|(owner, path)| Node { owner, path })
                    .collect()
            },
        )
    }

    fn property(&self, node: &Node, name: &str) -> String {
        self.bus
            .with_proxy(&node.owner, &node.path, CALL)
            .get::<String>(ACCESSIBLE, name)
            .unwrap_or_default()
    }

    /// Its accessible name: a label's text, a button's label, a field's label.
    pub fn name(&self, node: &Node) -> String {
        self.property(node, "Name")
    }

    fn id(&self, node: &Node) -> String {
        self.property(node, "AccessibleId")
    }

    fn states(&self, node: &Node) -> u32 {
        let answer: Result<(Vec<u32>,), _> = self
            .bus
            .with_proxy(&node.owner, &node.path, CALL)
            .method_call(ACCESSIBLE, "GetState", ());
        answer.map_or(0, |(words,)| words.first().copied().unwrap_or(0))
    }

    /// Whether it is on screen now.
    pub fn showing(&self, node: &Node) -> bool {
        self.states(node) & (1 << SHOWING) != 0
    }

    /// Whether it has the keyboard's focus.
    pub fn focused(&self, node: &Node) -> bool {
        self.states(node) & (1 << FOCUSED) != 0
    }

    /// Whether the user can use it now (not greyed out).
    pub fn sensitive(&self, node: &Node) -> bool {
        self.states(node) & (1 << SENSITIVE) != 0
    }

    /// The first object under `root` (depth first) that is showing and has the accessible id
    /// `id`.
    pub fn find(&self, root: &Node, id: &str) -> Option<Node> {
        self.find_where(root, &|node| self.id(node) == id)
    }

    /// The first showing object under `root` whose role is `role` and name is `name`.
    pub fn find_named(&self, root: &Node, role: &str, name: &str) -> Option<Node> {
        self.find_where(root, &|node| {
            self.name(node) == name && self.role(node) == role
        })
    }

    /// What shows under `root`, an object a line (its role, name and id), for a failure's
    /// message.
    pub fn describe(&self, root: &Node) -> String {
        let mut out = String::new();
        self.describe_into(root, 0, &mut out);
        out
    }

    fn describe_into(&self, node: &Node, depth: usize, out: &mut String) {
        for child in self.children(node) {
            if !self.showing(&child) {
                continue;
            }
            out.push_str(&format!(
                "{:indent$}{} {:?} #{}\n",
                "",
                self.role(&child),
                self.name(&child),
                self.id(&child),
                indent = depth * 2
            ));
            self.describe_into(&child, depth + 1, out);
        }
    }

    /// The first showing object under `root` whose role is `role`.
    pub fn find_role(&self, root: &Node, role: &str) -> Option<Node> {
        self.find_where(root, &|node| self.role(node) == role)
    }

    /// The first showing object under `root` whose text `matches`.
    pub fn find_where_text(&self, root: &Node, matches: impl Fn(&str) -> bool) -> Option<Node> {
        self.find_where(root, &|node| matches(&self.name(node)))
    }

    fn find_where(&self, root: &Node, matches: &dyn Fn(&Node) -> bool) -> Option<Node> {
        for child in self.children(root) {
            if !self.showing(&child) {
                continue;
            }
            if matches(&child) {
                return Some(child);
            }
            if let Some(found) = self.find_where(&child, matches) {
                return Some(found);
            }
        }
        None
    }

    fn role(&self, node: &Node) -> String {
        let answer: Result<(String,), _> = self
            .bus
            .with_proxy(&node.owner, &node.path, CALL)
            .method_call(ACCESSIBLE, "GetRoleName", ());
        answer.map(|(role,)| role).unwrap_or_default()
    }

    /// The object with the id `id` under `root`, once it shows.
    pub fn wait(&self, root: &Node, id: &str) -> Node {
        wait_for(&format!("#{id} to show"), Duration::from_secs(20), || {
            self.find(root, id)
        })
    }

    /// The words of `id` under `root` (a label's text), once `accept` takes them.
    pub fn wait_text(&self, root: &Node, id: &str, accept: impl Fn(&str) -> bool) -> String {
        let mut last = String::new();
        let found = wait_for_quietly(Duration::from_secs(30), || {
            let text = self.find(root, id).map(|n| self.text(&n))?;
            if accept(&text) {
                return Some(text);
            }
            last = text;
            None
        });
        found.unwrap_or_else(|| panic!("#{id} never read as expected; last: {last:?}"))
    }

    /// Its text: a field's contents, a label's words.
    pub fn text(&self, node: &Node) -> String {
        let answer: Result<(String,), _> = self
            .bus
            .with_proxy(&node.owner, &node.path, CALL)
            .method_call("org.a11y.atspi.Text", "GetText", (0_i32, -1_i32));
        answer.map_or_else(|_| self.name(node), |(text,)| text)
    }

    /// Selects, in the table (or list) `table`, the row of its cell named `name`, as a click
    /// on it would; whether there was one.
    pub fn select(&self, table: &Node, name: &str) -> bool {
        // A cell, or a cell of cells (an icon and a name, say).
        let Some(index) = self.children(table).iter().position(|cell| {
            self.name(cell) == name || self.children(cell).iter().any(|c| self.name(c) == name)
        }) else {
            return false;
        };
        let table = self.bus.with_proxy(&table.owner, &table.path, CALL);
        let row: Result<(i32,), _> = table.method_call(
            "org.a11y.atspi.Table",
            "GetRowAtIndex",
            (i32::try_from(index).unwrap(),),
        );
        let Ok((row,)) = row else {
            return false;
        };
        let already: Result<(bool,), _> =
            table.method_call("org.a11y.atspi.Table", "IsRowSelected", (row,));
        if already.is_ok_and(|(yes,)| yes) {
            return true;
        }
        let selected: Result<(bool,), _> =
            table.method_call("org.a11y.atspi.Table", "AddRowSelection", (row,));
        selected.is_ok_and(|(done,)| done)
    }

    /// Does its action named `name` (`Activate`: a list's row chosen, as a double click).
    pub fn act(&self, node: &Node, name: &str) {
        let proxy = self.bus.with_proxy(&node.owner, &node.path, CALL);
        let (actions,): (Vec<(String, String, String)>,) = proxy
            .method_call("org.a11y.atspi.Action", "GetActions", ())
            .unwrap();
        let index = actions
            .iter()
            .position(|(n, _, _)| n == name)
            .unwrap_or_else(|| panic!("no action {name:?} among {actions:?}"));
        let (done,): (bool,) = proxy
            .method_call(
                "org.a11y.atspi.Action",
                "DoAction",
                (i32::try_from(index).unwrap(),),
            )
            .unwrap();
        assert!(done, "the action was not taken: {node:?}");
    }

    /// Presses it (its first action: a button's click).
    pub fn press(&self, node: &Node) {
        let (done,): (bool,) = self
            .bus
            .with_proxy(&node.owner, &node.path, CALL)
            .method_call("org.a11y.atspi.Action", "DoAction", (0_i32,))
            .unwrap();
        assert!(done, "the press was not taken: {node:?}");
    }

    /// Replaces a field's contents with `text`, as typing or pasting would.
    pub fn fill(&self, node: &Node, text: &str) {
        let (done,): (bool,) = self
            .bus
            .with_proxy(&node.owner, &node.path, CALL)
            .method_call("org.a11y.atspi.EditableText", "SetTextContents", (text,))
            .unwrap();
        assert!(done, "the text was not taken: {node:?}");
    }
}

fn wait_for_quietly<T>(timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(found) = probe() {
            return Some(found);
        }
        if std::time::Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Drop for Accessibility {
    fn drop(&mut self) {
        // Asked to end (not killed), the launcher ends its bus and the registry on it.
        let _ = Command::new("kill")
            .args(["-TERM", &self.launcher.id().to_string()])
            .status();
        let _ = self.launcher.wait();
    }
}
