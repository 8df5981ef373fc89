//! `licentric-server`: the reference Licentric API server.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use licentric_server::config::ServerConfig;
use licentric_server::{apikeys, init, serve};

/// The reference Licentric API server: HTTPS, SQLite, signed licence files, webhooks.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a server folder (configuration, database, keys, certificates, a first API key).
    /// Run again, it only adds what is missing; it never overwrites a key.
    Init {
        /// The server folder.
        #[arg(long)]
        dir: PathBuf,
        /// A development sandbox: webhooks may reach receivers on this machine and the local
        /// network (refused otherwise).
        #[arg(long)]
        sandbox: bool,
    },
    /// Serve HTTPS. Prints `listening on https://HOST:PORT` as its first line.
    Serve {
        /// The server folder.
        #[arg(long)]
        dir: PathBuf,
        /// Address to listen on (port 0 picks a free one); defaults to the configuration's.
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Create a management API key directly in the database (the way to get a first live key).
    ApiKey {
        /// The server folder.
        #[arg(long)]
        dir: PathBuf,
        /// `test` or `live`.
        #[arg(long)]
        environment: licentric_proto::Environment,
        /// A name for people.
        #[arg(long)]
        name: String,
        /// Comma-separated scopes (`licenses:read,licenses:write,…`).
        #[arg(long, value_delimiter = ',')]
        scopes: Vec<String>,
    },
    /// The audit log, newest first, one JSON object per line.
    Audit {
        /// The server folder.
        #[arg(long)]
        dir: PathBuf,
        /// `test` or `live`.
        #[arg(long)]
        environment: licentric_proto::Environment,
        /// Only the events about this licence.
        #[arg(long)]
        license: Option<String>,
        /// At most this many (1 to 500).
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// The signing keys: list them, publish a next one, rotate, retire an old one
    /// (docs/server.md, "Rotating the signing key"). Safe while the server runs.
    Keys {
        /// The server folder.
        #[arg(long)]
        dir: PathBuf,
        #[command(subcommand)]
        action: KeysAction,
    },
}

#[derive(Subcommand)]
enum KeysAction {
    /// Every key with its status: next, current, previous, retired.
    List,
    /// A new key, published as `next`: add its public key to the companion's trusted_keys
    /// and ship that before rotating to it.
    New,
    /// Sign new files with another key at once: `--to` a next key, or a new one. The key
    /// that signed until now stays published as `previous`.
    Rotate {
        /// The next key to sign with (default: a new key).
        #[arg(long)]
        to: Option<String>,
    },
    /// Stop publishing an old key, once no file it signed can still be in use.
    Retire {
        /// The key id.
        kid: String,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Logs go to stderr (stdout's first line is the listening address), as key=value text,
    // or one JSON object per line with LICENTRIC_LOG_FORMAT=json. They never hold secrets.
    let filter = tracing_subscriber::EnvFilter::try_from_env("LICENTRIC_LOG")
        .unwrap_or_else(|_| "info".into());
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    if std::env::var("LICENTRIC_LOG_FORMAT").is_ok_and(|f| f == "json") {
        logs.json().init();
    } else {
        logs.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
    licentric_server::install_crypto_provider();
    match cli.command {
        Command::Init { dir, sandbox } => run_init(&dir, sandbox),
        Command::Serve { dir, listen } => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let server = serve::Server::bind(&dir, listen)
                    .await
                    .with_context(|| format!("cannot start from {}", dir.display()))?;
                // The first line on stdout, for scripts and tests.
                println!("listening on {}", serve::url_of(server.local_addr()));
                use std::io::Write as _;
                std::io::stdout().flush()?;
                server.run(serve::shutdown_signal()).await;
                Ok(())
            })
        }
        Command::Keys { dir, action } => run_keys(&dir, action),
        Command::Audit {
            dir,
            environment,
            license,
            limit,
        } => {
            anyhow::ensure!((1..=500).contains(&limit), "--limit must be 1 to 500");
            let (_, store) =
                init::open(&dir).with_context(|| format!("cannot open {}", dir.display()))?;
            let filter = licentric_server::audit::Filter {
                license_id: license,
                before: None,
                limit: Some(limit),
            };
            let (events, _) = store
                .read_blocking(|db| licentric_server::audit::list(db, environment, &filter))?;
            for event in events {
                println!("{event}");
            }
            Ok(())
        }
        Command::ApiKey {
            dir,
            environment,
            name,
            scopes,
        } => {
            anyhow::ensure!(
                !scopes.is_empty() && apikeys::known_scopes(&scopes),
                "unknown scopes; choose from: {}",
                apikeys::SCOPES
                    .iter()
                    .map(|(s, _)| *s)
                    .collect::<Vec<_>>()
                    .join(",")
            );
            let config = ServerConfig::load(&dir)?;
            let data_key = init::load_data_key(&ServerConfig::resolve(&dir, &config.data_key))?;
            let store = licentric_server::store::Store::open(&ServerConfig::resolve(
                &dir,
                &config.database,
            ))?;
            let (row, token) = store.write_blocking(|tx| {
                apikeys::create(
                    tx,
                    &data_key,
                    environment,
                    &name,
                    &scopes,
                    &licentric_server::audit::Actor::command_line(),
                    licentric_server::clock::now_unix(),
                )
            })?;
            println!(
                "created API key {} ({}) with scopes {}",
                row.id,
                row.environment,
                row.scopes.join(",")
            );
            println!("{token}");
            eprintln!("The token is shown once: store it in your secrets manager now.");
            Ok(())
        }
    }
}

fn run_keys(dir: &std::path::Path, action: KeysAction) -> anyhow::Result<()> {
    use licentric_server::keys;
    let (data_key, store) =
        init::open(dir).with_context(|| format!("cannot open {}", dir.display()))?;
    let now = licentric_server::clock::now_unix();
    let show = |k: &keys::KeyInfo| {
        println!(
            "{:<9} {}  {}  created {}",
            k.status.as_str(),
            k.kid,
            k.public_key,
            licentric_server::clock::rfc3339(k.created_at).unwrap_or_default()
        );
    };
    match action {
        KeysAction::List => {
            for k in store.read_blocking(|db| keys::list(db, false))? {
                show(&k);
            }
        }
        KeysAction::New => {
            let k = store.write_blocking(|tx| keys::create_next(tx, &data_key, now))?;
            show(&k);
            eprintln!(
                "Add this public key to trusted_keys in companion.toml and ship that update; then `keys rotate --to {}`.",
                k.kid
            );
        }
        KeysAction::Rotate { to } => {
            let k =
                store.write_blocking(|tx| keys::rotate(tx, &data_key, to.as_deref(), now))??;
            show(&k);
            eprintln!(
                "New files are signed with {} now. Keep the previous key published until every file it signed has expired (the longest TTL), then `keys retire` it.",
                k.kid
            );
        }
        KeysAction::Retire { kid } => {
            store.write_blocking(|tx| keys::retire(tx, &kid, now))??;
            println!("retired {kid}");
        }
    }
    Ok(())
}

fn run_init(dir: &std::path::Path, sandbox: bool) -> anyhow::Result<()> {
    let report = init::init_with(dir, sandbox)
        .with_context(|| format!("cannot initialise {}", dir.display()))?;
    for path in &report.created {
        println!("created  {}", path.display());
    }
    for path in &report.kept {
        println!("kept     {}", path.display());
    }
    println!();
    println!("signing key id:   {}", report.kid);
    println!(
        "public key (companion.toml trusted_keys): {}",
        report.public_key
    );
    println!(
        "CA certificate (companion.toml extra_ca): {}",
        report.ca_cert.display()
    );
    if let Some(token) = &report.first_api_key {
        println!();
        println!(
            "first management API key, test environment, all scopes (shown once, store it now):"
        );
        println!("{token}");
    }
    Ok(())
}
