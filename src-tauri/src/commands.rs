//! The UI's commands. Each converts its arguments, calls the agent (or the OS through a
//! plugin), and returns `{code, message}` errors; the logic lives in `licentric-agent`.

use licentric_agent::clients::ClientSeen;
use licentric_core::LicenseKey;
use licentric_proto::ipc::{ComponentSummary, Status};
use serde::Serialize;
use tauri::{AppHandle, State};

use crate::app::{Companion, Started};
use crate::error::UiError;
use licentric_desktop::diagnostics::{self, short_fingerprint};
use licentric_desktop::settings::Settings;

type Result<T> = std::result::Result<T, UiError>;

/// What the UI shows besides the status.
#[derive(Debug, Serialize)]
pub struct AppInfo {
    product_name: String,
    product_id: Option<String>,
    environment: Option<&'static str>,
    key_prefix: Option<String>,
    machine_name: String,
    fingerprint: Option<String>,
    app_version: &'static str,
    tauri_version: &'static str,
    protocol: u32,
    socket: Option<String>,
    startup_error: Option<UiError>,
    /// A key handed over by a `licentric://` link, given once.
    link_key: Option<String>,
    /// Whether a headless agent (`licentric agent`) serves the answers, the app its client.
    headless_agent: bool,
    /// Whether the app started that agent itself, beside it (with its settings).
    agent_started_here: bool,
    /// Whether the agent answers now (a background agent may have stopped; the window is
    /// told of changes by the `agent` event).
    agent_running: bool,
    /// Where a user finds help and their key (the vendor's brand).
    help_url: Option<String>,
    /// The application's name (the vendor's brand).
    app_name: String,
    /// The proxy the calls to the licensing server go through, and where it is set.
    proxy: Option<licentric_agent::proxy::ProxyInUse>,
    /// The user's preferences file (where a proxy is set).
    preferences_file: Option<String>,
}

/// The product, this machine, the versions, and a start-up error or a handed-over key.
#[tauri::command]
pub fn app_info(companion: State<'_, Companion>) -> AppInfo {
    let started = companion.started.as_ref().ok();
    let config = started.map(|s| &s.config);
    AppInfo {
        product_name: config.map_or_else(
            || "Licentric Companion".into(),
            |c| c.product_name().to_owned(),
        ),
        product_id: config.map(|c| c.product_id().to_owned()),
        environment: config.map(|c| c.environment().as_str()),
        key_prefix: config.map(|c| c.prefix().as_str().to_owned()),
        machine_name: companion.machine_name.clone(),
        fingerprint: started.map(|s| short_fingerprint(s.backend.fingerprint())),
        app_version: env!("CARGO_PKG_VERSION"),
        tauri_version: tauri::VERSION,
        protocol: licentric_proto::PROTOCOL_VERSION,
        socket: started.map(|s| s.socket.display().to_string()),
        headless_agent: started.is_some_and(|s| s.backend.is_headless()),
        agent_started_here: companion.agent_started_here,
        agent_running: companion.agent_running(),
        startup_error: companion.started.as_ref().err().cloned(),
        link_key: companion.take_link_key(),
        help_url: licentric_agent::brand::built_in().help_url.clone(),
        app_name: licentric_agent::brand::built_in().app_name.clone(),
        proxy: config.map(licentric_agent::proxy::in_use_for),
        // Where a proxy is set: the test file the app was started with, or the preferences
        // file laid over the vendor's configuration (the one read, or the one to create).
        preferences_file: licentric_desktop::settings::preferences_file(config)
            .map(|path| path.display().to_string()),
    }
}

/// This machine as the "This machine" panel lists it: what it runs in (in words) and each
/// kind of part, with the first characters of its hashes — never a raw value.
#[derive(Debug, Serialize)]
pub struct MachineView {
    runs_in: Option<String>,
    components: Vec<ComponentSummary>,
}

/// This machine's parts.
#[tauri::command]
pub fn machine(companion: State<'_, Companion>) -> Result<MachineView> {
    let (runs_in, components) = companion.started()?.backend.machine();
    Ok(MachineView {
        runs_in: runs_in.map(|r| format!("a {} ({})", r.kind.words(), r.name)),
        components,
    })
}

/// The licence status now.
#[tauri::command]
pub async fn status(companion: State<'_, Companion>) -> Result<Status> {
    companion.started()?.backend.status().await
}

/// The key field's check, as the user types.
#[derive(Debug, Serialize)]
pub struct KeyCheck {
    /// The key parses.
    valid: bool,
    /// The key in its canonical form (`ACME-7QX2-M4KD-9PZT-H3WC`) when valid.
    formatted: Option<String>,
    /// Its redacted form (`ACME-****-****-****-H3WC`) when valid, as a status names the key
    /// in use.
    hint: Option<String>,
    /// The key is only unfinished (empty, or too short so far): not worth an error yet.
    incomplete: bool,
    /// What is wrong: a stable code and a sentence.
    error: Option<UiError>,
}

/// Checks a key as typed: its canonical form, or what is wrong with it in words.
#[tauri::command]
pub fn check_key(companion: State<'_, Companion>, text: String) -> Result<KeyCheck> {
    let prefix = companion.started()?.config.prefix();
    Ok(match LicenseKey::parse(&text, prefix) {
        Ok(key) => KeyCheck {
            valid: true,
            formatted: Some(key.expose_secret().to_owned()),
            hint: Some(key.hint()),
            incomplete: false,
            error: None,
        },
        Err(e) => KeyCheck {
            valid: false,
            formatted: None,
            hint: None,
            incomplete: matches!(
                e,
                licentric_core::KeyError::Empty
                    | licentric_core::KeyError::WrongLength {
                        found: 0..licentric_core::key::BODY_LEN,
                        ..
                    }
            ),
            error: Some(UiError {
                code: "invalid_license_key".into(),
                message: capitalise(&e.to_string()),
                reason: Some(e.code().into()),
            }),
        },
    })
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect::<String>() + "."
    })
}

/// Activates this machine with `key`.
#[tauri::command]
pub async fn activate(companion: State<'_, Companion>, key: String) -> Result<Status> {
    companion.started()?.backend.activate(&key).await
}

/// Deactivates this machine, freeing its seat.
#[tauri::command]
pub async fn deactivate(companion: State<'_, Companion>) -> Result<Status> {
    companion.started()?.backend.deactivate().await
}

/// Stops waiting for the server in the running activation or refresh; the error says why
/// the agent did not take the word.
#[tauri::command]
pub async fn cancel(companion: State<'_, Companion>) -> Result<()> {
    companion.started()?.backend.cancel().await
}

/// Renews the offline licence now.
#[tauri::command]
pub async fn refresh(companion: State<'_, Companion>) -> Result<Status> {
    companion.started()?.backend.refresh().await
}

/// Borrows a seat of the floating licence until `until` (RFC 3339) for a trip.
#[tauri::command]
pub async fn borrow(companion: State<'_, Companion>, until: String) -> Result<Status> {
    companion.started()?.backend.borrow(&until).await
}

/// A call to the server being tried again now, for the person waiting on it.
#[tauri::command]
pub async fn progress(
    companion: State<'_, Companion>,
) -> Result<Option<licentric_agent::api::Retrying>> {
    Ok(companion.started()?.backend.retrying().await)
}

/// Gives the borrowed seat back early.
#[tauri::command]
pub async fn return_seat(companion: State<'_, Companion>) -> Result<Status> {
    companion.started()?.backend.return_seat().await
}

/// Installs a licence file obtained on another device (offline activation).
#[tauri::command]
pub async fn import_license(companion: State<'_, Companion>, text: String) -> Result<Status> {
    companion.started()?.backend.import(&text).await
}

/// Asks where to save the activation request and writes it; `None` when the user cancelled.
#[tauri::command]
pub async fn save_request_file(
    app: AppHandle,
    companion: State<'_, Companion>,
) -> Result<Option<String>> {
    let text = companion.started()?.backend.request_file().await?;
    let name = format!(
        "{}-activation-request.txt",
        licentric_agent::brand::built_in().binary
    );
    crate::app::save_with_dialog(&app, &name, text).await
}

/// The redacted diagnostics report.
#[tauri::command]
pub async fn diagnostics(companion: State<'_, Companion>) -> Result<String> {
    report(companion.started()?).await
}

/// Asks where to save the diagnostics report and writes it; `None` when cancelled.
#[tauri::command]
pub async fn save_diagnostics(
    app: AppHandle,
    companion: State<'_, Companion>,
) -> Result<Option<String>> {
    let text = report(companion.started()?).await?;
    let name = format!(
        "{}-diagnostics.txt",
        licentric_agent::brand::built_in().binary
    );
    crate::app::save_with_dialog(&app, &name, text).await
}

async fn report(started: &Started) -> Result<String> {
    let status = started.backend.status().await?;
    let config = &started.config;
    Ok(diagnostics::report(&diagnostics::Inputs {
        app_version: env!("CARGO_PKG_VERSION"),
        os: sysinfo::System::long_os_version().unwrap_or_else(|_| std::env::consts::OS.to_owned()),
        product_name: config.product_name(),
        api_base_url: config.api_base_url(),
        socket: started.socket.display().to_string(),
        fingerprint: started.backend.fingerprint(),
        status: &status,
        clients: &started.backend.recent_clients().await,
        generated_at: crate::app::now_rfc3339(),
    }))
}

/// The settings as the UI shows them.
#[derive(Debug, Serialize)]
pub struct SettingsView {
    notifications: bool,
    start_at_login: bool,
}

/// The settings.
#[tauri::command]
pub fn settings(app: AppHandle, companion: State<'_, Companion>) -> Result<SettingsView> {
    let saved = companion.started()?.settings();
    Ok(view(&app, saved))
}

/// Switches desktop notifications on or off (saved).
#[tauri::command]
pub fn set_notifications(
    app: AppHandle,
    companion: State<'_, Companion>,
    on: bool,
) -> Result<SettingsView> {
    let saved = companion
        .started()?
        .update_settings(|s| s.notifications = on)?;
    Ok(view(&app, saved))
}

/// Starts the app at login (in the tray), or not.
#[tauri::command]
pub fn set_start_at_login(
    app: AppHandle,
    companion: State<'_, Companion>,
    on: bool,
) -> Result<SettingsView> {
    let saved = companion.started()?.settings();
    crate::login::set(&app, on).map_err(|e| {
        UiError::new(
            "autostart_failed",
            format!("Cannot change start at login: {e}"),
        )
    })?;
    Ok(view(&app, saved))
}

fn view(app: &AppHandle, saved: Settings) -> SettingsView {
    SettingsView {
        notifications: saved.notifications,
        start_at_login: crate::login::is_set(app),
    }
}

/// Opens the vendor's help page (the address built into the app) in the system's browser.
#[tauri::command]
pub fn open_help() -> Result<()> {
    crate::help::open(licentric_agent::brand::built_in().help_url.as_deref())
}

/// The local applications that queried the licence recently.
#[tauri::command]
pub async fn recent_clients(companion: State<'_, Companion>) -> Result<Vec<ClientSeen>> {
    Ok(companion.started()?.backend.recent_clients().await)
}
