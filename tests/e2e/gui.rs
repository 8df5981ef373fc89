//! The companion app in a real webview (WebKitGTK under Xvfb, driven through WebDriver),
//! against the real server over TLS, with gnome-keyring and dunst on the test's D-Bus.
//!
//! The GUI tests run one at a time (`.config/nextest.toml`, and a lock for `cargo test`): each
//! runs its own notification daemon, and a session bus has room for one.
//! Each saves a screenshot of every screen it reaches in `target/gui-screenshots/`.

use std::sync::Mutex;
use std::time::Duration;

use licentric_e2e::gui::{
    App, Desktop, app_pid, close_like_a_user, processes, require_tools, screenshot_dir, wait_for,
    webview_processes, window_painted, window_visible,
};
// The webview's tests keep the app's window (the native window, built beside it, would be
// shown instead); `native.rs` tests that one.
use licentric_e2e::gui::WEBVIEW;
use licentric_e2e::{Companion, Server, Stopped, bin, busy_https, hostile_https, run};

pub(crate) static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

pub(crate) const PRODUCT_NAME: &str = "Acme Studio";

pub(crate) struct Setup {
    _dir: tempfile::TempDir,
    pub(crate) server: Server,
    pub(crate) companion: Companion,
    pub(crate) key: String,
    pub(crate) desktop: Desktop,
}

/// A tray client the app started (`agent --tray` beside a background agent) outlives the
/// window, as it should for a user; a test's must not outlive the test, or its stale icon
/// would sit in the next test's tray.
impl Drop for Setup {
    fn drop(&mut self) {
        for pid in tray_clients(&self.companion.config) {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        // Gone before the next test's tray host starts (no panic here: this may run during
        // one).
        for _ in 0..200 {
            if tray_clients(&self.companion.config).is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

pub(crate) fn setup(product: &str) -> Setup {
    require_tools();
    let dir = tempfile::tempdir().unwrap();
    // A 14-day offline licence, as in production, so the time left reads in days.
    let server = Server::start(dir.path(), 14 * 86_400);
    let (_, key) = server.licence(product, 2);
    let companion = Companion::new(dir.path(), &server, product, "");
    // A product name only the GUI tests use: the other tests' agents notify on the same
    // session bus, and the notification checked here must be this app's.
    let config = std::fs::read_to_string(&companion.config).unwrap();
    std::fs::write(
        &companion.config,
        config.replace(
            "product_name = \"Acme CAD\"",
            &format!("product_name = \"{PRODUCT_NAME}\""),
        ),
    )
    .unwrap();
    let desktop = Desktop::start(dir.path());
    Setup {
        _dir: dir,
        server,
        companion,
        key,
        desktop,
    }
}

/// Points the companion's configuration at the server on `port` (a hostile one, say) instead
/// of the sandbox.
fn point_at(s: &Setup, port: u16) {
    let config = std::fs::read_to_string(&s.companion.config).unwrap();
    std::fs::write(
        &s.companion.config,
        config.replace(&s.server.url, &format!("https://127.0.0.1:{port}")),
    )
    .unwrap();
}

pub(crate) fn start_app(s: &Setup) -> App {
    start_app_with(s, &[])
}

fn start_app_with(s: &Setup, extra: &[(&str, &str)]) -> App {
    start_app_with_args(s, extra, &[])
}

fn start_app_with_args(s: &Setup, extra: &[(&str, &str)], args: &[&str]) -> App {
    let config = s.companion.config.display().to_string();
    // A home of its own: start at login writes to ~/.config/autostart.
    let home = s.companion.root.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let home = home.display().to_string();
    let config_home = format!("{home}/.config");
    let mut env = vec![
        ("LICENTRIC_CONFIG", config.as_str()),
        ("LICENTRIC_MACHINE_ID", s.companion.machine_id.as_str()),
        ("HOME", home.as_str()),
        ("XDG_CONFIG_HOME", config_home.as_str()),
    ];
    env.extend_from_slice(extra);
    App::start_with_args(&s.companion.root, &s.desktop, &env, args)
}

/// Launches the app again beside the running one, as a user or a link would.
fn launch_again(s: &Setup, args: &[&str]) -> std::process::Output {
    std::process::Command::new(bin("licentric-companion"))
        .args(args)
        .env("DISPLAY", &s.desktop.display)
        .env(WEBVIEW.0, WEBVIEW.1)
        .env("LICENTRIC_CONFIG", &s.companion.config)
        .env("LICENTRIC_MACHINE_ID", &s.companion.machine_id)
        .output()
        .unwrap()
}

/// Chooses Refresh now in the tray and waits for its outcome's notification, whose title it
/// returns.
fn refresh_from_the_tray(s: &Setup) -> String {
    s.desktop.tray_click("Refresh now");
    let checked = format!("{PRODUCT_NAME}: licence checked");
    wait_for(
        "the refresh to be notified",
        Duration::from_secs(20),
        || s.desktop.notifications().contains(&checked).then_some(()),
    );
    checked
}

/// Whether the tray's Refresh item (its menu's third: the state, Open, Refresh) reads `want`
/// (with " (disabled)" when it is not offered).
fn refresh_item_is(s: &Setup, want: &str) -> Option<()> {
    let menu = s.desktop.read_tray_menu().unwrap_or_default();
    (menu.get(2).map(String::as_str) == Some(want)).then_some(())
}

/// Malformed keys explained → activation → Active with the licence's entitlements → a local
/// app listed in Settings → server down: offline with the time left → deactivate → back at
/// activation. Notifications reach the notification daemon.
#[test]
fn gui_activate_go_offline_and_deactivate() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut s = setup("gui-journey");
    let app = start_app(&s);
    let shots = screenshot_dir();

    app.wait_text("activation-title", |t| {
        t == format!("Activate {PRODUCT_NAME}")
    });
    assert_eq!(app.text("environment"), "Test", "the sandbox is labelled");
    wait_for(
        "the key field to have the focus on first launch",
        Duration::from_secs(20),
        || {
            (app.js("return document.activeElement.id", serde_json::json!([])) == "key")
                .then_some(())
        },
    );
    app.screenshot(&shots.join("activation.png"));

    // A malformed key: the field says what is wrong, in words.
    app.type_into("key", "ACME-7QX2-M4KD-9PZU-H3WC");
    let said = app.wait_text("key-feedback", |t| t.contains("cannot be in a licence key"));
    assert!(
        said.contains("'U'") || said.contains("\"U\""),
        "names the character: {said}"
    );
    assert_eq!(
        app.js(
            "return document.getElementById('key').getAttribute('aria-invalid')",
            serde_json::json!([])
        ),
        "true",
        "the field is marked invalid for screen readers"
    );
    app.screenshot(&shots.join("activation-bad-key.png"));
    app.clear("key");
    app.type_into("key", "ZZ-7QX2-M4KD-9PZT-H3WC");
    app.wait_text("key-feedback", |t| t.contains("should start with ACME-"));
    app.clear("key");
    app.type_into("key", "ACME-7QX2-M4KD");
    app.click("activate");
    app.wait_text("key-feedback", |t| t.contains("too short"));

    // Every control has a name a screen reader can say.
    let unnamed = app.js(
        "return [...document.querySelectorAll('button, input, textarea, [role=tab]')].filter((e) => \
           !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && \
           !e.getAttribute('aria-labelledby') && !e.textContent.trim()).map((e) => e.id || e.outerHTML)",
        serde_json::json!([]),
    );
    assert_eq!(
        unnamed,
        serde_json::json!([]),
        "controls without an accessible name"
    );

    // A well-formed key the server does not know: the field stops saying it looks right, and
    // the refusal goes when the user types another key.
    let unknown = licentric_core::LicenseKey::generate(
        &licentric_core::KeyPrefix::new("ACME").unwrap(),
        &mut licentric_core::OsRandom,
    )
    .unwrap();
    app.clear("key");
    app.type_into("key", unknown.expose_secret());
    app.wait_text("key-feedback", |t| t == "The key looks right.");
    app.click("activate");
    app.wait_text("activate-error-message", |t| t.contains("not recognised"));
    let feedback = app.text("key-feedback");
    assert!(
        !feedback.contains("looks right"),
        "the field contradicts the server: {feedback:?}"
    );
    // Leaving the field does not judge the refused key again by its format alone (a check
    // starts by counting itself in `checkSeq`, before it asks).
    let checks = || app.js("return checkSeq", serde_json::json!([]));
    let before = checks();
    app.click("tab-licence");
    assert_eq!(
        checks(),
        before,
        "the refused key was judged again on leaving the field"
    );
    app.screenshot(&shots.join("activation-unknown-key.png"));
    app.clear("key");
    app.type_into("key", "A");
    assert!(
        !app.visible("activate-error"),
        "the previous key's refusal stays while another is typed"
    );

    // The real key, pasted in lower case: normalised, then activated from the keyboard (Enter).
    app.clear("key");
    app.type_into("key", &s.key.to_lowercase());
    app.wait_text("key-feedback", |t| t == "The key looks right.");
    app.type_into("key", "\u{E007}");
    app.wait_text("badge", |t| t == "Active");
    let entitlements = app.text("entitlements");
    assert!(
        entitlements.contains("pro") && entitlements.contains("export-pdf"),
        "the licence's entitlements are shown: {entitlements:?}"
    );
    assert_eq!(
        app.text("machines"),
        "1 of 2 machines in use",
        "seats used of the maximum"
    );
    let hint = app.text("license-key");
    assert!(hint.contains("****"), "the key is redacted: {hint}");
    assert!(
        !app.js("return document.body.innerText", serde_json::json!([]))
            .as_str()
            .unwrap_or_default()
            .contains(&s.key),
        "the full key is nowhere on screen after activation"
    );
    assert!(
        app.text("timeline-text").contains("Next refresh"),
        "the offline period is pictured"
    );
    // At the window's 600 px, each fact of this machine reads on one line, not broken into a
    // narrow column of words.
    let lines = app.js(
        "return ['machine-name', 'fingerprint', 'credential-store'].map(id => { \
           const e = document.getElementById(id); \
           return [id, e.getBoundingClientRect().height / parseFloat(getComputedStyle(e).lineHeight)]; })",
        serde_json::json!([]),
    );
    let broken: Vec<_> = lines
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l[1].as_f64().unwrap_or(f64::MAX) > 1.5)
        .collect();
    assert!(
        broken.is_empty(),
        "facts wrapped onto lines of their own: {broken:?}"
    );
    app.screenshot(&shots.join("status-active.png"));
    wait_for(
        "the tray to show the state",
        Duration::from_secs(20),
        || {
            (s.desktop.tray_menu() == ["Licence: active (disabled)", "Open", "Refresh now", "Quit"])
                .then_some(())
        },
    );
    // The tray's Refresh now, with nothing to look at but the tray: its outcome is notified.
    let checked = refresh_from_the_tray(&s);
    // Shown as the app's: its icon and its desktop entry.
    let said = s.desktop.notifications();
    assert!(
        said.contains("desktop_entry: 'licentric-companion'")
            && said.contains("icon: 'licentric-companion'"),
        "{said}"
    );
    // Notifications turned off in the window reach the agent running beside it, apart.
    let seen = s.desktop.notifications().matches(&checked).count();
    app.click("tab-settings");
    app.click("setting-notifications");
    app.wait_text("settings-message", |t| t == "Saved.");
    wait_for("the first refresh to end", Duration::from_secs(20), || {
        refresh_item_is(&s, "Refresh now")
    });
    s.desktop.tray_click("Refresh now");
    wait_for(
        "the agent to hold the notification back",
        Duration::from_secs(20),
        || {
            app.app_log()
                .contains("not shown: the user turned them off")
                .then_some(())
        },
    );
    assert_eq!(
        s.desktop.notifications().matches(&checked).count(),
        seen,
        "not shown again"
    );
    app.click("setting-notifications");
    app.wait_text("settings-message", |t| t == "Saved.");
    app.click("tab-licence");

    // Diagnostics: a report for support, with the key's hint only.
    app.click("diagnostics");
    let report = wait_for("the diagnostics report", Duration::from_secs(20), || {
        app.js(
            "return document.getElementById('diagnostics-text').value",
            serde_json::json!([]),
        )
        .as_str()
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
    });
    assert!(
        report.contains(&hint) && report.contains("State:             active"),
        "{report}"
    );
    assert!(!report.contains(&s.key), "the report holds no key");
    app.click("diagnostics-copy");
    app.wait_text("diagnostics-message", |t| t == "Copied.");
    app.js(
        "document.getElementById('diagnostics-dialog').close()",
        serde_json::json!([]),
    );

    // The notification daemon got the activation.
    let expected = format!("{PRODUCT_NAME} is activated");
    let seen = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_for(
            "the activation notification",
            Duration::from_secs(20),
            || s.desktop.notifications().contains(&expected).then_some(()),
        )
    }));
    assert!(
        seen.is_ok(),
        "dunst never showed {expected:?}; it showed:\n{}",
        s.desktop.notifications()
    );

    // The app serves IPC: the CLI asks it, and Settings lists the CLI as a recent app.
    let (code, out, err) = run(s.companion.cli().arg("status"));
    assert_eq!(code, 0, "the CLI reached the app's agent: {out}{err}");
    app.click("tab-settings");
    app.wait_text("clients", |t| t.contains("licentric"));
    assert!(
        app.text("version-app")
            .starts_with(env!("CARGO_PKG_VERSION"))
    );
    // About says what a user needs first; what support needs waits behind "Details".
    assert!(app.visible("about-app-name"), "the app's name is shown");
    assert!(!app.visible("socket"), "the socket waits behind Details");
    app.js(
        "document.getElementById('about-details').open = true",
        serde_json::json!([]),
    );
    assert!(app.visible("socket"));
    app.screenshot(&shots.join("settings.png"));
    // Start at login: an entry named after the product, starting in the tray with the
    // configuration this app was started with.
    app.click("setting-autostart");
    app.wait_text("settings-message", |t| t == "Saved.");
    let entry = s.companion.root.join(format!(
        "home/.config/autostart/{PRODUCT_NAME} (test).desktop"
    ));
    let text = std::fs::read_to_string(&entry).unwrap_or_else(|e| {
        panic!(
            "no entry at {}: {e}; found {:?}",
            entry.display(),
            std::fs::read_dir(s.companion.root.join("home/.config/autostart"))
                .map(|d| d.flatten().map(|f| f.file_name()).collect::<Vec<_>>())
        )
    });
    let config = std::fs::canonicalize(&s.companion.config).unwrap();
    assert!(
        text.contains(r#""--hidden" "--config""#)
            && text.contains(&format!(r#""--config" "{}""#, config.display())),
        "{text}"
    );
    // What the desktop's list of login programs shows: the app's icon and what it does.
    assert!(
        text.contains("Icon=licentric-companion\n")
            && text.contains(&format!(
                "Comment=Keeps the licence of {PRODUCT_NAME} (test)"
            )),
        "{text}"
    );
    app.click("setting-autostart");
    app.wait_text("settings-message", |t| t == "Saved.");
    wait_for("the entry to go", Duration::from_secs(20), || {
        (!entry.exists()).then_some(())
    });
    // "Saved." is the news of a moment, not a state: it goes.
    app.wait_text("settings-message", str::is_empty);
    app.click("tab-licence");

    // Refresh now: done, said where the user looks — and gone again a moment later (news of a
    // moment, not a state).
    app.click("refresh");
    app.wait_text("action-message", |t| t == "Refreshed.");
    app.wait_text("action-message", str::is_empty);

    // The server goes away; Refresh now: offline, with the time left.
    s.server.stop();
    app.click("refresh");
    let badge = app.wait_text("badge", |t| t.contains("offline"));
    assert!(
        badge.contains("13 days left") || badge.contains("14 days left"),
        "the offline badge counts the time left: {badge}"
    );
    let message = app.wait_text("action-message", |t| {
        !t.is_empty() && !t.starts_with("Refreshing…")
    });
    assert!(message.contains("cannot be reached"), "says why: {message}");
    // The whole status, its message included, fits the 600×760 window: nothing below the fold.
    let sizes = app.js(
        "return [document.documentElement.scrollHeight, window.innerHeight, \
          document.getElementById('action-message').getBoundingClientRect().bottom]",
        serde_json::json!([]),
    );
    let fits = sizes[0].as_f64() <= sizes[1].as_f64() && sizes[2].as_f64() <= sizes[1].as_f64();
    assert!(
        fits,
        "the status needs scrolling: [page, window, message bottom] = {sizes}"
    );
    assert!(
        !app.visible("action-cancel"),
        "no Cancel once the wait is over"
    );
    // The agent's words give its times in UTC (as the CLI and the tray say them); the window
    // shows them in this computer's time, as its other times.
    let detail = app.text("state-detail");
    assert!(
        detail.contains("stays licensed offline until") && !detail.contains("UTC"),
        "{detail}"
    );
    app.screenshot(&shots.join("status-offline.png"));
    // A link with a key while activated is not ignored without a word.
    let link = format!("licentric://activate?key={}", s.key);
    assert!(launch_again(&s, &[&link]).status.success());
    let said = app.wait_text("action-message", |t| t.contains("already activated"));
    assert!(
        said.contains("nothing needs doing") && !said.contains("Deactivate"),
        "the key in use: {said}"
    );
    // Another key needs a deactivation first; a key that is not one is said to be so (no
    // deactivation would help it).
    let other = "licentric://activate?key=ACME-7QX2-M4KD-9PZT-H3WC";
    assert!(launch_again(&s, &[other]).status.success());
    let said = app.wait_text("action-message", |t| t.contains("the other key"));
    assert!(said.contains("Deactivate"), "{said}");
    let malformed = "licentric://activate?key=ACME-7QX2-M4KD-9PZU-H3WC";
    assert!(launch_again(&s, &[malformed]).status.success());
    let said = app.wait_text("action-message", |t| t.contains("not valid"));
    assert!(
        said.contains("cannot be in a licence key") && !said.contains("Deactivate"),
        "{said}"
    );
    wait_for("the tray to say offline", Duration::from_secs(20), || {
        (s.desktop.tray_menu()[0] == "Licence: active, offline (disabled)").then_some(())
    });

    // Deactivating while the server cannot be reached: it does not finish, and the window says
    // what stands; the other actions wait meanwhile.
    app.click("deactivate");
    app.click("confirm-deactivate-yes");
    let failed = app.wait_text("action-message", |t| t.contains("still activated"));
    assert!(failed.contains("cannot be reached"), "{failed}");
    assert!(app.visible("status"), "still the status card");
    assert!(
        app.js(
            "return document.getElementById('refresh').disabled",
            serde_json::json!([])
        ) == false,
        "the actions are back"
    );

    // Back online: once a later contact succeeds (here the command-line tool's refresh,
    // through the app's agent), the failure said while the server was out of reach goes.
    s.server.restart();
    assert_eq!(run(s.companion.cli().arg("refresh")).0, 0);
    app.wait_text("badge", |t| t == "Active");
    app.wait_text("action-message", str::is_empty);
    // Deactivate after the confirmation: back at activation.
    app.click("deactivate");
    assert!(
        app.js(
            "return document.getElementById('confirm-deactivate').open",
            serde_json::json!([])
        ) == true,
        "a confirmation comes first"
    );
    assert!(
        app.text("confirm-text")
            .contains("frees this machine's seat")
    );
    app.screenshot(&shots.join("deactivate-confirm.png"));
    app.click("confirm-deactivate-yes");
    app.wait_text("activation-title", |t| {
        t == format!("Activate {PRODUCT_NAME}")
    });
    let (code, out, _) = run(s.companion.cli().args(["status", "--json"]));
    assert_eq!(code, 3, "not entitled after deactivation: {out}");
    assert!(out.contains("\"unlicensed\""), "{out}");
    // The result is where the user now looks, and the key field judges nothing yet.
    assert!(app.visible("activation-message"));
    let said = app.text("activation-message");
    assert!(
        said.contains("seat is free") && said.contains("Keep your licence key"),
        "{said}"
    );
    assert_eq!(
        app.text("key-feedback"),
        "Paste the key from your purchase e-mail."
    );
    app.screenshot(&shots.join("deactivated.png"));
    // Activated again: no word of the deactivation is left on the status card.
    app.type_into("key", &s.key);
    app.wait_text("key-feedback", |t| t == "The key looks right.");
    app.type_into("key", "\u{E007}");
    app.wait_text("badge", |t| t == "Active");
    assert_eq!(app.text("action-message"), "", "a stale message");
    // The confirmation opened again and dismissed with Escape deactivates nothing (the dialog
    // kept the last answer, "deactivate", when Escape gave none): Refresh, which waits for any
    // other action, still runs, and the machine stays activated.
    app.click("deactivate");
    app.type_into("confirm-deactivate-yes", "\u{E00C}");
    wait_for("the confirmation to close", Duration::from_secs(5), || {
        (app.js(
            "return document.getElementById('confirm-deactivate').open",
            serde_json::json!([]),
        ) == false)
            .then_some(())
    });
    app.click("refresh");
    app.wait_text("action-message", |t| t == "Refreshed.");
    assert_eq!(app.text("badge"), "Active");
    let (code, out, _) = run(s.companion.cli().args(["status", "--json"]));
    assert_eq!(code, 0, "still activated: {out}");

    // Quit from the tray: the app ends and takes its socket with it.
    let pid = app_pid(&s.companion.config).expect("the app's process");
    s.desktop.tray_click("Quit");
    wait_for("the app to quit", Duration::from_secs(20), || {
        app_pid(&s.companion.config).is_none().then_some(())
    });
    assert!(
        !s.companion.socket.exists(),
        "the socket is removed on Quit (pid {pid})"
    );
}

/// Opened by a `licentric://activate?key=…` link: the key is in the field, and gone from the
/// process list, which every local user reads (`ps`, `/proc/PID/cmdline`), for the app's life.
#[test]
fn gui_a_link_key_is_filled_in_and_hidden_from_other_users() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let s = setup("gui-link-first");
    let link = format!("licentric://activate?key={}", s.key);
    let app = start_app_with_args(&s, &[], &[&link]);
    let filled = wait_for("the link's key", Duration::from_secs(20), || {
        let value = app.js(
            "return document.getElementById('key').value",
            serde_json::json!([]),
        );
        value.as_str().filter(|v| !v.is_empty()).map(str::to_owned)
    });
    assert_eq!(filled, s.key);
    let pid = app_pid(&s.companion.config).expect("the app's process");
    let shown = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let shown = String::from_utf8_lossy(&shown);
    assert!(
        shown.contains("licentric://activate?key=") && !shown.contains(&s.key),
        "{shown}"
    );
    let hidden = setpriv_nobody_reads(&format!("/proc/{pid}/cmdline"));
    assert!(!hidden.contains(&s.key), "another user reads: {hidden}");
}

/// Attack: a web page opens a link with another key while the window is closed, on a machine
/// that is activated. The window opens on the status, says the link's key is not taken — and
/// does not keep it, filled in, in the hidden activation form, where it would wait for the
/// next activation (after a deactivation, one Enter would swap the licence).
#[test]
fn gui_a_link_opening_the_window_of_an_activated_machine_leaves_no_key_behind() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut s = setup("gui-link-activated");
    s.companion.start_agent();
    let (code, out, err) = run(s.companion.cli().args(["activate", &s.key]));
    assert_eq!(code, 0, "{out}{err}");
    let other = "licentric://activate?key=ACME-7QX2-M4KD-9PZT-H3WC";
    let app = start_app_with_args(&s, &[], &[other]);
    app.wait_text("badge", |t| t == "Active");
    let said = app.wait_text("action-message", |t| t.contains("already activated"));
    assert!(said.contains("Deactivate"), "{said}");
    let left = app.js(
        "return document.getElementById('key').value",
        serde_json::json!([]),
    );
    assert_eq!(left, "", "the link's key waits in the hidden form");
}

/// Attack: a page that asks for the key, shown in the app's own window (a phishing page says
/// "drag this link onto your licence window"; a script navigates). The window never leaves the
/// app's own pages, and says so in its log.
#[test]
fn gui_the_window_never_leaves_the_apps_own_pages() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let s = setup("gui-stays-home");
    let app = start_app(&s);
    app.wait_text("product-name", |t| !t.is_empty());
    let home = app.js("return location.origin", serde_json::json!([]));
    app.js(
        "location.href = 'https://example.invalid/login'",
        serde_json::json!([]),
    );
    wait_for(
        "the navigation to be refused",
        Duration::from_secs(20),
        || {
            app.app_log()
                .contains("refused to leave the app's own pages")
                .then_some(())
        },
    );
    assert_eq!(
        app.js("return location.origin", serde_json::json!([])),
        home
    );
    assert!(
        !app.app_log().contains("example.invalid/login"),
        "the log names the host, not the whole address"
    );
    app.click("tab-settings");
    assert!(
        app.visible("setting-autostart"),
        "the app's page still works"
    );
}

/// Run from an AppImage, the program is in the image's mount, a folder in `/tmp` that goes when
/// the app ends — and that another local user could make in its place. Start at login starts
/// the AppImage file itself.
#[test]
fn gui_start_at_login_from_an_appimage_starts_the_appimage() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let s = setup("gui-appimage-login");
    let program = bin("licentric-companion");
    let mount = program.parent().unwrap().display().to_string();
    let image = s.companion.root.join("Acme CAD.AppImage");
    let image_text = image.display().to_string();
    // An entry an earlier version wrote: the program in a mount that is gone.
    let entry = s.companion.root.join(format!(
        "home/.config/autostart/{PRODUCT_NAME} (test).desktop"
    ));
    std::fs::create_dir_all(entry.parent().unwrap()).unwrap();
    std::fs::write(
        &entry,
        "[Desktop Entry]\nType=Application\nName=Acme\nExec=\"/tmp/.mount_Gone01/usr/bin/licentric-companion\" \"--hidden\"\n",
    )
    .unwrap();
    let exec = || {
        std::fs::read_to_string(&entry)
            .ok()?
            .lines()
            .find_map(|l| l.strip_prefix("Exec=").map(str::to_owned))
    };
    let starts_the_image =
        |exec: &str| exec.starts_with(&format!("\"{image_text}\" ")) && !exec.contains(".mount_");
    let app = start_app_with(&s, &[("APPIMAGE", &image_text), ("APPDIR", &mount)]);
    wait_for(
        "the old entry written again",
        Duration::from_secs(20),
        || exec().filter(|e| starts_the_image(e)),
    );
    // Switched off and on again from Settings: the AppImage, never its mount.
    app.click("tab-settings");
    app.click("setting-autostart");
    app.wait_text("settings-message", |t| t == "Saved.");
    assert!(!entry.exists());
    app.click("setting-autostart");
    app.wait_text("settings-message", |t| t == "Saved.");
    let exec = exec().expect("an Exec line");
    assert!(starts_the_image(&exec) && !exec.contains(&mount), "{exec}");
}

/// What user `nobody` reads at `path`.
fn setpriv_nobody_reads(path: &str) -> String {
    let out = std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "cat",
            path,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A second launch opens no second window; it hands its `licentric://` link to the first,
/// which fills in the key (and does not activate on its own).
#[test]
fn gui_second_launch_hands_over_to_the_first() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let s = setup("gui-single");
    let app = start_app(&s);
    app.wait_text("activation-title", |t| {
        t == format!("Activate {PRODUCT_NAME}")
    });
    assert_eq!(app.windows().len(), 1);

    let link = format!("licentric://activate?key={}", s.key);
    let second = launch_again(&s, &[&link]);
    assert!(
        second.status.success(),
        "the second launch handed over and exited: {}",
        String::from_utf8_lossy(&second.stderr)
    );
    let filled = wait_for("the handed-over key", Duration::from_secs(20), || {
        let value = app.js(
            "return document.getElementById('key').value",
            serde_json::json!([]),
        );
        value.as_str().filter(|v| !v.is_empty()).map(str::to_owned)
    });
    assert_eq!(filled, s.key, "the link's key is in the field");
    assert_eq!(app.windows().len(), 1, "still one window");
    assert!(
        window_visible(&s.desktop, "Licentric Companion"),
        "the window is on screen"
    );
    assert!(app.visible("activation"), "not activated by the link alone");
    assert_eq!(
        s.companion.client().status().unwrap().state,
        licentric_proto::LicenseState::Unlicensed,
        "a link never activates without the user"
    );

    // Opened from the desktop, the app started the agent beside it, with its tray: closing the
    // window as a user does ends the app (its webview and all), and the agent serves on in
    // the tray — as after a start at login, not the app all day.
    let pid = app_pid(&s.companion.config).expect("the app's process");
    assert!(
        webview_processes(pid) > 0,
        "a webview runs while the window is open"
    );
    let agent = licentric_client::Client::connect(&s.companion.socket);
    assert!(agent.is_ok(), "an agent serves: {agent:?}");
    assert_eq!(
        s.desktop.tray_icons(),
        1,
        "one tray icon: the agent's, not the app's as well"
    );
    assert!(
        close_like_a_user(&s.desktop, "Licentric Companion"),
        "the window was found"
    );
    wait_for("the app to end", Duration::from_secs(20), || {
        (app_pid(&s.companion.config) != Some(pid)).then_some(())
    });
    let status =
        licentric_client::Client::connect(&s.companion.socket).and_then(|mut c| c.status());
    assert!(
        status.is_ok(),
        "the agent still serves with no window: {status:?}\n{}",
        app.app_log()
    );
    assert!(
        !window_visible(&s.desktop, "Licentric Companion"),
        "no window on screen once closed"
    );
    // The first request opens it, on screen: the tray's Open; then a second launch while it is
    // open hands over to it.
    s.desktop.tray_click("Open");
    wait_for(
        "the window on screen after the tray's Open",
        Duration::from_secs(30),
        || window_visible(&s.desktop, "Licentric Companion").then_some(()),
    );
    let opened = app_pid(&s.companion.config).expect("the app the tray opened");
    let again = launch_again(&s, &[]);
    assert!(again.status.success(), "handed over again");
    assert_eq!(
        app_pid(&s.companion.config),
        Some(opened),
        "the window the tray opened is the one that stays"
    );
}

/// Offline activation: a request file made on this machine, a licence file obtained for it on
/// a connected device, imported through the file picker. A tampered file is refused with a
/// clear message first, and changes nothing.
#[test]
fn gui_offline_activation_by_importing_a_file() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let s = setup("gui-offline");
    // In the dark theme this time: the page follows the desktop's.
    let app = start_app_with(&s, &[("GTK_THEME", "Adwaita:dark")]);
    app.wait_text("activation-title", |t| {
        t == format!("Activate {PRODUCT_NAME}")
    });

    let request = s.companion.root.join("request.txt");
    let (code, out, err) = run(s.companion.cli().arg("request-file").arg(&request));
    assert_eq!(code, 0, "{out}{err}");
    let licence = s
        .server
        .offline_activation(&s.key, &std::fs::read_to_string(&request).unwrap());

    app.click("offline-activation-summary");
    // The request picked by mistake instead of the licence file: said plainly.
    app.choose_file("license-file", &request);
    // Said under the picker, where the user just chose.
    let said = app.wait_text("import-error-message", |t| !t.is_empty());
    assert!(said.contains("activation request from step 1"), "{said}");
    let tampered = s.companion.root.join("license.lic");
    let mut bytes = licence.clone().into_bytes();
    let middle = bytes.len() / 2;
    bytes[middle] = if bytes[middle] == b'A' { b'B' } else { b'A' };
    std::fs::write(&tampered, bytes).unwrap();
    app.choose_file("license-file", &tampered);
    let refused = app.wait_text("import-error-message", |t| t != said);
    assert!(
        app.visible("activation"),
        "still not activated after a bad file: {refused}"
    );
    assert!(
        !refused.contains("envelope") && !refused.contains('`'),
        "in plain words: {refused}"
    );
    app.screenshot(&screenshot_dir().join("activation-offline-refused.png"));

    // Step 1 said where the request was saved (as the window's save does; its dialog is the
    // desktop's): a line about that request, which goes with the card.
    app.js(
        "document.getElementById('save-request-result').textContent = 'Saved to /tmp/request.txt'",
        serde_json::json!([]),
    );
    // Downloaded again under the same name and picked again: read again.
    std::fs::write(&tampered, &licence).unwrap();
    app.choose_file("license-file", &tampered);
    app.wait_text("badge", |t| t == "Active");
    assert!(
        !app.visible("credential-store"),
        "no key here: where it would be stored says nothing"
    );
    // Renewed as it was activated: a new request, and the file that answers it, imported
    // from the status card.
    assert!(app.visible("renew-request") && app.visible("renew-import"));
    // Two requests made and answered on one trip: the first answer imported renews; the
    // second then has nothing to answer, and says so in the user's terms.
    let mut answers = Vec::new();
    for name in ["renewal.txt", "renewal-again.txt"] {
        let renewal = s.companion.root.join(name);
        let (code, out, err) = run(s.companion.cli().arg("request-file").arg(&renewal));
        assert_eq!(code, 0, "{out}{err}");
        let renewed = s
            .server
            .offline_activation(&s.key, &std::fs::read_to_string(&renewal).unwrap());
        let file = s.companion.root.join(format!("{name}.lic"));
        std::fs::write(&file, renewed).unwrap();
        answers.push(file);
    }
    app.choose_file("renew-file", &answers[0]);
    app.wait_text("action-message", |t| {
        t == "Renewed: the new licence file is installed."
    });
    assert_eq!(app.text("badge"), "Active");
    app.choose_file("renew-file", &answers[1]);
    let said = app.wait_text("action-message", |t| t.contains("nothing to import"));
    assert!(said.contains("renewed since that request"), "{said}");
    assert_eq!(app.text("badge"), "Active");
    wait_for(
        "the tray to offer no Refresh (no key here to refresh with)",
        Duration::from_secs(20),
        || {
            let menu = s.desktop.read_tray_menu().ok()?;
            menu.iter()
                .any(|item| item == "Refresh now (disabled)")
                .then_some(())
        },
    );
    assert_eq!(
        app.js(
            "return matchMedia('(prefers-color-scheme: dark)').matches",
            serde_json::json!([])
        ),
        true,
        "the dark desktop theme reaches the page"
    );
    assert!(
        !app.visible("refresh"),
        "no key here: nothing to refresh from the server"
    );
    app.screenshot(&screenshot_dir().join("status-dark.png"));
    app.click("deactivate");
    assert!(
        app.text("confirm-text-offline")
            .contains("seat on the licence stays taken"),
        "deactivating an offline machine says the seat is not freed from here"
    );
    assert_eq!(app.text("confirm-text"), "", "not the online wording");
    let planned = app.text("timeline-text");
    assert!(
        planned.contains("renew by importing"),
        "no key here: renewed by importing again: {planned}"
    );
    // Confirmed: the result says the seat stays taken, not that it is free.
    app.click("confirm-deactivate-yes");
    let said = app.wait_text("activation-message", |t| !t.is_empty());
    assert!(
        said.contains("seat stays taken") && !said.contains("seat is free"),
        "{said}"
    );
    assert_eq!(
        app.js(
            "return document.getElementById('save-request-result').textContent",
            serde_json::json!([])
        ),
        "",
        "no word is left of the request the first activation used"
    );
}

/// With the headless agent already serving this product (the systemd user service, say), the
/// app does not start a second agent, nor refuse to start: it becomes that agent's client over
/// the checked IPC. Activating in the window activates the agent; a change made elsewhere (the
/// CLI) reaches the window by the agent's push; Settings says who answers.
#[test]
fn gui_becomes_the_client_of_a_running_headless_agent() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut s = setup("gui-beside-agent");
    // The agent runs in a virtual machine, as far as it can tell (said by the test).
    s.companion.start_agent_with(|cmd| {
        cmd.env("LICENTRIC_RUNS_IN", "virtual_machine:kvm");
    });
    let agent = s.companion.pid();
    let app = start_app(&s);
    app.wait_text("activation-title", |t| !t.is_empty());
    assert!(!app.visible("startup-error"), "no start-up error");
    app.type_into("key", &s.key);
    app.click("activate");
    app.wait_text("badge", |t| t == "Active");
    // The headless agent holds the licence: the CLI asks it.
    let status = s.companion.client().status().unwrap();
    assert_eq!(
        status.state,
        licentric_proto::LicenseState::Active,
        "{status:?}"
    );
    assert_eq!(s.companion.pid(), agent, "the same agent serves");
    // The agent shows no tray (started without --tray): the app started its tray client, a
    // small process that outlives the window, rather than keeping a tray itself.
    wait_for("the tray client's menu", Duration::from_secs(20), || {
        (s.desktop.tray_menu().first().map(String::as_str) == Some("Licence: active (disabled)"))
            .then_some(())
    });
    assert_eq!(
        tray_clients(&s.companion.config).len(),
        1,
        "one tray client"
    );
    assert_eq!(
        s.desktop.tray_icons(),
        1,
        "one tray icon, not the app's as well"
    );

    // "This machine" says what it runs in and lists its parts as the agent sends them: the
    // start of each hash, or that it was not read — never a raw value.
    assert_eq!(app.text("runs-in"), "a virtual machine (kvm)");
    app.js(
        "document.getElementById('machine-parts').open = true; return true;",
        serde_json::json!([]),
    );
    let parts = app.js(
        "return [...document.querySelectorAll('#parts li')].map(li => [li.dataset.kind, li.textContent]);",
        serde_json::json!([]),
    );
    let parts: Vec<(String, String)> = serde_json::from_value(parts).unwrap();
    let kinds: Vec<&str> = parts.iter().map(|(k, _)| k.as_str()).collect();
    let all: Vec<&str> = licentric_core::components::ComponentKind::ALL
        .iter()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(kinds, all, "every kind, in order");
    let disk = licentric_core::components::RawComponent::new(
        licentric_core::components::ComponentKind::DiskSerial,
        &format!("E2E-{}", s.companion.machine_id),
    )
    .unwrap()
    .hash("gui-beside-agent");
    let shown = |kind: &str| parts.iter().find(|(k, _)| k == kind).unwrap().1.clone();
    assert!(shown("disk_serial").contains(disk.short()), "{parts:?}");
    assert!(shown("board_serial").ends_with("not read"), "{parts:?}");
    assert!(
        !parts
            .iter()
            .any(|(_, t)| t.contains(&s.companion.machine_id)),
        "no raw value: {parts:?}"
    );

    // A local app asks the agent (the command-line tool under a name of its own): Settings
    // lists it, from the agent's list, and not the window itself, though it asks too.
    let viewer = s.companion.root.join("acme-viewer");
    std::fs::copy(bin("licentric"), &viewer).unwrap();
    let mut asks = s.companion.cli();
    asks.arg("status");
    let asks = std::process::Command::new(&viewer)
        .args(asks.get_args())
        .envs(asks.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .output()
        .unwrap();
    assert!(asks.status.success(), "{asks:?}");
    app.click("tab-settings");
    let served = app.wait_text("served-by", |t| !t.is_empty());
    assert!(served.contains("background"), "says who answers: {served}");
    let listed = app.wait_text("clients", |t| t.contains("acme-viewer"));
    assert!(!listed.contains("licentric-compa"), "{listed}");
    app.click("tab-licence");

    // The background agent stops under an open dialog: the window says so at once, and shows
    // nothing that was its word, the dialog included; reloaded meanwhile, it says so again; it
    // follows the agent when it is back.
    assert!(app.visible("status"));
    app.click("diagnostics");
    let open = |id: &str| {
        app.js(
            "return document.getElementById(arguments[0]).open",
            serde_json::json!([id]),
        ) == true
    };
    wait_for("the diagnostics to open", Duration::from_secs(5), || {
        open("diagnostics-dialog").then_some(())
    });
    s.companion.stop_agent("-TERM");
    wait_for(
        "the window to say licensing stopped",
        Duration::from_secs(20),
        || app.visible("agent-gone").then_some(()),
    );
    assert!(
        !app.visible("activation") && !app.visible("status") && !open("diagnostics-dialog"),
        "nothing stale"
    );
    app.js(
        "window.beforeReload = true; setTimeout(() => location.reload(), 0); return true",
        serde_json::json!([]),
    );
    wait_for(
        "the reloaded window to say licensing stopped",
        Duration::from_secs(20),
        || {
            (app.js(
                "return window.beforeReload === undefined",
                serde_json::json!([]),
            ) == true
                && app.visible("agent-gone")
                && !app.visible("loading"))
            .then_some(())
        },
    );
    assert!(!app.visible("activation") && !app.visible("status"));
    s.companion.start_agent();
    let agent = s.companion.pid();
    wait_for(
        "the window to follow the agent back",
        Duration::from_secs(20),
        || (!app.visible("agent-gone") && app.visible("status")).then_some(()),
    );

    // Deactivated through the agent from the command line: the window follows, pushed.
    let (code, out, err) = run(s.companion.cli().arg("deactivate"));
    assert_eq!(code, 0, "{out}{err}");
    app.wait_text("activation-title", |t| !t.is_empty());
    wait_for(
        "the window to show activation again",
        Duration::from_secs(20),
        || app.visible("activation").then_some(()),
    );

    // Closing the window ends the app; the tray client stays, and Quit ends it.
    let pid = app_pid(&s.companion.config).expect("the app's process");
    assert!(close_like_a_user(&s.desktop, "Licentric Companion"));
    wait_for("the app to end", Duration::from_secs(20), || {
        (app_pid(&s.companion.config) != Some(pid)).then_some(())
    });
    assert_eq!(tray_clients(&s.companion.config).len(), 1, "the tray stays");
    s.desktop.tray_click("Quit");
    wait_for("the tray client to end", Duration::from_secs(20), || {
        tray_clients(&s.companion.config).is_empty().then_some(())
    });
    assert_eq!(s.companion.pid(), agent, "the agent still serves");
}

/// The vendor frees this machine's seat while the app is open: at the next contact the window
/// says so in plain words (the server's statement is signed), and Activate again takes the
/// free seat back with the key the credential store kept.
#[test]
fn gui_a_machine_deactivated_from_elsewhere_says_so_and_activates_again() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let s = setup("gui-gone");
    let app = start_app(&s);
    app.wait_text("activation-title", |t| !t.is_empty());
    app.type_into("key", &s.key);
    app.click("activate");
    app.wait_text("badge", |t| t == "Active");
    assert!(!app.visible("activation-notice"), "no notice before");

    let (code, out, _) = run(s.companion.cli().args(["status", "--json"]));
    assert_eq!(code, 0);
    let status: serde_json::Value = serde_json::from_str(&out).unwrap();
    let machine = status["machine_id"].as_str().unwrap().to_owned();
    s.server
        .admin("DELETE", &format!("/machines/{machine}"), None);

    app.click("refresh");
    let notice = app.wait_text("activation-notice-text", |t| !t.is_empty());
    assert!(
        notice.contains("deactivated on this machine from elsewhere"),
        "says what happened: {notice}"
    );
    assert!(app.visible("activation") && app.visible("activation-notice"));
    app.screenshot(&screenshot_dir().join("deactivated-elsewhere.png"));
    app.click("activate-again");
    app.wait_text("badge", |t| t == "Active");
    assert!(!app.visible("activation-notice"));
}

/// Against a server that accepts connections and never answers, an activation says how long
/// it has been waiting and offers Cancel; cancelling ends the wait at once, changes nothing,
/// and says so.
#[test]
fn gui_waiting_on_a_silent_server_shows_progress_and_can_be_cancelled() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let s = setup("gui-silent");
    let port = hostile_https(&s.server.dir, None);
    point_at(&s, port);
    let app = start_app(&s);
    app.wait_text("activation-title", |t| {
        t == format!("Activate {PRODUCT_NAME}")
    });
    app.type_into("key", &s.key);
    app.wait_text("key-feedback", |t| t == "The key looks right.");
    app.click("activate");
    app.wait_text("activate-progress", |t| {
        t.contains("waiting for the licensing server")
    });
    assert!(app.visible("activate-cancel"), "Cancel is offered");
    app.screenshot(&screenshot_dir().join("activation-waiting.png"));
    // Escape, as the Cancel button does.
    app.type_into("key", "\u{E00C}");
    app.wait_text("activate-progress", |t| {
        t == "Cancelled. Nothing was changed on this computer."
    });
    assert!(!app.visible("activate-cancel"));
    assert!(!app.visible("activate-error"), "a cancel is not an error");
    assert!(app.visible("activation"), "still at activation");
    let (_, out, _) = run(s.companion.cli().args(["status", "--json"]));
    assert!(out.contains("\"unlicensed\""), "{out}");
    // Another key typed: the cancelled attempt's word goes.
    app.clear("key");
    app.type_into("key", "ACME-");
    app.wait_text("activate-progress", |t| t.is_empty());
}

/// A vendor that switches management over IPC off (`ipc.management = false`): the app opened
/// from the desktop stays the agent itself, rather than the client of one beside it that would
/// refuse the window's Activate — and activating in the window works.
#[test]
fn gui_with_management_off_the_app_is_its_own_agent() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let s = setup("gui-no-management");
    let text = std::fs::read_to_string(&s.companion.config).unwrap();
    std::fs::write(
        &s.companion.config,
        text.replace("[ipc]\n", "[ipc]\nmanagement = false\n"),
    )
    .unwrap();
    let app = start_app(&s);
    app.wait_text("activation-title", |t| !t.is_empty());
    let pid = app_pid(&s.companion.config).expect("the app's process");
    assert_eq!(
        licentric_client::endpoint::listener_pid(&s.companion.socket),
        Some(pid),
        "the app itself serves the socket"
    );
    // Its own tray offers Refresh now once there is a licence to refresh, as the agent's does,
    // and says the outcome (the window may be closed).
    let third = |want: &str| refresh_item_is(&s, want);
    wait_for("nothing to refresh yet", Duration::from_secs(20), || {
        third("Refresh now (disabled)")
    });
    app.type_into("key", &s.key);
    app.wait_text("key-feedback", |t| t == "The key looks right.");
    app.click("activate");
    app.wait_text("badge", |t| t == "Active");
    wait_for("Refresh now offered", Duration::from_secs(20), || {
        third("Refresh now")
    });
    refresh_from_the_tray(&s);
}

/// A session bus that cannot be reached (its address set, nothing there): the agent the app
/// starts beside it could show no tray, so nobody could quit it — it ends at once, and the app
/// is the agent itself; closing the window then leaves nothing running.
#[test]
fn gui_with_no_usable_session_bus_the_app_is_its_own_agent() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let s = setup("gui-dead-bus");
    let bus = format!(
        "unix:path={}",
        s.companion.root.join("no-bus-here").display()
    );
    let app = start_app_with(&s, &[("DBUS_SESSION_BUS_ADDRESS", bus.as_str())]);
    app.wait_text("activation-title", |t| !t.is_empty());
    let pid = app_pid(&s.companion.config).expect("the app's process");
    assert_eq!(
        licentric_client::endpoint::listener_pid(&s.companion.socket),
        Some(pid),
        "the app itself serves the socket"
    );
    assert!(
        tray_clients(&s.companion.config).is_empty(),
        "no agent left running without a tray"
    );
    // With no tray anywhere, closing the window ends the app: nothing is left serving.
    assert!(close_like_a_user(&s.desktop, "Licentric Companion"));
    wait_for("the app to end", Duration::from_secs(20), || {
        app_pid(&s.companion.config).is_none().then_some(())
    });
    assert!(tray_clients(&s.companion.config).is_empty());
}

/// `agent --tray --beside-app`, as the app starts it. With a session bus it says `ready` once
/// its tray is up, then lets go of the pipe (the app stops reading it; the apps its tray
/// starts must not inherit it) and runs on. Where the bus cannot be reached, it ends by itself
/// — said nothing, failed, and left the product free for the app — rather than run on with
/// no tray that nobody could quit.
#[test]
fn gui_the_agent_beside_the_app_says_ready_or_ends() {
    use std::io::Read as _;
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 14 * 86_400);
    let companion = Companion::new(tmp.path(), &server, "gui-beside-ready", "");
    let beside = || {
        let mut command = companion.cli();
        command
            .args(["agent", "--tray", "--beside-app"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null());
        command
    };

    let dead = format!("unix:path={}", tmp.path().join("no-bus-here").display());
    let mut agent = Stopped(
        beside()
            .env("DBUS_SESSION_BUS_ADDRESS", &dead)
            .spawn()
            .unwrap(),
    );
    let ended = wait_for(
        "the agent to end by itself",
        Duration::from_secs(20),
        || agent.0.try_wait().unwrap(),
    );
    assert_eq!(ended.code(), Some(1), "{ended:?}");
    // What it said, to the end of the pipe.
    let said = |agent: &mut Stopped| {
        let mut said = String::new();
        agent
            .0
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut said)
            .unwrap();
        said
    };
    assert_eq!(said(&mut agent), "", "no word of a tray");
    assert!(
        licentric_client::Client::connect(&companion.socket).is_err(),
        "nothing left serving"
    );

    let mut agent = Stopped(beside().spawn().unwrap());
    // The end of the pipe comes: the agent lets go of it once it has said its word.
    assert_eq!(said(&mut agent), "ready\n");
    assert!(agent.0.try_wait().unwrap().is_none(), "it runs on");
    assert!(licentric_client::Client::connect(&companion.socket).is_ok());
}

/// Settings says which proxy the calls to the licensing server go through — here the
/// system's, from `HTTPS_PROXY` — without its password, and how to set one.
#[test]
fn gui_settings_say_which_proxy_is_used() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let s = setup("gui-proxy");
    // A test environment in a file of the user's own (the tests run as root, whose file would
    // count as the vendor's): the proxy is set in that file, and the hint names it.
    std::os::unix::fs::chown(&s.companion.config, Some(65534), Some(65534)).unwrap();
    let app = start_app_with(
        &s,
        &[("HTTPS_PROXY", "http://ann:s3cret@proxy.invalid:3128")],
    );
    app.wait_text("activation-title", |t| !t.is_empty());
    app.click("tab-settings");
    let shown = app.wait_text("setting-proxy", |t| !t.is_empty());
    assert_eq!(
        shown,
        "http://proxy.invalid:3128 (the system's, from HTTPS_PROXY)"
    );
    assert!(!app.text("panel-settings").contains("s3cret"));
    let hint = app.text("setting-proxy-hint");
    assert!(
        hint.contains("proxy = \"http://host:port\"")
            && hint.contains(&s.companion.config.display().to_string()),
        "the file this app reads: {hint}"
    );
}

/// The vendor's help page (its brand's `help_url`): offered where a user looks for their key
/// and in About, and opened in the system's browser (`xdg-open`), never in the window. Run on
/// this workspace's build, whose brand names none (no link; About says to ask the vendor), and
/// by `.ci/test` on the example vendor's package: `LICENTRIC_E2E_APP` is its app, and
/// `LICENTRIC_E2E_HELP_URL` the help page its `vendor.toml` names.
#[test]
fn gui_the_help_page_is_the_vendors() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let s = setup("gui-help");
    let vendor = std::env::var_os("LICENTRIC_E2E_APP").map(std::path::PathBuf::from);
    let help_url = std::env::var("LICENTRIC_E2E_HELP_URL").unwrap_or_default();
    // A browser that writes down what it is asked to open.
    let browser = s.companion.root.join("browser");
    std::fs::create_dir_all(&browser).unwrap();
    let opened = s.companion.root.join("opened");
    let xdg_open = browser.join("xdg-open");
    std::fs::write(
        &xdg_open,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\n",
            opened.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &xdg_open,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        browser.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let app = match &vendor {
        None => start_app_with(&s, &[("PATH", path.as_str())]),
        // The vendor's build, with the configuration built into it (its live server, not
        // reached here): a home and a runtime folder of its own.
        Some(program) => {
            let home = s.companion.root.join("vendor-home");
            let runtime = s.companion.root.join("vendor-runtime");
            for folder in [&home, &runtime] {
                std::fs::create_dir_all(folder).unwrap();
                std::fs::set_permissions(
                    folder,
                    std::os::unix::fs::PermissionsExt::from_mode(0o700),
                )
                .unwrap();
            }
            let (home, runtime) = (home.display().to_string(), runtime.display().to_string());
            App::start_program(
                program,
                &s.companion.root,
                &s.desktop,
                &[
                    ("PATH", path.as_str()),
                    ("HOME", home.as_str()),
                    ("XDG_RUNTIME_DIR", runtime.as_str()),
                    ("LICENTRIC_MACHINE_ID", s.companion.machine_id.as_str()),
                ],
                &[],
            )
        }
    };
    app.wait_text("activation-title", |t| !t.is_empty());
    if help_url.is_empty() {
        assert!(!app.visible("key-help"), "a help link with no help page");
        app.click("tab-settings");
        app.wait_text("about-help", |t| t == "Ask the vendor of your software.");
        return;
    }
    // Where the key goes: the way to find one, with its address to copy.
    assert!(app.visible("key-help"), "no help where the key goes");
    assert_eq!(app.text("key-help-url"), help_url);
    app.click("key-help-link");
    let read = || std::fs::read_to_string(&opened).unwrap_or_default();
    wait_for("the browser to be asked", Duration::from_secs(20), || {
        (read() == format!("{help_url}\n")).then_some(())
    });
    // About names it too, and opens the same page.
    app.click("tab-settings");
    app.wait_text("about-help", |t| t == help_url);
    app.js(
        "document.querySelector('#about-help a').click()",
        serde_json::json!([]),
    );
    wait_for(
        "the browser to be asked again",
        Duration::from_secs(20),
        || (read() == format!("{help_url}\n{help_url}\n")).then_some(()),
    );
    assert!(
        app.js("return location.protocol", serde_json::json!([]))
            .as_str()
            .is_some_and(|p| p != "https:"),
        "the window itself went to the help page"
    );
}

/// A server that is unavailable (503, come back in 3 s): while the app waits, it says why the
/// last try failed and which try comes next; then the plain-language result.
#[test]
fn gui_retries_are_shown_while_the_user_waits() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let s = setup("gui-retry");
    let port = busy_https(&s.server.dir, 3);
    point_at(&s, port);
    let app = start_app(&s);
    app.wait_text("activation-title", |t| !t.is_empty());
    activate_until_retrying(&app, &s.key);
    app.screenshot(&screenshot_dir().join("activation-retrying.png"));
    // The last try fails too: the result in words, and no word of retries left behind.
    app.wait_text("activate-error-message", |t| !t.is_empty());
    assert!(!app.text("activate-progress").contains("trying again"));
}

/// As the client of a background agent (started at login, or the systemd unit), the window
/// shows the agent's retries as its own and its Cancel stops the agent's wait: the same
/// progress, whoever does the work.
#[test]
fn gui_beside_a_background_agent_retries_are_shown_and_cancel_stops_them() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut s = setup("gui-retry-beside");
    // Busy, come back in 20 s: the agent waits that long before its last try.
    let port = busy_https(&s.server.dir, 20);
    point_at(&s, port);
    s.companion.start_agent();
    let app = start_app(&s);
    app.click("tab-settings");
    let served = app.wait_text("served-by", |t| !t.is_empty());
    assert!(
        served.contains("background"),
        "the agent's client: {served}"
    );
    app.click("tab-licence");
    activate_until_retrying(&app, &s.key);
    assert!(app.visible("activate-cancel"), "Cancel is offered");
    app.click("activate-cancel");
    app.wait_text("activate-progress", |t| {
        t == "Cancelled. Nothing was changed on this computer."
    });
    assert!(!app.visible("activate-error"), "a cancel is not an error");
    let status = s.companion.client().status().unwrap();
    assert_eq!(status.state, licentric_proto::LicenseState::Unlicensed);
}

/// Deactivating while the server accepts and never answers: the window says how long it has
/// waited and offers Cancel; Cancel ends the wait at once and says the machine is still
/// activated — which it is.
#[test]
fn gui_a_deactivation_waiting_on_a_silent_server_can_be_cancelled() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut s = setup("gui-deactivate-cancel");
    s.companion.start_agent();
    let (code, out, err) = run(s.companion.cli().args(["activate", &s.key]));
    assert_eq!(code, 0, "{out}{err}");
    s.companion.stop_agent("-TERM");
    let port = hostile_https(&s.server.dir, None);
    point_at(&s, port);
    s.companion.start_agent();
    let app = start_app(&s);
    app.wait_text("badge", |t| t == "Active");
    app.click("deactivate");
    app.click("confirm-deactivate-yes");
    app.wait_text("action-message", |t| {
        t.contains("waiting for the licensing server")
    });
    assert!(app.visible("action-cancel"), "Cancel is offered");
    app.click("action-cancel");
    app.wait_text("action-message", |t| {
        t == "Cancelled. This computer is still activated."
    });
    assert!(app.visible("status") && !app.visible("action-cancel"));
    let status = s.companion.client().status().unwrap();
    assert!(status.entitled, "{status:?}");

    // The tray's Refresh now against the silent server: its item says it is under way (and
    // waits) until the agent gives up, then is offered again.
    let third = |want: &str| refresh_item_is(&s, want);
    wait_for("the tray's Refresh now", Duration::from_secs(20), || {
        third("Refresh now")
    });
    s.desktop.tray_click("Refresh now");
    wait_for(
        "the tray to say it refreshes",
        Duration::from_secs(20),
        || third("Refreshing… (disabled)"),
    );
    wait_for("the refresh to end", Duration::from_secs(60), || {
        third("Refresh now")
    });
}

/// Activates with `key` against a busy server, until the page says the second and last try
/// is coming and why.
fn activate_until_retrying(app: &App, key: &str) {
    app.type_into("key", key);
    app.click("activate");
    let shown = app.wait_text("activate-progress", |t| t.contains("trying again"));
    assert!(
        shown.contains("The server is busy or unavailable; trying again (attempt 2)."),
        "{shown}"
    );
}

/// A floating licence in the app: the key is kept without a seat ("Floating licence"); a local
/// app checking out a seat shows it ("Active, floating seat", the seats in use), and its
/// leaving gives it back — pushed to the window each time.
#[test]
fn gui_a_floating_licence_shows_its_seats() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let s = setup("gui-float");
    let product = s.server.admin(
        "PATCH",
        "/products/gui-float",
        Some(serde_json::json!({"seat_model": "floating"})),
    );
    assert_eq!(product["product"]["seat_model"], "floating", "{product}");
    let app = start_app(&s);
    app.wait_text("activation-title", |t| !t.is_empty());
    app.type_into("key", &s.key);
    app.click("activate");
    app.wait_text("badge", |t| t == "Floating licence");
    assert!(
        app.text("machines").starts_with("Floating"),
        "{}",
        app.text("machines")
    );
    assert!(!app.visible("refresh"), "no file to renew");

    // A local app takes a seat over the app's own socket.
    let mut client = s.companion.client();
    let seat = client.checkout(Some("pro")).unwrap();
    assert_eq!(seat.max_seats, 2);
    app.wait_text("badge", |t| t == "Active, floating seat");
    assert_eq!(app.text("machines"), "1 of 2 seats in use (1 app here)");
    assert_eq!(app.text("machines-label"), "Seats");
    app.screenshot(&screenshot_dir().join("status-floating.png"));
    // It leaves: the seat goes back.
    drop(client);
    app.wait_text("badge", |t| t == "Floating licence");

    // Borrowed for a trip through the dialog: the seat stays with no app running; the tray
    // says until when; returned with one click.
    assert!(app.visible("borrow") && !app.visible("return"));
    app.click("borrow");
    let day = (time::OffsetDateTime::now_utc() + time::Duration::days(3)).date();
    app.js(
        "document.getElementById('borrow-until').value = arguments[0];",
        serde_json::json!([day.to_string()]),
    );
    app.click("borrow-yes");
    app.wait_text("badge", |t| t == "Seat borrowed");
    assert!(
        app.text("machines").contains("borrowed until"),
        "{}",
        app.text("machines")
    );
    assert!(app.visible("return") && !app.visible("borrow"));
    let tray = s.desktop.tray_menu();
    assert!(
        tray.iter()
            .any(|item| item.starts_with("Licence: seat borrowed until")),
        "{tray:?}"
    );
    app.screenshot(&screenshot_dir().join("status-borrowed.png"));
    app.click("return");
    app.wait_text("badge", |t| t == "Floating licence");
    app.wait_text("action-message", |t| t.contains("Seat returned"));

    // Two other machines hold both seats (leases taken straight from the API); an app here
    // asks to wait for one: the window says an app here waits, until it stops waiting.
    let (code, answer) = s.server.lease_for(&s.key, &"e1".repeat(32));
    assert_eq!(code, 201, "{answer}");
    let (code, answer) = s.server.lease_for(&s.key, &"e2".repeat(32));
    assert_eq!(code, 201, "{answer}");
    let mut waiting = s.companion.client();
    assert!(waiting.start_checkout(None).unwrap().is_none());
    app.wait_text("machines", |t| t.ends_with("1 app here waits for a seat"));
    drop(waiting);
    app.wait_text("machines", |t| !t.contains("waits"));

    // The vendor frees one of them and keeps borrowed seats to their end from now on: a seat
    // borrowed now says so, and no Return is offered for it.
    s.server.admin(
        "DELETE",
        &format!("/leases/{}", answer["lease_id"].as_str().unwrap()),
        None,
    );
    let product = s.server.admin(
        "PATCH",
        "/products/gui-float",
        Some(serde_json::json!({"borrow_kept_to_end": true})),
    );
    assert_eq!(product["product"]["borrow_kept_to_end"], true, "{product}");
    app.click("borrow");
    app.click("borrow-yes");
    app.wait_text("badge", |t| t == "Seat borrowed");
    assert!(
        app.text("machines").ends_with(", kept to its end)"),
        "{}",
        app.text("machines")
    );
    assert!(!app.visible("return") && !app.visible("borrow"));
    let detail = app.text("state-detail");
    assert!(detail.contains("cannot be returned early"), "{detail}");

    // Deactivating says the seat stays counted, before and after.
    app.click("deactivate");
    assert!(app.visible("confirm-text-kept") && !app.visible("confirm-text"));
    assert!(
        app.text("confirm-text-kept")
            .contains("stays counted for your team until"),
        "{}",
        app.text("confirm-text-kept")
    );
    app.click("confirm-deactivate-yes");
    let said = app.wait_text("activation-message", |t| !t.is_empty());
    assert!(
        said.contains("stays counted for your team until")
            && said.contains("Keep your licence key"),
        "{said}"
    );
}

/// The `licentric agent --tray` processes running with `LICENTRIC_CONFIG=config`.
fn tray_clients(config: &std::path::Path) -> Vec<u32> {
    let cli = bin("licentric");
    let wanted = format!("LICENTRIC_CONFIG={}", config.display());
    processes()
        .into_iter()
        .filter(|p| p.exe().as_ref() == Some(&cli) && p.has_arg("--tray") && p.has_env(&wanted))
        .map(|p| p.pid)
        .collect()
}

/// The app running as a child of `parent`.
pub(crate) fn app_child(parent: u32) -> Option<u32> {
    let app = bin("licentric-companion");
    processes()
        .into_iter()
        .find(|p| p.parent == parent && p.exe().as_ref() == Some(&app))
        .map(|p| p.pid)
}

/// The tray's menu once it is up (its state line, Open, Refresh now, Quit).
pub(crate) fn tray_menu_shown(s: &Setup) -> Vec<String> {
    wait_for("the tray's menu", Duration::from_secs(20), || {
        let menu = s.desktop.read_tray_menu().ok()?;
        (menu.len() == 4).then_some(menu)
    })
}

/// The tray's Open, and the window on screen with its page drawn.
pub(crate) fn open_from_tray(s: &Setup) {
    s.desktop.tray_click("Open");
    wait_for(
        "the window on screen, its page drawn, after the tray's Open",
        Duration::from_secs(30),
        || window_painted(&s.desktop, "Licentric Companion").then_some(()),
    );
}

/// What the start-at-login entry runs (`--hidden`, with the configuration), its standard
/// error to `stderr`.
fn start_at_login(s: &Setup, stderr: impl Into<std::process::Stdio>) -> Stopped {
    start_at_login_with(s, &s.companion.config, stderr)
}

/// What the start-at-login entry runs with the configuration `config`.
fn start_at_login_with(
    s: &Setup,
    config: &std::path::Path,
    stderr: impl Into<std::process::Stdio>,
) -> Stopped {
    Stopped(
        login_command(s, config)
            .env(WEBVIEW.0, WEBVIEW.1)
            .stderr(stderr)
            .spawn()
            .unwrap(),
    )
}

/// The start-at-login entry's command (`--hidden`, with the configuration `config`) on the
/// test's desktop.
pub(crate) fn login_command(s: &Setup, config: &std::path::Path) -> std::process::Command {
    let mut command = std::process::Command::new(bin("licentric-companion"));
    command
        .args(["--hidden", "--config"])
        .arg(config)
        .env("DISPLAY", &s.desktop.display)
        .env("LICENTRIC_MACHINE_ID", &s.companion.machine_id);
    command
}

/// Start at login runs the agent with a tray of its own, not the app: the process the login
/// entry starts becomes `licentric agent --tray`, so no webview and no toolkit stay in memory.
/// Its tray says the state; Open starts the app as the agent's client (no second tray), whose
/// window closing ends the app while the agent and its tray stay; Quit stops the agent.
#[test]
fn gui_start_at_login_runs_the_agent_in_its_tray_and_open_starts_the_app() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let s = setup("gui-login-tray");
    let log = s.companion.root.join("login.log");
    let mut login = start_at_login(&s, std::fs::File::create(&log).unwrap());
    let pid = login.0.id();
    let menu = tray_menu_shown(&s);
    assert_eq!(
        menu,
        [
            "Licence: not activated (disabled)",
            "Open",
            "Refresh now (disabled)",
            "Quit"
        ]
    );
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/exe")).unwrap(),
        bin("licentric"),
        "the login process became the agent: no webview, no toolkit"
    );
    assert_eq!(app_child(pid), None, "no app runs");
    let status = s.companion.client().status().unwrap();
    assert_eq!(
        status.product_id, "gui-login-tray",
        "the agent serves the product"
    );

    // Open: the app, the agent's client, on screen; the tray stays the agent's alone.
    // Drawn, as users get it (without accelerated compositing, as main.rs sets it).
    open_from_tray(&s);
    // Started by the agent with the configuration the login entry named (no variable says it).
    let app = app_child(pid).expect("the app runs, the agent's child");
    assert!(webview_processes(app) > 0, "the window's webview runs");
    assert_eq!(
        s.desktop.tray_icons(),
        1,
        "no second tray icon: the agent's is the one"
    );

    // Closing the window ends the app; the agent and its tray stay.
    assert!(close_like_a_user(&s.desktop, "Licentric Companion"));
    wait_for("the app to end", Duration::from_secs(20), || {
        app_child(pid).is_none().then_some(())
    });
    assert!(
        login.0.try_wait().unwrap().is_none(),
        "the agent still runs: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    assert_eq!(s.desktop.tray_menu()[1], "Open", "its tray is still there");

    // Quit stops the agent, and the window it opened goes with it: left open, it would show a
    // licence nobody keeps any more.
    open_from_tray(&s);
    let app = app_child(pid).expect("the app runs again");
    s.desktop.tray_click("Quit");
    let ended = wait_for("the agent to stop", Duration::from_secs(20), || {
        login.0.try_wait().unwrap()
    });
    assert!(ended.success(), "{ended:?}");
    assert!(
        !std::path::Path::new(&format!("/proc/{app}")).exists(),
        "the window the tray opened closed with it"
    );
    assert!(
        !window_painted(&s.desktop, "Licentric Companion"),
        "no window left on screen"
    );
    assert!(
        licentric_client::Client::connect(&s.companion.socket).is_err(),
        "nobody serves the socket"
    );
}

/// A configuration the agent would refuse (the vendor's file damaged, say) does not leave the
/// user with nothing at login: the app stays, in its own tray, and its Open shows the window
/// that says what is wrong, rather than becoming an agent that ends before its tray is up.
#[test]
fn gui_start_at_login_with_a_refused_configuration_still_shows_a_tray() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let s = setup("gui-login-refused");
    let broken = s.companion.root.join("broken.toml");
    let text = std::fs::read_to_string(&s.companion.config).unwrap();
    std::fs::write(&broken, format!("{text}\n[refresh\n")).unwrap();
    let mut login = start_at_login_with(&s, &broken, std::process::Stdio::null());
    let pid = login.0.id();
    let menu = tray_menu_shown(&s);
    assert_eq!(menu[0], "Licence: not available (disabled)", "{menu:?}");
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/exe")).unwrap(),
        bin("licentric-companion"),
        "the app kept the tray: the agent would have ended at once"
    );
    open_from_tray(&s);
    s.desktop.tray_click("Quit");
    let ended = wait_for("the app to end", Duration::from_secs(20), || {
        login.0.try_wait().unwrap()
    });
    assert!(ended.success(), "{ended:?}");
}

/// A configuration that reads, but with which the agent cannot start: its CA file
/// (`gone.pem`) is not there.
pub(crate) fn config_whose_agent_cannot_start(s: &Setup) -> std::path::PathBuf {
    let failing = s.companion.root.join("failing.toml");
    let text = std::fs::read_to_string(&s.companion.config).unwrap();
    let missing = s.companion.root.join("gone.pem");
    let text = text
        .lines()
        .map(|line| match line.starts_with("extra_ca =") {
            true => format!("extra_ca = \"{}\"", missing.display()),
            false => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&failing, text).unwrap();
    failing
}

/// The window when the app cannot work: a configuration file that does not read, or one with
/// which the agent cannot start, is said in the window, with its code, instead of a licence
/// screen that would fail at every click.
#[test]
fn gui_a_configuration_that_cannot_work_is_said_in_the_window() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let s = setup("gui-cannot-work");
    let broken = s.companion.root.join("broken.toml");
    let text = std::fs::read_to_string(&s.companion.config).unwrap();
    std::fs::write(&broken, format!("{text}\n[refresh\n")).unwrap();
    let failing = config_whose_agent_cannot_start(&s);
    for (config, says, code) in [
        (&broken, "broken.toml", Some("config_invalid")),
        (&failing, "gone.pem", None),
    ] {
        let config = config.display().to_string();
        let app = start_app_with(&s, &[("LICENTRIC_CONFIG", config.as_str())]);
        let message = app.wait_text("startup-error-message", |t| !t.is_empty());
        assert!(message.contains(says), "{message}");
        let shown = app.text("startup-error-code");
        assert!(
            !shown.is_empty() && code.is_none_or(|code| shown == code),
            "{shown}"
        );
        assert!(!app.visible("activation") && !app.visible("status"));
    }
}

/// A configuration that reads but an agent that cannot start with it (its CA file gone, say)
/// does not leave the user with nothing at login either: the agent's tray says the service
/// could not start, with nothing to refresh, and its Open starts the app, which says why. Once
/// the cause is gone, Open tries again first: the tray becomes the agent's, and the app its
/// client.
#[test]
fn gui_start_at_login_with_an_agent_that_cannot_start_still_shows_a_tray() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let s = setup("gui-login-failed");
    let failing = config_whose_agent_cannot_start(&s);
    let log = s.companion.root.join("login.log");
    let mut login = start_at_login_with(&s, &failing, std::fs::File::create(&log).unwrap());
    let pid = login.0.id();
    let menu = tray_menu_shown(&s);
    assert_eq!(
        menu,
        [
            "Licence: not available (disabled)",
            "The licensing service could not start (disabled)",
            "Open",
            "Quit"
        ]
    );
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/exe")).unwrap(),
        bin("licentric"),
        "the login process became the agent's tray"
    );
    let said = std::fs::read_to_string(&log).unwrap();
    assert!(
        said.contains("the agent cannot start") && said.contains("gone.pem"),
        "{said}"
    );
    open_from_tray(&s);
    assert!(app_child(pid).is_some(), "the app runs, the tray's child");
    assert_eq!(
        s.desktop.tray_icons(),
        1,
        "the app leaves the tray to the one that opened it"
    );
    // Closing the window ends the app.
    assert!(close_like_a_user(&s.desktop, "Licentric Companion"));
    wait_for("the app to end", Duration::from_secs(20), || {
        app_child(pid).is_none().then_some(())
    });

    // The CA file is back: Open starts the agent in the tray's process, then the app.
    std::fs::copy(s.server.ca(), s.companion.root.join("gone.pem")).unwrap();
    open_from_tray(&s);
    let menu = tray_menu_shown(&s);
    assert_eq!(menu[0], "Licence: not activated (disabled)", "{menu:?}");
    let status = licentric_client::Client::connect(&s.companion.socket)
        .unwrap()
        .status()
        .unwrap();
    assert_eq!(
        status.product_id, "gui-login-failed",
        "the tray's agent serves"
    );
    assert!(app_child(pid).is_some(), "the app runs, the agent's client");
    assert_eq!(s.desktop.tray_icons(), 1);
    s.desktop.tray_click("Quit");
    let ended = wait_for("the agent to stop", Duration::from_secs(20), || {
        login.0.try_wait().unwrap()
    });
    assert!(ended.success(), "{ended:?}");
}

/// The agent could not start at login, and another one starts meanwhile (the systemd unit,
/// once its cause is gone): the tray that said so follows it, as that agent's client. A window
/// it opened meanwhile stays (only Quit closes the windows a tray opened).
#[test]
fn gui_a_tray_whose_agent_could_not_start_follows_one_that_did() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut s = setup("gui-login-follows");
    let failing = config_whose_agent_cannot_start(&s);
    let mut login = start_at_login_with(&s, &failing, std::process::Stdio::null());
    let menu = tray_menu_shown(&s);
    assert_eq!(menu[1], "The licensing service could not start (disabled)");
    open_from_tray(&s);
    let window = app_child(login.0.id()).expect("the window the tray opened");
    s.companion.start_agent();
    let menu = wait_for(
        "the tray to follow the agent",
        Duration::from_secs(20),
        || {
            let menu = s.desktop.read_tray_menu().ok()?;
            (menu.get(2).map(String::as_str) == Some("Refresh now (disabled)")).then_some(menu)
        },
    );
    assert_eq!(menu[0], "Licence: not activated (disabled)", "{menu:?}");
    assert_eq!(s.desktop.tray_icons(), 1);
    assert_eq!(
        app_child(login.0.id()),
        Some(window),
        "the window stays when the tray follows the agent"
    );
    assert!(window_visible(&s.desktop, "Licentric Companion"));
    s.desktop.tray_click("Quit");
    let ended = wait_for("the tray to end", Duration::from_secs(20), || {
        login.0.try_wait().unwrap()
    });
    assert!(ended.success(), "{ended:?}");
    assert!(
        licentric_client::Client::connect(&s.companion.socket).is_ok(),
        "the other agent still serves"
    );
    assert!(close_like_a_user(&s.desktop, "Licentric Companion"));
    wait_for("the window's app to end", Duration::from_secs(20), || {
        // Gone, or a zombie nobody reaps (its parent, the tray, ended).
        let stat = std::fs::read_to_string(format!("/proc/{window}/stat")).unwrap_or_default();
        (stat.is_empty()
            || stat
                .rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z')))
        .then_some(())
    });
}

/// Quit in the tray of the agent started at login ends a window opened from the desktop too,
/// its client — not only the windows the tray itself opened: a user who quits expects nothing
/// of the product left on screen.
#[test]
fn gui_quit_in_the_tray_closes_a_window_opened_from_the_desktop() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let s = setup("gui-quit-all");
    let mut login = start_at_login(&s, std::process::Stdio::null());
    tray_menu_shown(&s);
    let app = start_app(&s);
    app.click("tab-settings");
    let served = app.wait_text("served-by", |t| !t.is_empty());
    assert!(
        served.contains("background"),
        "the agent's client: {served}"
    );
    assert!(app_pid(&s.companion.config).is_some());
    s.desktop.tray_click("Quit");
    let ended = wait_for("the agent to stop", Duration::from_secs(20), || {
        login.0.try_wait().unwrap()
    });
    assert!(ended.success(), "{ended:?}");
    wait_for("the window's app to end", Duration::from_secs(20), || {
        app_pid(&s.companion.config).is_none().then_some(())
    });
}

/// With the headless agent already running (the systemd user service, say), start at login
/// shows the tray as that agent's client: its status by push, no second agent; Quit closes the
/// tray and leaves the agent serving.
#[test]
fn gui_start_at_login_beside_a_running_agent_shows_its_tray() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut s = setup("gui-login-beside");
    s.companion.start_agent();
    let agent = s.companion.pid();
    let mut login = start_at_login(&s, std::process::Stdio::null());
    let menu = tray_menu_shown(&s);
    assert_eq!(menu[0], "Licence: not activated (disabled)", "{menu:?}");

    // A change made through the running agent reaches the tray by push.
    let (code, out, err) = run(s.companion.cli().args(["activate", &s.key]));
    assert_eq!(code, 0, "{out}{err}");
    wait_for("the tray to say active", Duration::from_secs(20), || {
        (s.desktop.tray_menu()[0] == "Licence: active (disabled)").then_some(())
    });
    assert_eq!(
        s.companion.pid(),
        agent,
        "the same agent serves: no second one"
    );

    // Quit closes the tray only.
    s.desktop.tray_click("Quit");
    let ended = wait_for("the tray to close", Duration::from_secs(20), || {
        login.0.try_wait().unwrap()
    });
    assert!(ended.success(), "{ended:?}");
    let status = s.companion.client().status().unwrap();
    assert!(status.entitled, "the agent still serves: {status:?}");
}

/// The user logs out: the session bus ends, and the agent that showed the tray ends with it,
/// so the next login's agent finds the product free. (ksni alone keeps waiting for a panel on
/// a bus that is gone.) A session bus of the test's own, ended as a logout ends it.
#[test]
fn gui_the_agent_in_the_tray_ends_with_the_session() {
    agent_ends_with_the_session(Logout::AfterTheTrayIsUp);
}

/// The user logs out while the agent's tray icon is going up (the panel has heard of it, the
/// agent not yet of the panel): the agent ends too, rather than run on without a tray where
/// nobody can quit it. The panel ends the bus as the icon registers, before it answers.
#[test]
fn gui_a_logout_as_the_tray_goes_up_ends_the_agent() {
    agent_ends_with_the_session(Logout::AsTheTrayGoesUp);
}

/// When the session ends, for [`agent_ends_with_the_session`].
#[derive(Clone, Copy, PartialEq)]
enum Logout {
    AfterTheTrayIsUp,
    AsTheTrayGoesUp,
}

fn agent_ends_with_the_session(when: Logout) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    require_tools();
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 14 * 86_400);
    let product = match when {
        Logout::AfterTheTrayIsUp => "gui-logout",
        Logout::AsTheTrayGoesUp => "gui-logout-early",
    };
    let companion = Companion::new(tmp.path(), &server, product, "");
    let (mut bus, address) = licentric_e2e::private_bus(None);
    let host_log = tmp.path().join("tray-host.log");
    let mut host = std::process::Command::new("python3");
    host.arg(licentric_e2e::gui::support_script("tray-host.py"));
    match when {
        Logout::AfterTheTrayIsUp => host.arg("serve"),
        Logout::AsTheTrayGoesUp => host.arg("serve-then-end").arg(bus.0.id().to_string()),
    };
    let _host = Stopped(
        host.env("DBUS_SESSION_BUS_ADDRESS", &address)
            .stdout(std::fs::File::create(&host_log).unwrap())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let logged = |log: &std::path::Path, what: &str| {
        std::fs::read_to_string(log)
            .unwrap_or_default()
            .lines()
            .any(|l| l.contains(what))
    };
    wait_for("the tray host", Duration::from_secs(20), || {
        logged(&host_log, "ready").then_some(())
    });
    let agent_log = tmp.path().join("agent.log");
    let mut agent = Stopped(
        companion
            .cli()
            .args(["agent", "--tray"])
            .env("DBUS_SESSION_BUS_ADDRESS", &address)
            .env("LICENTRIC_LOG", "debug,keyring_core=info")
            .stderr(std::fs::File::create(&agent_log).unwrap())
            .spawn()
            .unwrap(),
    );
    wait_for("the agent's tray icon", Duration::from_secs(20), || {
        logged(&host_log, "item ").then_some(())
    });
    if when == Logout::AfterTheTrayIsUp {
        wait_for(
            "the agent to see its icon up",
            Duration::from_secs(20),
            || logged(&agent_log, "the tray icon is up").then_some(()),
        );
        assert!(agent.0.try_wait().unwrap().is_none(), "the agent runs");
        // Logging out ends the session bus.
        bus.0.kill().unwrap();
    }
    let ended = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_for(
            "the agent to end with the session",
            Duration::from_secs(20),
            || agent.0.try_wait().unwrap(),
        )
    }))
    .unwrap_or_else(|_| {
        let said = std::fs::read_to_string(&agent_log).unwrap_or_default();
        panic!("the agent did not end with the session; it said:\n{said}")
    });
    assert!(ended.success(), "{ended:?}");
}
