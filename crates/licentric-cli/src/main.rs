//! `licentric`: the companion's headless agent and its command line.
//!
//! Exit codes: 0 success; 1 failure; 2 usage error; 3 `status` found the machine not
//! entitled; 4 no agent is running (for commands that need one).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use licentric_agent::config::CompanionConfig;
use licentric_agent::{Agent, AgentOptions, ipc};
use licentric_client::{Client, ClientError};
use licentric_proto::ipc::Status;

/// Prints a line on standard error, as `eprintln!` does, but a write that fails (a full disk
/// under a redirected log, a closed descriptor) is dropped instead of panicking: the agent
/// must not end, nor a command fail, because its messages cannot be written.
macro_rules! tell {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

#[cfg(all(unix, not(target_os = "macos")))]
mod tray;
mod waiting;

/// The Licentric companion: licence activation and status for this machine.
#[derive(Parser)]
#[command(name = "licentric", version, about)]
struct Cli {
    /// The vendor's configuration (default: $LICENTRIC_CONFIG, then the user's config folder).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the agent in the foreground (the headless companion).
    Agent {
        /// Show a tray icon (the desktop's panel draws it; Open starts the app as this
        /// agent's client). What "start at login" runs: no webview stays in memory.
        #[arg(long)]
        tray: bool,
        /// Started by the app beside its window (with `--tray`): print `ready` on standard
        /// output once the tray is up, and end rather than run on without one, or as another
        /// agent's tray — the app is then the agent itself.
        #[arg(long, requires = "tray", hide = true)]
        beside_app: bool,
    },
    /// Show the licence status. Works without a running agent (from the cached licence).
    Status {
        /// Print the status as JSON (the IPC `status` object).
        #[arg(long)]
        json: bool,
    },
    /// Activate this machine with a licence key.
    Activate {
        /// The key, as in the purchase e-mail (`ACME-XXXX-XXXX-XXXX-XXXX`). Better left out:
        /// then it is asked for without being shown (or read from standard input), so it does
        /// not appear in the process list or the shell's history.
        key: Option<String>,
    },
    /// Deactivate this machine, freeing its seat for another.
    Deactivate,
    /// Renew the offline licence now.
    Refresh,
    /// Install a licence file obtained on another device (offline activation).
    Import {
        /// The licence file.
        file: PathBuf,
    },
    /// Write an activation request for this machine, to activate it from another device.
    RequestFile {
        /// Where to write it.
        out: PathBuf,
    },
    /// Hold a seat of a floating licence until Enter is pressed (or standard input ends, or
    /// this command is stopped): what an app does while it runs, from a shell.
    Checkout {
        /// A feature the seat must carry.
        #[arg(long)]
        entitlement: Option<String>,
        /// While every seat is held, wait for one (the agent keeps trying).
        #[arg(long)]
        wait: bool,
    },
    /// Borrow a seat of a floating licence for a trip: this machine keeps it until the date
    /// given, offline, and nobody else can take it meanwhile.
    Borrow {
        /// The last day (YYYY-MM-DD: to the end of that day, UTC) or the exact end (RFC 3339,
        /// such as 2026-12-24T18:00:00Z).
        #[arg(
            long,
            value_name = "DATE",
            conflicts_with = "days",
            required_unless_present = "days"
        )]
        until: Option<String>,
        /// For this many days from now.
        #[arg(long)]
        days: Option<u32>,
    },
    /// Give a borrowed seat back before its end, so others can use it.
    Return,
    /// Print this machine's fingerprint for the product.
    Fingerprint {
        /// Also list the machine's parts, each hashed for the product (short hash prefixes,
        /// never a raw value), and which could not be read.
        #[arg(long)]
        explain: bool,
    },
    /// Check the vendor's names and configuration built into this binary (for vendor builds).
    #[command(hide = true)]
    VendorCheck,
}

/// Prints a line on standard output; a reader that went away (`licentric status | head`) ends
/// the program quietly, as it does for other command-line tools, instead of a panic.
macro_rules! out {
    ($($arg:tt)*) => {
        write_out(format_args!($($arg)*))
    };
}

fn write_out(line: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    if let Err(e) = writeln!(std::io::stdout().lock(), "{line}") {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        tell!("{}: cannot write the output: {e}", crate::me());
        std::process::exit(1);
    }
}

const EXIT_NOT_ENTITLED: u8 = 3;
const EXIT_NO_AGENT: u8 = 4;

/// This program's name as its user knows it (`acme-cad-license` in a vendor's build): the
/// start of every error it prints.
fn me() -> &'static str {
    &licentric_agent::brand::built_in().cli
}

fn main() -> ExitCode {
    use clap::{CommandFactory as _, FromArgMatches as _};
    // The program's name is the vendor's (`acme-cad-license`), in usage and errors.
    let brand = licentric_agent::brand::built_in();
    let matches = Cli::command()
        .name(brand.cli.as_str())
        .about(format!(
            "{}: licence activation and status for this machine, and its background agent.",
            brand.app_name
        ))
        .get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    if matches!(cli.command, Command::VendorCheck) {
        return vendor_check();
    }
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // A log line that cannot be written is dropped: by default the subscriber reports it
        // with `eprintln!`, which panics in whatever task was logging.
        .log_internal_errors(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LICENTRIC_LOG")
                .unwrap_or_else(|_| "warn,licentric_agent=info".into()),
        )
        .init();
    let config =
        match CompanionConfig::find(cli.config.as_deref(), licentric_agent::config::BUILT_IN) {
            Ok(c) => c,
            Err(e) => {
                tell!("{}: {e}", crate::me());
                return ExitCode::FAILURE;
            }
        };
    match run(cli.command, config) {
        Ok(code) => code,
        Err(e) => {
            tell!("{}: {e:#}", crate::me());
            ExitCode::FAILURE
        }
    }
}

/// Checks what a vendor build built in: the brand (which must parse) and the configuration
/// (which must parse and be complete). Prints the names; exit 1 on the first problem.
fn vendor_check() -> ExitCode {
    use licentric_agent::brand;
    let brand = match brand::BUILT_IN_TEXT.map(brand::parse) {
        None => {
            tell!("no vendor brand is built in");
            return ExitCode::FAILURE;
        }
        Some(Err(e)) => {
            tell!("the built-in vendor brand is invalid: {e}");
            return ExitCode::FAILURE;
        }
        Some(Ok(brand)) => brand,
    };
    let config = match licentric_agent::config::BUILT_IN.map(|text| {
        CompanionConfig::parse(
            text,
            "the built-in configuration",
            licentric_agent::config::ConfigSource::BuiltIn,
        )
    }) {
        None => {
            tell!("no vendor configuration is built in");
            return ExitCode::FAILURE;
        }
        Some(Err(e)) => {
            tell!("{e}");
            return ExitCode::FAILURE;
        }
        Some(Ok(config)) => config,
    };
    out!("app_name:    {}", brand.app_name);
    out!("app_id:      {}", brand.app_id);
    out!("folder:      {}", brand.folder);
    out!("scheme:      {}", brand.scheme);
    out!("binary:      {}", brand.binary);
    out!("cli:         {}", brand.cli);
    out!(
        "product:     {} ({}, {})",
        config.product_id(),
        config.product_name(),
        config.environment()
    );
    ExitCode::SUCCESS
}

fn socket(config: &CompanionConfig) -> PathBuf {
    ipc::socket_path(
        config.ipc().socket.as_deref(),
        config.product_id(),
        config.environment(),
    )
}

/// A client of this configuration's agent: its product and environment are checked.
/// The agent as the second connection of a wait reaches it.
fn side_of(config: &CompanionConfig) -> waiting::Side {
    waiting::Side {
        socket: socket(config),
        product_id: config.product_id().to_owned(),
        environment: config.environment(),
    }
}

fn client_of(config: &CompanionConfig) -> Result<Client, ClientError> {
    Client::connect_to(&socket(config), config.product_id(), config.environment())
}

fn connect(config: &CompanionConfig) -> Result<Client, ExitCode> {
    client_of(config).map_err(|e| {
        if matches!(e, ClientError::NotRunning(_)) {
            tell!("{}: {e}", crate::me());
            let brand = licentric_agent::brand::built_in();
            tell!(
                "Start it with `{} agent` (or the {} app).",
                brand.cli,
                brand.app_name
            );
            ExitCode::from(EXIT_NO_AGENT)
        } else {
            report(&e)
        }
    })
}

/// Prints an agent error in plain words, with its stable code.
fn report(e: &ClientError) -> ExitCode {
    match e {
        ClientError::Agent(rpc) => {
            let code = match &rpc.data {
                Some(d) => match &d.reason {
                    Some(reason) => format!("{}: {reason}", d.code),
                    None => d.code.clone(),
                },
                None => "error".to_owned(),
            };
            tell!("{}: {} [{code}]", crate::me(), rpc.message);
        }
        ClientError::Unsafe(endpoint) => {
            tell!("{}: {e} [{}]", crate::me(), endpoint.code());
        }
        ClientError::WrongAgent { .. } => tell!("{}: {e} [wrong_agent]", crate::me()),
        other => tell!("{}: {other}", crate::me()),
    }
    ExitCode::FAILURE
}

fn run(command: Command, config: CompanionConfig) -> anyhow::Result<ExitCode> {
    match command {
        Command::Agent { tray, beside_app } => run_agent(config, tray, beside_app),
        Command::VendorCheck => Ok(vendor_check()),
        Command::Status { json } => {
            let status = match client_of(&config) {
                Ok(mut client) => match client.status() {
                    Ok(s) => s,
                    Err(e) => return Ok(report(&e)),
                },
                Err(ClientError::NotRunning(_)) => offline_status(config)?,
                Err(e) => return Ok(report(&e)),
            };
            if json {
                out!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                print_status(&status);
            }
            Ok(if status.entitled {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_NOT_ENTITLED)
            })
        }
        Command::Activate { key } => {
            let key = match key {
                Some(key) => {
                    // Other local users read the process list: the key goes from it now.
                    if let Err(e) = licentric_platform::arguments::hide_argument(&key) {
                        tracing::warn!(error = %e, "cannot hide the key in the process list");
                    }
                    zeroize::Zeroizing::new(key)
                }
                None => read_key()?,
            };
            let side = side_of(&config);
            managed(
                &config,
                |c| waiting::while_waiting(side, || c.activate(&key)),
                "Activated.",
            )
        }
        Command::Deactivate => {
            // What it frees depends on what was here: said from the status before.
            let before = std::cell::Cell::new(None);
            managed_then(
                &config,
                |c| {
                    before.set(Some(c.status()?));
                    c.deactivate()
                },
                || {
                    before.take().map_or_else(
                        || "Deactivated.".to_owned(),
                        |s| licentric_agent::words::deactivated(&s),
                    )
                },
            )
        }
        Command::Refresh => {
            let side = side_of(&config);
            managed(
                &config,
                |c| waiting::while_waiting(side, || c.refresh()),
                "Refreshed.",
            )
        }
        Command::Checkout { entitlement, wait } => {
            let mut client = match connect(&config) {
                Ok(c) => c,
                Err(code) => return Ok(code),
            };
            let seat = if wait {
                match client.start_checkout(entitlement.as_deref()) {
                    Ok(Some(seat)) => Ok(seat),
                    Ok(None) => {
                        out!(
                            "Every seat of {}'s floating licence is in use; waiting for one…",
                            config.product_name()
                        );
                        client.next_seat(None)
                    }
                    Err(e) => Err(e),
                }
            } else {
                client.checkout(entitlement.as_deref())
            };
            match seat {
                Ok(seat) => {
                    out!(
                        "Holding a seat of {}'s floating licence ({} of {} in use) until you press Enter; it is renewed meanwhile (this lease runs to {}).",
                        config.product_name(),
                        seat.seats_in_use,
                        seat.max_seats,
                        seat.expires_at
                    );
                    let mut line = String::new();
                    let _ = std::io::stdin().read_line(&mut line);
                    // Closing the connection gives the seat back.
                    drop(client);
                    out!("Seat given back.");
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => Ok(report(&e)),
            }
        }
        Command::Borrow { until, days } => {
            let now = time::OffsetDateTime::now_utc();
            let Some(until) = borrow_end(until.as_deref(), days, now) else {
                tell!(
                    "{}: --until takes a date (2026-12-24) or a time (2026-12-24T18:00:00Z); --days a number of days",
                    crate::me()
                );
                return Ok(ExitCode::from(2));
            };
            let mut client = match connect(&config) {
                Ok(c) => c,
                Err(code) => return Ok(code),
            };
            match client.borrow(&until) {
                Ok(seat) => {
                    out!(
                        "Borrowed a seat of {}'s floating licence until {}: it is this machine's until then, with or without a network. `{} return` gives it back early.",
                        config.product_name(),
                        seat.expires_at,
                        licentric_agent::brand::built_in().cli
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => Ok(report(&e)),
            }
        }
        Command::Return => {
            let mut client = match connect(&config) {
                Ok(c) => c,
                Err(code) => return Ok(code),
            };
            match client.return_seat() {
                Ok(r) if r.kept_for_apps => {
                    out!(
                        "Returned the borrowed seat; the apps running here keep an ordinary seat until they close."
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Ok(_) => {
                    out!("Returned the borrowed seat: it is free for others now.");
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => Ok(report(&e)),
            }
        }
        Command::Import { file } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
            managed(
                &config,
                |c| c.import_license_file(&text),
                "Licence file installed.",
            )
        }
        Command::RequestFile { out } => {
            // The agent makes it and remembers its nonce, so it will import the answer: the
            // running one over its socket, or, with none running, one started for this alone.
            let text = match client_of(&config) {
                Ok(mut client) => match client.request_file() {
                    Ok(text) => text,
                    Err(e) => return Ok(report(&e)),
                },
                Err(ClientError::NotRunning(_)) => {
                    one_shot(config, |agent| async move { agent.request_file().await })?
                }
                Err(e) => return Ok(report(&e)),
            };
            // Readable by this user only, written whole, never through a link put at `out`: it
            // names this machine and carries a request it will answer. A pipe or a terminal
            // (`/dev/stdout`) is written to as it is.
            let stream = std::fs::metadata(&out).is_ok_and(|m| !m.is_file() && !m.is_dir());
            let written = if stream {
                std::fs::write(&out, &text)
            } else {
                licentric_agent::storage::write_atomic(&out, text.as_bytes())
            };
            written.map_err(|e| anyhow::anyhow!("cannot write {}: {e}", out.display()))?;
            out!(
                "Wrote {}. Take it to a device with internet access and submit it with the licence key;",
                out.display()
            );
            out!("then bring back the licence file and run `licentric import FILE` here.");
            Ok(ExitCode::SUCCESS)
        }
        Command::Fingerprint { explain } => {
            // Computed here, as the agent computes it: nothing to ask a socket for.
            let source = licentric_platform::identity::machine_id_source(config.environment());
            let machine = source.machine_id()?;
            out!("{}", machine.fingerprint(config.product_id()));
            if explain {
                explain_components(&*source, config.environment(), config.product_id());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The machine's parts as `fingerprint --explain` lists them: each part in words, its kind,
/// and the first characters of its hash for `product_id` — or why it could not be read.
fn explain_components(
    source: &dyn licentric_core::fingerprint::MachineIdSource,
    environment: licentric_proto::Environment,
    product_id: &str,
) {
    out!("");
    out!(
        "Runs in: {}",
        licentric_platform::identity::runs_in(environment).map_or_else(
            || "no virtual machine or container found".to_owned(),
            |r| format!("a {} ({})", r.kind.words(), r.name)
        )
    );
    out!("This machine's parts, each hashed for {product_id} (no raw value leaves this machine):");
    for reading in licentric_platform::identity::components(source) {
        let hashes = licentric_core::components::hash_all(&reading.found, product_id);
        let shown = if hashes.is_empty() {
            format!("-  ({})", reading.note.unwrap_or("not found"))
        } else {
            hashes
                .iter()
                .map(|h| h.short().to_owned())
                .collect::<Vec<_>>()
                .join(", ")
        };
        out!(
            "  {:<30} {:<13} {shown}",
            reading.kind.describe(),
            reading.kind.as_str()
        );
    }
}

/// The licence key from a prompt that does not show it (a terminal), or the first line of
/// standard input (a script: `licentric activate < key.txt`).
fn read_key() -> anyhow::Result<zeroize::Zeroizing<String>> {
    use std::io::{BufRead as _, IsTerminal as _};
    let stdin = std::io::stdin();
    let mut line = zeroize::Zeroizing::new(String::new());
    if stdin.is_terminal() {
        // Echo off before the prompt: someone typing (or pasting) as soon as it appears must
        // not have the first characters shown.
        let _hidden = licentric_platform::console::EchoOff::new();
        eprint!("Licence key: ");
        stdin.lock().read_line(&mut line)?;
        tell!();
    } else {
        stdin.lock().read_line(&mut line)?;
    }
    if line.trim().is_empty() {
        anyhow::bail!(
            "no licence key given: type it at the prompt, pipe it in, or pass it as an argument"
        );
    }
    Ok(line)
}

fn managed(
    config: &CompanionConfig,
    call: impl FnOnce(&mut Client) -> Result<Status, ClientError>,
    done: &str,
) -> anyhow::Result<ExitCode> {
    managed_then(config, call, || done.to_owned())
}

/// As [`managed`], with what to say once it is done decided then.
fn managed_then(
    config: &CompanionConfig,
    call: impl FnOnce(&mut Client) -> Result<Status, ClientError>,
    done: impl FnOnce() -> String,
) -> anyhow::Result<ExitCode> {
    let mut client = match connect(config) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    match call(&mut client) {
        Ok(status) => {
            out!("{}", done());
            print_status(&status);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Ok(report(&e)),
    }
}

/// Runs `task` on an agent started for it alone (no scheduler, no socket), when none runs.
fn one_shot<T, F>(config: CompanionConfig, task: impl FnOnce(Agent) -> F) -> anyhow::Result<T>
where
    F: std::future::Future<Output = Result<T, licentric_agent::AgentError>>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut options = AgentOptions::new(config);
        options.notifier = std::sync::Arc::new(licentric_agent::notify::Silent);
        options.scheduler = false;
        let agent = Agent::start(options).await?;
        Ok(task(agent).await?)
    })
}

/// The status when no agent runs: the cached licence and sealed state, read without writing
/// anything or contacting the server.
fn offline_status(config: CompanionConfig) -> anyhow::Result<Status> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut options = AgentOptions::new(config);
        options.notifier = std::sync::Arc::new(licentric_agent::notify::Silent);
        options.read_only = true;
        let agent = Agent::start(options).await?;
        Ok(agent.status().await)
    })
}

fn print_status(s: &Status) {
    // The agent's words (one voice for the state across the CLI, the tray and the app).
    out!("State:         {}", s.summary.to_lowercase());
    if !s.detail.is_empty() {
        out!("               {}", s.detail);
    }
    out!("Product:       {} ({})", s.product_id, s.environment);
    if let Some(hint) = &s.license_key_hint {
        out!("Licence key:   {hint}");
    }
    if !s.entitlements.is_empty() {
        out!("Entitlements:  {}", s.entitlements.join(", "));
    }
    match (s.machines_active, s.max_machines) {
        (Some(used), Some(max)) => out!("Machines:      {used} of {max} in use"),
        (None, Some(max)) => out!("Machines:      up to {max}"),
        _ => {}
    }
    if let Some(until) = &s.offline_valid_until {
        out!("Offline until: {until}");
    }
    if let Some(next) = &s.next_refresh_at {
        out!("Next refresh:  {next}");
    }
    if let Some(expires) = &s.license_expires_at {
        out!("Licence ends:  {expires}");
    }
    out!(
        "Key stored in: {}",
        match s.credential_store {
            licentric_proto::CredentialStoreKind::Os => "the OS credential store",
            licentric_proto::CredentialStoreKind::File =>
                "the encrypted file store (no OS store available)",
            licentric_proto::CredentialStoreKind::Unavailable =>
                "nowhere: no credential store is available",
        }
    );
    if let Some(reason) = &s.reason {
        out!("Reason:        {reason}");
    }
}

/// Raises the soft limit on open files to what `connections` IPC clients need (never above
/// the hard limit): the usual 1,024 would refuse clients before `max_connections` does.
#[cfg(unix)]
fn room_for(connections: usize) {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    let wanted = u64::try_from(connections)
        .unwrap_or(u64::MAX)
        .saturating_add(64);
    if limit.current.is_some_and(|current| current < wanted) {
        limit.current = Some(limit.maximum.map_or(wanted, |max| wanted.min(max)));
        if let Err(e) = setrlimit(Resource::Nofile, limit) {
            tracing::warn!(error = %e, "cannot raise the open-file limit for the IPC clients");
        }
    }
}

fn run_agent(config: CompanionConfig, tray: bool, beside_app: bool) -> anyhow::Result<ExitCode> {
    #[cfg(unix)]
    room_for(config.ipc().max_connections);
    // One thread serves every connection and timer (the credential store and the disk go to
    // tokio's blocking pool): no hop between worker threads on an answer's path, which on a
    // small virtual machine costs more than the answer (see the agent benchmark).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let ended = runtime.block_on(async {
        let path = ipc::socket_for(&config)?;
        // With a tray, an agent that cannot start is said in the tray, and tried again when
        // the user chooses Open (`open`: the app is started once the tray is up).
        #[cfg_attr(not(all(unix, not(target_os = "macos"))), allow(unused_mut))]
        let mut open: Option<Option<String>> = None;
        let (agent, listener) = loop {
            match start_serving(&config, &path).await {
                Ok(started) => break started,
                // An agent already serves the product (the systemd user service, say): the
                // tray becomes its client instead of a second agent.
                #[cfg(all(unix, not(target_os = "macos")))]
                Err(Start::AlreadyRunning(_)) if tray && !beside_app => {
                    let source = tray::Source::Other(Box::new(config));
                    return Ok(match tray::serve(source, &path, open, || {}).await {
                        tray::Ended::NoTray => ExitCode::FAILURE,
                        _ => ExitCode::SUCCESS,
                    });
                }
                Err(Start::AlreadyRunning(e)) => {
                    tell!("{}: {e}", crate::me());
                    return Ok(ExitCode::FAILURE);
                }
                #[cfg(all(unix, not(target_os = "macos")))]
                Err(Start::Failed(e)) if tray && !beside_app => {
                    tell!("{}: the agent cannot start: {e:#}", crate::me());
                    let source = tray::Source::Failed(Box::new(config.clone()), format!("{e:#}"));
                    match tray::serve(source, &path, open.take(), || {}).await {
                        tray::Ended::OpenAsked(token) => open = Some(token),
                        tray::Ended::AgentCameUp => {}
                        _ => return Ok(ExitCode::FAILURE),
                    }
                }
                Err(Start::Failed(e)) => return Err(e),
            }
        };
        let limits = ipc::Limits {
            max_connections: config.ipc().max_connections,
            idle_timeout: std::time::Duration::from_secs(config.ipc().idle_timeout_seconds),
            management: config.ipc().management,
        };
        let product = config.product_id().to_owned();
        tell!("licentric agent for {product}: serving {}", path.display());
        let without_tray = std::cell::Cell::new(false);
        let stop = async {
            if !tray {
                std::future::pending::<()>().await;
            } else if !tray_or_forever(agent.clone(), &path, open, beside_app).await {
                without_tray.set(true);
            }
        };
        let stop = async {
            tokio::select! {
                () = shutdown() => {}
                () = stop => {}
            }
        };
        ipc::serve(agent.clone(), listener, limits, stop).await;
        // Stopping: a seat of a floating licence goes back now, not when its lease runs out.
        agent.give_back_seats().await;
        Ok(if without_tray.get() {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        })
    });
    // A call still running on the blocking pool (a notification or a credential-store call on a
    // session bus that just ended, which libdbus may wait on for 25 s) does not hold the exit.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    ended
}

/// Why the agent did not start serving.
enum Start {
    /// Another agent serves the product at the socket.
    AlreadyRunning(ipc::IpcError),
    /// It could not: the socket, the data folder, the configuration's files.
    Failed(anyhow::Error),
}

/// The agent, started and bound to `socket`.
async fn start_serving(
    config: &CompanionConfig,
    socket: &std::path::Path,
) -> Result<(Agent, ipc::Listener), Start> {
    let listener = match ipc::bind(socket).await {
        Ok(l) => l,
        Err(e @ ipc::IpcError::AlreadyRunning(_)) => return Err(Start::AlreadyRunning(e)),
        Err(e) => return Err(Start::Failed(e.into())),
    };
    match Agent::start(AgentOptions::new(config.clone())).await {
        Ok(agent) => Ok((agent, listener)),
        Err(e) => {
            // Nobody will answer on the socket: the next try, or the app, finds it free. (The
            // file goes first: once the listener is gone, another agent may bind it anew.)
            let _ = std::fs::remove_file(socket);
            drop(listener);
            Err(Start::Failed(e.into()))
        }
    }
}

/// The tray until the user chooses Quit (`true`); without one (no session bus, or a system
/// without StatusNotifierItem trays), never — or, `beside_app`, at once (`false`: the app that
/// started this agent is the agent itself then, and none runs on that nobody can quit). With
/// `open`, the app is started once the tray is up; `beside_app`, `ready` is said on standard
/// output then.
async fn tray_or_forever(
    agent: Agent,
    socket: &std::path::Path,
    open: Option<Option<String>>,
    beside_app: bool,
) -> bool {
    let shown = || {
        if beside_app {
            say_ready();
        }
    };
    #[cfg(all(unix, not(target_os = "macos")))]
    match tray::serve(tray::Source::Own(agent), socket, open, shown).await {
        tray::Ended::Quit => return true,
        ended if beside_app => {
            tracing::warn!(?ended, "no tray beside the app: the app is the agent");
            return false;
        }
        _ => {}
    }
    #[cfg(not(all(unix, not(target_os = "macos"))))]
    {
        let _ = (agent, socket, open, shown);
        tracing::warn!("--tray: this system's tray is the app's; the agent runs without one");
        if beside_app {
            return false;
        }
    }
    std::future::pending::<bool>().await
}

/// `agent --tray --beside-app`: says the tray is up on standard output, the app's pipe, then
/// points standard output at `/dev/null` — the app stops reading once it has heard (its window
/// may close first), and the apps the tray starts later must not inherit a pipe nobody reads.
fn say_ready() {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", licentric_client::endpoint::TRAY_READY).and_then(|()| out.flush());
    #[cfg(unix)]
    match std::fs::OpenOptions::new().write(true).open("/dev/null") {
        Ok(null) => {
            if let Err(e) = rustix::stdio::dup2_stdout(&null) {
                tracing::warn!(error = %e, "cannot let go of the app's pipe");
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot let go of the app's pipe"),
    }
}

/// Resolves when the agent is asked to stop: Ctrl-C, and SIGTERM (a service manager's stop)
/// on Unix or the console closing or the system shutting down on Windows.
async fn shutdown() {
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(windows)]
    let term = async {
        use tokio::signal::windows::{ctrl_close, ctrl_shutdown};
        match (ctrl_close(), ctrl_shutdown()) {
            (Ok(mut close), Ok(mut down)) => {
                tokio::select! {
                    _ = close.recv() => {}
                    _ = down.recv() => {}
                }
            }
            _ => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(any(unix, windows)))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

/// The end of a borrow as RFC 3339: `until` a date (to the end of that day, UTC) or a time,
/// or `days` from `now`; `None` for text that is neither.
fn borrow_end(until: Option<&str>, days: Option<u32>, now: time::OffsetDateTime) -> Option<String> {
    use time::format_description::well_known::Rfc3339;
    let end = match (until, days) {
        (_, Some(days)) => now.checked_add(time::Duration::days(i64::from(days)))?,
        (Some(text), None) => match time::OffsetDateTime::parse(text, &Rfc3339) {
            Ok(t) => t,
            Err(_) => {
                let day = time::Date::parse(
                    text,
                    time::macros::format_description!("[year]-[month]-[day]"),
                )
                .ok()?;
                day.with_hms(23, 59, 59).ok()?.assume_utc()
            }
        },
        (None, None) => return None,
    };
    end.replace_nanosecond(0).ok()?.format(&Rfc3339).ok()
}

#[cfg(test)]
mod borrow_tests {
    use super::borrow_end;
    use time::macros::datetime;

    #[test]
    fn a_borrow_ends_at_the_end_of_the_day_named_or_the_time_given() {
        let now = datetime!(2026-12-05 10:30:15.5 UTC);
        assert_eq!(
            borrow_end(Some("2026-12-09"), None, now).as_deref(),
            Some("2026-12-09T23:59:59Z")
        );
        assert_eq!(
            borrow_end(Some("2026-12-09T18:00:00+01:00"), None, now).as_deref(),
            Some("2026-12-09T18:00:00+01:00")
        );
        assert_eq!(
            borrow_end(None, Some(3), now).as_deref(),
            Some("2026-12-08T10:30:15Z")
        );
        assert_eq!(borrow_end(Some("next friday"), None, now), None);
        assert_eq!(borrow_end(None, Some(u32::MAX), now), None, "no overflow");
        assert_eq!(borrow_end(Some("2026-13-01"), None, now), None);
    }
}
