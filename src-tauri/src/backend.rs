//! Where the app's answers come from: its own [`Agent`], or a headless agent already serving
//! this product (`licentric agent`, say as a systemd user service), whose client the app then
//! is, over the same checked IPC as any local app. A user never has to choose between them:
//! the window, the tray and the notifications work the same either way, and Settings says
//! which it is.

use std::path::{Path, PathBuf};

use licentric_agent::Agent;
use licentric_agent::clients::ClientSeen;
use licentric_client::ClientError;
use licentric_client::nonblocking::AsyncClient;
use licentric_proto::Environment;
use licentric_proto::api::RunsIn;
use licentric_proto::ipc::{ComponentSummary, FingerprintResult, Retrying, Status};
use tokio::sync::Mutex;

use crate::error::UiError;

/// The app's source of licence answers.
pub enum Backend {
    /// The app's own agent, serving the local IPC while the app runs.
    Own(Agent),
    /// A headless agent that was already serving this product.
    Headless(Box<Headless>),
}

/// A connection to a headless agent, checked as every client checks it (the socket's folder
/// and listener are this user's; the agent serves this product and environment).
pub struct Headless {
    agent: Reconnector,
    client: Mutex<Option<AsyncClient>>,
    /// A second connection, for what is asked while the first waits on a long operation: its
    /// progress, and Cancel.
    side: Mutex<Option<AsyncClient>>,
    /// This machine as the agent identifies it (asked once: it does not change while the
    /// agent runs).
    machine: FingerprintResult,
}

/// How to reach the headless agent again (after it restarted, or for a subscription).
#[derive(Debug, Clone)]
pub struct Reconnector {
    socket: PathBuf,
    product_id: String,
    environment: Environment,
}

impl Reconnector {
    /// A new checked connection to the agent.
    ///
    /// # Errors
    /// When it cannot be reached or fails the checks.
    pub async fn connect(&self) -> Result<AsyncClient, ClientError> {
        AsyncClient::connect_to(&self.socket, &self.product_id, self.environment).await
    }
}

impl Headless {
    /// Connects to the agent at `socket`, which must serve `product_id` in `environment`.
    ///
    /// # Errors
    /// When it cannot be reached or fails the checks.
    pub async fn connect(
        socket: &Path,
        product_id: &str,
        environment: Environment,
    ) -> Result<Headless, UiError> {
        let mut client = AsyncClient::connect_to(socket, product_id, environment)
            .await
            .map_err(ui_error)?;
        let machine = client.machine().await.map_err(ui_error)?;
        Ok(Headless {
            agent: Reconnector {
                socket: socket.to_owned(),
                product_id: product_id.to_owned(),
                environment,
            },
            client: Mutex::new(Some(client)),
            side: Mutex::new(None),
            machine,
        })
    }

    /// How to reach the same agent again.
    pub fn reconnector(&self) -> Reconnector {
        self.agent.clone()
    }

    /// Asks `call` on the shared connection, connecting again once if the agent restarted.
    async fn ask(&self, call: Ask<'_>) -> Result<Answer, UiError> {
        self.ask_on(&self.client, call).await
    }

    /// Asks `call` on the connection in `slot`, connecting again once if the agent restarted.
    async fn ask_on(
        &self,
        slot: &Mutex<Option<AsyncClient>>,
        call: Ask<'_>,
    ) -> Result<Answer, UiError> {
        let mut slot = slot.lock().await;
        for attempt in 0..2 {
            let client = match slot.as_mut() {
                Some(client) => client,
                None => slot.insert(self.agent.connect().await.map_err(ui_error)?),
            };
            match call.send(client).await {
                Ok(value) => return Ok(value),
                // The agent answered: its error is the answer.
                Err(e @ ClientError::Agent(_)) => return Err(ui_error(e)),
                Err(e) if attempt == 1 => return Err(ui_error(e)),
                Err(_) => *slot = None,
            }
        }
        Err(UiError::new(
            "agent_not_running",
            "The licensing agent running in the background cannot be reached.",
        ))
    }

    async fn status_of(&self, call: Ask<'_>) -> Result<Status, UiError> {
        match self.ask(call).await? {
            Answer::Status(status) => Ok(*status),
            _ => Err(UiError::new("ipc_error", "an answer of the wrong kind")),
        }
    }

    /// The call to the server the agent is trying again now, if any (asked beside the
    /// operation waiting on it; nothing when the agent cannot say).
    async fn retrying(&self) -> Option<Retrying> {
        match self.ask_on(&self.side, Ask::Progress).await {
            Ok(Answer::Retrying(retrying)) => retrying,
            _ => None,
        }
    }

    /// The local applications that asked the agent recently, but for this app (its own
    /// connection); none when the agent cannot say.
    async fn clients(&self) -> Vec<ClientSeen> {
        let this_app = std::process::id()
            .try_into()
            .ok()
            .map(|pid| licentric_agent::clients::process_name(Some(pid)));
        match self.ask_on(&self.side, Ask::Clients).await {
            Ok(Answer::Clients(clients)) => clients
                .into_iter()
                .filter(|c| Some(&c.name) != this_app.as_ref())
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Tells the agent to stop waiting for the server in the operations asked for by now.
    ///
    /// # Errors
    /// Why the agent did not take the word (an older agent, management kept off IPC, the
    /// agent unreachable).
    async fn cancel(&self) -> Result<(), UiError> {
        self.ask_on(&self.side, Ask::Cancel).await.map(|_| ())
    }
}

/// What the app asks a headless agent.
#[derive(Clone, Copy)]
enum Ask<'a> {
    Status,
    Activate(&'a str),
    Deactivate,
    Refresh,
    Import(&'a str),
    RequestFile,
    Borrow(&'a str),
    Return,
    Progress,
    Cancel,
    Clients,
}

enum Answer {
    Status(Box<Status>),
    Text(String),
    Retrying(Option<Retrying>),
    Clients(Vec<ClientSeen>),
    Done,
}

impl Ask<'_> {
    async fn send(self, c: &mut AsyncClient) -> Result<Answer, ClientError> {
        let status = match self {
            Ask::Status => c.status().await?,
            Ask::Activate(key) => c.activate(key).await?,
            Ask::Deactivate => c.deactivate().await?,
            Ask::Refresh => c.refresh().await?,
            Ask::Import(text) => c.import_license_file(text).await?,
            Ask::RequestFile => return Ok(Answer::Text(c.request_file().await?)),
            Ask::Borrow(until) => {
                c.borrow(until).await?;
                c.status().await?
            }
            Ask::Return => {
                c.return_seat().await?;
                c.status().await?
            }
            Ask::Progress => return Ok(Answer::Retrying(c.progress().await?)),
            Ask::Clients => return Ok(Answer::Clients(c.clients().await?)),
            Ask::Cancel => {
                c.cancel().await?;
                return Ok(Answer::Done);
            }
        };
        Ok(Answer::Status(Box::new(status)))
    }
}

/// A client's error as the UI shows it: the agent's own code and words where it answered.
fn ui_error(e: ClientError) -> UiError {
    match e {
        ClientError::Agent(rpc) => {
            let data = rpc.data.clone();
            UiError {
                code: data
                    .as_ref()
                    .map_or_else(|| "agent_error".to_owned(), |d| d.code.clone()),
                message: rpc.message,
                reason: data.and_then(|d| d.reason),
            }
        }
        ClientError::NotRunning(_) => UiError::new(
            "agent_not_running",
            "The licensing service running in the background has stopped. Close this window and open the app again to start it.",
        ),
        ClientError::Timeout => UiError::new(
            "agent_timeout",
            "The licensing agent running in the background did not answer in time.",
        ),
        other => UiError::new("ipc_error", other.to_string()),
    }
}

impl Backend {
    /// Whether the answers come from a headless agent.
    pub fn is_headless(&self) -> bool {
        matches!(self, Backend::Headless(_))
    }

    /// The status now; the window open is the software in use, so the agent checks on use.
    ///
    /// # Errors
    /// When a headless agent cannot be reached.
    pub async fn status(&self) -> Result<Status, UiError> {
        match self {
            Backend::Own(agent) => Ok(agent.asked_status().await),
            // The agent checks on use when asked over IPC.
            Backend::Headless(h) => h.status_of(Ask::Status).await,
        }
    }

    /// Activates this machine with `key`.
    ///
    /// # Errors
    /// The agent's error.
    pub async fn activate(&self, key: &str) -> Result<Status, UiError> {
        match self {
            Backend::Own(agent) => Ok(agent.activate(key).await?),
            Backend::Headless(h) => h.status_of(Ask::Activate(key)).await,
        }
    }

    /// Deactivates this machine.
    ///
    /// # Errors
    /// The agent's error.
    pub async fn deactivate(&self) -> Result<Status, UiError> {
        match self {
            Backend::Own(agent) => Ok(agent.deactivate().await?),
            Backend::Headless(h) => h.status_of(Ask::Deactivate).await,
        }
    }

    /// Stops waiting for the server in the running activation or refresh, the app's own
    /// agent's or the background agent's.
    ///
    /// # Errors
    /// Why a background agent did not take the word.
    pub async fn cancel(&self) -> Result<(), UiError> {
        match self {
            Backend::Own(agent) => {
                agent.cancel();
                Ok(())
            }
            Backend::Headless(h) => h.cancel().await,
        }
    }

    /// A call to the server being tried again now, the app's own agent's or the background
    /// agent's.
    pub async fn retrying(&self) -> Option<Retrying> {
        match self {
            Backend::Own(agent) => agent.retrying(),
            Backend::Headless(h) => h.retrying().await,
        }
    }

    /// Renews the licence file now.
    ///
    /// # Errors
    /// The agent's error.
    pub async fn refresh(&self) -> Result<Status, UiError> {
        match self {
            Backend::Own(agent) => Ok(agent.refresh().await?),
            Backend::Headless(h) => h.status_of(Ask::Refresh).await,
        }
    }

    /// Borrows a seat of the floating licence until `until` (RFC 3339).
    ///
    /// # Errors
    /// A date that is not RFC 3339; the agent's error (the server's limit, in words).
    pub async fn borrow(&self, until: &str) -> Result<Status, UiError> {
        match self {
            Backend::Own(agent) => {
                let at = time::OffsetDateTime::parse(
                    until,
                    &time::format_description::well_known::Rfc3339,
                )
                .map_err(|_| UiError::new("invalid_params", "Choose the day the trip ends."))?;
                agent.borrow(at).await?;
                Ok(agent.status().await)
            }
            Backend::Headless(h) => h.status_of(Ask::Borrow(until)).await,
        }
    }

    /// Gives the borrowed seat back early.
    ///
    /// # Errors
    /// The agent's error (`not_borrowed`, a server that cannot be reached).
    pub async fn return_seat(&self) -> Result<Status, UiError> {
        match self {
            Backend::Own(agent) => {
                agent.return_borrowed().await?;
                Ok(agent.status().await)
            }
            Backend::Headless(h) => h.status_of(Ask::Return).await,
        }
    }

    /// Imports a licence file that answers this machine's request.
    ///
    /// # Errors
    /// The agent's error.
    pub async fn import(&self, text: &str) -> Result<Status, UiError> {
        match self {
            Backend::Own(agent) => Ok(agent.import(text).await?),
            Backend::Headless(h) => h.status_of(Ask::Import(text)).await,
        }
    }

    /// Makes an activation request file; the agent remembers its nonce.
    ///
    /// # Errors
    /// The agent's error.
    pub async fn request_file(&self) -> Result<String, UiError> {
        match self {
            Backend::Own(agent) => Ok(agent.request_file().await?),
            Backend::Headless(h) => match h.ask(Ask::RequestFile).await? {
                Answer::Text(text) => Ok(text),
                _ => Err(UiError::new("ipc_error", "an answer of the wrong kind")),
            },
        }
    }

    /// This machine's fingerprint for the product.
    pub fn fingerprint(&self) -> &str {
        match self {
            Backend::Own(agent) => agent.fingerprint().as_str(),
            Backend::Headless(h) => &h.machine.fingerprint,
        }
    }

    /// What this system runs in, and each kind of the machine's parts with the first
    /// characters of its hashes.
    pub fn machine(&self) -> (Option<RunsIn>, Vec<ComponentSummary>) {
        match self {
            Backend::Own(agent) => agent.machine(),
            Backend::Headless(h) => (h.machine.runs_in.clone(), h.machine.components.clone()),
        }
    }

    /// The local applications that asked recently, the own agent's or the background
    /// agent's (this app left out).
    pub async fn recent_clients(&self) -> Vec<ClientSeen> {
        match self {
            Backend::Own(agent) => agent.clients().recent(),
            Backend::Headless(h) => h.clients().await,
        }
    }
}
