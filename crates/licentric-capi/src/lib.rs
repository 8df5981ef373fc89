//! The C ABI of the Licentric client library: most desktop software is C, C++ or C#, and asks
//! the companion through this.
//!
//! `include/licentric.h` is the header (generated from this file by cbindgen; a test keeps it
//! current). Everything returns a [`LicentricResult`] as a plain value; strings in and out are
//! NUL-terminated UTF-8; nothing here panics across the boundary. Like the Rust library, every
//! call times out and on any doubt the answer is an error, never "entitled".
//!
//! ```c
//! licentric_client *client = NULL;
//! bool entitled = false;
//! if (licentric_connect("acme-cad", "live", &client) == LICENTRIC_OK
//!     && licentric_has_entitlement(client, "pro", &entitled) == LICENTRIC_OK && entitled) {
//!     /* the feature is licensed */
//! }
//! licentric_close(client);
//! ```
//!
//! A subscription calls back on a thread of its own at every change
//! ([`licentric_subscribe`]), until [`licentric_subscription_stop`]. A floating licence's seat
//! is held by the connection that checks it out ([`licentric_checkout`], or
//! [`licentric_checkout_checked`] to check its signed lease here too).
#![deny(missing_docs)]
// A C ABI is made of raw pointers the caller passes; each use is checked for null and says
// what it relies on. No other crate of the workspace needs `unsafe`.
#![allow(unsafe_code)]
#![allow(clippy::missing_safety_doc)] // the header's comments say what each function needs

use std::ffi::{CStr, c_char, c_void};
use std::os::raw::c_int;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use licentric_client::{Client, ClientError, Environment, ErrorCode, LicenseState, LicenseStatus};

mod checked;
mod seats;
pub use checked::licentric_has_entitlement_checked;
pub use seats::{LicentricSeat, licentric_checkout, licentric_checkout_checked, licentric_release};

/// What a call did.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LicentricResult {
    /// It worked.
    LicentricOk = 0,
    /// No agent is running (or none answers at the socket).
    LicentricNotRunning = 1,
    /// The socket failed the checks (another user's folder or listener): nothing was sent.
    LicentricUnsafeEndpoint = 2,
    /// The agent serves another product or environment.
    LicentricWrongAgent = 3,
    /// The agent did not answer in time.
    LicentricTimeout = 4,
    /// The agent answered with an error.
    LicentricAgentError = 5,
    /// The connection failed, or an answer was malformed.
    LicentricIoError = 6,
    /// An argument was null, not UTF-8, or not a known value.
    LicentricInvalidArgument = 7,
    /// The agent speaks another protocol version.
    LicentricProtocolMismatch = 8,
    /// What the agent answered did not pass the checks made here (a seat's signed lease).
    LicentricNotVerified = 9,
    /// The agent refused the connection: it serves as many as it may, or this process holds
    /// its share of them (close the clients it no longer uses). Try again later.
    LicentricTooManyConnections = 10,
}

/// The licence state, as in the IPC `status`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LicentricState {
    /// Not activated.
    LicentricUnlicensed = 0,
    /// Licensed.
    LicentricActive = 1,
    /// Licensed, the renewal overdue (offline).
    LicentricGrace = 2,
    /// The offline period is over.
    LicentricOfflineExpired = 3,
    /// Suspended by the vendor.
    LicentricSuspended = 4,
    /// Revoked by the vendor.
    LicentricRevoked = 5,
    /// The licence expired.
    LicentricLicenseExpired = 6,
    /// The clock was turned back, or the local records cannot vouch for the licence.
    LicentricClockTampered = 7,
    /// The saved licence is damaged.
    LicentricInvalid = 8,
    /// A state this library does not know (a newer agent).
    LicentricUnknownState = 99,
}

/// A status, in plain values.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct LicentricStatus {
    /// The state.
    pub state: LicentricState,
    /// Whether the software may be used now.
    pub entitled: bool,
    /// Whether the last attempt to reach the licensing server failed.
    pub offline: bool,
    /// The stable reason code (`network_unavailable`, …), or empty.
    pub reason: [c_char; 64],
    /// The state in a few words, for people.
    pub summary: [c_char; 64],
    /// What it means and what to do.
    pub detail: [c_char; 512],
}

/// A connection to the agent (opaque).
pub struct LicentricClient {
    client: Client,
    product: String,
    environment: Environment,
    /// The agent's last refusal (its stable code and its message), or why a check made here
    /// failed.
    last_error: Option<(String, String)>,
}

impl LicentricClient {
    /// The result of a call, its refusal remembered for `licentric_last_error`.
    fn answered<T>(&mut self, outcome: Result<T, ClientError>) -> LicentricResult {
        match outcome {
            Ok(_) => LicentricResult::LicentricOk,
            Err(e) => {
                self.last_error = Some(match &e {
                    ClientError::Agent(rpc) => (
                        rpc.data
                            .as_ref()
                            .map_or_else(|| "error".to_owned(), |d| d.code.clone()),
                        rpc.message.clone(),
                    ),
                    other => (String::new(), other.to_string()),
                });
                result_of(&e)
            }
        }
    }
}

/// Why the last call on a client failed, in plain values.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct LicentricErrorDetail {
    /// The agent's stable code (`no_seat_available`, `not_entitled`…), `not_verified` for a
    /// check made here, or empty.
    pub code: [c_char; 64],
    /// A sentence saying why.
    pub message: [c_char; 512],
}

/// A running subscription (opaque).
pub struct LicentricSubscription {
    stop: Arc<AtomicBool>,
    closer: Option<licentric_client::Closer>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Called at every status change, on the subscription's own thread.
pub type LicentricStatusCallback =
    Option<unsafe extern "C" fn(status: *const LicentricStatus, user_data: *mut c_void)>;

/// Every result, to turn a number from C back into one.
const RESULTS: [LicentricResult; 11] = [
    LicentricResult::LicentricOk,
    LicentricResult::LicentricNotRunning,
    LicentricResult::LicentricUnsafeEndpoint,
    LicentricResult::LicentricWrongAgent,
    LicentricResult::LicentricTimeout,
    LicentricResult::LicentricAgentError,
    LicentricResult::LicentricIoError,
    LicentricResult::LicentricInvalidArgument,
    LicentricResult::LicentricProtocolMismatch,
    LicentricResult::LicentricNotVerified,
    LicentricResult::LicentricTooManyConnections,
];

fn result_of(e: &ClientError) -> LicentricResult {
    match e {
        ClientError::NotRunning(_) => LicentricResult::LicentricNotRunning,
        ClientError::Unsafe(_) => LicentricResult::LicentricUnsafeEndpoint,
        ClientError::WrongAgent { .. } => LicentricResult::LicentricWrongAgent,
        ClientError::Timeout => LicentricResult::LicentricTimeout,
        ClientError::Agent(e) if e.error_code() == Some(ErrorCode::TooManyConnections) => {
            LicentricResult::LicentricTooManyConnections
        }
        ClientError::Agent(_) => LicentricResult::LicentricAgentError,
        ClientError::Protocol { .. } => LicentricResult::LicentricProtocolMismatch,
        _ => LicentricResult::LicentricIoError,
    }
}

/// A C string argument, if it is one.
///
/// # Safety
/// `text` is null or points to a NUL-terminated string that lives for the call.
unsafe fn text<'a>(text: *const c_char) -> Option<&'a str> {
    if text.is_null() {
        return None;
    }
    // SAFETY: not null, and the caller promises a NUL-terminated string (the header says so).
    unsafe { CStr::from_ptr(text) }.to_str().ok()
}

fn environment(name: &str) -> Option<Environment> {
    name.parse().ok()
}

fn copy_into<const N: usize>(target: &mut [c_char; N], value: &str) {
    // Cut at a character boundary so the copy stays valid UTF-8, and keep room for the NUL.
    let mut end = value.len().min(N - 1);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    for (slot, byte) in target.iter_mut().zip(value.as_bytes()[..end].iter()) {
        *slot = *byte as c_char;
    }
    target[end] = 0;
}

fn plain(status: &LicenseStatus) -> LicentricStatus {
    let state = match status.state {
        LicenseState::Unlicensed => LicentricState::LicentricUnlicensed,
        LicenseState::Active => LicentricState::LicentricActive,
        LicenseState::Grace => LicentricState::LicentricGrace,
        LicenseState::OfflineExpired => LicentricState::LicentricOfflineExpired,
        LicenseState::Suspended => LicentricState::LicentricSuspended,
        LicenseState::Revoked => LicentricState::LicentricRevoked,
        LicenseState::LicenseExpired => LicentricState::LicentricLicenseExpired,
        LicenseState::ClockTampered => LicentricState::LicentricClockTampered,
        LicenseState::Invalid => LicentricState::LicentricInvalid,
    };
    let mut out = LicentricStatus {
        state,
        entitled: status.entitled && status.state.is_entitled(),
        offline: status.offline,
        reason: [0; 64],
        summary: [0; 64],
        detail: [0; 512],
    };
    copy_into(&mut out.reason, status.reason.as_deref().unwrap_or(""));
    copy_into(&mut out.summary, &status.summary);
    copy_into(&mut out.detail, &status.detail);
    out
}

/// Connects to the agent of `product_id` in `environment` (`"live"` or `"test"`) at its
/// default socket, checking the socket (its folder and listener must be this user's) and that
/// the agent serves this product and environment. On success `*out` is a client to pass to
/// the other functions and to free with `licentric_close`.
///
/// # Safety
/// `product_id` and `environment` are NUL-terminated strings; `out` points to writable memory
/// for one pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licentric_connect(
    product_id: *const c_char,
    environment: *const c_char,
    out: *mut *mut LicentricClient,
) -> LicentricResult {
    // SAFETY: forwarded as documented.
    unsafe { licentric_connect_path(std::ptr::null(), product_id, environment, out) }
}

/// As `licentric_connect`, at `socket_path` (null: the default socket).
///
/// # Safety
/// As `licentric_connect`; `socket_path` is null or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licentric_connect_path(
    socket_path: *const c_char,
    product_id: *const c_char,
    environment_name: *const c_char,
    out: *mut *mut LicentricClient,
) -> LicentricResult {
    if out.is_null() {
        return LicentricResult::LicentricInvalidArgument;
    }
    // SAFETY: the arguments are NUL-terminated strings or null, as documented.
    let (product, env) = unsafe { (text(product_id), text(environment_name)) };
    let (Some(product), Some(env)) = (product, env.and_then(environment)) else {
        return LicentricResult::LicentricInvalidArgument;
    };
    let path = if socket_path.is_null() {
        licentric_client::default_socket(product, env)
    } else {
        // SAFETY: not null, a NUL-terminated string as documented.
        match unsafe { text(socket_path) } {
            Some(p) => std::path::PathBuf::from(p),
            None => return LicentricResult::LicentricInvalidArgument,
        }
    };
    match Client::connect_to(&path, product, env) {
        Ok(client) => {
            let boxed = Box::new(LicentricClient {
                client,
                product: product.to_owned(),
                environment: env,
                last_error: None,
            });
            // SAFETY: `out` is not null and points to writable memory for a pointer.
            unsafe { *out = Box::into_raw(boxed) };
            LicentricResult::LicentricOk
        }
        Err(e) => result_of(&e),
    }
}

/// Sets how long a call may wait, in milliseconds (0: the defaults, 5 s for a query; more
/// than a day counts as a day).
///
/// # Safety
/// `client` is a client from `licentric_connect`, not yet closed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licentric_set_timeout(
    client: *mut LicentricClient,
    milliseconds: u64,
) -> LicentricResult {
    // SAFETY: a live client from `licentric_connect`, or null (refused).
    let Some(client) = (unsafe { client.as_mut() }) else {
        return LicentricResult::LicentricInvalidArgument;
    };
    let timeout = (milliseconds > 0).then(|| std::time::Duration::from_millis(milliseconds));
    match client.client.set_timeout(timeout) {
        Ok(()) => LicentricResult::LicentricOk,
        Err(e) => result_of(&e),
    }
}

/// Whether the machine is entitled now to the feature `code`: `*entitled` is true only when
/// the result is `LICENTRIC_OK` and the agent says so.
///
/// # Safety
/// `client` is a live client; `code` a NUL-terminated string; `entitled` points to a bool.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licentric_has_entitlement(
    client: *mut LicentricClient,
    code: *const c_char,
    entitled: *mut bool,
) -> LicentricResult {
    if entitled.is_null() {
        return LicentricResult::LicentricInvalidArgument;
    }
    // SAFETY: `entitled` is not null and points to a bool; it is "not entitled" until proven.
    unsafe { *entitled = false };
    // SAFETY: a live client, or null (refused); `code` a NUL-terminated string or null.
    let (Some(client), Some(code)) = (unsafe { client.as_mut() }, unsafe { text(code) }) else {
        return LicentricResult::LicentricInvalidArgument;
    };
    match client.client.has_entitlement(code) {
        Ok(yes) => {
            // SAFETY: as above.
            unsafe { *entitled = yes };
            LicentricResult::LicentricOk
        }
        Err(e) => client.answered(Err::<(), _>(e)),
    }
}

/// The licence status, into `*out`.
///
/// # Safety
/// `client` is a live client; `out` points to a `licentric_status`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licentric_get_status(
    client: *mut LicentricClient,
    out: *mut LicentricStatus,
) -> LicentricResult {
    // SAFETY: a live client, or null (refused).
    let Some(client) = (unsafe { client.as_mut() }) else {
        return LicentricResult::LicentricInvalidArgument;
    };
    if out.is_null() {
        return LicentricResult::LicentricInvalidArgument;
    }
    match client.client.status() {
        Ok(status) => {
            // SAFETY: `out` is not null and points to a `licentric_status`.
            unsafe { *out = plain(&status) };
            LicentricResult::LicentricOk
        }
        Err(e) => client.answered(Err::<(), _>(e)),
    }
}

/// Why the last call on `client` that failed did, into `*out` (both empty if none has).
///
/// # Safety
/// `client` is a live client; `out` points to a `licentric_error_detail`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licentric_last_error(
    client: *mut LicentricClient,
    out: *mut LicentricErrorDetail,
) -> LicentricResult {
    // SAFETY: a live client, or null (refused).
    let Some(client) = (unsafe { client.as_mut() }) else {
        return LicentricResult::LicentricInvalidArgument;
    };
    if out.is_null() {
        return LicentricResult::LicentricInvalidArgument;
    }
    let mut detail = LicentricErrorDetail {
        code: [0; 64],
        message: [0; 512],
    };
    if let Some((code, message)) = &client.last_error {
        copy_into(&mut detail.code, code);
        copy_into(&mut detail.message, message);
    }
    // SAFETY: `out` is not null and points to a `licentric_error_detail`.
    unsafe { *out = detail };
    LicentricResult::LicentricOk
}

/// Closes a client (null is fine).
///
/// # Safety
/// `client` is null or a client from `licentric_connect`, not used again after this.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licentric_close(client: *mut LicentricClient) {
    if !client.is_null() {
        // SAFETY: made by `Box::into_raw` in `licentric_connect_path`, freed once.
        drop(unsafe { Box::from_raw(client) });
    }
}

/// Subscribes to the status of `product_id` in `environment`: `callback` is called with the
/// current status, then at every change, on a thread of the subscription's own, until
/// `licentric_subscription_stop`. If the agent goes away, the callback gets a last status that
/// is not entitled (`LICENTRIC_UNKNOWN_STATE`, reason `agent_gone`), and the subscription ends.
///
/// # Safety
/// `product_id` and `environment` are NUL-terminated strings; `callback` is safe to call
/// from another thread with `user_data` until the subscription is stopped; `out` points to
/// writable memory for one pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licentric_subscribe(
    product_id: *const c_char,
    environment_name: *const c_char,
    callback: LicentricStatusCallback,
    user_data: *mut c_void,
    out: *mut *mut LicentricSubscription,
) -> LicentricResult {
    let (Some(callback), false) = (callback, out.is_null()) else {
        return LicentricResult::LicentricInvalidArgument;
    };
    // SAFETY: NUL-terminated strings or null, as documented.
    let (product, env) = unsafe { (text(product_id), text(environment_name)) };
    let (Some(product), Some(env)) = (product, env.and_then(environment)) else {
        return LicentricResult::LicentricInvalidArgument;
    };
    let mut client = match Client::connect_default(product, env) {
        Ok(client) => client,
        Err(e) => return result_of(&e),
    };
    let first = match client.subscribe() {
        Ok(status) => status,
        Err(e) => return result_of(&e),
    };
    let closer = client.closer().ok();
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = Arc::clone(&stop);
    // The pointer crosses to the subscription's thread as a number: the caller promised it
    // may be used from there.
    let user = user_data as usize;
    let thread = std::thread::spawn(move || {
        let call = |status: &LicentricStatus| {
            // SAFETY: the caller promised `callback` may be called from this thread with
            // `user_data`; the status lives for the call.
            unsafe { callback(status, user as *mut c_void) }
        };
        call(&plain(&first));
        loop {
            match client.next_change() {
                Ok(status) if !stopped.load(Ordering::SeqCst) => call(&plain(&status)),
                Ok(_) => return,
                Err(_) => {
                    if !stopped.load(Ordering::SeqCst) {
                        let mut gone = plain(&first);
                        gone.state = LicentricState::LicentricUnknownState;
                        gone.entitled = false;
                        gone.offline = false;
                        copy_into(&mut gone.reason, "agent_gone");
                        copy_into(&mut gone.summary, "Unknown");
                        copy_into(&mut gone.detail, "The licensing agent went away.");
                        call(&gone);
                    }
                    return;
                }
            }
        }
    });
    let subscription = Box::new(LicentricSubscription {
        stop,
        closer,
        thread: Some(thread),
    });
    // SAFETY: `out` is not null and points to writable memory for a pointer.
    unsafe { *out = Box::into_raw(subscription) };
    LicentricResult::LicentricOk
}

/// Stops a subscription and waits for its thread: no callback runs after this returns (null
/// is fine). Do not call it from the callback itself.
///
/// # Safety
/// `subscription` is null or from `licentric_subscribe`, not used again after this.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licentric_subscription_stop(subscription: *mut LicentricSubscription) {
    if subscription.is_null() {
        return;
    }
    // SAFETY: made by `Box::into_raw` in `licentric_subscribe`, freed once.
    let mut subscription = unsafe { Box::from_raw(subscription) };
    subscription.stop.store(true, Ordering::SeqCst);
    if let Some(closer) = &subscription.closer {
        closer.close();
    }
    if let Some(thread) = subscription.thread.take() {
        let _ = thread.join();
    }
}

/// A sentence for a result (a static string: do not free it).
#[unsafe(no_mangle)]
pub extern "C" fn licentric_result_message(result: c_int) -> *const c_char {
    // An `int`, not the enum: C may pass any number, and a Rust enum must never hold one it
    // does not name.
    let Some(result) = RESULTS.iter().copied().find(|r| *r as c_int == result) else {
        return c"unknown result".as_ptr();
    };
    let text: &'static CStr = match result {
        LicentricResult::LicentricOk => c"ok",
        LicentricResult::LicentricNotRunning => c"the licensing agent is not running",
        LicentricResult::LicentricUnsafeEndpoint => {
            c"the licensing agent's socket belongs to another user: nothing was sent"
        }
        LicentricResult::LicentricWrongAgent => {
            c"the agent at this socket serves another product or environment"
        }
        LicentricResult::LicentricTimeout => c"the licensing agent did not answer in time",
        LicentricResult::LicentricAgentError => c"the licensing agent refused the request",
        LicentricResult::LicentricIoError => c"the connection to the licensing agent failed",
        LicentricResult::LicentricInvalidArgument => c"an argument is missing or malformed",
        LicentricResult::LicentricProtocolMismatch => {
            c"the licensing agent speaks another protocol version"
        }
        LicentricResult::LicentricNotVerified => {
            c"the licensing agent's answer did not pass the checks made here"
        }
        LicentricResult::LicentricTooManyConnections => {
            c"the licensing agent serves as many connections as it may, or this program holds its share: close the clients it no longer uses"
        }
    };
    text.as_ptr()
}

/// The library's version, as `"0.1.0"` (a static string).
#[unsafe(no_mangle)]
pub extern "C" fn licentric_version() -> *const c_char {
    const VERSION: &CStr =
        match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
            Ok(v) => v,
            Err(_) => c"unknown",
        };
    VERSION.as_ptr()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn the_header_is_generated_from_this_file() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("include/licentric.h");
        let config = cbindgen::Config::from_file(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("cbindgen.toml"),
        )
        .unwrap();
        let mut generated = Vec::new();
        cbindgen::Builder::new()
            .with_crate(env!("CARGO_MANIFEST_DIR"))
            .with_config(config)
            .generate()
            .unwrap()
            .write(&mut generated);
        if std::env::var_os("LICENTRIC_UPDATE_GOLDEN").is_some() {
            std::fs::write(&path, &generated).unwrap();
        }
        let committed = std::fs::read(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "include/licentric.h is stale: regenerate it with LICENTRIC_UPDATE_GOLDEN=1 cargo test -p licentric-capi"
        );
    }

    #[test]
    fn bad_arguments_are_refused_not_crashed_on() {
        let mut out = std::ptr::null_mut();
        // SAFETY: null and static strings, as the functions accept.
        unsafe {
            assert_eq!(
                licentric_connect(std::ptr::null(), c"live".as_ptr(), &mut out),
                LicentricResult::LicentricInvalidArgument
            );
            assert_eq!(
                licentric_connect(c"acme-cad".as_ptr(), c"staging".as_ptr(), &mut out),
                LicentricResult::LicentricInvalidArgument
            );
            let mut entitled = true;
            assert_eq!(
                licentric_has_entitlement(std::ptr::null_mut(), c"pro".as_ptr(), &mut entitled),
                LicentricResult::LicentricInvalidArgument
            );
            assert!(!entitled, "not entitled until proven");
            let mut seat = std::mem::zeroed::<LicentricSeat>();
            assert_eq!(
                licentric_checkout(std::ptr::null_mut(), std::ptr::null(), &mut seat),
                LicentricResult::LicentricInvalidArgument
            );
            assert_eq!(
                licentric_checkout_checked(
                    std::ptr::null_mut(),
                    std::ptr::null(),
                    std::ptr::null(),
                    1,
                    &mut seat
                ),
                LicentricResult::LicentricInvalidArgument,
                "no keys"
            );
            assert_eq!(
                licentric_release(std::ptr::null_mut()),
                LicentricResult::LicentricInvalidArgument
            );
            let mut detail = std::mem::zeroed::<LicentricErrorDetail>();
            assert_eq!(
                licentric_last_error(std::ptr::null_mut(), &mut detail),
                LicentricResult::LicentricInvalidArgument
            );
            licentric_close(std::ptr::null_mut());
            licentric_subscription_stop(std::ptr::null_mut());
        }
    }

    #[test]
    fn any_number_gets_a_message_and_every_result_its_own() {
        for (i, result) in RESULTS.iter().enumerate() {
            assert_eq!(*result as usize, i, "RESULTS lists every result in order");
        }
        let unknown = c"unknown result".as_ptr();
        for code in [-1, 11, 99, c_int::MAX, c_int::MIN] {
            assert_eq!(licentric_result_message(code), unknown, "{code}");
        }
        let messages: std::collections::HashSet<_> = RESULTS
            .iter()
            .map(|r| licentric_result_message(*r as c_int))
            .collect();
        assert_eq!(messages.len(), RESULTS.len());
        assert!(!messages.contains(&unknown));
    }

    #[test]
    fn long_words_are_cut_at_a_character() {
        let mut buf = [1 as c_char; 8];
        copy_into(&mut buf, "ééééé");
        // SAFETY: copy_into always ends the buffer with a NUL.
        let text = unsafe { CStr::from_ptr(buf.as_ptr()) }.to_str().unwrap();
        assert_eq!(text, "ééé");
    }
}
