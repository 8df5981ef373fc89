//! [`Agent`]: the runtime behind the CLI's headless agent and the GUI — activation,
//! deactivation, refresh, import, the status model, and the scheduler that refreshes the
//! licence file before it runs out.
//!
//! What the agent *decides* is plain code with no I/O: the trust rules and the state model in
//! `licentric_core::memory` and `licentric_core::state`, and how the scheduler puts them
//! together — the status at a time, what to tell the user, whether a refresh is due, when to
//! look again, how a failure backs off — in [`crate::plan`]. This module does what those
//! decide: the credential store, the data folder, the API, notifications and timers.
//!
//! The scheduler sleeps on a timer until the next deadline [`crate::plan::Live::turn`] gives,
//! capped at an hour so a machine that slept through a deadline catches up; it never polls.

use std::sync::Arc;
use std::time::Duration;

use licentric_core::clock::Clock;
use licentric_core::components::ComponentKind;
use licentric_core::fingerprint::MachineIdSource;
use licentric_core::memory::{Found, Memory};
use licentric_core::random::{random_hex_128, random_unit_signed};
use licentric_core::refresh::RefreshPolicy;
use licentric_core::request_file::ActivationRequestFile;
use licentric_core::{
    Expectations, Fingerprint, LicenseKey, OsRandom, StatementKind, VerifiedLicense,
    VerifiedStatement, Verifier,
};
use licentric_platform::identity::MachineMetadata;
use licentric_proto::api::{
    ActivationRequest, ApiErrorCode, CheckoutRequest, MachineComponent, RunsIn, ValidateRequest,
};
use licentric_proto::ipc::{ComponentSummary, Status};
use licentric_proto::{CredentialStoreKind, LicenseState};
use time::OffsetDateTime;
use tokio::sync::{Mutex, Notify, watch};
use zeroize::Zeroizing;

use crate::api::{ApiClient, ApiError};
use crate::config::CompanionConfig;
use crate::credentials::{self, CredentialStore, LICENSE_KEY, STATE_ANCHOR, STATE_KEY};
use crate::error::AgentError;
use crate::notify::Notifier;
use crate::plan::{Live, Notice, Product};
use crate::storage::{StateRead, Storage};

#[path = "seats.rs"]
mod seats;
pub use seats::SeatHold;
pub(crate) use seats::WaitCount;

const MAX_SLEEP: Duration = Duration::from_secs(3600);
/// How often a machine in use confirms its licence online, when the licence file does not
/// say (the vendor's product sets it on the server).
pub const DEFAULT_CHECK_INTERVAL: u64 = 3600;
/// How long an operation someone asked for waits for another to finish before it answers
/// `busy`.
const BUSY_AFTER: Duration = Duration::from_secs(2);

/// What the agent is built from. Tests replace the clock, the machine id, the credential
/// store and the notifier; production uses [`AgentOptions::new`]'s defaults.
pub struct AgentOptions {
    /// The vendor's configuration.
    pub config: CompanionConfig,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Where notifications go.
    pub notifier: Arc<dyn Notifier>,
    /// The machine id source.
    pub machine: Box<dyn MachineIdSource>,
    /// The credential store; `None` opens the OS store (or the file fallback).
    pub credentials: Option<Box<dyn CredentialStore>>,
    /// Look, don't touch: no scheduler, no writes, no new state key, no lock on the data
    /// folder. For `licentric status` when no agent runs.
    pub read_only: bool,
    /// Whether to run the scheduler (refreshes, time-driven changes, warnings). Off for a
    /// one-shot agent that does one thing and exits (`licentric request-file` with no agent
    /// running).
    pub scheduler: bool,
}

impl AgentOptions {
    /// The production choices for `config`.
    pub fn new(config: CompanionConfig) -> AgentOptions {
        let notifier = desktop_notifier(&config);
        AgentOptions {
            machine: licentric_platform::identity::machine_id_source(config.environment),
            config,
            clock: Arc::new(licentric_platform::clock::SystemClock),
            notifier,
            credentials: None,
            read_only: false,
            scheduler: true,
        }
    }
}

struct Inner {
    config: CompanionConfig,
    verifier: Verifier,
    fingerprint: Fingerprint,
    /// This machine's parts, hashed for the product: sent with each activation and check.
    components: Vec<MachineComponent>,
    /// Cleared when the server turns the parts away (an older server): sent no more.
    send_components: std::sync::atomic::AtomicBool,
    /// What this system runs in, when not bare hardware: read once at start.
    runs_in: Option<RunsIn>,
    /// The seat of a floating licence, shared by the local apps holding it.
    seats: seats::SeatDesk,
    api: ApiClient,
    creds: Box<dyn CredentialStore>,
    storage: Storage,
    clock: Arc<dyn Clock>,
    notifier: Arc<dyn Notifier>,
    policy: RefreshPolicy,
    live: Mutex<Live>,
    /// Serialises the operations that change state (activate, deactivate, refresh, import).
    ops: Mutex<()>,
    status: watch::Sender<Status>,
    /// The status as last published, serialised once, for answers that need no lock.
    snapshot: std::sync::RwLock<Option<Arc<Snapshot>>>,
    /// A publication of the seats' change is on its way (changes meanwhile join it).
    seats_publishing: std::sync::atomic::AtomicBool,
    /// The credential store is being asked to keep the state's anchor, everything decided
    /// already published: local apps are answered from that meanwhile
    /// ([`Agent::asked_status`]) — a store may wait minutes on its user.
    anchoring: std::sync::atomic::AtomicBool,
    /// The clock's mark as the steady clock carries it on ([`Agent::observe_clock`]).
    steady: std::sync::Mutex<licentric_core::clock::SteadyMark>,
    /// Bumped by [`Agent::cancel`]; a user's operation ends when it moves past the value it
    /// had when the operation took the lock ([`Inner::op_epoch`]).
    cancel: watch::Sender<u64>,
    op_epoch: std::sync::atomic::AtomicU64,
    wake: Notify,
    /// When the scheduler means to look again, as it last planned (`None`: no time planned,
    /// it looks again within the hour).
    planned: watch::Sender<Option<OffsetDateTime>>,
    /// Set by [`Agent::shutdown`]: the scheduler ends.
    stopping: std::sync::atomic::AtomicBool,
    scheduler: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    read_only: bool,
    clients: crate::clients::ClientLog,
}

impl Inner {
    /// The anchor the credential store holds now (`None`: none, or not one that reads); an
    /// error when the store does not answer.
    fn stored_anchor(
        &self,
    ) -> Result<Option<licentric_core::Anchor>, credentials::CredentialError> {
        Ok(self
            .creds
            .get(STATE_ANCHOR)?
            .and_then(|a| serde_json::from_slice::<licentric_core::Anchor>(&a).ok()))
    }
}

/// How long a published status is answered from its snapshot without a new evaluation.
const SNAPSHOT_FRESH: time::Duration = time::Duration::SECOND;

/// How long a local app's question waits for the live state before the last status answers
/// instead ([`Agent::asked_status`]).
const BUSY_WAIT: std::time::Duration = std::time::Duration::from_millis(250);

/// The status as last published, with its JSON, for the IPC fast path.
#[derive(Debug)]
pub struct Snapshot {
    /// The status.
    pub status: Status,
    /// `status` as JSON, serialised once.
    pub json: Box<str>,
    /// The answer to `license_file` (the armoured licence file the status was evaluated
    /// from, if any) as JSON, serialised once.
    pub license_file_json: Box<str>,
    taken_at: OffsetDateTime,
    fresh_until: OffsetDateTime,
    /// The next state change by time, if any: the status holds until then.
    holds_until: Option<OffsetDateTime>,
    /// Whether the status may answer while a save waits on the credential store
    /// ([`Live::answers_while_busy`]).
    answers_while_busy: bool,
}

/// [`Inner::anchoring`] while a credential-store write of the anchor is under way (however
/// it ends, cancelled included).
struct Anchoring<'a>(&'a Inner);

impl<'a> Anchoring<'a> {
    fn start(inner: &'a Inner) -> Anchoring<'a> {
        inner
            .anchoring
            .store(true, std::sync::atomic::Ordering::SeqCst);
        Anchoring(inner)
    }
}

impl Drop for Anchoring<'_> {
    fn drop(&mut self) {
        self.0
            .anchoring
            .store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A handle on the running agent; cheap to clone.
#[derive(Clone)]
pub struct Agent {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("product_id", &self.inner.config.product_id)
            .finish_non_exhaustive()
    }
}

/// Notifications as the user wants them: the desktop's, as the user chose in the app's
/// Settings (read at each one), and as `config` says until the user chose — the same rule as
/// the app's own, so that the window's switch works for an agent running apart from it.
pub fn desktop_notifier(config: &CompanionConfig) -> Arc<dyn Notifier> {
    Arc::new(crate::notify::AsTheUserChose {
        inner: crate::notify::DesktopNotifier {
            app_name: config.product_name.clone(),
        },
        settings: data_dir(config).join(crate::notify::SETTINGS_FILE),
        default: config.notifications.enabled,
    })
}

/// The data folder for `config`.
pub fn data_dir(config: &CompanionConfig) -> std::path::PathBuf {
    config
        .data_dir
        .clone()
        .unwrap_or_else(|| default_data_dir(&config.product_id, config.environment))
}

/// The default data folder of `product_id` in `environment`: test and live never share one.
fn default_data_dir(
    product_id: &str,
    environment: licentric_proto::Environment,
) -> std::path::PathBuf {
    let name = format!("{product_id}-{environment}");
    match crate::brand::built_in().data_dir() {
        Some(dir) => dir.join(name),
        // No home folder (a service account): one folder of this user's own, directly in the
        // temp dir (whose sticky bit keeps others from renaming it), which the agent creates
        // 0700 and refuses if another user made it first.
        None => std::env::temp_dir().join(format!("licentric-{}-{name}", user_tag())),
    }
}

#[cfg(unix)]
fn user_tag() -> String {
    licentric_platform::endpoint::current_uid().to_string()
}

#[cfg(not(unix))]
fn user_tag() -> String {
    std::env::var("USERNAME").unwrap_or_default()
}

/// Refuses a data folder that is the other environment's default (a sandbox configuration
/// naming the live folder, say): test and live never share one.
fn check_own_data_dir(config: &CompanionConfig, dir: &std::path::Path) -> Result<(), AgentError> {
    use licentric_proto::Environment::{Live, Test};
    let other = match config.environment {
        Test => Live,
        Live => Test,
    };
    // Compared as the system finds them: `..` or a link must not spell the folder anew.
    let resolved = licentric_platform::endpoint::resolved;
    if resolved(dir) == resolved(&default_data_dir(&config.product_id, other)) {
        return Err(AgentError::Storage(format!(
            "{} is the {other} environment's data folder; a {} configuration may not use it",
            dir.display(),
            config.environment
        )));
    }
    Ok(())
}

impl Agent {
    /// Starts the agent: reads the machine id, the credential store, the cached licence and
    /// the sealed state, and starts the scheduler. Call inside a tokio runtime.
    ///
    /// # Errors
    /// When the machine id, the data folder or the TLS configuration is unusable, or another
    /// agent holds the data folder.
    pub async fn start(options: AgentOptions) -> Result<Agent, AgentError> {
        let AgentOptions {
            config,
            clock,
            notifier,
            machine,
            credentials,
            read_only,
            scheduler,
        } = options;
        let components = licentric_platform::identity::product_components(
            &*machine,
            config.environment,
            &config.product_id,
        )
        .into_iter()
        .map(|c| MachineComponent {
            kind: c.kind.as_str().to_owned(),
            hash: c.hash,
        })
        .collect();
        let runs_in = licentric_platform::identity::runs_in(config.environment);
        let machine = machine
            .machine_id()
            .map_err(|e| AgentError::Internal(format!("cannot identify this machine: {e}")))?;
        let fingerprint = machine.fingerprint(&config.product_id);
        let dir = data_dir(&config);
        check_own_data_dir(&config, &dir)?;
        let storage = if read_only {
            Storage::open_read_only(&dir)
        } else {
            Storage::open(&dir).map_err(|e| AgentError::Storage(e.to_string()))?
        };
        let verifier = Verifier::new(config.trusted_keys.clone());
        let api = ApiClient::new(&config).map_err(AgentError::Internal)?;
        let creds = match credentials {
            Some(c) => c,
            None => {
                let (service, allow, dir, m) = (
                    config.credential_service(),
                    config.allow_file_credential_store,
                    storage.dir().to_owned(),
                    machine.clone(),
                );
                tokio::task::spawn_blocking(move || {
                    credentials::open(&service, allow, &dir, Some(&m))
                })
                .await
                .map_err(|e| AgentError::Internal(e.to_string()))?
            }
        };
        let status = watch::channel(placeholder_status(&config, creds.kind())).0;
        let inner = Arc::new(Inner {
            verifier,
            fingerprint,
            components,
            send_components: std::sync::atomic::AtomicBool::new(true),
            runs_in,
            seats: seats::SeatDesk::default(),
            api,
            creds,
            storage,
            clock,
            notifier,
            policy: RefreshPolicy::default(),
            live: Mutex::new(Live::default()),
            ops: Mutex::new(()),
            status,
            snapshot: std::sync::RwLock::new(None),
            seats_publishing: std::sync::atomic::AtomicBool::new(false),
            anchoring: std::sync::atomic::AtomicBool::new(false),
            steady: std::sync::Mutex::new(licentric_core::clock::SteadyMark::default()),
            cancel: watch::channel(0).0,
            op_epoch: std::sync::atomic::AtomicU64::new(0),
            wake: Notify::new(),
            planned: watch::Sender::new(None),
            stopping: std::sync::atomic::AtomicBool::new(false),
            scheduler: std::sync::Mutex::new(None),
            read_only,
            clients: crate::clients::ClientLog::default(),
            config,
        });
        let agent = Agent { inner };
        agent.load().await;
        agent.restore_borrow().await;
        if !read_only {
            // A seat a previous run held goes back, in the background (the server may be slow).
            let previous = agent.clone();
            tokio::spawn(async move { previous.give_back_previous_seat().await });
        }
        if scheduler && !read_only {
            let scheduler = agent.clone();
            let task = tokio::spawn(async move { scheduler.schedule().await });
            *agent
                .inner
                .scheduler
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(task);
        }
        Ok(agent)
    }

    /// Stops the scheduler and waits for it; the data folder is released when the last
    /// handle on the agent goes. (A process that exits needs none of this.)
    pub async fn shutdown(&self) {
        self.inner
            .stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.inner.wake.notify_one();
        let task = self
            .inner
            .scheduler
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }

    /// The right to change state, for an operation someone asked for: if another one (a
    /// scheduled refresh waiting on the server, say) holds it for more than a moment, the
    /// answer is [`AgentError::Busy`] rather than a wait of unknown length.
    /// A cancel sent from the moment it is asked reaches it, also while it waits its turn.
    async fn operation(&self) -> Result<tokio::sync::MutexGuard<'_, ()>, AgentError> {
        let asked_at = *self.inner.cancel.borrow();
        let guard = tokio::time::timeout(BUSY_AFTER, self.inner.ops.lock())
            .await
            .map_err(|_| AgentError::Busy)?;
        self.inner
            .op_epoch
            .store(asked_at, std::sync::atomic::Ordering::Relaxed);
        Ok(guard)
    }

    /// The machine's parts to send: all of them, unless the server turned them away before.
    fn parts(&self) -> Vec<MachineComponent> {
        if self
            .inner
            .send_components
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            self.inner.components.clone()
        } else {
            Vec::new()
        }
    }

    /// Whether `error` is a server that knows no `components` or `runs_in` (older than the
    /// parts): they are sent no more, and the caller asks again without them.
    fn parts_refused(&self, error: &ApiError) -> bool {
        let older = matches!(
            error,
            ApiError::Rejected { code: ApiErrorCode::InvalidRequest, message, .. }
                if message.contains("components") || message.contains("runs_in")
        );
        let refused = older
            && self
                .inner
                .send_components
                .swap(false, std::sync::atomic::Ordering::Relaxed);
        if refused {
            tracing::info!(
                "the licensing server does not take the machine's parts; sending the fingerprint alone"
            );
        }
        refused
    }

    /// Stops waiting for the server in the user's operations asked for by now (an activation,
    /// a refresh; running, or waiting for their turn): each ends with
    /// [`AgentError::Cancelled`] and changes nothing on this machine. The scheduler's own work
    /// goes on, and an operation asked for later is not touched.
    /// What the server did meanwhile stands: an activation it completed is found again (the
    /// same machine, no second seat) when the user activates again.
    pub fn cancel(&self) {
        self.inner.cancel.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A call the user asked for (an activation, a refresh) being tried again now, if any: for
    /// the person waiting on it.
    pub fn retrying(&self) -> Option<crate::api::Retrying> {
        self.inner.api.retrying()
    }

    /// `call` to the server, or [`AgentError::Cancelled`] as soon as the user cancels the
    /// operation (when `cancellable`: the user's own, never the scheduler's).
    async fn unless_cancelled<T>(
        &self,
        cancellable: bool,
        call: impl Future<Output = Result<T, ApiError>>,
    ) -> Result<Result<T, ApiError>, AgentError> {
        if !cancellable {
            return Ok(call.await);
        }
        let started = self
            .inner
            .op_epoch
            .load(std::sync::atomic::Ordering::Relaxed);
        let mut cancels = self.inner.cancel.subscribe();
        tokio::select! {
            result = crate::api::asked_by_the_user(call) => Ok(result),
            _ = cancels.wait_for(|n| *n != started) => {
                tracing::info!("the user cancelled waiting for the server");
                Err(AgentError::Cancelled)
            }
        }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Inner) -> T + Send + 'static,
    ) -> Result<T, AgentError> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || f(&inner))
            .await
            .map_err(|e| AgentError::Internal(e.to_string()))
    }

    /// Reads the state key, the sealed state, the clock mark and the cached licence file, and
    /// lets the memory decide what it can vouch for.
    async fn load(&self) {
        let loaded = self
            .blocking(|inner| {
                let mut waiting = false;
                let key = match inner.creds.get(STATE_KEY) {
                    Ok(Some(key)) => Some(key),
                    Ok(None) if inner.read_only => None,
                    Ok(None) => {
                        let mut fresh = Zeroizing::new(vec![0u8; 32]);
                        licentric_core::SecureRandom::fill(&mut OsRandom, &mut fresh).ok().and_then(|()| inner.creds.set(STATE_KEY, &fresh).ok()).map(|()| fresh)
                    }
                    Err(e) => {
                        // Locked, or not running yet: not "lost". The agent asks again.
                        tracing::warn!(reason = %e, "the credential store does not answer; the state will be read when it does");
                        waiting = true;
                        None
                    }
                };
                if key.is_some()
                    && !inner.read_only
                    && credentials::recorded_choice(inner.storage.dir()).is_none()
                    && let Err(e) = credentials::record_choice(inner.storage.dir(), inner.creds.kind())
                {
                    tracing::warn!(error = %e, "cannot record which credential store holds the state");
                }
                let state = key.as_ref().map(|k| inner.storage.read_state(k));
                let anchor = inner.stored_anchor().ok().flatten();
                let license = inner.storage.read_license();
                // Unknown (a store error) counts as present: the attempt will say what is wrong.
                let has_key = !matches!(inner.creds.get(LICENSE_KEY), Ok(None));
                (key, state, anchor, license, has_key, waiting)
            })
            .await;
        let Ok((key, state, anchor, license, has_key, waiting)) = loaded else {
            return;
        };
        let mut live = self.inner.live.lock().await;
        live.store_waiting = waiting;
        live.cached = None;
        live.invalid = None;
        live.state_key = key;
        live.has_key = has_key;
        live.anchor_stored = anchor;
        let found = match state {
            Some(StateRead::Valid(memory)) => Found::Intact(memory),
            Some(StateRead::Invalid) => {
                tracing::warn!(
                    "the local state was edited, is corrupt, or was sealed with another key: not trusted; it is kept aside as state.unreadable.json"
                );
                if !self.inner.read_only {
                    let aside = self.blocking(|inner| inner.storage.set_state_aside()).await;
                    if let Ok(Err(e)) = aside {
                        tracing::warn!(error = %e, "cannot set the unreadable state aside");
                    }
                }
                Found::Lost
            }
            Some(StateRead::Missing) | None => Found::Lost,
        };
        match license {
            Ok(Some(bytes)) => match String::from_utf8(bytes) {
                Ok(text) => match self
                    .inner
                    .verifier
                    .verify_stored(&text, &self.expectations(None))
                {
                    Ok(file) => live.cached = Some(file),
                    Err(e) => {
                        tracing::warn!(
                            code = e.code(),
                            "the cached licence file is invalid: not trusted"
                        );
                        live.invalid = Some(e.code());
                    }
                },
                Err(_) => live.invalid = Some("armor_invalid"),
            },
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "cannot read the cached licence file"),
        }
        let now = self.inner.clock.now();
        live.memory = Memory::restore(found, anchor, live.cached.as_ref(), now);
        if live.store_waiting && live.memory.unconfirmed.is_some() {
            // Not lost: locked. Said so, and read again when the store answers.
            live.memory.unconfirmed = Some(licentric_core::memory::STORE_LOCKED.to_owned());
        }
        if live.memory.unconfirmed.is_some() {
            tracing::warn!(
                "the local state cannot vouch for the cached licence file (missing, edited, or older than the file): not entitled until a fresh signed file confirms it"
            );
        }
        let lost = live.has_key && live.cached.is_none();
        if (live.memory.unconfirmed.is_some()
            || live.memory.guard.is_flagged()
            || live.invalid.is_some()
            || lost)
            && live.may_refresh()
        {
            // Repair or confirm from the server as soon as the scheduler runs (a clock
            // corrected backwards by more than an hour is cleared by the server's time).
            live.memory.record.next_attempt_at = Some(now);
        }
        let _ = self.persist(&mut live).await;
        self.publish(&mut live, now);
    }

    fn expectations<'a>(&'a self, nonce: Option<&'a str>) -> Expectations<'a> {
        Expectations {
            product_id: &self.inner.config.product_id,
            environment: self.inner.config.environment,
            fingerprint: &self.inner.fingerprint,
            nonce,
        }
    }

    /// Saves the memory, sealed, then the anchor to the credential store when it is due.
    ///
    /// # Errors
    /// When the state cannot be saved (the memory in RAM stays right; the next write tries
    /// again). Most callers log it and go on.
    async fn persist(&self, live: &mut Live) -> Result<(), AgentError> {
        let sealed = self.persist_state(live).await;
        // Said before the credential store is asked: apps are answered from it while the store
        // waits (on its user, perhaps).
        self.publish(live, self.inner.clock.now());
        self.persist_anchor(live).await;
        sealed
    }

    /// Saves the memory, sealed with the state key.
    async fn persist_state(&self, live: &Live) -> Result<(), AgentError> {
        if self.inner.read_only {
            return Ok(());
        }
        let Some(key) = live.state_key.clone() else {
            return Err(AgentError::Credentials(
                "the credential store holds no state key, so nothing can be kept".into(),
            ));
        };
        let memory = live.memory.clone();
        let sealed = self
            .blocking(move |inner| {
                inner
                    .storage
                    .write_state(&memory, &key)
                    .map_err(|e| AgentError::Storage(e.to_string()))
            })
            .await
            .and_then(|written| written);
        if let Err(e) = &sealed {
            tracing::warn!(error = %e, "cannot save the local state");
        }
        sealed
    }

    /// Writes the anchor to the credential store when it is due. It goes last of all: it may
    /// name a newer file only once that file is on disk, or a crash between the two would
    /// leave the store knowing of a file the folder never got.
    async fn persist_anchor(&self, live: &mut Live) {
        if self.inner.read_only || live.state_key.is_none() {
            return;
        }
        let Some(anchor) = live.memory.anchor_to_store(live.anchor_stored) else {
            return;
        };
        // A rewrite that keeps the borrow's tag is no change of this agent's to the borrow: the
        // store's anchor must still name it, or another copy of this state returned it (the
        // borrow's watch then ends it here), and rewriting would bring it back.
        if anchor.borrow.is_some()
            && live
                .anchor_stored
                .is_some_and(|stored| stored.borrow == anchor.borrow)
            && !self.borrow_still_anchored(live).await
        {
            tracing::warn!(
                "the credential store's anchor no longer names the seat borrowed here: not rewritten"
            );
            return;
        }
        let _anchoring = Anchoring::start(&self.inner);
        let written = self
            .blocking(move |inner| {
                let bytes =
                    serde_json::to_vec(&anchor).map_err(|e| AgentError::Internal(e.to_string()))?;
                inner
                    .creds
                    .set(STATE_ANCHOR, &bytes)
                    .map_err(|e| AgentError::Credentials(e.0))
            })
            .await
            .and_then(|written| written);
        match written {
            Ok(()) => live.anchor_stored = Some(anchor),
            Err(e) => tracing::warn!(error = %e, "cannot save the state's anchor"),
        }
    }

    /// Whether the anchor in the credential store, read again now, still vouches for the seat
    /// borrowed here (`docs/floating.md`): another copy of this state, running beside this
    /// one, rewrites it when it returns the seat. True with nothing borrowed, and when the
    /// store cannot be read now (nothing is decided on an error).
    pub(crate) async fn borrow_still_anchored(&self, live: &Live) -> bool {
        if self.inner.read_only || live.state_key.is_none() || live.memory.borrowed.is_none() {
            return true;
        }
        match self.blocking(Inner::stored_anchor).await {
            Ok(Ok(stored)) => live.memory.borrow_anchored_in(stored.as_ref()),
            _ => true,
        }
    }

    /// Whose status it is.
    fn product(&self) -> Product<'_> {
        Product {
            id: &self.inner.config.product_id,
            name: &self.inner.config.product_name,
            environment: self.inner.config.environment,
            store: self.inner.creds.kind(),
            runs_in: self.inner.runs_in.as_ref(),
        }
    }

    /// Recomputes the status, publishes it to subscribers if it changed, and notifies the user
    /// of a new state.
    fn publish(&self, live: &mut Live, now: OffsetDateTime) -> Status {
        let (status, notice) = live.publish(&self.product(), now, &self.inner.policy);
        let file = live.cached.as_ref().map(|f| f.armored().to_owned());
        let busy = live.answers_while_busy();
        self.tell(notice, status, file, now, live.next_change_at, busy)
    }

    /// Gives the user `notices` and subscribers `status`, if it changed; keeps it as the
    /// snapshot until `next_change_at` (a state change by time) or a second has passed.
    fn tell(
        &self,
        notices: impl IntoIterator<Item = Notice>,
        status: Status,
        license_file: Option<String>,
        now: OffsetDateTime,
        next_change_at: Option<OffsetDateTime>,
        answers_while_busy: bool,
    ) -> Status {
        for notice in notices {
            self.inner.notifier.notify(&notice.summary, &notice.body);
        }
        let fresh_until =
            next_change_at.map_or(now + SNAPSHOT_FRESH, |at| at.min(now + SNAPSHOT_FRESH));
        let snapshot = serde_json::to_string(&status)
            .and_then(|json| {
                let file = licentric_proto::ipc::LicenseFileResult { license_file };
                Ok((json, serde_json::to_string(&file)?))
            })
            .ok()
            .map(|(json, license_file_json)| {
                Arc::new(Snapshot {
                    status: status.clone(),
                    json: json.into_boxed_str(),
                    license_file_json: license_file_json.into_boxed_str(),
                    taken_at: now,
                    fresh_until,
                    holds_until: next_change_at,
                    answers_while_busy,
                })
            });
        *self
            .inner
            .snapshot
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = snapshot;
        self.inner.status.send_if_modified(|current| {
            if *current == status {
                false
            } else {
                *current = status.clone();
                true
            }
        });
        status
    }

    /// The status last published, if it still holds now by the agent's clock: taken less
    /// than a second ago (a clock turned back makes it stale) and before any state change by
    /// time. Answers from it need no lock and no evaluation; [`Agent::status`] makes a new one.
    pub fn snapshot(&self) -> Option<Arc<Snapshot>> {
        let snapshot = self.published()?;
        let now = self.inner.clock.now();
        (snapshot.taken_at <= now && now < snapshot.fresh_until).then_some(snapshot)
    }

    /// The status last published, however old.
    fn published(&self) -> Option<Arc<Snapshot>> {
        self.inner
            .snapshot
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The status last published stops answering: the next one asked is worked out afresh.
    fn forget_snapshot(&self) {
        *self
            .inner
            .snapshot
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    /// The status now, for a local app that uses the software: first a check on use (in the
    /// background) if one is due.
    ///
    /// An app is not kept waiting on a save: while the live state stays held past a moment —
    /// a save waiting on a credential store that asks its user (an unlock prompt, a password
    /// manager's "allow access?"), who may not answer for minutes — the status last published
    /// answers, as long as it still holds by time.
    pub async fn asked_status(&self) -> Status {
        let mut live = match self.live_or_last().await {
            Ok(live) => live,
            Err(last) => return last.status.clone(),
        };
        let now = self.inner.clock.now();
        let check = self.check_due(&mut live, now);
        self.observe_clock(&mut live.memory, now);
        let status = self.publish(&mut live, now);
        drop(live);
        if check {
            self.check_in_background();
        }
        status
    }

    /// The armoured licence file, for a local app that uses the software: as
    /// [`asked_status`](Agent::asked_status), not kept waiting on a save.
    pub async fn asked_license_file(&self) -> Option<String> {
        let mut live = match self.live_or_last().await {
            Ok(live) => live,
            Err(last) => {
                return serde_json::from_str::<licentric_proto::ipc::LicenseFileResult>(
                    &last.license_file_json,
                )
                .ok()
                .and_then(|r| r.license_file);
            }
        };
        let check = self.check_due(&mut live, self.inner.clock.now());
        let file = live.cached.as_ref().map(|f| f.armored().to_owned());
        drop(live);
        if check {
            self.check_in_background();
        }
        file
    }

    /// The live state for a local app's question; or, while another task holds it past
    /// [`BUSY_WAIT`], the status last published if it still holds.
    async fn live_or_last(&self) -> Result<tokio::sync::MutexGuard<'_, Live>, Arc<Snapshot>> {
        match tokio::time::timeout(BUSY_WAIT, self.inner.live.lock()).await {
            Ok(live) => Ok(live),
            Err(_) => match self.last_while_busy() {
                Some(last) => {
                    tracing::debug!("busy saving: the last status answers");
                    Err(last)
                }
                None => Ok(self.inner.live.lock().await),
            },
        }
    }

    /// The status last published, while the live state is held by a task waiting on the
    /// credential store to keep the anchor (everything it decided published first): true
    /// until the next change by time, however long the store waits — not past that change,
    /// nor with the clock behind it.
    fn last_while_busy(&self) -> Option<Arc<Snapshot>> {
        // Only while the holder waits on the credential store, all it decided said: held by
        // anything else (a disk that stalls, say), the app waits for the state as it is.
        if !self
            .inner
            .anchoring
            .load(std::sync::atomic::Ordering::SeqCst)
        {
            return None;
        }
        let snapshot = self.published()?;
        let now = self.inner.clock.now();
        (snapshot.answers_while_busy
            && snapshot.taken_at <= now
            && snapshot.holds_until.is_none_or(|at| now < at))
        .then_some(snapshot)
    }

    /// The status now.
    pub async fn status(&self) -> Status {
        let mut live = self.inner.live.lock().await;
        let now = self.inner.clock.now();
        self.observe_clock(&mut live.memory, now);
        self.publish(&mut live, now)
    }

    /// Shows the clock guard the time: the wall clock's `now`, after raising the mark by the
    /// time the steady clock says has passed
    /// ([`SteadyMark`](licentric_core::clock::SteadyMark)) — time runs on for the guard while
    /// the agent runs, whatever is done to the wall clock.
    pub(crate) fn observe_clock(
        &self,
        memory: &mut licentric_core::memory::Memory,
        now: OffsetDateTime,
    ) {
        let carried = memory.guard.high_water().and_then(|mark| {
            self.inner
                .steady
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .carry(mark.unix_timestamp(), self.inner.clock.steady())
        });
        if let Some(carried) = carried {
            memory.guard.observe_mark(carried);
        }
        memory.guard.observe(now);
    }

    /// Makes the scheduler look at the clock again now: after the clock was changed, or the
    /// machine woke from sleep (its timers ran on while it slept, or did not). Tests move an
    /// injected clock and call this instead of waiting.
    pub fn clock_changed(&self) {
        self.inner.wake.notify_one();
    }

    /// When the scheduler means to look at the licence again (a refresh, a retry, a state
    /// that changes with time), at every new plan: for diagnostics and tests.
    pub fn planned_wake(&self) -> watch::Receiver<Option<OffsetDateTime>> {
        self.inner.planned.subscribe()
    }

    /// A receiver of every status change.
    pub fn subscribe(&self) -> watch::Receiver<Status> {
        self.inner.status.subscribe()
    }

    /// The armoured licence file, if any.
    pub async fn license_file(&self) -> Option<String> {
        self.inner
            .live
            .lock()
            .await
            .cached
            .as_ref()
            .map(|f| f.armored().to_owned())
    }

    /// This machine's fingerprint for the product.
    pub fn fingerprint(&self) -> &Fingerprint {
        &self.inner.fingerprint
    }

    /// The time now, by the agent's clock.
    pub fn now(&self) -> OffsetDateTime {
        self.inner.clock.now()
    }

    /// This machine as the "This machine" panel and `fingerprint` show it: what it runs in,
    /// and each kind of part with the first characters of its hashes (none when not read).
    pub fn machine(&self) -> (Option<RunsIn>, Vec<ComponentSummary>) {
        let summaries = ComponentKind::ALL
            .iter()
            .map(|kind| ComponentSummary {
                kind: kind.as_str().to_owned(),
                describes: kind.describe().to_owned(),
                hashes: self
                    .inner
                    .components
                    .iter()
                    .filter(|c| c.kind == kind.as_str())
                    .map(|c| c.hash.chars().take(8).collect())
                    .collect(),
            })
            .collect();
        (self.inner.runs_in.clone(), summaries)
    }

    /// The local applications that queried the agent over IPC recently.
    pub fn clients(&self) -> &crate::clients::ClientLog {
        &self.inner.clients
    }

    /// The vendor's configuration.
    pub fn config(&self) -> &CompanionConfig {
        &self.inner.config
    }

    /// Activates this machine with `key_text`.
    ///
    /// # Errors
    /// [`AgentError`]: a malformed key before any network call, API refusals, TLS and network
    /// failures, a credential store that cannot hold the key. The cached licence is untouched
    /// by any failure.
    pub async fn activate(&self, key_text: &str) -> Result<Status, AgentError> {
        let _op = self.operation().await?;
        let key = LicenseKey::parse(key_text, self.inner.config.prefix())
            .map_err(AgentError::InvalidKey)?;
        let previous = self.other_seat(&key).await;
        let status = self.activate_with(&key, true).await?;
        if let Some((old_key, machine_id)) = previous {
            // Moving this machine to another licence: free the old licence's seat, now
            // that the new one is in place (a failure here loses the user nothing).
            match self.inner.api.deactivate(&old_key, &machine_id).await {
                Ok(())
                | Err(ApiError::Rejected {
                    code: ApiErrorCode::MachineNotFound,
                    ..
                }) => tracing::info!(key = %old_key, "freed the previous licence's seat"),
                Err(e) => tracing::warn!(
                    key = %old_key,
                    error = %e,
                    "the previous licence's seat could not be freed; free it from the vendor's portal"
                ),
            }
        }
        Ok(status)
    }

    /// The seat this machine holds on another licence than `key`'s: its key and machine id.
    async fn other_seat(&self, key: &LicenseKey) -> Option<(LicenseKey, String)> {
        let machine_id = {
            let live = self.inner.live.lock().await;
            live.memory
                .machine_id
                .clone()
                .filter(|_| !live.memory.machine_is_gone())?
        };
        let old = self.stored_key().await.ok()??;
        (old != *key).then_some((old, machine_id))
    }

    /// The licence key in the credential store, if there is one.
    async fn stored_key(&self) -> Result<Option<LicenseKey>, AgentError> {
        let secret = self
            .blocking(|inner| inner.creds.get(LICENSE_KEY))
            .await?
            .map_err(|e| AgentError::Credentials(e.0))?;
        let Some(secret) = secret else {
            return Ok(None);
        };
        let text = std::str::from_utf8(&secret)
            .map_err(|_| AgentError::Credentials("the stored licence key is corrupt".into()))?;
        LicenseKey::parse(text, self.inner.config.prefix())
            .map(Some)
            .map_err(AgentError::InvalidKey)
    }

    /// Activation with a checked key: a new activation, or a repair (the server answers
    /// "already active here" with this machine's seat and a fresh file).
    async fn activate_with(&self, key: &LicenseKey, asked: bool) -> Result<Status, AgentError> {
        if self.inner.creds.kind() == CredentialStoreKind::Unavailable {
            // Say so before taking a seat on the server (asking the store why is a blocking
            // call: off the thread that answers local apps).
            let why = self
                .blocking(|inner| inner.creds.get(LICENSE_KEY).err().map(|e| e.0))
                .await?;
            return Err(AgentError::Credentials(
                why.unwrap_or_else(|| "no credential store".into()),
            ));
        }
        let meta = tokio::task::spawn_blocking(MachineMetadata::collect)
            .await
            .map_err(|e| AgentError::Internal(e.to_string()))?;
        let runs_in = self.inner.runs_in.clone();
        let nonce =
            random_hex_128(&mut OsRandom).map_err(|e| AgentError::Internal(e.to_string()))?;
        let idempotency =
            random_hex_128(&mut OsRandom).map_err(|e| AgentError::Internal(e.to_string()))?;
        // The vendor sees what the machine runs in beside its system: "linux Debian 12
        // (container: docker)".
        let in_words = runs_in.as_ref().map_or_else(String::new, |r| {
            format!(" ({}: {})", r.kind.words(), r.name)
        });
        let mut body = ActivationRequest {
            fingerprint: self.inner.fingerprint.as_str().to_owned(),
            platform: format!("{} {}{in_words}", meta.platform, meta.os)
                .trim()
                .chars()
                .take(255)
                .collect(),
            hostname: meta.hostname.chars().take(255).collect(),
            app_version: env!("CARGO_PKG_VERSION").to_owned(),
            nonce: nonce.clone(),
            components: self.parts(),
            runs_in,
        };
        let mut answer = self
            .unless_cancelled(asked, self.inner.api.activate(key, &body, &idempotency))
            .await?;
        if let Err(e) = &answer
            && self.parts_refused(e)
        {
            body.components.clear();
            body.runs_in = None;
            let again =
                random_hex_128(&mut OsRandom).map_err(|e| AgentError::Internal(e.to_string()))?;
            answer = self
                .unless_cancelled(asked, self.inner.api.activate(key, &body, &again))
                .await?;
        }
        let response = match answer {
            Ok(response) => response,
            // Suspended, revoked or expired: a signed file stating it, for this request.
            Err(ApiError::Rejected {
                license_file: Some(file),
                ..
            }) => return self.install_online(&file, &nonce, None).await,
            // A floating licence: no seat of its own for the machine; the key is kept, and a
            // seat is checked out while a local app runs (`checkout`).
            Err(ApiError::Rejected {
                code: ApiErrorCode::FloatingLicense,
                ..
            }) => return self.keep_floating(key).await,
            Err(e) => return Err(e.into()),
        };
        self.keep_key(key).await?;
        {
            let mut live = self.inner.live.lock().await;
            live.memory.key_hint = Some(key.hint());
            live.memory.machine_id = Some(response.machine_id.clone());
            live.memory.floating = false;
            live.has_key = true;
        }
        tracing::info!(key = %key, machine = %response.machine_id, "activated");
        self.install_online(&response.license_file, &nonce, response.machines_active)
            .await
    }

    /// Puts `key` in the credential store.
    async fn keep_key(&self, key: &LicenseKey) -> Result<(), AgentError> {
        let secret = Zeroizing::new(key.expose_secret().as_bytes().to_vec());
        self.blocking(move |inner| inner.creds.set(LICENSE_KEY, &secret))
            .await?
            .map_err(|e| AgentError::Credentials(e.0))
    }

    /// `key` is a floating licence's: kept, and the state says so; local apps check out seats.
    async fn keep_floating(&self, key: &LicenseKey) -> Result<Status, AgentError> {
        self.keep_key(key).await?;
        let now = self.inner.clock.now();
        let mut live = self.inner.live.lock().await;
        live.memory.key_hint = Some(key.hint());
        live.memory.floating = true;
        // Activated again: a deactivation made here before no longer stands.
        live.memory.server_said = None;
        live.has_key = true;
        let _ = self.persist(&mut live).await;
        tracing::info!(key = %key, "a floating licence: seats are checked out while apps run");
        Ok(self.publish(&mut live, now))
    }

    /// Verifies `text`, a file the server just answered to the request with `nonce`, and
    /// installs it: fresh signed time and word, so it confirms whatever was in doubt. The seat
    /// count is shown, never trusted for the licence's state (it is not signed).
    async fn install_online(
        &self,
        text: &str,
        nonce: &str,
        machines_active: Option<u32>,
    ) -> Result<Status, AgentError> {
        let now = self.inner.clock.now();
        let file = self
            .inner
            .verifier
            .verify(text, &self.expectations(Some(nonce)), now)
            .map_err(AgentError::LicenseFile)?;
        let jitter = random_unit_signed(&mut OsRandom).unwrap_or(0.0);
        let mut live = self.inner.live.lock().await;
        file.may_replace(live.cached.as_ref())
            .map_err(AgentError::LicenseFile)?;
        let mut memory = live.memory.clone();
        memory.accepted_online(&file, now, machines_active, &self.inner.policy, jitter);
        self.store(&mut live, file, memory, now).await
    }

    /// Makes `memory` the agent's and writes `file` as the cached licence: the state first
    /// (it must know of the file before the file is there, or the next start could not vouch
    /// for it), then the file. If the file cannot be written, the old memory is put back.
    async fn store(
        &self,
        live: &mut Live,
        file: VerifiedLicense,
        memory: Memory,
        now: OffsetDateTime,
    ) -> Result<Status, AgentError> {
        let before = std::mem::replace(&mut live.memory, memory);
        // A state that cannot be saved now is saved at the next write; the memory in RAM is
        // right meanwhile. The anchor waits for the file.
        let _ = self.persist_state(live).await;
        let owned = file.armored().to_owned();
        let written = self
            .blocking(move |inner| inner.storage.write_license(&owned))
            .await
            .and_then(|w| w.map_err(|e| AgentError::Storage(e.to_string())));
        if let Err(e) = written {
            live.memory = before;
            let _ = self.persist_state(live).await;
            return Err(e);
        }
        live.cached = Some(file);
        live.invalid = None;
        // Said before the credential store is asked (see `persist`).
        let status = self.publish(live, now);
        self.persist_anchor(live).await;
        self.inner.wake.notify_one();
        Ok(status)
    }

    /// Renews the licence file from the server now. After a signed deactivation, it activates
    /// this machine again with the stored key (the user asked for it).
    ///
    /// # Errors
    /// [`AgentError::NotActivated`], [`AgentError::MachineGone`] on a signed refusal, or the
    /// API failure (recorded; the cached file is kept).
    pub async fn refresh(&self) -> Result<Status, AgentError> {
        let _op = self.operation().await?;
        // A seat borrowed here is the server's word too: asked now, not at the next hour.
        self.confirm_borrow_now().await;
        self.refresh_locked(true).await
    }

    /// A refresh; `asked` when the user asked for it (not the scheduler).
    async fn refresh_locked(&self, asked: bool) -> Result<Status, AgentError> {
        let (machine_id, gone) = {
            let live = self.inner.live.lock().await;
            (
                live.memory.machine_id.clone(),
                live.memory.server_says_gone(),
            )
        };
        let Some(key) = self.stored_key().await? else {
            return Err(AgentError::NotActivated);
        };
        let machine_id = match machine_id {
            Some(id) if !gone => id,
            // Only the user takes a seat again after the server said the machine is gone.
            _ if gone && !asked => return Err(AgentError::NotActivated),
            _ => {
                // The state and the file were lost or untrusted, the key was not (or the user
                // activates again): the server answers with this machine's seat and a file.
                tracing::info!("activating this machine again with the stored key");
                return self.activate_with(&key, asked).await;
            }
        };
        let nonce =
            random_hex_128(&mut OsRandom).map_err(|e| AgentError::Internal(e.to_string()))?;
        let mut body = CheckoutRequest {
            fingerprint: self.inner.fingerprint.as_str().to_owned(),
            ttl_seconds: self.inner.config.refresh.ttl_seconds,
            nonce: nonce.clone(),
            components: self.parts(),
        };
        let mut answer = self
            .unless_cancelled(asked, self.inner.api.checkout(&key, &machine_id, &body))
            .await?;
        if let Err(e) = &answer
            && self.parts_refused(e)
        {
            body.components.clear();
            answer = self
                .unless_cancelled(asked, self.inner.api.checkout(&key, &machine_id, &body))
                .await?;
        }
        match answer {
            Ok(response) => {
                self.install_online(&response.license_file, &nonce, response.machines_active)
                    .await
            }
            Err(e) => self.refused(e, &nonce).await,
        }
    }

    /// What a refusal of the request with `nonce` means: a signed file stating a licence that
    /// is not active replaces the cached one at once; a signed statement that the machine is
    /// gone ends entitlement; anything unsigned or unverifiable changes nothing but the
    /// back-off.
    async fn refused(&self, error: ApiError, nonce: &str) -> Result<Status, AgentError> {
        match error {
            ApiError::Rejected {
                license_file: Some(file),
                ..
            } => self.install_online(&file, nonce, None).await,
            ApiError::Rejected {
                statement: Some(text),
                code,
                ..
            } => match self.inner.verifier.verify_statement(
                &text,
                &self.inner.config.product_id,
                self.inner.config.environment,
                &self.inner.fingerprint,
                nonce,
            ) {
                Ok(statement) if statement.payload().kind != StatementKind::MachineActive => {
                    self.machine_gone(&statement).await
                }
                Ok(_) | Err(_) => {
                    tracing::warn!(
                        "the server's refusal carries a statement that does not verify for it: nothing changes"
                    );
                    self.record_failure(code.as_str()).await;
                    Err(AgentError::LicenseFile(
                        licentric_core::VerifyError::Signature,
                    ))
                }
            },
            e => {
                self.record_failure(e.code()).await;
                Err(AgentError::Api(e))
            }
        }
    }

    /// Check on use: a local app asks, and the last contact with the server is older than the
    /// licence's check interval (an hour unless the vendor's product says otherwise): confirm
    /// online, in the background ([`check_in_background`](Agent::check_in_background)), that
    /// the licence still stands, and push any change. The answer to the app is not delayed,
    /// and a machine where nobody uses the software makes no requests at all.
    ///
    /// Whether such a check is due at `now` (then marked as under way).
    fn check_due(&self, live: &mut Live, now: OffsetDateTime) -> bool {
        let Some(file) = &live.cached else {
            return false;
        };
        let interval = time::Duration::seconds(
            i64::try_from(
                file.payload()
                    .check_interval
                    .unwrap_or(DEFAULT_CHECK_INTERVAL),
            )
            .unwrap_or(i64::MAX),
        );
        let stale = |t: Option<OffsetDateTime>| t.is_none_or(|t| now - t >= interval);
        if !live.may_refresh()
            || live.checking
            || !stale(live.memory.record.last_refresh_at)
            || !stale(live.last_check_attempt)
        {
            return false;
        }
        live.checking = true;
        live.last_check_attempt = Some(now);
        true
    }

    /// The check on use, on a task of its own.
    fn check_in_background(&self) {
        let agent = self.clone();
        tokio::spawn(async move {
            if let Ok(_op) = agent.operation().await
                && let Err(e) = agent.check_online().await
            {
                tracing::debug!(error = %e, "check on use failed; the scheduled refresh carries on");
            }
            agent.inner.live.lock().await.checking = false;
        });
    }

    /// The check itself: a full refresh when the file should be renewed anyway (past its
    /// refresh point, or stating a licence that is not active); otherwise the cheap signed
    /// validation.
    async fn check_online(&self) -> Result<Status, AgentError> {
        let now = self.inner.clock.now();
        let (machine_id, renew) = {
            let live = self.inner.live.lock().await;
            let renew = live.cached.as_ref().is_none_or(|f| {
                f.check_status().is_err()
                    || live
                        .memory
                        .record
                        .refresh_due_at
                        .is_some_and(|due| now >= due)
            });
            (live.memory.machine_id.clone(), renew)
        };
        let Some(machine_id) = machine_id.filter(|_| !renew) else {
            return self.refresh_locked(false).await;
        };
        let Some(key) = self.stored_key().await? else {
            return Err(AgentError::NotActivated);
        };
        let nonce =
            random_hex_128(&mut OsRandom).map_err(|e| AgentError::Internal(e.to_string()))?;
        let mut body = ValidateRequest {
            fingerprint: self.inner.fingerprint.as_str().to_owned(),
            nonce: nonce.clone(),
            components: self.parts(),
        };
        let mut answer = self.inner.api.validate(&key, &machine_id, &body).await;
        if let Err(e) = &answer
            && self.parts_refused(e)
        {
            body.components.clear();
            answer = self.inner.api.validate(&key, &machine_id, &body).await;
        }
        match answer {
            Ok(answer) => {
                let statement = self
                    .inner
                    .verifier
                    .verify_statement(
                        &answer.statement,
                        &self.inner.config.product_id,
                        self.inner.config.environment,
                        &self.inner.fingerprint,
                        &nonce,
                    )
                    .map_err(AgentError::LicenseFile)?;
                if statement.payload().kind != StatementKind::MachineActive {
                    return self.machine_gone(&statement).await;
                }
                let now = self.inner.clock.now();
                let mut live = self.inner.live.lock().await;
                live.memory
                    .standing_confirmed(&statement, now, answer.machines_active);
                let _ = self.persist(&mut live).await;
                Ok(self.publish(&mut live, now))
            }
            Err(e @ ApiError::Rejected { .. }) => self.refused(e, &nonce).await,
            // Offline: nothing changes, not even the refresh schedule (which has its own).
            Err(e) => Err(AgentError::Api(e)),
        }
    }

    /// A failed contact: back off, keep everything.
    async fn record_failure(&self, code: &str) {
        let policy = &self.inner.policy;
        self.replan(|record, now, jitter| record.failed(code, now, policy, jitter))
            .await;
    }

    /// A call that may have changed this machine on the server did not finish: the scheduler
    /// asks the server within the first retry delay (a minute), rather than at the refresh
    /// point or the next check on use.
    async fn check_soon(&self) {
        let policy = &self.inner.policy;
        self.replan(|record, now, jitter| record.check_by(now + policy.retry_delay(1, jitter)))
            .await;
    }

    /// Changes when the server is next asked (`change`, given now and a jitter sample), keeps
    /// it, shows it, and wakes the scheduler, which sleeps on its last plan (up to an hour).
    async fn replan(
        &self,
        change: impl FnOnce(&mut licentric_core::state::RefreshRecord, OffsetDateTime, f64),
    ) {
        let now = self.inner.clock.now();
        let mut live = self.inner.live.lock().await;
        let jitter = random_unit_signed(&mut OsRandom).unwrap_or(0.0);
        change(&mut live.memory.record, now, jitter);
        let _ = self.persist(&mut live).await;
        self.publish(&mut live, now);
        self.inner.wake.notify_one();
    }

    /// The server said, signed, that this machine is no longer activated: the cached file is
    /// removed, entitlement ends now, and the user and subscribed apps are told why.
    async fn machine_gone(&self, statement: &VerifiedStatement) -> Result<Status, AgentError> {
        let code = statement.payload().kind.code();
        tracing::warn!(
            code,
            "the server states, signed, that this machine is no longer activated"
        );
        let now = self.inner.clock.now();
        let mut live = self.inner.live.lock().await;
        // The word first (state and anchor), then the file goes: a valid "active" file is not
        // left lying about for a restore to bring back; its identity stays in the log.
        if let Some(old) = &live.cached {
            let p = old.payload();
            tracing::info!(license = %p.license_id, issued_at = %p.issued_at, "removing the licence file the server refused");
        }
        live.memory.machine_gone(statement, now);
        live.cached = None;
        live.invalid = None;
        let _ = self.persist(&mut live).await;
        let removed = self
            .blocking(|inner| inner.storage.remove_license())
            .await?;
        if let Err(e) = removed {
            tracing::warn!(error = %e, "cannot remove the refused licence file");
        }
        self.publish(&mut live, now);
        Err(AgentError::MachineGone(code))
    }

    /// Deactivates this machine, freeing its seat, and forgets the licence.
    ///
    /// # Errors
    /// [`AgentError::NotActivated`], or an API failure — then nothing is forgotten.
    pub async fn deactivate(&self) -> Result<Status, AgentError> {
        let _op = self.operation().await?;
        let (machine_id, floating) = {
            let live = self.inner.live.lock().await;
            (live.memory.machine_id.clone(), live.memory.floating)
        };
        // A floating licence has no seat of its own here: the key is forgotten (seats held by
        // apps run out on the server as their leases do).
        let machine_id = match machine_id {
            Some(id) => id,
            None if floating => String::new(),
            None => return Err(AgentError::NotActivated),
        };
        // A seat held for local apps goes back first, while the key is still here; a borrowed
        // one too (a failure to reach the server leaves everything as it was). One the product
        // keeps to its end stays counted there until then whatever this machine does: it is
        // simply no longer used here.
        match self.return_borrowed().await {
            Ok(_) | Err(AgentError::NotBorrowed) => {}
            Err(AgentError::Api(ApiError::Rejected {
                code: ApiErrorCode::BorrowKeptToEnd,
                ..
            })) => self.let_kept_borrow_go().await,
            Err(e) => return Err(e),
        }
        self.give_back_seats().await;
        if !floating && let Some(key) = self.stored_key().await? {
            // The user may stop waiting (Cancel): nothing here is forgotten then. Should the
            // server have freed the seat already (or when its answer never came), its next
            // answer says so, signed: that answer is asked for soon, not at the refresh point.
            match self
                .unless_cancelled(true, self.inner.api.deactivate(&key, &machine_id))
                .await
            {
                Ok(
                    Ok(())
                    | Err(ApiError::Rejected {
                        code: ApiErrorCode::MachineNotFound,
                        ..
                    }),
                ) => {}
                Ok(Err(e @ ApiError::Rejected { .. })) => return Err(AgentError::Api(e)),
                // Not reached (or no answer): a failed contact like any other, shown at once
                // ("Active, offline"), and the server asked again soon.
                Ok(Err(e)) => {
                    let (policy, code) = (&self.inner.policy, e.code());
                    self.replan(|record, now, jitter| {
                        record.failed(code, now, policy, jitter);
                        record.check_by(now + policy.retry_delay(1, jitter));
                    })
                    .await;
                    return Err(AgentError::Api(e));
                }
                Err(cancelled) => {
                    self.check_soon().await;
                    return Err(cancelled);
                }
            }
        }
        self.blocking(|inner| {
            inner
                .storage
                .clear()
                .map_err(|e| AgentError::Storage(e.to_string()))?;
            inner
                .creds
                .delete(LICENSE_KEY)
                .map_err(|e| AgentError::Credentials(e.0))
        })
        .await??;
        let now = self.inner.clock.now();
        let mut live = self.inner.live.lock().await;
        // What was learnt of time and of files stays, and that this machine was deactivated:
        // an old copy of the data folder, put back, does not bring the licence back.
        live.memory.deactivated_here();
        live.cached = None;
        live.invalid = None;
        live.has_key = false;
        let _ = self.persist(&mut live).await;
        tracing::info!("deactivated");
        Ok(self.publish(&mut live, now))
    }

    /// Installs a licence file obtained elsewhere (offline activation): only one that answers
    /// an activation request this machine made, once.
    ///
    /// # Errors
    /// [`AgentError::LicenseFile`] when it does not verify for this machine or is older than
    /// the cached one; [`AgentError::ImportRefused`] when it answers no pending request.
    pub async fn import(&self, text: &str) -> Result<Status, AgentError> {
        let _op = self.operation().await?;
        let now = self.inner.clock.now();
        let file = self
            .inner
            .verifier
            .verify(text, &self.expectations(None), now)
            .map_err(AgentError::LicenseFile)?;
        let jitter = random_unit_signed(&mut OsRandom).unwrap_or(0.0);
        let mut live = self.inner.live.lock().await;
        let mut memory = live.memory.clone();
        memory
            .accept_import(&file, now, &self.inner.policy, jitter)
            .map_err(AgentError::ImportRefused)?;
        file.may_replace(live.cached.as_ref())
            .map_err(AgentError::LicenseFile)?;
        self.store(&mut live, file, memory, now).await
    }

    /// An activation request file for this machine, to activate it from another device. Its
    /// nonce is remembered, so the licence file that answers it can be imported (once).
    ///
    /// # Errors
    /// When randomness fails, or the request cannot be remembered (no credential store, a
    /// data folder that cannot be written): a request this machine would not recognise is
    /// refused rather than handed out.
    pub async fn request_file(&self) -> Result<String, AgentError> {
        let _op = self.operation().await?;
        if self.inner.read_only {
            return Err(AgentError::Internal(
                "a read-only agent cannot remember a request".into(),
            ));
        }
        let now = self.inner.clock.now();
        // The machine's metadata is read from the system: off the thread that answers apps.
        let meta = tokio::task::spawn_blocking(MachineMetadata::collect)
            .await
            .map_err(|e| AgentError::Internal(e.to_string()))?;
        let machine = Machine {
            fingerprint: &self.inner.fingerprint,
            meta: &meta,
            components: &self.inner.components,
            runs_in: self.inner.runs_in.as_ref(),
        };
        let (text, nonce) = build_request(&self.inner.config, &machine, now)?;
        let mut live = self.inner.live.lock().await;
        let before = live.memory.clone();
        live.memory.remember_request(&nonce, now);
        if let Err(e) = self.persist(&mut live).await {
            live.memory = before;
            return Err(e);
        }
        tracing::info!("made an activation request file");
        Ok(text)
    }

    /// The scheduler: refreshes when due, publishes time-driven state changes, gives expiry
    /// warnings. Sleeps on a timer in between.
    async fn schedule(self) {
        loop {
            if self
                .inner
                .stopping
                .load(std::sync::atomic::Ordering::SeqCst)
            {
                return;
            }
            // A credential store that did not answer at start (locked, not running yet): once
            // it answers, read the state as at start.
            let waiting = self.inner.live.lock().await.store_waiting;
            if waiting {
                let answers = self
                    .blocking(|inner| inner.creds.get(STATE_KEY).is_ok())
                    .await
                    .unwrap_or(false);
                if answers {
                    tracing::info!("the credential store answers now; reading the state");
                    self.load().await;
                    self.restore_borrow().await;
                }
            }
            let now = self.inner.clock.now();
            let (due, next) = {
                let mut live = self.inner.live.lock().await;
                self.observe_clock(&mut live.memory, now);
                let turn = live.turn(&self.product(), now, &self.inner.policy);
                let (due, next) = (turn.refresh_now, turn.wake_at);
                let file = live.cached.as_ref().map(|f| f.armored().to_owned());
                let busy = live.answers_while_busy();
                self.tell(
                    turn.notices,
                    turn.status,
                    file,
                    now,
                    live.next_change_at,
                    busy,
                );
                let _ = self.persist(&mut live).await;
                (due, next)
            };
            if due {
                let _op = self.inner.ops.lock().await;
                if let Err(e) = self.refresh_locked(false).await {
                    let code = e.reason().unwrap_or(e.code().as_str());
                    let now = self.inner.clock.now();
                    let jitter = random_unit_signed(&mut OsRandom).unwrap_or(0.0);
                    let mut live = self.inner.live.lock().await;
                    if live.failed(code, now, &self.inner.policy, jitter) {
                        let _ = self.persist(&mut live).await;
                    }
                    let retry_in_seconds = live
                        .memory
                        .record
                        .next_attempt_at
                        .map_or(0, |at| (at - now).whole_seconds());
                    tracing::info!(
                        code,
                        retry_in_seconds,
                        "scheduled refresh failed; will retry"
                    );
                }
                continue;
            }
            self.inner.planned.send_replace(next);
            let sleep = next.map_or(MAX_SLEEP, |at| {
                let secs = (at - self.inner.clock.now()).as_seconds_f64().max(0.0);
                Duration::from_secs_f64(secs).min(MAX_SLEEP)
            });
            tokio::select! {
                () = tokio::time::sleep(sleep) => {}
                () = self.inner.wake.notified() => {}
            }
        }
    }
}

/// An activation request file for the machine with `fingerprint`, and its nonce.
/// This machine as an activation request describes it.
struct Machine<'a> {
    fingerprint: &'a Fingerprint,
    meta: &'a MachineMetadata,
    components: &'a [MachineComponent],
    runs_in: Option<&'a RunsIn>,
}

fn build_request(
    config: &CompanionConfig,
    machine: &Machine<'_>,
    now: OffsetDateTime,
) -> Result<(String, String), AgentError> {
    let nonce = random_hex_128(&mut OsRandom).map_err(|e| AgentError::Internal(e.to_string()))?;
    let request = ActivationRequestFile {
        v: 1,
        product_id: config.product_id.clone(),
        environment: config.environment,
        fingerprint: machine.fingerprint.as_str().to_owned(),
        platform: machine.meta.platform.clone(),
        hostname: machine.meta.hostname.chars().take(255).collect(),
        nonce: nonce.clone(),
        created_at: now,
        components: machine.components.to_vec(),
        runs_in: machine.runs_in.cloned(),
    };
    let text = request
        .to_armored()
        .map_err(|e| AgentError::Internal(e.to_string()))?;
    Ok((text, nonce))
}

fn placeholder_status(config: &CompanionConfig, store: CredentialStoreKind) -> Status {
    let words = crate::words::describe(
        LicenseState::Unlicensed,
        None,
        &config.product_name,
        None,
        false,
    );
    Status {
        state: LicenseState::Unlicensed,
        entitled: false,
        product_id: config.product_id.clone(),
        environment: config.environment,
        license_id: None,
        machine_id: None,
        license_key_hint: None,
        entitlements: Vec::new(),
        max_machines: None,
        machines_active: None,
        license_expires_at: None,
        issued_at: None,
        offline_valid_until: None,
        last_refresh_at: None,
        next_refresh_at: None,
        credential_store: store,
        reason: None,
        summary: words.summary,
        detail: words.detail,
        offline: false,
        runs_in: None,
        lease: None,
        seats_waiting: 0,
    }
}
