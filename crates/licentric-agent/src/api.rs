//! The Licentric API client: HTTPS only, idempotent activation retried with back-off and
//! jitter on network errors, 5xx and 429 (honouring `Retry-After`), never on other 4xx.

use std::time::Duration;

use licentric_core::LicenseKey;
use licentric_proto::api::{
    ActivationRequest, ActivationResponse, ApiErrorCode, CheckoutRequest, CheckoutResponse,
    ErrorBody, IDEMPOTENCY_KEY_HEADER, LICENSE_AUTH_SCHEME, LeaseRequest, LeaseResponse,
    ReleaseLeaseRequest, RenewLeaseRequest, ValidateRequest, ValidateResponse,
};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::config::CompanionConfig;

/// Why an API call failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The server could not be reached.
    #[error("cannot reach the licensing server: {0}")]
    Network(String),
    /// The TLS connection was refused: certificate, pin or protocol.
    #[error("the secure connection to the licensing server was refused: {0}")]
    Tls(String),
    /// The server answered with an error it means (4xx).
    #[error("{message}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// The stable code.
        code: ApiErrorCode,
        /// The server's message.
        message: String,
        /// With `machine_limit_reached`.
        max_machines: Option<u32>,
        /// With `license_suspended`, `license_revoked`, `license_expired`: a signed file.
        license_file: Option<String>,
        /// With `machine_not_found` on a checkout: a signed statement.
        statement: Option<String>,
        /// With `seat_move_limit_reached`: when the next move is allowed.
        retry_at: Option<time::OffsetDateTime>,
        /// With `invalid_fingerprint`: the kinds of part that differ from the machine's record
        /// (boxed: rare, and the error stays small).
        changed_components: Option<Box<Vec<String>>>,
    },
    /// The server did not answer within the operation's total time.
    #[error("the licensing server did not answer within {0} seconds")]
    NoAnswer(u64),
    /// The server failed (5xx) or kept asking to slow down (429).
    #[error("the licensing server is unavailable (HTTP {0}); try again later")]
    Unavailable(u16),
    /// The answer was not what the API promises.
    #[error("the licensing server's answer was not understood: {0}")]
    InvalidResponse(String),
}

impl ApiError {
    /// The stable code for status reasons and IPC errors.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Network(_) | ApiError::NoAnswer(_) => "network_unavailable",
            ApiError::Tls(_) => "tls_error",
            ApiError::Rejected { code, .. } => code.as_str(),
            ApiError::Unavailable(_) => "server_unavailable",
            ApiError::InvalidResponse(_) => "invalid_response",
        }
    }
}

/// The largest answer body read from the server: 1 MiB (a licence file is a few KiB). A
/// larger one is refused as it arrives, never buffered whole.
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// A call to the server being tried again: what a person waiting on it is shown (the IPC's
/// `progress` answers it too).
pub use licentric_proto::ipc::Retrying;

tokio::task_local! {
    /// Set around a call the user asked for: only its retries are shown to them, not those of
    /// the scheduler's refresh or of a seat's renewal running beside it.
    static ASKED: ();
}

/// Runs `call` as the user's own: its retries are what [`ApiClient::retrying`] shows while it
/// runs.
pub async fn asked_by_the_user<F: Future>(call: F) -> F::Output {
    ASKED.scope((), call).await
}

/// Whether the call running now is one the user asked for.
fn for_the_user() -> bool {
    ASKED.try_with(|()| ()).is_ok()
}

/// The client.
#[derive(Debug, Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    base: String,
    attempts: u32,
    retry_base: Duration,
    /// The longest one call may take, retries and waits included.
    total: Duration,
    /// A call being tried again now, if any (shared by the client's clones).
    retrying: std::sync::Arc<std::sync::Mutex<Option<Retrying>>>,
}

impl ApiClient {
    /// A client for `config`.
    ///
    /// # Errors
    /// When the TLS configuration or proxy is invalid.
    pub fn new(config: &CompanionConfig) -> Result<ApiClient, String> {
        let tls = crate::tls::client_config(config)?;
        let mut builder = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .https_only(true)
            .timeout(Duration::from_secs(config.refresh.timeout_seconds))
            .connect_timeout(Duration::from_secs(config.refresh.timeout_seconds.min(10)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("licentric-companion/", env!("CARGO_PKG_VERSION")));
        if let Some(proxy) = &config.proxy {
            builder =
                builder.proxy(reqwest::Proxy::https(proxy).map_err(|e| format!("proxy: {e}"))?);
        }
        let http = builder.build().map_err(|e| e.to_string())?;
        Ok(ApiClient {
            http,
            base: config.api_base_url.trim_end_matches('/').to_owned(),
            attempts: config.refresh.attempts,
            retry_base: Duration::from_millis(config.refresh.retry_base_ms),
            total: Duration::from_secs(config.refresh.total_seconds),
            retrying: std::sync::Arc::default(),
        })
    }

    /// The call the user asked for being tried again now, if any.
    pub fn retrying(&self) -> Option<Retrying> {
        self.retrying
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn set_retrying(&self, retrying: Option<Retrying>) {
        *self
            .retrying
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = retrying;
    }

    /// `POST /v1/activations` with one `Idempotency-Key` for all of this attempt's retries.
    ///
    /// # Errors
    /// [`ApiError`].
    pub async fn activate(
        &self,
        key: &LicenseKey,
        body: &ActivationRequest,
        idempotency_key: &str,
    ) -> Result<ActivationResponse, ApiError> {
        self.call(
            Method::POST,
            "/v1/activations",
            key,
            Some(body),
            Some(idempotency_key),
        )
        .await
    }

    /// `POST /v1/machines/{id}/checkout`.
    ///
    /// # Errors
    /// [`ApiError`].
    pub async fn checkout(
        &self,
        key: &LicenseKey,
        machine_id: &str,
        body: &CheckoutRequest,
    ) -> Result<CheckoutResponse, ApiError> {
        self.call(
            Method::POST,
            &format!("/v1/machines/{}/checkout", encode(machine_id)),
            key,
            Some(body),
            None,
        )
        .await
    }

    /// `POST /v1/machines/{id}/validate`: the cheap check of a machine in use.
    ///
    /// # Errors
    /// [`ApiError`].
    pub async fn validate(
        &self,
        key: &LicenseKey,
        machine_id: &str,
        body: &ValidateRequest,
    ) -> Result<ValidateResponse, ApiError> {
        self.call(
            Method::POST,
            &format!("/v1/machines/{}/validate", encode(machine_id)),
            key,
            Some(body),
            None,
        )
        .await
    }

    /// `POST /v1/leases`: a seat of a floating licence.
    ///
    /// # Errors
    /// [`ApiError`].
    pub async fn lease(
        &self,
        key: &LicenseKey,
        body: &LeaseRequest,
    ) -> Result<LeaseResponse, ApiError> {
        self.call(Method::POST, "/v1/leases", key, Some(body), None)
            .await
    }

    /// `POST /v1/leases/{id}/renew`.
    ///
    /// # Errors
    /// [`ApiError`].
    pub async fn renew_lease(
        &self,
        key: &LicenseKey,
        lease_id: &str,
        body: &RenewLeaseRequest,
    ) -> Result<LeaseResponse, ApiError> {
        self.call(
            Method::POST,
            &format!("/v1/leases/{}/renew", encode(lease_id)),
            key,
            Some(body),
            None,
        )
        .await
    }

    /// `POST /v1/leases/{id}/release`.
    ///
    /// # Errors
    /// [`ApiError`].
    pub async fn release_lease(
        &self,
        key: &LicenseKey,
        lease_id: &str,
        body: &ReleaseLeaseRequest,
    ) -> Result<(), ApiError> {
        let _: serde_json::Value = self
            .call(
                Method::POST,
                &format!("/v1/leases/{}/release", encode(lease_id)),
                key,
                Some(body),
                None,
            )
            .await?;
        Ok(())
    }

    /// `DELETE /v1/machines/{id}`.
    ///
    /// # Errors
    /// [`ApiError`].
    pub async fn deactivate(&self, key: &LicenseKey, machine_id: &str) -> Result<(), ApiError> {
        let _: serde_json::Value = self
            .call::<(), _>(
                Method::DELETE,
                &format!("/v1/machines/{}", encode(machine_id)),
                key,
                None,
                None,
            )
            .await?;
        Ok(())
    }

    /// One call, retried, within the total time: a server that accepts connections and never
    /// answers, or asks to come back later than that, costs the user seconds, not minutes.
    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        key: &LicenseKey,
        body: Option<&B>,
        idempotency_key: Option<&str>,
    ) -> Result<T, ApiError> {
        let deadline = tokio::time::Instant::now() + self.total;
        match tokio::time::timeout_at(
            deadline,
            self.call_until(deadline, method, path, key, body, idempotency_key),
        )
        .await
        {
            Ok(result) => result,
            Err(_) => Err(ApiError::NoAnswer(self.total.as_secs())),
        }
    }

    async fn call_until<B: Serialize, T: DeserializeOwned>(
        &self,
        deadline: tokio::time::Instant,
        method: Method,
        path: &str,
        key: &LicenseKey,
        body: Option<&B>,
        idempotency_key: Option<&str>,
    ) -> Result<T, ApiError> {
        let url = format!("{}{path}", self.base);
        // However the user's call ends — an answer, an error, or dropped when the user cancels
        // — it is no longer being tried again.
        let _done = for_the_user().then(|| ClearRetrying(self));
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request = self.http.request(method.clone(), &url).header(
                reqwest::header::AUTHORIZATION,
                format!("{LICENSE_AUTH_SCHEME} {}", key.expose_secret()),
            );
            if let Some(body) = body {
                request = request.json(body);
            }
            if let Some(k) = idempotency_key {
                request = request.header(IDEMPOTENCY_KEY_HEADER, k);
            }
            let outcome = match request.send().await {
                Ok(response) => read(response).await,
                Err(e) => Err((classify(&e), None)),
            };
            match outcome {
                Ok(value) => return Ok(value),
                Err((error, retry_after)) => {
                    let retryable =
                        matches!(error, ApiError::Network(_) | ApiError::Unavailable(_));
                    if !retryable || attempt >= self.attempts {
                        return Err(error);
                    }
                    let backoff = self.retry_base.saturating_mul(1 << (attempt - 1).min(10));
                    let jitter =
                        licentric_core::random::random_unit_signed(&mut licentric_core::OsRandom)
                            .unwrap_or(0.0);
                    let delay = retry_after
                        .unwrap_or_else(|| backoff.mul_f64(1.0 + 0.2 * jitter))
                        .min(Duration::from_secs(60));
                    if tokio::time::Instant::now() + delay >= deadline {
                        // Waiting would outlast the call: say so now (the scheduler backs off).
                        return Err(error);
                    }
                    if for_the_user() {
                        self.set_retrying(Some(Retrying {
                            attempt: attempt + 1,
                            of: self.attempts,
                            because: error.code().to_owned(),
                        }));
                    }
                    tracing::debug!(attempt, code = error.code(), ?delay, "retrying an API call");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }
}

/// Clears [`ApiClient::retrying`] when dropped.
struct ClearRetrying<'a>(&'a ApiClient);

impl Drop for ClearRetrying<'_> {
    fn drop(&mut self) {
        self.0.set_retrying(None);
    }
}

fn encode(segment: &str) -> String {
    segment
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
        .collect()
}

async fn read<T: DeserializeOwned>(
    response: reqwest::Response,
) -> Result<T, (ApiError, Option<Duration>)> {
    let status = response.status();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_secs);
    let bytes = read_capped(response).await?;
    if status.is_success() {
        let bytes = if status == StatusCode::NO_CONTENT || bytes.is_empty() {
            &b"null"[..]
        } else {
            &bytes[..]
        };
        return serde_json::from_slice(bytes)
            .map_err(|e| (ApiError::InvalidResponse(e.to_string()), None));
    }
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        return Err((ApiError::Unavailable(status.as_u16()), retry_after));
    }
    match serde_json::from_slice::<ErrorBody>(&bytes) {
        Ok(body) => Err((
            ApiError::Rejected {
                status: status.as_u16(),
                code: body.error.code,
                message: body.error.message,
                max_machines: body.error.max_machines,
                license_file: body.error.license_file,
                statement: body.error.statement,
                retry_at: body.error.retry_at.as_deref().and_then(|t| {
                    time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                        .ok()
                }),
                changed_components: body.error.changed_components.map(Box::new),
            },
            None,
        )),
        Err(_) => Err((
            ApiError::InvalidResponse(format!("HTTP {status} without an error body")),
            None,
        )),
    }
}

/// The body, refused as soon as it passes [`MAX_RESPONSE_BYTES`].
async fn read_capped(
    mut response: reqwest::Response,
) -> Result<Vec<u8>, (ApiError, Option<Duration>)> {
    let too_large = || {
        (
            ApiError::InvalidResponse(format!(
                "the answer is larger than {MAX_RESPONSE_BYTES} bytes"
            )),
            None,
        )
    };
    if response
        .content_length()
        .is_some_and(|n| n > MAX_RESPONSE_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| (classify(&e), None))? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Tells TLS failures (certificate, pin, version) from other network failures.
fn classify(error: &reqwest::Error) -> ApiError {
    if let Some(tls) = find_rustls(error) {
        return ApiError::Tls(tls.to_string());
    }
    if error.is_timeout() {
        return ApiError::Network("the request timed out".into());
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    ApiError::Network(text)
}

/// The rustls error somewhere in `error`'s chain. `io::Error`s are opened explicitly: their
/// `source()` skips the error they wrap, and hyper wraps rustls's in two of them.
fn find_rustls<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    if let Some(tls) = error.downcast_ref::<rustls::Error>() {
        return Some(tls);
    }
    if let Some(io) = error.downcast_ref::<std::io::Error>()
        && let Some(inner) = io.get_ref()
        && let Some(tls) = find_rustls(inner)
    {
        return Some(tls);
    }
    error.source().and_then(find_rustls)
}
