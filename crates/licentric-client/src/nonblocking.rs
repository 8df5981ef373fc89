//! The async client (feature `tokio`): the same calls as [`Client`](crate::Client), awaited.

use std::collections::VecDeque;
use std::path::Path;

use crate::ClientError;
use crate::transport::{AsyncReadHalf, AsyncWriteHalf};
use licentric_proto::framing::{MAX_LINE_BYTES, encode_line};
use licentric_proto::ipc::{
    ActivateParams, BorrowParams, Call, CancelResult, CheckoutResult, ClientSeen, ClientsResult,
    FingerprintResult, HasEntitlementParams, HasEntitlementResult, ImportLicenseFileParams,
    LicenseFileResult, ProgressResult, RequestFileResult, Retrying, ReturnResult, Status,
    SubscribeResult, VersionResult,
};
use licentric_proto::jsonrpc::{Id, ServerMessage};
use serde::de::DeserializeOwned;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// An async connection to the agent.
pub struct AsyncClient {
    reader: BufReader<AsyncReadHalf>,
    writer: AsyncWriteHalf,
    next_id: i64,
    pending: VecDeque<Status>,
    timeout: Option<std::time::Duration>,
}

impl std::fmt::Debug for AsyncClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncClient").finish_non_exhaustive()
    }
}

impl AsyncClient {
    /// Connects to the agent at `path` and checks its protocol version.
    ///
    /// # Errors
    /// [`ClientError::NotRunning`], [`ClientError::Unsafe`] (nothing was sent) or
    /// [`ClientError::Protocol`].
    pub async fn connect(path: &Path) -> Result<AsyncClient, ClientError> {
        AsyncClient::open(path, None).await
    }

    /// As [`connect`](Self::connect), and checks that the agent serves `product_id` in
    /// `environment`.
    ///
    /// # Errors
    /// As [`connect`](Self::connect), and [`ClientError::WrongAgent`].
    pub async fn connect_to(
        path: &Path,
        product_id: &str,
        environment: crate::Environment,
    ) -> Result<AsyncClient, ClientError> {
        AsyncClient::open(path, Some((product_id, environment))).await
    }

    async fn open(
        path: &Path,
        expect: Option<(&str, crate::Environment)>,
    ) -> Result<AsyncClient, ClientError> {
        let (read, writer) = crate::transport::open_async(path).await?;
        let mut client = AsyncClient {
            reader: BufReader::new(read),
            writer,
            next_id: 1,
            pending: VecDeque::new(),
            timeout: None,
        };
        let version: VersionResult = client.call(Call::Version).await?;
        crate::check_version(&version, expect)?;
        Ok(client)
    }

    /// Connects to the agent of `product_id` in `environment` at its default socket.
    ///
    /// # Errors
    /// As [`connect`](Self::connect).
    pub async fn connect_default(
        product_id: &str,
        environment: crate::Environment,
    ) -> Result<AsyncClient, ClientError> {
        AsyncClient::connect_to(
            &crate::default_socket(product_id, environment),
            product_id,
            environment,
        )
        .await
    }

    async fn read_message(&mut self) -> Result<ServerMessage, ClientError> {
        let mut line = Vec::new();
        let n = (&mut self.reader)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut line)
            .await
            .map_err(|e| ClientError::Io(e.to_string()))?;
        if n == 0 {
            return Err(ClientError::Io("the agent closed the connection".into()));
        }
        serde_json::from_slice(&line).map_err(|e| ClientError::Io(format!("malformed answer: {e}")))
    }

    /// Sends `call` and awaits its answer.
    ///
    /// # Errors
    /// [`ClientError::Agent`] for an error answer, [`ClientError::Io`] otherwise.
    pub async fn call<T: DeserializeOwned>(&mut self, call: Call) -> Result<T, ClientError> {
        let limit = self
            .timeout
            .unwrap_or_else(|| crate::default_timeout(&call));
        tokio::time::timeout(limit, self.call_unbounded(call))
            .await
            .map_err(|_| ClientError::Timeout)?
    }

    async fn call_unbounded<T: DeserializeOwned>(&mut self, call: Call) -> Result<T, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        let line = encode_line(&call.into_request(Id::Number(id)))
            .map_err(|e| ClientError::Io(e.to_string()))?;
        self.writer
            .write_all(&line)
            .await
            .map_err(|e| ClientError::Io(e.to_string()))?;
        loop {
            let message = self.read_message().await?;
            if let Some(answer) = crate::answer_to(message, id, &mut self.pending) {
                return answer;
            }
        }
    }

    /// The licence status.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub async fn status(&mut self) -> Result<Status, ClientError> {
        self.call(Call::Status).await
    }

    /// Whether the machine is entitled now to `code`.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub async fn has_entitlement(&mut self, code: &str) -> Result<bool, ClientError> {
        let r: HasEntitlementResult = self
            .call(Call::HasEntitlement(HasEntitlementParams {
                code: code.to_owned(),
            }))
            .await?;
        Ok(r.entitled)
    }

    /// The signed licence file, if any.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub async fn license_file(&mut self) -> Result<Option<String>, ClientError> {
        let r: LicenseFileResult = self.call(Call::LicenseFile).await?;
        Ok(r.license_file)
    }

    /// This machine's fingerprint for the product.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub async fn fingerprint(&mut self) -> Result<String, ClientError> {
        Ok(self.machine().await?.fingerprint)
    }

    /// This machine as the agent identifies it: the fingerprint, what the system runs in, and
    /// each kind of part with the first characters of its hashes (never a raw value).
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub async fn machine(&mut self) -> Result<FingerprintResult, ClientError> {
        self.call(Call::Fingerprint).await
    }

    /// Activates the machine (a management method).
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub async fn activate(&mut self, license_key: &str) -> Result<Status, ClientError> {
        self.call(Call::Activate(ActivateParams {
            license_key: license_key.to_owned(),
        }))
        .await
    }

    /// Deactivates the machine (a management method).
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub async fn deactivate(&mut self) -> Result<Status, ClientError> {
        self.call(Call::Deactivate).await
    }

    /// Refreshes the licence now (a management method).
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub async fn refresh(&mut self) -> Result<Status, ClientError> {
        self.call(Call::Refresh).await
    }

    /// Imports a licence file that answers a request this machine made (a management method).
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub async fn import_license_file(&mut self, text: &str) -> Result<Status, ClientError> {
        self.call(Call::ImportLicenseFile(ImportLicenseFileParams {
            text: text.to_owned(),
        }))
        .await
    }

    /// Makes an activation request file for this machine (a management method).
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub async fn request_file(&mut self) -> Result<String, ClientError> {
        let r: RequestFileResult = self.call(Call::RequestFile).await?;
        Ok(r.text)
    }

    /// Borrows a seat of the floating licence until `until` (RFC 3339), a management method.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub async fn borrow(&mut self, until: &str) -> Result<CheckoutResult, ClientError> {
        self.call(Call::Borrow(BorrowParams {
            until: until.to_owned(),
        }))
        .await
    }

    /// Returns the borrowed seat early, a management method.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub async fn return_seat(&mut self) -> Result<ReturnResult, ClientError> {
        self.call(Call::Return).await
    }

    /// The call to the server being tried again now, if any: for the person waiting on an
    /// operation another connection asked for.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub async fn progress(&mut self) -> Result<Option<Retrying>, ClientError> {
        let r: ProgressResult = self.call(Call::Progress).await?;
        Ok(r.retrying)
    }

    /// Stops waiting for the server in the user's operation running now, asked on another
    /// connection (a management method): that call ends with the error `cancelled`.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub async fn cancel(&mut self) -> Result<(), ClientError> {
        let _: CancelResult = self.call(Call::Cancel).await?;
        Ok(())
    }

    /// The local applications that asked the agent recently, the most recent first.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub async fn clients(&mut self) -> Result<Vec<ClientSeen>, ClientError> {
        let r: ClientsResult = self.call(Call::Clients).await?;
        Ok(r.clients)
    }

    /// Subscribes; [`next_change`](Self::next_change) then yields each change.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub async fn subscribe(&mut self) -> Result<Status, ClientError> {
        let r: SubscribeResult = self.call(Call::Subscribe).await?;
        Ok(r.status)
    }

    /// The next status change (after [`subscribe`](Self::subscribe)).
    ///
    /// # Errors
    /// When the connection fails.
    pub async fn next_change(&mut self) -> Result<Status, ClientError> {
        match self.timeout {
            Some(limit) => tokio::time::timeout(limit, self.next_change_unbounded())
                .await
                .map_err(|_| ClientError::Timeout)?,
            None => self.next_change_unbounded().await,
        }
    }

    /// Sets how long a call may wait for its answer, and [`next_change`](Self::next_change)
    /// for a change (`None`: the defaults; outside [`TIMEOUT_RANGE`](crate::TIMEOUT_RANGE), the
    /// nearest bound).
    pub fn set_timeout(&mut self, timeout: Option<std::time::Duration>) {
        self.timeout = crate::bounded(timeout);
    }

    async fn next_change_unbounded(&mut self) -> Result<Status, ClientError> {
        loop {
            if let Some(status) = self.pending.pop_front() {
                return Ok(status);
            }
            let message = self.read_message().await?;
            crate::queue_change(message, &mut self.pending);
        }
    }
}
