//! The native window on Linux (`licentric-companion-window`: GTK 3, a client of the agent), against the
//! real agent, server and keyring, on Xvfb — read and driven over AT-SPI, as a screen reader
//! and its user would, not through a test hook in the window.

use std::process::Command;
use std::time::Duration;

use licentric_e2e::atspi::{Accessibility, Node};
use licentric_e2e::gui::{
    close_like_a_user, processes, wait_for, window_painted, window_screenshot, window_visible,
};
use licentric_e2e::{Stopped, bin, hostile_https};

use crate::gui::{
    ONE_AT_A_TIME, PRODUCT_NAME, Setup, app_child, config_whose_agent_cannot_start, login_command,
    setup, start_app, tray_menu_shown,
};

/// The window's title: the app's name (the built-in brand's).
const TITLE: &str = "Licentric Companion";

/// The window as assistive technology knows it: by the app's program name (its windows are
/// the app's, for the desktop too).
const APP: &str = "licentric-companion";

/// The window, started as the agent's tray starts it (`--config`), on the test's desktop.
fn start_window(s: &Setup) -> Stopped {
    let log = s.companion.root.join("window.log");
    // A home of its own: start at login writes to ~/.config/autostart.
    let home = s.companion.root.join("home");
    std::fs::create_dir_all(&home).unwrap();
    Stopped(
        Command::new(bin("licentric-companion-window"))
            .arg("--config")
            .arg(&s.companion.config)
            .env("DISPLAY", &s.desktop.display)
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env_remove("LICENTRIC_SOCKET")
            .env_remove("GDK_GL")
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::options().append(true).open(&log).unwrap())
            .spawn()
            .unwrap(),
    )
}

fn a11y(s: &Setup) -> Accessibility {
    Accessibility::start(&s.desktop.display, &s.companion.root)
}

fn press(a11y: &Accessibility, app: &Node, id: &str) {
    let button = a11y.wait(app, id);
    wait_for(
        &format!("#{id} to be usable"),
        Duration::from_secs(20),
        || a11y.sensitive(&button).then_some(()),
    );
    a11y.press(&button);
}

fn painted(s: &Setup) {
    wait_for(
        "the window on screen, drawn",
        Duration::from_secs(20),
        || window_painted(&s.desktop, TITLE).then_some(()),
    );
}

/// First launch → a malformed key explained → an unknown key refused by the server (the field
/// no longer says it looks right) → the right key: Active, with the licence's facts → the
/// agent (and so every app asking it) agrees → Deactivate, confirmed in a dialog that says to
/// keep the key → back at the key field, the result said where the user looks.
#[test]
fn gui_native_window_activates_shows_the_status_and_deactivates() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut s = setup("gui-native");
    s.companion.start_agent();
    let a11y = a11y(&s);
    let window = start_window(&s);
    let app = a11y.app(APP);
    painted(&s);
    // Drawn without the system's GL driver (Mesa's, with LLVM, on a machine with no GPU):
    // GTK 3 draws with cairo, and the driver alone costs more than the rest of the window.
    let maps = std::fs::read_to_string(format!("/proc/{}/maps", window.0.id())).unwrap();
    assert!(
        !maps.contains("_dri.so") && !maps.contains("libLLVM"),
        "the window loaded a GL driver"
    );

    a11y.wait_text(&app, "activation-title", |t| {
        t == format!("Activate {PRODUCT_NAME}")
    });
    assert_eq!(a11y.name(&a11y.wait(&app, "environment")), "Test");
    let key = a11y.wait(&app, "key");
    assert_eq!(
        a11y.name(&key),
        "Licence key",
        "the field is named by its label"
    );
    a11y.wait_text(&app, "key-feedback", |t| {
        t == "Paste the key from your purchase e-mail."
    });
    window_screenshot(&s.desktop, TITLE, "native-activation.png");

    a11y.fill(&key, "ACME-7QX2-M4KD-9PZU-H3WC");
    let said = a11y.wait_text(&app, "key-feedback", |t| {
        t.contains("cannot be in a licence key")
    });
    assert!(said.contains('U'), "names the character: {said}");
    window_screenshot(&s.desktop, TITLE, "native-activation-bad-key.png");
    a11y.fill(&key, "ACME-7QX2-M4KD");
    a11y.wait_text(&app, "key-feedback", |t| t.starts_with("Keep typing"));
    press(&a11y, &app, "activate");
    a11y.wait_text(&app, "key-feedback", |t| t.contains("too short"));

    let unknown = licentric_core::LicenseKey::generate(
        &licentric_core::KeyPrefix::new("ACME").unwrap(),
        &mut licentric_core::OsRandom,
    )
    .unwrap();
    a11y.fill(&key, unknown.expose_secret());
    a11y.wait_text(&app, "key-feedback", |t| t == "The key looks right.");
    press(&a11y, &app, "activate");
    a11y.wait_text(&app, "activate-error", |t| t.contains("not recognised"));
    let feedback = a11y.text(&a11y.wait(&app, "key-feedback"));
    assert!(
        !feedback.contains("looks right"),
        "the field contradicts the server: {feedback:?}"
    );
    // Another key: the refusal of the last one goes.
    a11y.fill(&key, &s.key.to_lowercase());
    a11y.wait_text(&app, "key-feedback", |t| t == "The key looks right.");
    assert!(
        a11y.find(&app, "activate-error")
            .is_none_or(|n| a11y.text(&n).is_empty()),
        "the refusal of the other key stays"
    );

    press(&a11y, &app, "activate");
    a11y.wait_text(&app, "badge", |t| t == "Active");
    assert!(window_visible(&s.desktop, TITLE));
    let status = s.companion.client().status().unwrap();
    assert_eq!(status.state, licentric_proto::LicenseState::Active);
    assert_eq!(
        a11y.text(&a11y.wait(&app, "license-key")),
        status.license_key_hint.clone().unwrap(),
        "the key is shown redacted"
    );
    assert_eq!(
        a11y.text(&a11y.wait(&app, "entitlements")),
        status.entitlements.join(", ")
    );
    assert_eq!(
        a11y.text(&a11y.wait(&app, "machines")),
        "1 of 2 machines in use"
    );
    let timeline = a11y.text(&a11y.wait(&app, "timeline-text"));
    assert!(
        timeline.starts_with("Works offline until") && timeline.contains("(14 days left)"),
        "{timeline}"
    );
    // The key field holds nothing once activated: the key is in the credential store only.
    assert!(a11y.find(&app, "key").is_none(), "the key field is gone");
    window_screenshot(&s.desktop, TITLE, "native-status.png");

    // Refresh now: said, then gone (news of a moment).
    press(&a11y, &app, "refresh");
    a11y.wait_text(&app, "action-message", |t| t == "Refreshed.");
    // News of a moment: it goes by itself.
    wait_for("the refresh's word to go", Duration::from_secs(20), || {
        a11y.find(&app, "action-message").is_none().then_some(())
    });

    press(&a11y, &app, "deactivate");
    let confirm = wait_for("the confirmation", Duration::from_secs(20), || {
        a11y.find_named(&app, "push button", "Deactivate")
    });
    let question = wait_for("the confirmation's text", Duration::from_secs(20), || {
        a11y.find_named(&app, "label", "Deactivate this machine?")
    });
    assert!(a11y.showing(&question));
    let keep = wait_for("the confirmation's advice", Duration::from_secs(20), || {
        a11y.find_where_text(&app, |t| {
            t.contains("Keep your licence key (it is in your purchase e-mail)")
        })
    });
    assert!(a11y.showing(&keep));
    a11y.press(&confirm);
    let done = a11y.wait_text(&app, "activate-progress", |t| !t.is_empty());
    assert!(
        done.starts_with("This machine was deactivated; its seat is free.")
            && done.contains("Keep your licence key"),
        "{done}"
    );
    window_screenshot(&s.desktop, TITLE, "native-deactivated.png");
    let status = s.companion.client().status().unwrap();
    assert_eq!(status.state, licentric_proto::LicenseState::Unlicensed);
}

/// The window follows the agent: stopped, it says nothing shown is current; started again,
/// the window shows its status without being reopened.
#[test]
fn gui_native_window_follows_the_agent_that_stops_and_starts_again() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut s = setup("gui-native-follows");
    s.companion.start_agent();
    s.companion.client().activate(&s.key).unwrap();
    let a11y = a11y(&s);
    let _window = start_window(&s);
    let app = a11y.app(APP);
    a11y.wait_text(&app, "badge", |t| t == "Active");
    s.companion.stop_agent("-TERM");
    a11y.wait(&app, "agent-gone");
    // Nothing it showed is current: the status goes with the agent.
    assert!(
        a11y.find(&app, "badge").is_none(),
        "the old status stays on screen"
    );
    s.companion.start_agent();
    wait_for("the notice to go", Duration::from_secs(20), || {
        a11y.find(&app, "agent-gone").is_none().then_some(())
    });
    a11y.wait_text(&app, "badge", |t| t == "Active");
}

/// Settings: notifications and start at login are saved where the app's window saves them
/// (the settings file in the agent's data folder, the XDG autostart entry naming the app and
/// this configuration); the apps that asked are listed, not the window itself; About says
/// the version and, under Details, who answers.
#[test]
fn gui_native_window_settings_are_the_apps() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut s = setup("gui-native-settings");
    s.companion.start_agent();
    s.companion.client().activate(&s.key).unwrap();
    let a11y = a11y(&s);
    let _window = start_window(&s);
    let app = a11y.app(APP);
    a11y.wait_text(&app, "badge", |t| t == "Active");
    // A local app asks (the command-line tool under a name of its own).
    let viewer = s.companion.root.join("acme-viewer");
    std::fs::copy(bin("licentric"), &viewer).unwrap();
    let mut asks = s.companion.cli();
    asks.arg("status");
    let asked = Command::new(&viewer)
        .args(asks.get_args())
        .envs(asks.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .output()
        .unwrap();
    assert!(asked.status.success(), "{asked:?}");

    let tab = wait_for("the Settings tab", Duration::from_secs(20), || {
        a11y.find_named(&app, "radio button", "Settings")
    });
    a11y.press(&tab);
    a11y.wait_text(&app, "client-0-0", |t| !t.is_empty());
    window_screenshot(&s.desktop, TITLE, "native-settings.png");
    let listed: Vec<String> = (0..)
        .map_while(|row| a11y.find(&app, &format!("client-{row}-0")))
        .map(|n| a11y.text(&n))
        .collect();
    assert!(listed.iter().any(|n| n == "acme-viewer"), "{listed:?}");
    assert!(
        !listed.iter().any(|n| n.starts_with("licentric-wind")),
        "the window is no app using the licence: {listed:?}"
    );

    let notifications = a11y.wait(&app, "setting-notifications");
    a11y.press(&notifications);
    a11y.wait_text(&app, "settings-message", |t| t == "Saved.");
    let saved =
        std::fs::read_to_string(s.companion.root.join("data/companion-settings.json")).unwrap();
    let saved: serde_json::Value = serde_json::from_str(&saved).unwrap();
    assert_eq!(saved["notifications"], false, "{saved}");

    let login = a11y.wait(&app, "setting-autostart");
    a11y.press(&login);
    let entry = s.companion.root.join(format!(
        "home/.config/autostart/{PRODUCT_NAME} (test).desktop"
    ));
    wait_for("the start-at-login entry", Duration::from_secs(20), || {
        entry.exists().then_some(())
    });
    let text = std::fs::read_to_string(&entry).unwrap();
    let app_program = bin("licentric-companion");
    assert!(
        text.contains(&format!(
            "Exec=\"{}\" \"--hidden\" \"--config\" \"{}\"",
            app_program.display(),
            std::fs::canonicalize(&s.companion.config)
                .unwrap()
                .display()
        )),
        "{text}"
    );
    a11y.press(&login);
    wait_for("the entry to go", Duration::from_secs(20), || {
        (!entry.exists()).then_some(())
    });

    assert_eq!(
        a11y.text(&a11y.wait(&app, "version-app")),
        env!("CARGO_PKG_VERSION")
    );
    a11y.press(&a11y.wait(&app, "about-details"));
    assert!(
        a11y.text(&a11y.wait(&app, "served-by"))
            .contains("background")
    );
}

/// Diagnostics: the report holds the state and the key's hint, never the key; Copy says so.
#[test]
fn gui_native_window_diagnostics_hold_no_key() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut s = setup("gui-native-diagnostics");
    s.companion.start_agent();
    s.companion.client().activate(&s.key).unwrap();
    let a11y = a11y(&s);
    let _window = start_window(&s);
    let app = a11y.app(APP);
    a11y.wait_text(&app, "badge", |t| t == "Active");
    press(&a11y, &app, "diagnostics");
    let report = a11y.wait_text(&app, "diagnostics-text", |t| !t.is_empty());
    assert!(report.contains("State:             active"), "{report}");
    let hint = s
        .companion
        .client()
        .status()
        .unwrap()
        .license_key_hint
        .unwrap();
    assert!(report.contains(&hint), "{report}");
    assert!(!report.contains(&s.key), "the key itself: {report}");
    press(&a11y, &app, "diagnostics-copy");
    a11y.wait_text(&app, "diagnostics-message", |t| t == "Copied.");
}

/// A floating licence: its seats; a seat borrowed for a trip through the dialog (six days on,
/// by default), then returned.
#[test]
fn gui_native_window_borrows_and_returns_a_floating_seat() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut s = setup("gui-native-float");
    let product = s.server.admin(
        "PATCH",
        "/products/gui-native-float",
        Some(serde_json::json!({"seat_model": "floating"})),
    );
    assert_eq!(product["product"]["seat_model"], "floating", "{product}");
    s.companion.start_agent();
    s.companion.client().activate(&s.key).unwrap();
    let a11y = a11y(&s);
    let _window = start_window(&s);
    let app = a11y.app(APP);
    a11y.wait_text(&app, "badge", |t| t == "Floating licence");
    assert_eq!(a11y.name(&a11y.wait(&app, "machines-label")), "Seats");
    assert!(a11y.find(&app, "refresh").is_none(), "no file to renew");
    assert!(a11y.find(&app, "return").is_none());
    press(&a11y, &app, "borrow");
    let borrow = wait_for("the borrow dialog", Duration::from_secs(20), || {
        a11y.find_named(&app, "push button", "Borrow")
    });
    a11y.press(&borrow);
    a11y.wait_text(&app, "action-message", |t| t.starts_with("Seat borrowed"));
    let machines = a11y.wait_text(&app, "machines", |t| t.contains("borrowed until"));
    assert!(machines.starts_with("1 of 2 seats in use"), "{machines}");
    let lease = s.companion.client().status().unwrap().lease.unwrap();
    assert!(lease.borrowed);
    let days = (time::OffsetDateTime::parse(
        &lease.expires_at,
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap()
        - time::OffsetDateTime::now_utc())
    .whole_days();
    assert!(
        (5..=7).contains(&days),
        "six days on, to the end of that day: {lease:?}"
    );
    press(&a11y, &app, "return");
    a11y.wait_text(&app, "action-message", |t| {
        t == "Seat returned: it is free for others."
    });
    assert!(
        !s.companion
            .client()
            .status()
            .unwrap()
            .lease
            .is_some_and(|l| l.borrowed)
    );
}

/// The app as a user starts it (the desktop's entry, or a link), with the environment the
/// test's agent gets (the machine it is), and without the webview's choice: on Linux it
/// hands over to the native window.
fn launch_app(s: &Setup, args: &[&str]) -> std::process::ExitStatus {
    let agent = s.companion.cli();
    let home = s.companion.root.join("home");
    std::fs::create_dir_all(&home).unwrap();
    // What it and what it starts say goes to a file: the agent and the window outlive it.
    let log = std::fs::File::options()
        .create(true)
        .append(true)
        .open(s.companion.root.join("app.log"))
        .unwrap();
    Command::new(bin("licentric-companion"))
        .arg("--config")
        .arg(&s.companion.config)
        .args(args)
        .envs(agent.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .env_remove(licentric_e2e::gui::WEBVIEW.0)
        .env_remove("GDK_GL")
        .env("DISPLAY", &s.desktop.display)
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .status()
        .unwrap()
}

/// The native windows running for the test's configuration.
fn windows(s: &Setup) -> Vec<licentric_e2e::gui::Process> {
    let window = bin("licentric-companion-window");
    let config = s.companion.config.display().to_string();
    processes()
        .into_iter()
        .filter(|p| p.exe().as_ref() == Some(&window) && p.has_arg(&config))
        .collect()
}

/// Whether a native window runs, whatever its configuration.
fn any_native_window() -> bool {
    let window = bin("licentric-companion-window");
    processes()
        .iter()
        .any(|p| p.exe().as_ref() == Some(&window))
}

/// The agents with a tray running for the test's configuration.
fn trays(s: &Setup) -> Vec<u32> {
    let cli = bin("licentric");
    let config = s.companion.config.display().to_string();
    processes()
        .into_iter()
        .filter(|p| p.exe().as_ref() == Some(&cli) && p.has_arg("--tray") && p.has_arg(&config))
        .map(|p| p.pid)
        .collect()
}

/// Ends what the app started for the test (the window, the agent with its tray), so that the
/// next test's desktop starts clean.
struct Ends<'a>(&'a Setup);

impl Drop for Ends<'_> {
    fn drop(&mut self) {
        for pid in windows(self.0).iter().map(|p| p.pid).chain(trays(self.0)) {
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        for _ in 0..200 {
            if windows(self.0).is_empty() && trays(self.0).is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Opened from the desktop with no agent running: the app starts the agent with its tray,
/// hands over to the native window (mapped and drawn on the first try) and ends; the window
/// is the agent's client. Opened again, the same window comes back (one process). Closed, the
/// agent and its tray stay; the tray's Open shows the native window again.
#[test]
fn gui_native_window_is_what_the_desktop_and_the_tray_open() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let s = setup("gui-native-desktop");
    let _ends = Ends(&s);
    let a11y = a11y(&s);
    let launched = launch_app(&s, &[]);
    assert!(launched.success(), "{launched:?}");
    painted(&s);
    let app = a11y.app(APP);
    a11y.wait_text(&app, "activation-title", |t| {
        t == format!("Activate {PRODUCT_NAME}")
    });
    assert_eq!(windows(&s).len(), 1, "one native window");
    assert_eq!(
        trays(&s).len(),
        1,
        "the agent with its tray, started by the app"
    );
    wait_for("the tray's icon", Duration::from_secs(20), || {
        (s.desktop.tray_icons() == 1).then_some(())
    });
    // The agent answers, as the window's client asks it.
    let status = s.companion.client().status().unwrap();
    assert_eq!(status.product_id, "gui-native-desktop");

    // Opened again: the first window, not a second.
    let first = windows(&s)[0].pid;
    let again = launch_app(&s, &[]);
    assert!(again.success(), "{again:?}");
    assert!(window_visible(&s.desktop, TITLE));
    let now: Vec<u32> = windows(&s).iter().map(|p| p.pid).collect();
    assert_eq!(now, [first], "the same window");

    // Closed: the window's process ends; the agent and its tray stay.
    assert!(close_like_a_user(&s.desktop, TITLE));
    wait_for("the window to end", Duration::from_secs(20), || {
        windows(&s).is_empty().then_some(())
    });
    assert_eq!(trays(&s).len(), 1);
    s.desktop.tray_click("Open");
    painted(&s);
    assert_eq!(windows(&s).len(), 1, "the tray's Open: the native window");
    // Opened from the desktop again (not the tray's child), then Quit in the tray: the agent
    // and every window of the product end.
    assert!(close_like_a_user(&s.desktop, TITLE));
    wait_for("the window to end", Duration::from_secs(20), || {
        windows(&s).is_empty().then_some(())
    });
    assert!(launch_app(&s, &[]).success());
    painted(&s);
    s.desktop.tray_click("Quit");
    wait_for(
        "the agent and the window to end",
        Duration::from_secs(20),
        || (windows(&s).is_empty() && trays(&s).is_empty()).then_some(()),
    );
}

/// A link with a key (`licentric://activate?key=…`): the key reaches the native window's key
/// field, handed over on its standard input — never in the window's arguments, which other
/// local users read; with the window open, a second link's key goes to that window.
#[test]
fn gui_native_window_takes_a_links_key_from_standard_input() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut s = setup("gui-native-link");
    s.companion.start_agent();
    let _ends = Ends(&s);
    let a11y = a11y(&s);
    let link = format!("licentric://activate?key={}", s.key);
    let launched = launch_app(&s, &[&link]);
    assert!(launched.success(), "{launched:?}");
    let app = a11y.app(APP);
    let key = a11y.wait(&app, "key");
    let formatted = licentric_core::LicenseKey::parse_any(&s.key).unwrap();
    wait_for(
        "the link's key in the field",
        Duration::from_secs(20),
        || (a11y.text(&key) == formatted.expose_secret()).then_some(()),
    );
    a11y.wait_text(&app, "key-feedback", |t| t == "The key looks right.");
    for window in windows(&s) {
        assert!(
            !window.has_arg(&s.key) && !window.has_arg(&link),
            "the key in the window's arguments"
        );
    }
    // Another link while it is open: the same window takes it.
    let other = licentric_core::LicenseKey::generate(
        &licentric_core::KeyPrefix::new("ACME").unwrap(),
        &mut licentric_core::OsRandom,
    )
    .unwrap();
    let first = windows(&s)[0].pid;
    let again = launch_app(
        &s,
        &[&format!(
            "licentric://activate?key={}",
            other.expose_secret()
        )],
    );
    assert!(again.success(), "{again:?}");
    wait_for(
        "the second link's key in the field",
        Duration::from_secs(20),
        || (a11y.text(&key) == other.expose_secret()).then_some(()),
    );
    let now: Vec<u32> = windows(&s).iter().map(|p| p.pid).collect();
    assert_eq!(now, [first], "the same window");
}

/// A server that accepts connections and never answers: the wait says how long, offers
/// Cancel after two seconds, and Cancel ends it with nothing changed.
#[test]
fn gui_native_window_waiting_on_a_silent_server_can_be_cancelled() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut s = setup("gui-native-silent");
    let port = hostile_https(&s.server.dir, None);
    let config = std::fs::read_to_string(&s.companion.config).unwrap();
    std::fs::write(
        &s.companion.config,
        config.replace(&s.server.url, &format!("https://127.0.0.1:{port}")),
    )
    .unwrap();
    s.companion.start_agent();
    let a11y = a11y(&s);
    let _window = start_window(&s);
    let app = a11y.app(APP);
    let key = a11y.wait(&app, "key");
    a11y.fill(&key, &s.key);
    a11y.wait_text(&app, "key-feedback", |t| t == "The key looks right.");
    press(&a11y, &app, "activate");
    a11y.wait_text(&app, "activate-progress", |t| {
        t.contains("s — waiting for the licensing server")
    });
    let cancel = a11y.wait(&app, "activate-cancel");
    window_screenshot(&s.desktop, TITLE, "native-activation-waiting.png");
    a11y.press(&cancel);
    a11y.wait_text(&app, "activate-progress", |t| {
        t == "Cancelled. Nothing was changed on this computer."
    });
    assert!(
        a11y.find(&app, "activate-cancel").is_none(),
        "Cancel goes with the wait"
    );
    let status = s.companion.client().status().unwrap();
    assert_eq!(status.state, licentric_proto::LicenseState::Unlicensed);
}

/// Deactivated from elsewhere (the vendor freed the seat): the window says so and offers the
/// stored key; Activate again activates this machine again.
#[test]
fn gui_native_window_says_a_machine_was_deactivated_from_elsewhere() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut s = setup("gui-native-gone");
    s.companion.start_agent();
    let status = s.companion.client().activate(&s.key).unwrap();
    let a11y = a11y(&s);
    let _window = start_window(&s);
    let app = a11y.app(APP);
    a11y.wait_text(&app, "badge", |t| t == "Active");
    assert!(a11y.find(&app, "activation-notice").is_none());
    let machine = status.machine_id.unwrap();
    s.server
        .admin("DELETE", &format!("/machines/{machine}"), None);
    press(&a11y, &app, "refresh");
    let notice = a11y.wait_text(&app, "activation-notice", |t| !t.is_empty());
    assert!(
        notice.contains("deactivated on this machine from elsewhere"),
        "says what happened: {notice}"
    );
    window_screenshot(&s.desktop, TITLE, "native-deactivated-elsewhere.png");
    press(&a11y, &app, "activate-again");
    a11y.wait_text(&app, "badge", |t| t == "Active");
    assert!(a11y.find(&app, "activation-notice").is_none());
}

/// Activated offline in the native window: the request saved through the desktop's file
/// dialog, the answer imported through it — and a request picked instead of the answer is
/// refused in words.
#[test]
fn gui_native_window_activates_offline_through_the_file_dialogs() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut s = setup("gui-native-offline");
    s.companion.start_agent();
    let a11y = a11y(&s);
    let _window = start_window(&s);
    let app = a11y.app(APP);
    a11y.wait(&app, "key");
    a11y.press(&a11y.wait(&app, "offline-activation"));
    press(&a11y, &app, "save-request");
    // The desktop's save dialog: the file's name (a whole path), then Save.
    let request = s.companion.root.join("request.txt");
    let name = wait_for(
        "the save dialog's name field",
        Duration::from_secs(20),
        || {
            let dialog = a11y.find_role(&app, "file chooser")?;
            a11y.find_role(&dialog, "text")
        },
    );
    a11y.fill(&name, &request.display().to_string());
    a11y.press(&wait_for(
        "the Save button",
        Duration::from_secs(20),
        || a11y.find_named(&app, "push button", "Save"),
    ));
    let said = a11y.wait_text(&app, "offline-message", |t| t.starts_with("Saved to"));
    assert!(said.contains("request.txt"), "{said}");
    let text = std::fs::read_to_string(&request).unwrap();
    assert!(
        text.contains("BEGIN LICENTRIC ACTIVATION REQUEST"),
        "{text}"
    );
    let licence = s.server.offline_activation(&s.key, &text);
    let file = s.companion.root.join("home/licence.lic");
    std::fs::write(&file, licence).unwrap();
    let picked = s.companion.root.join("home/picked-request.txt");
    std::fs::copy(&request, &picked).unwrap();

    // The request picked by mistake, then the licence file. The open dialog starts in the
    // downloads, else the home folder, where they are.
    for (name, refused) in [("picked-request.txt", true), ("licence.lic", false)] {
        press(&a11y, &app, "import");
        let dialog = wait_for("the open dialog", Duration::from_secs(20), || {
            a11y.find_role(&app, "file chooser")
        });
        wait_for(
            &format!("{name} chosen in the open dialog"),
            Duration::from_secs(20),
            || {
                let files = a11y.find_named(&dialog, "table", "Files")?;
                a11y.select(&files, name).then_some(())
            },
        );
        a11y.press(&a11y.find_named(&dialog, "push button", "Import").unwrap());
        if refused {
            a11y.wait_text(&app, "offline-message", |t| {
                t.contains("activation request from step 1")
            });
        }
    }
    a11y.wait_text(&app, "badge", |t| t == "Active");
    assert!(a11y.find(&app, "credential-store").is_none(), "no key here");
    assert!(
        a11y.find(&app, "renew-request").is_some(),
        "renewed by a request and a file"
    );
}

/// Where the agent cannot be started with its tray (here another process holds the product's
/// tray, as a systemd agent's tray client that outlived its agent does): the app hands over to
/// the native window all the same, which keeps an agent for its own life — the licence is
/// answered while it is open, and the agent ends with it, as no tray could quit it later.
#[test]
fn gui_native_window_keeps_an_agent_while_open_where_none_can_have_a_tray() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let s = setup("gui-native-no-tray");
    let run = s.companion.socket.parent().unwrap();
    std::fs::create_dir_all(run).unwrap();
    std::fs::set_permissions(run, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let _tray = licentric_platform::endpoint::claim_tray(&s.companion.socket)
        .unwrap()
        .expect("the tray claimed");
    let _ends = Ends(&s);
    let a11y = a11y(&s);
    assert!(launch_app(&s, &[]).success());
    painted(&s);
    let app = a11y.app(APP);
    let key = a11y.wait(&app, "key");
    a11y.fill(&key, &s.key);
    press(&a11y, &app, "activate");
    a11y.wait_text(&app, "badge", |t| t == "Active");
    let window = windows(&s)[0].pid;
    let cli = bin("licentric");
    let agent = processes()
        .into_iter()
        .find(|p| p.parent == window && p.exe().as_ref() == Some(&cli))
        .expect("the window's own agent");
    assert_eq!(
        s.companion.client().status().unwrap().state,
        licentric_proto::LicenseState::Active
    );
    assert!(close_like_a_user(&s.desktop, TITLE));
    wait_for(
        "the window and its agent to end",
        Duration::from_secs(20),
        || {
            (windows(&s).is_empty()
                && !processes()
                    .iter()
                    .any(|p| p.pid == agent.pid && p.exe().is_some()))
            .then_some(())
        },
    );
    assert!(
        licentric_client::Client::connect(&s.companion.socket).is_err(),
        "no agent left running that nothing could quit"
    );
}

/// Started at login with an agent that cannot start (its CA file gone): the tray says so,
/// and its Open starts the app's own window, which says why — the native window only
/// follows an agent, and would show nothing but "stopped".
#[test]
fn gui_native_tray_of_an_agent_that_cannot_start_opens_the_window_that_says_why() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let s = setup("gui-native-failed");
    let _ends = Ends(&s);
    let failing = config_whose_agent_cannot_start(&s);
    let login = Stopped(
        login_command(&s, &failing)
            .env_remove(licentric_e2e::gui::WEBVIEW.0)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let menu = tray_menu_shown(&s);
    assert_eq!(menu[0], "Licence: not available (disabled)", "{menu:?}");
    s.desktop.tray_click("Open");
    painted(&s);
    assert!(
        app_child(login.0.id()).is_some(),
        "the app's window, the tray's child"
    );
    assert!(!any_native_window(), "not the native window");
}

/// The app already runs as its own agent with its webview (a developer's choice, or a login
/// where its tray was its own): a launch goes to it, as one instance does — no native window
/// opens beside it.
#[test]
fn gui_native_window_leaves_a_launch_to_the_app_already_running() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let s = setup("gui-native-instance");
    let _ends = Ends(&s);
    let app = start_app(&s);
    app.wait_text("activation-title", |t| !t.is_empty());
    assert!(launch_app(&s, &[]).success());
    assert!(
        !any_native_window(),
        "a native window beside the running app"
    );
    assert_eq!(app.windows().len(), 1, "the running app's window");
}

/// A refresh waiting on a server that never answers: the status card says how long and
/// offers Cancel, which ends the wait with nothing changed.
#[test]
fn gui_native_window_a_refresh_waiting_on_a_silent_server_can_be_cancelled() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut s = setup("gui-native-silent-refresh");
    s.companion.start_agent();
    s.companion.client().activate(&s.key).unwrap();
    s.companion.stop_agent("-TERM");
    let port = hostile_https(&s.server.dir, None);
    let config = std::fs::read_to_string(&s.companion.config).unwrap();
    std::fs::write(
        &s.companion.config,
        config.replace(&s.server.url, &format!("https://127.0.0.1:{port}")),
    )
    .unwrap();
    s.companion.start_agent();
    let a11y = a11y(&s);
    let _window = start_window(&s);
    let app = a11y.app(APP);
    a11y.wait_text(&app, "badge", |t| !t.is_empty());
    press(&a11y, &app, "refresh");
    a11y.wait_text(&app, "action-message", |t| {
        t.contains("s — waiting for the licensing server")
    });
    a11y.press(&a11y.wait(&app, "action-cancel"));
    a11y.wait_text(&app, "action-message", |t| {
        t == "Cancelled. Nothing was changed on this computer."
    });
    assert!(
        a11y.find(&app, "action-cancel").is_none(),
        "Cancel goes with the wait"
    );
}
