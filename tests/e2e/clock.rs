//! The state and clock rules with the real server and the real agent code, in this process,
//! driven by an injected clock and an in-memory credential store: time moves when the test
//! says so, and nothing waits for it to pass. (The agent's own timers are woken with
//! `Agent::clock_changed`; every wait is on a pushed status change.)

use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use licentric_agent::config::CompanionConfig;
use licentric_agent::credentials::MemoryStore;
use licentric_agent::notify::Notifier;
use licentric_agent::{Agent, AgentOptions};
use licentric_core::fingerprint::FixedMachineId;
use licentric_core::{Clock as _, ManualClock};
use licentric_e2e::{Companion, Server};
use licentric_proto::LicenseState;
use licentric_proto::ipc::Status;
use time::{Duration, OffsetDateTime};
use tokio::sync::watch;

/// The notifications the agent gave, in order, with a signal for each.
#[derive(Default)]
struct Recorded {
    given: Mutex<Vec<String>>,
    signal: tokio::sync::Notify,
}

impl Notifier for Recorded {
    fn notify(&self, summary: &str, _body: &str) {
        self.given.lock().unwrap().push(summary.to_owned());
        self.signal.notify_waiters();
    }
}

impl Recorded {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.given.lock().unwrap())
    }

    /// Waits until a notification whose summary contains `text` was given.
    async fn wait_for(&self, text: &str) {
        let wait = async {
            loop {
                let signalled = self.signal.notified();
                if self.given.lock().unwrap().iter().any(|n| n.contains(text)) {
                    return;
                }
                signalled.await;
            }
        };
        tokio::time::timeout(StdDuration::from_secs(30), wait)
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "no notification with {text:?}: {:?}",
                    self.given.lock().unwrap()
                )
            });
    }
}

async fn next(
    changes: &mut watch::Receiver<Status>,
    what: &str,
    mut pred: impl FnMut(&Status) -> bool,
) -> Status {
    let wait = async {
        loop {
            let status = changes.borrow_and_update().clone();
            if pred(&status) {
                return status;
            }
            changes.changed().await.unwrap();
        }
    };
    tokio::time::timeout(StdDuration::from_secs(30), wait)
        .await
        .unwrap_or_else(|_| panic!("never saw {what}: {:?}", changes.borrow()))
}

struct Rig {
    agent: Agent,
    clock: Arc<ManualClock>,
    notes: Arc<Recorded>,
    changes: watch::Receiver<Status>,
}

async fn rig(companion: &Companion) -> Rig {
    let config = CompanionConfig::load(&companion.config).unwrap();
    let clock = Arc::new(ManualClock::new(OffsetDateTime::now_utc()));
    let notes = Arc::new(Recorded::default());
    let mut options = AgentOptions::new(config);
    options.clock = clock.clone();
    options.notifier = notes.clone();
    options.machine = Box::new(FixedMachineId(companion.machine_id.clone()));
    options.credentials = Some(Box::new(MemoryStore::default()));
    let agent = Agent::start(options).await.unwrap();
    let changes = agent.subscribe();
    Rig {
        agent,
        clock,
        notes,
        changes,
    }
}

/// Active → (refresh point, offline) grace → offline period over → back online → active; and
/// a clock turned back, then corrected by the server. The days pass in microseconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fortnight_offline_and_back_by_moving_the_clock() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::start(tmp.path(), 1_209_600);
    let (_, key) = server.licence("e2e-clock-rules", 1);
    let companion = Companion::new(tmp.path(), &server, "e2e-clock-rules", "");
    let Rig {
        agent,
        clock,
        notes,
        mut changes,
    } = rig(&companion).await;
    let start = clock.now();

    let status = agent.activate(&key).await.unwrap();
    assert_eq!(
        (status.state, status.entitled),
        (LicenseState::Active, true)
    );
    assert_eq!(notes.take(), ["Acme CAD is activated"]);

    // Offline, five days on: still active (before the refresh point), no contact needed.
    server.stop();
    clock.set(start + Duration::days(5));
    agent.clock_changed();
    assert_eq!(agent.status().await.state, LicenseState::Active);

    // Past the refresh point (7 days ± 10 %): the scheduler tries, fails, and it is grace,
    // still entitled, saying why.
    clock.set(start + Duration::days(8));
    agent.clock_changed();
    let grace = next(&mut changes, "grace after a failed refresh", |s| {
        s.state == LicenseState::Grace && s.reason.as_deref() == Some("network_unavailable")
    })
    .await;
    assert!(grace.entitled, "{grace:?}");
    assert_eq!(grace.summary, "Working offline");
    notes.wait_for("Acme CAD: working offline").await;
    notes.take();

    // Three days before the end: the 72-hour warning, once. Timed from the file's own end
    // (the server signs whole seconds, so `start` may be a second either side of it).
    let end = time::OffsetDateTime::parse(
        status.offline_valid_until.as_deref().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    clock.set(end - Duration::hours(70) - Duration::minutes(30));
    agent.clock_changed();
    notes.wait_for("70 hours of offline use left").await;

    // The fortnight is over: not entitled, and the cached file is kept.
    clock.set(start + Duration::days(14) + Duration::minutes(1));
    agent.clock_changed();
    let over = next(&mut changes, "the end of the offline period", |s| {
        s.state == LicenseState::OfflineExpired
    })
    .await;
    assert!(!over.entitled);
    assert!(
        agent.license_file().await.is_some(),
        "never deleted for a failure"
    );

    // The clock goes back to the real day (a wrong clock corrected): more than an hour
    // behind the highest time seen, so not entitled until the server confirms.
    clock.set(start + Duration::minutes(2));
    let status = agent.status().await;
    assert_eq!(status.state, LicenseState::ClockTampered, "{status:?}");
    // Online again: one refresh brings the server's signed time and clears it.
    server.restart();
    let status = agent.refresh().await.unwrap();
    assert_eq!(
        (status.state, status.entitled, status.reason),
        (LicenseState::Active, true, None)
    );
}

/// Regression: every scheduled refresh first pushed `grace` (with the notifications "working
/// offline", then "is activated"), then `active`. A routine renewal is silent now.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_renewal_changes_nothing_the_user_sees() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1_209_600);
    let (_, key) = server.licence("e2e-renewal", 1);
    let companion = Companion::new(tmp.path(), &server, "e2e-renewal", "");
    let Rig {
        agent,
        clock,
        notes,
        mut changes,
    } = rig(&companion).await;
    let start = clock.now();
    agent.activate(&key).await.unwrap();
    notes.take();
    let first = agent.status().await.last_refresh_at;

    let mut seen = Vec::new();
    clock.set(start + Duration::days(8));
    agent.clock_changed();
    let renewed = next(&mut changes, "the renewal", |s| {
        seen.push(s.state);
        s.last_refresh_at != first
    })
    .await;
    assert_eq!(
        (renewed.state, renewed.entitled),
        (LicenseState::Active, true)
    );
    assert!(
        !seen.contains(&LicenseState::Grace),
        "a false grace was pushed: {seen:?}"
    );
    assert_eq!(
        notes.take(),
        Vec::<String>::new(),
        "no notification for a routine renewal"
    );
}

/// Regression: after a suspension the next check was half a TTL away (the refusal's file
/// ignored the requested TTL), so a customer reinstated an hour later stayed locked for days.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspended_machine_asks_again_within_the_hour() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1_209_600);
    let (licence_id, key) = server.licence("e2e-reinstate", 1);
    let companion = Companion::new(tmp.path(), &server, "e2e-reinstate", "");
    let Rig { agent, clock, .. } = rig(&companion).await;
    let start = clock.now();
    agent.activate(&key).await.unwrap();
    server.admin("POST", &format!("/licenses/{licence_id}/suspend"), None);
    let status = agent.refresh().await.unwrap();
    assert_eq!(status.state, LicenseState::Suspended);
    let next_check = OffsetDateTime::parse(
        status.next_refresh_at.as_deref().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert!(
        next_check <= start + Duration::hours(1),
        "next check {next_check}"
    );
    // An hour later the scheduler asks again; reinstated meanwhile, the machine is back.
    server.admin("POST", &format!("/licenses/{licence_id}/reinstate"), None);
    let mut changes = agent.subscribe();
    clock.set(start + Duration::hours(1));
    agent.clock_changed();
    let back = next(&mut changes, "the reinstatement", |s| {
        s.state == LicenseState::Active
    })
    .await;
    assert!(back.entitled);
}

/// An honest clock error: the clock ran two hours ahead (a dual boot keeping local time in
/// the hardware clock), then NTP put it right. More than an hour back is "clock problem" — and
/// with the server reachable the agent asks it for the time at once, instead of days later at
/// the next planned refresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_corrected_backwards_is_cleared_online_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1_209_600);
    let (_, key) = server.licence("e2e-ntp", 1);
    let companion = Companion::new(tmp.path(), &server, "e2e-ntp", "");
    let Rig {
        agent,
        clock,
        mut changes,
        ..
    } = rig(&companion).await;
    let start = clock.now();
    agent.activate(&key).await.unwrap();
    let first = agent.status().await.last_refresh_at;

    clock.set(start + Duration::hours(2));
    assert_eq!(agent.status().await.state, LicenseState::Active);
    clock.set(start + Duration::seconds(1));
    agent.clock_changed();
    let back = next(&mut changes, "the clock cleared by the server", |s| {
        s.state == LicenseState::Active && s.last_refresh_at != first
    })
    .await;
    assert!(back.entitled, "{back:?}");
}

/// A credential store that can be locked, as a login keyring is until the user logs in.
#[derive(Default)]
struct Lockable {
    store: MemoryStore,
    locked: std::sync::atomic::AtomicBool,
}

struct Shared(Arc<Lockable>);

impl licentric_agent::credentials::CredentialStore for Shared {
    fn kind(&self) -> licentric_proto::CredentialStoreKind {
        if self.0.locked.load(std::sync::atomic::Ordering::SeqCst) {
            licentric_proto::CredentialStoreKind::Unavailable
        } else {
            licentric_proto::CredentialStoreKind::Os
        }
    }
    fn get(
        &self,
        name: &str,
    ) -> Result<Option<zeroize::Zeroizing<Vec<u8>>>, licentric_agent::credentials::CredentialError>
    {
        self.check()?;
        self.0.store.get(name)
    }
    fn set(
        &self,
        name: &str,
        secret: &[u8],
    ) -> Result<(), licentric_agent::credentials::CredentialError> {
        self.check()?;
        self.0.store.set(name, secret)
    }
    fn delete(&self, name: &str) -> Result<(), licentric_agent::credentials::CredentialError> {
        self.check()?;
        self.0.store.delete(name)
    }
}

impl Shared {
    fn check(&self) -> Result<(), licentric_agent::credentials::CredentialError> {
        if self.0.locked.load(std::sync::atomic::Ordering::SeqCst) {
            Err(licentric_agent::credentials::CredentialError(
                "the keyring is locked".into(),
            ))
        } else {
            Ok(())
        }
    }
}

/// An honest user whose keyring is still locked when the agent starts (an autostart before
/// the desktop unlocks it), offline: not entitled yet, and told why — but not "lost": once the
/// keyring unlocks, the agent reads its state and the licence is back, offline still.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyring_unlocked_after_start_brings_the_licence_back() {
    use licentric_agent::credentials::CredentialStore as _;
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::start(tmp.path(), 1_209_600);
    let (_, key) = server.licence("e2e-locked", 1);
    let companion = Companion::new(tmp.path(), &server, "e2e-locked", "");
    let keyring = Arc::new(Lockable::default());
    let start_agent = |keyring: &Arc<Lockable>| {
        let config = CompanionConfig::load(&companion.config).unwrap();
        let mut options = AgentOptions::new(config);
        options.notifier = Arc::new(Recorded::default());
        options.machine = Box::new(FixedMachineId(companion.machine_id.clone()));
        options.credentials = Some(Box::new(Shared(Arc::clone(keyring))));
        Agent::start(options)
    };
    let agent = start_agent(&keyring).await.unwrap();
    agent.activate(&key).await.unwrap();
    agent.shutdown().await;
    drop(agent);
    server.stop();

    keyring
        .locked
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let agent = start_agent(&keyring).await.unwrap();
    let status = agent.status().await;
    assert_eq!(
        (status.entitled, status.reason.as_deref()),
        (false, Some("credential_store_locked")),
        "{status:?}"
    );
    assert!(status.detail.contains("Unlock it"), "{}", status.detail);

    let mut changes = agent.subscribe();
    keyring
        .locked
        .store(false, std::sync::atomic::Ordering::SeqCst);
    assert!(
        Shared(Arc::clone(&keyring))
            .get("state-key")
            .unwrap()
            .is_some()
    );
    agent.clock_changed();
    let back = next(
        &mut changes,
        "the licence back once the keyring answers",
        |s| s.entitled,
    )
    .await;
    assert_eq!(back.state, LicenseState::Active, "{back:?}");
}

/// Check on use: when a local app asks and the last contact is older than the check interval
/// (an hour here, the product's default), the agent confirms online in the background, so a
/// suspension — and the reinstatement — reach an app in use within the interval, not at the
/// next renewal days later. Without use, nothing is asked of the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspension_and_a_reinstatement_reach_an_app_in_use_within_the_interval() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1_209_600);
    let (licence_id, key) = server.licence("e2e-on-use", 1);
    let companion = Companion::new(tmp.path(), &server, "e2e-on-use", "");
    let Rig {
        agent,
        clock,
        mut changes,
        ..
    } = rig(&companion).await;
    let start = clock.now();
    agent.activate(&key).await.unwrap();
    server.admin("POST", &format!("/licenses/{licence_id}/suspend"), None);

    // Two hours pass with nobody using the software: nothing is asked, nothing changes.
    clock.set(start + Duration::hours(2));
    agent.clock_changed();
    assert_eq!(agent.status().await.state, LicenseState::Active);

    // An app asks: the check on use brings the suspension, pushed.
    agent.asked_status().await;
    let suspended = next(&mut changes, "the suspension", |s| {
        s.state == LicenseState::Suspended
    })
    .await;
    assert!(!suspended.entitled);

    // Reinstated; an hour later an app asks again, and the licence is back.
    server.admin("POST", &format!("/licenses/{licence_id}/reinstate"), None);
    clock.set(start + Duration::hours(3) + Duration::minutes(1));
    agent.asked_status().await;
    let back = next(&mut changes, "the reinstatement", |s| {
        s.state == LicenseState::Active
    })
    .await;
    assert!(back.entitled);
}

/// A deactivation whose answer never came (or that the user stopped waiting for) after the
/// server had freed the seat: the agent asks the server again within a minute, not at the
/// refresh point days later (nor at the next check on use), and learns, signed, that this
/// machine is no longer activated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deactivation_that_did_not_finish_is_checked_within_a_minute() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::start(tmp.path(), 1_209_600);
    let (_, key) = server.licence("e2e-clock-undone", 1);
    let companion = Companion::new(tmp.path(), &server, "e2e-clock-undone", "");
    let Rig {
        agent,
        clock,
        mut changes,
        ..
    } = rig(&companion).await;
    let start = clock.now();
    let activated = agent.activate(&key).await.unwrap();
    let machine = activated.machine_id.expect("a machine id");

    // The deactivation reaches the server, which frees the seat; its answer is lost.
    server.admin("DELETE", &format!("/machines/{machine}"), None);
    server.stop();
    agent.deactivate().await.unwrap_err();
    let stands = agent.status().await;
    assert!(stands.entitled, "nothing forgotten here");
    // The server was not reached: said at once, as after any failed contact.
    assert!(stands.offline, "{stands:?}");
    assert_eq!(stands.summary, "Active, offline");
    server.restart();

    // Two minutes on, nobody using the software: the agent has asked, and stops.
    clock.set(start + Duration::minutes(2));
    agent.clock_changed();
    let gone = next(
        &mut changes,
        "the server's word that the seat is free",
        |s| !s.entitled,
    )
    .await;
    assert_eq!(
        gone.reason.as_deref(),
        Some("machine_deactivated"),
        "{gone:?}"
    );
}

/// Regression: a refresh the user asked for that failed planned a retry (shown as "Next
/// refresh" a minute on) that never came: the scheduler slept on, up to an hour, on its plan
/// from before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_refresh_the_user_asked_for_is_retried_when_it_says() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::start(tmp.path(), 1_209_600);
    let (_, key) = server.licence("e2e-clock-retry", 1);
    let companion = Companion::new(tmp.path(), &server, "e2e-clock-retry", "");
    let Rig { agent, .. } = rig(&companion).await;
    agent.activate(&key).await.unwrap();
    let mut planned = agent.planned_wake();

    server.stop();
    agent.refresh().await.unwrap_err();
    let retry = agent
        .status()
        .await
        .next_refresh_at
        .expect("a retry is shown");
    let retry =
        OffsetDateTime::parse(&retry, &time::format_description::well_known::Rfc3339).unwrap();
    let wait = async {
        loop {
            if planned
                .borrow_and_update()
                .is_some_and(|at| at <= retry + Duration::seconds(1))
            {
                return;
            }
            planned.changed().await.unwrap();
        }
    };
    tokio::time::timeout(StdDuration::from_secs(30), wait)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the scheduler did not plan the retry at {retry}: it plans {:?}",
                planned.borrow()
            )
        });
}

/// A credential store that asks its user before it keeps anything (an unlock prompt), until
/// [`release`](AskingStore::release)d: what the agent writes meanwhile waits, as on a desktop
/// whose user leaves the prompt open. A handle: clones share the store.
#[derive(Clone, Default)]
struct AskingStore(Arc<Asking>);

#[derive(Default)]
struct Asking {
    inner: MemoryStore,
    /// (asking the user, a write waiting on the answer)
    state: Mutex<(bool, bool)>,
    answered: std::sync::Condvar,
}

impl AskingStore {
    fn ask(&self) {
        self.0.state.lock().unwrap().0 = true;
    }
    fn release(&self) {
        self.0.state.lock().unwrap().0 = false;
        self.0.answered.notify_all();
    }
    /// Waits until a write waits on the user's answer.
    async fn until_a_write_waits(&self) {
        let deadline = std::time::Instant::now() + StdDuration::from_secs(20);
        while !self.0.state.lock().unwrap().1 {
            assert!(
                std::time::Instant::now() < deadline,
                "no write waited on the store"
            );
            tokio::time::sleep(StdDuration::from_millis(10)).await;
        }
    }
}

impl licentric_agent::credentials::CredentialStore for AskingStore {
    fn kind(&self) -> licentric_proto::CredentialStoreKind {
        self.0.inner.kind()
    }
    fn get(
        &self,
        name: &str,
    ) -> Result<Option<zeroize::Zeroizing<Vec<u8>>>, licentric_agent::credentials::CredentialError>
    {
        self.0.inner.get(name)
    }
    fn set(
        &self,
        name: &str,
        secret: &[u8],
    ) -> Result<(), licentric_agent::credentials::CredentialError> {
        let mut state = self.0.state.lock().unwrap();
        while state.0 {
            state.1 = true;
            state = self.0.answered.wait(state).unwrap();
        }
        state.1 = false;
        self.0.inner.set(name, secret)
    }
    fn delete(&self, name: &str) -> Result<(), licentric_agent::credentials::CredentialError> {
        self.0.inner.delete(name)
    }
}

/// Answers the store's prompt when dropped.
struct Answered(AskingStore);

impl Drop for Answered {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// An attack: the user leaves the credential store's prompt open, so the agent's save of the
/// anchor never finishes, and lets the clock run past the offline period. Apps are answered
/// from the last status while the prompt is open — but not past a change by time: once the
/// offline period is over, no "yes" is given from before it; the answer waits for the state
/// as it is, and is "no" when the store answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prompt_left_open_does_not_stretch_the_offline_period() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::start(tmp.path(), 1_209_600);
    let (_, key) = server.licence("e2e-clock-prompt", 1);
    let companion = Companion::new(tmp.path(), &server, "e2e-clock-prompt", "");
    let (agent, clock, store) = asking_agent(&companion).await;
    // However the test ends, the prompt is answered: a write left waiting would hold the
    // runtime's end for ever.
    let _answered = Answered(store.clone());
    let start = clock.now();
    agent.activate(&key).await.unwrap();

    // The store starts asking its user; a save half an hour on (the failed contact's, or the
    // scheduler's) writes the anchor (the clock's mark moved on), which waits on the prompt.
    server.stop();
    store.ask();
    clock.set(start + Duration::minutes(30));
    let saving = tokio::spawn({
        let agent = agent.clone();
        async move { agent.refresh().await }
    });
    store.until_a_write_waits().await;
    let busy = tokio::time::timeout(StdDuration::from_secs(10), agent.asked_status())
        .await
        .expect("answered while the prompt is open");
    assert!(busy.entitled, "{busy:?}");

    // Past the offline period, with the prompt still open: no "yes" from before.
    clock.set(start + Duration::days(15));
    let late = tokio::time::timeout(StdDuration::from_secs(2), agent.asked_status()).await;
    if let Ok(status) = &late {
        assert!(
            !status.entitled,
            "entitled past the offline period: {status:?}"
        );
    }
    store.release();
    let _ = saving.await.unwrap();
    let now = agent.asked_status().await;
    assert!(!now.entitled, "{now:?}");
}

/// An agent in this process for `companion`, on a clock the test moves, whose credential store
/// asks its user when told to.
async fn asking_agent(companion: &Companion) -> (Agent, Arc<ManualClock>, AskingStore) {
    let config = CompanionConfig::load(&companion.config).unwrap();
    let clock = Arc::new(ManualClock::new(OffsetDateTime::now_utc()));
    let store = AskingStore::default();
    let mut options = AgentOptions::new(config);
    options.clock = clock.clone();
    options.notifier = Arc::new(Recorded::default());
    options.machine = Box::new(FixedMachineId(companion.machine_id.clone()));
    options.credentials = Some(Box::new(store.clone()));
    (Agent::start(options).await.unwrap(), clock, store)
}

/// A seat of a floating licence is not answered for from before while a save waits on the
/// credential store: its end is kept by the monotonic clock and the seats' own view, which a
/// status from before does not follow (a borrow returned elsewhere, or shortened by the
/// server, meanwhile). The app waits for the state as it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_borrowed_seat_is_not_answered_for_from_before_while_the_store_asks() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1_209_600);
    let product = "e2e-clock-prompt-seat";
    let (_, key) = server.licence(product, 1);
    let floating = server.admin(
        "PATCH",
        &format!("/products/{product}"),
        Some(serde_json::json!({"seat_model": "floating"})),
    );
    assert_eq!(floating["product"]["seat_model"], "floating", "{floating}");
    let companion = Companion::new(tmp.path(), &server, product, "");
    let (agent, clock, store) = asking_agent(&companion).await;
    let _answered = Answered(store.clone());
    let start = clock.now();
    agent.activate(&key).await.unwrap();
    agent.borrow(start + Duration::days(3)).await.unwrap();
    let borrowed = agent.asked_status().await;
    assert!(borrowed.entitled, "{borrowed:?}");

    // Half an hour on, an activation request is saved (the borrow's clock mark moved on, so
    // the anchor is written), and the store asks its user.
    store.ask();
    clock.set(start + Duration::minutes(30));
    agent.asked_status().await; // the clock read: its mark moves on
    let saving = tokio::spawn({
        let agent = agent.clone();
        async move { agent.request_file().await }
    });
    store.until_a_write_waits().await;
    let meanwhile = tokio::time::timeout(StdDuration::from_secs(2), agent.asked_status()).await;
    assert!(
        meanwhile.is_err(),
        "answered from before while the store asks: {meanwhile:?}"
    );
    store.release();
    saving.await.unwrap().unwrap();
    let after = agent.asked_status().await;
    assert!(after.entitled, "the seat is still borrowed here: {after:?}");
}

/// Attack: turn the clock back a little at a time — 50 minutes every 50 minutes, each step
/// within the tolerance — so that the wall clock never gets past the hour the licence was
/// last checked at, and the offline period never runs. Time passes all the same by the steady
/// clock: the mark moves on with it, and the wall clock soon falls more than the tolerance
/// behind. (An honest correction of less than an hour, once, changes nothing: the first turn.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_turned_back_a_little_at_a_time_does_not_hold_time_still() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::start(tmp.path(), 1_209_600);
    let (_, key) = server.licence("e2e-clock-creep", 1);
    let companion = Companion::new(tmp.path(), &server, "e2e-clock-creep", "");
    let Rig { agent, clock, .. } = rig(&companion).await;
    let start = clock.now();
    agent.activate(&key).await.unwrap();
    // Offline: an online refresh would set the mark from the server's time.
    server.stop();
    let mut states = Vec::new();
    for _ in 0..4 {
        clock.pass(StdDuration::from_secs(50 * 60));
        states.push(agent.status().await.state);
        clock.set(start);
    }
    assert_eq!(
        states[0],
        LicenseState::Active,
        "50 minutes back once is within the tolerance"
    );
    let status = agent.status().await;
    assert_eq!(
        (status.state, status.entitled),
        (LicenseState::ClockTampered, false),
        "time held still by small steps back: {states:?}"
    );
}

/// An honest user whose clock ran two hours ahead from the start (a dual boot that keeps the
/// hardware clock in local time): corrected, the clock is flagged until one online refresh,
/// which clears it for good — the steady clock does not carry the old, wrong mark back up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_that_ran_ahead_is_cleared_for_good_by_one_refresh() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1_209_600);
    let (_, key) = server.licence("e2e-clock-ahead", 1);
    let companion = Companion::new(tmp.path(), &server, "e2e-clock-ahead", "");
    let Rig { agent, clock, .. } = rig(&companion).await;
    let start = clock.now();
    clock.set(start + Duration::hours(2));
    agent.activate(&key).await.unwrap();
    clock.pass(StdDuration::from_secs(3 * 3600));
    assert!(agent.status().await.entitled);
    // Put right (the server's time): more than the hour behind the mark, until a refresh.
    clock.set(start);
    assert_eq!(agent.status().await.state, LicenseState::ClockTampered);
    let cleared = agent.refresh().await.unwrap();
    assert!(cleared.entitled, "{cleared:?}");
    clock.pass(StdDuration::from_secs(60));
    let later = agent.status().await;
    assert_eq!(
        (later.state, later.entitled),
        (LicenseState::Active, true),
        "the old mark came back"
    );
}

/// An answer to a request, fetched on the same trip as the one imported and kept for later,
/// does not start the offline period again when imported with the clock turned back: an
/// import is not the time now. (Requests made before an import are void besides.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_kept_for_later_does_not_restart_time_with_the_clock_turned_back() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::start(tmp.path(), 1_209_600);
    let (_, key) = server.licence("e2e-clock-kept-answer", 1);
    let companion = Companion::new(tmp.path(), &server, "e2e-clock-kept-answer", "");
    let Rig { agent, clock, .. } = rig(&companion).await;
    let start = clock.now();
    let first = server.offline_activation(&key, &agent.request_file().await.unwrap());
    assert!(agent.import(&first).await.unwrap().entitled);
    let kept = server.offline_activation(&key, &agent.request_file().await.unwrap());
    server.stop();
    clock.pass(StdDuration::from_secs(13 * 86_400));
    assert!(agent.status().await.entitled);
    clock.set(start + Duration::minutes(1));
    assert_eq!(agent.status().await.state, LicenseState::ClockTampered);
    let imported = agent.import(&kept).await;
    let status = agent.status().await;
    assert_eq!(
        (status.state, status.entitled),
        (LicenseState::ClockTampered, false),
        "the kept answer restarted the offline period: {imported:?}"
    );
}

/// A machine with no network whose clock once ran ahead, put right since, is not locked out:
/// the answer to a request made since clears it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_once_ahead_is_cleared_by_the_answer_to_a_request_made_since() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1_209_600);
    let (_, key) = server.licence("e2e-clock-ahead-offline", 1);
    let companion = Companion::new(tmp.path(), &server, "e2e-clock-ahead-offline", "");
    let Rig { agent, clock, .. } = rig(&companion).await;
    let start = clock.now();
    let first = server.offline_activation(&key, &agent.request_file().await.unwrap());
    assert!(agent.import(&first).await.unwrap().entitled);
    clock.set(start + Duration::days(400));
    agent.status().await;
    clock.set(start + Duration::minutes(5));
    assert_eq!(agent.status().await.state, LicenseState::ClockTampered);
    let answer = server.offline_activation(&key, &agent.request_file().await.unwrap());
    let status = agent.import(&answer).await.unwrap();
    assert_eq!(
        (status.state, status.entitled),
        (LicenseState::Active, true),
        "{status:?}"
    );
}

/// Attack: borrow a seat for three days, turn the wall clock back a month, and let the machine
/// sleep whenever it is not in use, so that neither the wall clock nor a clock that stands
/// still in sleep reaches the borrow's end. The steady clock counts the time that passed,
/// asleep or not: the borrow ends on time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_borrow_ends_on_time_with_the_clock_turned_back() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::start(tmp.path(), 1_209_600);
    let product = "e2e-clock-borrow-back";
    let (_, key) = server.licence(product, 1);
    server.admin(
        "PATCH",
        &format!("/products/{product}"),
        Some(serde_json::json!({"seat_model": "floating"})),
    );
    let companion = Companion::new(tmp.path(), &server, product, "");
    let Rig { agent, clock, .. } = rig(&companion).await;
    let start = clock.now();
    agent.activate(&key).await.unwrap();
    agent.borrow(start + Duration::days(3)).await.unwrap();
    server.stop();
    clock.set(start - Duration::days(30));
    let held = agent.checkout(None).await.map(|(seat, _)| seat);
    assert!(held.is_ok(), "borrowed: {held:?}");
    // Four days pass (asleep, for the most part): the wall clock is still weeks before the
    // borrow's end.
    clock.pass(StdDuration::from_secs(4 * 86_400));
    agent.clock_changed();
    let held = agent.checkout(None).await.map(|(seat, _)| seat);
    assert!(held.is_err(), "the borrow outlived its end: {held:?}");
}
