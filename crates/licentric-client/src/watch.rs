//! Answers from memory: a [`Watch`] connects once, subscribes, keeps the last status the
//! agent pushed, and answers [`Watch::is_entitled`] and [`Watch::has_entitlement`] without a
//! system call — for an app that checks its licence on every action.
//!
//! A background thread keeps the view current: it applies every `status_changed` push, asks
//! for the status when the agent has been quiet for a while (an agent that no longer answers
//! is not believed), and reconnects with back-off when the agent restarts. While it cannot
//! reach the agent the view is [`View::Unknown`] and every answer is "no" — never a stale
//! "yes". Even a view that is current stops saying "yes" at the end of the offline period
//! or the licence, whichever comes first, by this machine's clock.
//!
//! With [`WatchOptions::trusted_keys`] (feature `verify`), the signed licence file is checked
//! here at every change against the vendor's keys and this machine's own fingerprint: the
//! entitlements come from the file, and a socket that lies gets "no".
//!
//! ```no_run
//! use licentric_client::{Environment, watch::Watch};
//!
//! let licence = Watch::start_default("acme-cad", Environment::Live);
//! // … later, as often as needed:
//! if licence.has_entitlement("export-pdf") {
//!     println!("PDF export enabled");
//! }
//! ```

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::Duration;

use crate::{Client, ClientError, Closer, Environment, Status, default_socket};

/// How long the agent may stay quiet before the watcher asks it for the status.
pub const HEARTBEAT: Duration = Duration::from_secs(30);
/// The first wait before reconnecting; it doubles up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_millis(50);
/// The longest wait between reconnection attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What a [`Watch`] knows.
#[derive(Debug, Clone, PartialEq)]
pub enum View {
    /// The agent could not be reached (or is not yet): why. Every answer is "no".
    Unknown(String),
    /// The agent's last word.
    Known(Box<Known>),
}

/// The agent's last word, as a [`Watch`] keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Known {
    /// The status as the agent pushed it.
    pub status: Status,
    /// Whether the machine may use the product (the status's `entitled`, and with
    /// verification the file's own word).
    pub entitled: bool,
    /// The entitlement codes (with verification, the signed file's).
    pub entitlements: Vec<String>,
    /// Why the file did not verify, when verification is on and it did not.
    pub verification_failed: Option<String>,
    /// Unix seconds after which this view's "yes" is "no": the end of the offline period or
    /// of the licence — the signed file's, when it was verified here.
    pub until: i64,
}

/// Where and what to watch.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// The agent's socket.
    pub socket: PathBuf,
    /// The product the app is.
    pub product_id: String,
    /// Test or live.
    pub environment: Environment,
    /// The vendor's public keys (64 hex characters each): when set, the signed file is
    /// verified here at every change (feature `verify`; without it, setting keys makes every
    /// answer "no").
    pub trusted_keys: Vec<String>,
    /// This machine's fingerprint for the check, if the app computed it itself (default:
    /// computed here from the machine's id — never take the one the socket reports).
    #[cfg(feature = "verify")]
    pub fingerprint: Option<licentric_core::Fingerprint>,
    /// How long the agent may send no status before the watcher asks for one (and stops
    /// believing it if it does not answer): [`HEARTBEAT`] by default.
    pub heartbeat: Duration,
}

impl WatchOptions {
    /// The agent of `product_id` in `environment` at its default socket, no verification.
    pub fn new(product_id: &str, environment: Environment) -> WatchOptions {
        WatchOptions {
            socket: default_socket(product_id, environment),
            product_id: product_id.to_owned(),
            environment,
            trusted_keys: Vec::new(),
            #[cfg(feature = "verify")]
            fingerprint: None,
            heartbeat: HEARTBEAT,
        }
    }
}

/// What the watcher thread and the app share.
struct Shared {
    /// The answer to `is_entitled`, with `until`: read with one atomic load.
    entitled: AtomicBool,
    /// Unix seconds after which even a current "yes" is "no" (the file's end, the licence's).
    until: AtomicI64,
    view: RwLock<View>,
    /// Counts changes of the view, for [`Watch::wait_for_change`].
    generation: Mutex<u64>,
    changed: Condvar,
    /// Bumped without the lock, for [`Watch::generation`].
    seen: AtomicU64,
    stop: AtomicBool,
    /// Closes the live connection, so a stop does not wait for the agent.
    closer: Mutex<Option<Closer>>,
}

impl Shared {
    fn set(&self, view: View) {
        let (entitled, until) = match &view {
            View::Known(k) if k.entitled => (true, k.until),
            _ => (false, i64::MIN),
        };
        {
            let mut current = self
                .view
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if *current == view {
                return;
            }
            // "No" first, so no reader sees the new end with the old answer.
            self.entitled.store(false, Ordering::Release);
            self.until.store(until, Ordering::Release);
            self.entitled.store(entitled, Ordering::Release);
            *current = view;
        }
        let mut generation = self
            .generation
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *generation += 1;
        self.seen.store(*generation, Ordering::Release);
        self.changed.notify_all();
    }

    /// Sleeps `wait`, or until stopped; whether to go on.
    fn pause(&self, wait: Duration) -> bool {
        let generation = self
            .generation
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let _ = self
            .changed
            .wait_timeout_while(generation, wait, |_| !self.stop.load(Ordering::Acquire));
        !self.stop.load(Ordering::Acquire)
    }
}

/// The end of the entitlement a status states: the earlier of the offline period's end and
/// the licence's, in Unix seconds (`i64::MAX` when neither is known).
fn ends(status: &Status) -> i64 {
    [
        status.offline_valid_until.as_deref(),
        status.license_expires_at.as_deref(),
    ]
    .into_iter()
    .flatten()
    .filter_map(|t| {
        time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
    })
    .map(time::OffsetDateTime::unix_timestamp)
    .min()
    .unwrap_or(i64::MAX)
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The licence as the agent last said it, kept current by a background thread.
pub struct Watch {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch")
            .field("entitled", &self.is_entitled())
            .finish_non_exhaustive()
    }
}

impl Watch {
    /// Watches the agent of `product_id` in `environment` at its default socket.
    pub fn start_default(product_id: &str, environment: Environment) -> Watch {
        Watch::start(WatchOptions::new(product_id, environment))
    }

    /// Starts watching; returns at once, with the view [`View::Unknown`] until the first
    /// answer (see [`wait_for_change`](Self::wait_for_change)).
    pub fn start(options: WatchOptions) -> Watch {
        let shared = Arc::new(Shared {
            entitled: AtomicBool::new(false),
            until: AtomicI64::new(i64::MIN),
            view: RwLock::new(View::Unknown("not connected yet".into())),
            generation: Mutex::new(0),
            changed: Condvar::new(),
            seen: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            closer: Mutex::new(None),
        });
        let thread = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("licentric-watch".into())
                .spawn(move || watch(&shared, &options))
                .ok()
        };
        if thread.is_none() {
            shared.set(View::Unknown("cannot start the watcher thread".into()));
        }
        Watch { shared, thread }
    }

    /// Whether the machine may use the product now: one atomic load and a clock read.
    pub fn is_entitled(&self) -> bool {
        self.shared.entitled.load(Ordering::Acquire)
            && now_unix() < self.shared.until.load(Ordering::Acquire)
    }

    /// Whether the machine is entitled now to `code`.
    pub fn has_entitlement(&self, code: &str) -> bool {
        if !self.is_entitled() {
            return false;
        }
        match &*self
            .shared
            .view
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
        {
            View::Known(k) => k.entitled && k.entitlements.iter().any(|c| c == code),
            View::Unknown(_) => false,
        }
    }

    /// What the watcher knows now.
    pub fn view(&self) -> View {
        self.shared
            .view
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// How many times the view has changed.
    pub fn generation(&self) -> u64 {
        self.shared.seen.load(Ordering::Acquire)
    }

    /// Waits until the view changes after `generation` (from [`generation`](Self::generation)),
    /// at most `timeout`; returns the generation then.
    pub fn wait_for_change(&self, generation: u64, timeout: Duration) -> u64 {
        let current = self
            .shared
            .generation
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (current, _) = self
            .shared
            .changed
            .wait_timeout_while(current, timeout, |g| *g <= generation)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *current
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(closer) = self
            .shared
            .closer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
        {
            closer.close();
        }
        {
            let _generation = self
                .shared
                .generation
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            self.shared.changed.notify_all();
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The watcher thread: connect, subscribe, follow; on any failure "unknown", then again
/// after a back-off.
fn watch(shared: &Shared, options: &WatchOptions) {
    let verifier = Verification::new(options);
    let mut backoff = FIRST_BACKOFF;
    while !shared.stop.load(Ordering::Acquire) {
        match Client::connect_to(&options.socket, &options.product_id, options.environment) {
            Ok(client) => {
                let why = follow(shared, client, &verifier, options.heartbeat);
                shared.set(View::Unknown(why));
                // The old connection's handle goes with it (it would hold the socket open).
                shared
                    .closer
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .take();
                backoff = FIRST_BACKOFF;
            }
            Err(e) => {
                shared.set(View::Unknown(e.to_string()));
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
        if !shared.pause(backoff) {
            break;
        }
    }
}

/// Follows one connection until it fails; why it ended.
fn follow(
    shared: &Shared,
    mut client: Client,
    verifier: &Verification,
    heartbeat: Duration,
) -> String {
    match client.closer() {
        Ok(closer) => {
            *shared
                .closer
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(closer);
        }
        Err(e) => return e.to_string(),
    }
    if shared.stop.load(Ordering::Acquire) {
        return "stopped".into();
    }
    let mut status = match client.subscribe() {
        Ok(s) => s,
        Err(e) => return e.to_string(),
    };
    if client.set_timeout(Some(crate::QUERY_TIMEOUT)).is_err() {
        return "cannot set a time-out".into();
    }
    loop {
        shared.set(verifier.view(&mut client, status));
        // Quiet for a heartbeat (no status, whatever else arrives): ask, within the query
        // time-out. No answer, no belief.
        let deadline = std::time::Instant::now() + heartbeat;
        status = match client.next_change_before(deadline) {
            Ok(s) => s,
            Err(ClientError::Timeout) => match client.status() {
                Ok(s) => s,
                Err(e) => return e.to_string(),
            },
            Err(e) => return e.to_string(),
        };
        if shared.stop.load(Ordering::Acquire) {
            return "stopped".into();
        }
    }
}

/// The app's own check of the signed file, when it has the vendor's keys.
struct Verification {
    keys: Vec<String>,
    #[cfg(feature = "verify")]
    product_id: String,
    #[cfg(feature = "verify")]
    environment: Environment,
    #[cfg(feature = "verify")]
    fingerprint: Option<licentric_core::Fingerprint>,
}

impl Verification {
    fn new(options: &WatchOptions) -> Verification {
        Verification {
            keys: options.trusted_keys.clone(),
            #[cfg(feature = "verify")]
            product_id: options.product_id.clone(),
            #[cfg(feature = "verify")]
            environment: options.environment,
            #[cfg(feature = "verify")]
            fingerprint: options.fingerprint.clone(),
        }
    }

    /// The view `status` gives, the file checked if keys are set.
    fn view(&self, client: &mut Client, status: Status) -> View {
        let mut known = Known {
            entitled: status.entitled,
            entitlements: status.entitlements.clone(),
            verification_failed: None,
            until: ends(&status),
            status,
        };
        // A "no" needs no proof; a "yes" with keys set needs the signed file's, and ends when
        // the signed file says (the status's dates are not signed).
        if known.entitled && !self.keys.is_empty() {
            match self.check(client) {
                Ok((entitlements, until)) => {
                    known.entitlements = entitlements;
                    known.until = known.until.min(until);
                }
                Err(why) => {
                    known.entitled = false;
                    known.entitlements.clear();
                    known.verification_failed = Some(why);
                }
            }
        }
        View::Known(Box::new(known))
    }

    /// The signed file's entitlements and end (Unix seconds), if it verifies for this machine
    /// now.
    #[cfg(feature = "verify")]
    fn check(&self, client: &mut Client) -> Result<(Vec<String>, i64), String> {
        let file = client
            .license_file()
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "the agent has no licence file".to_owned())?;
        let keys: Vec<&str> = self.keys.iter().map(String::as_str).collect();
        match &self.fingerprint {
            Some(fingerprint) => crate::verify::check_for(
                &file,
                &keys,
                &self.product_id,
                self.environment,
                fingerprint,
            ),
            None => crate::verify::check(&file, &keys, &self.product_id, self.environment),
        }
        .map(|licence| {
            let p = licence.payload();
            let end = [Some(p.expires_at), p.license_expires_at]
                .into_iter()
                .flatten()
                .map(time::OffsetDateTime::unix_timestamp)
                .min()
                .unwrap_or(i64::MAX);
            (p.entitlements.clone(), end)
        })
    }

    #[cfg(not(feature = "verify"))]
    #[allow(clippy::unused_self)] // the same shape with the feature
    fn check(&self, _client: &mut Client) -> Result<(Vec<String>, i64), String> {
        Err("trusted keys were given, but this build has no verification (feature `verify`)".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(entitled: bool, offline_until: &str, licence_until: Option<&str>) -> Status {
        serde_json::from_value(serde_json::json!({
            "state": if entitled { "active" } else { "suspended" },
            "entitled": entitled,
            "product_id": "acme-cad",
            "environment": "test",
            "license_id": "lic_1",
            "machine_id": "mach_1",
            "entitlements": ["pro"],
            "license_expires_at": licence_until,
            "offline_valid_until": offline_until,
            "last_refresh_at": null,
            "next_refresh_at": null,
            "credential_store": "os",
            "reason": null,
        }))
        .unwrap()
    }

    fn watch_with(view: View) -> Watch {
        let watch = Watch {
            shared: Arc::new(Shared {
                entitled: AtomicBool::new(false),
                until: AtomicI64::new(i64::MIN),
                view: RwLock::new(View::Unknown("new".into())),
                generation: Mutex::new(0),
                changed: Condvar::new(),
                seen: AtomicU64::new(0),
                stop: AtomicBool::new(false),
                closer: Mutex::new(None),
            }),
            thread: None,
        };
        watch.shared.set(view);
        watch
    }

    fn known(status: Status) -> View {
        View::Known(Box::new(Known {
            entitled: status.entitled,
            entitlements: status.entitlements.clone(),
            verification_failed: None,
            until: ends(&status),
            status,
        }))
    }

    #[test]
    fn a_yes_holds_until_the_file_or_the_licence_ends_whichever_is_first() {
        let soon = "2999-01-01T00:00:00Z";
        let past = "2001-01-01T00:00:00Z";
        let current = watch_with(known(status(true, soon, None)));
        assert!(current.is_entitled() && current.has_entitlement("pro"));
        assert!(!current.has_entitlement("other"));
        assert_eq!(current.generation(), 1);
        // The agent said yes, but the offline period is over by this machine's clock.
        let ended = watch_with(known(status(true, past, None)));
        assert!(!ended.is_entitled() && !ended.has_entitlement("pro"));
        // Or the licence itself ended.
        let licence_over = watch_with(known(status(true, soon, Some(past))));
        assert!(!licence_over.is_entitled());
        // A no is a no; and unknown is no.
        assert!(!watch_with(known(status(false, soon, None))).is_entitled());
        assert!(!watch_with(View::Unknown("gone".into())).has_entitlement("pro"));
    }

    #[test]
    fn the_same_view_again_is_no_change() {
        let watch = watch_with(known(status(true, "2999-01-01T00:00:00Z", None)));
        let before = watch.generation();
        watch
            .shared
            .set(known(status(true, "2999-01-01T00:00:00Z", None)));
        assert_eq!(watch.generation(), before);
        watch.shared.set(View::Unknown("gone".into()));
        assert_eq!(watch.wait_for_change(before, Duration::ZERO), before + 1);
        assert!(!watch.is_entitled());
    }
}
