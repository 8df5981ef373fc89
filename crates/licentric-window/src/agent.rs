//! The window's side of the agent: it is a client like any local app, over the same checked
//! IPC (the socket's folder and listener are this user's; the agent serves this product and
//! environment). Calls run on threads of their own, so the window never waits on the server;
//! their answers and the agent's pushes reach the window as [`Event`]s.

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use licentric_client::{Client, ClientError, Environment};
use licentric_core::LicenseKey;
use licentric_proto::ipc::{Call, ClientSeen, FingerprintResult, Retrying, Status};
use tokio::sync::mpsc::UnboundedSender;

/// Where the agent is, and what it must serve.
#[derive(Debug, Clone)]
pub struct Agent {
    /// Its socket.
    pub socket: PathBuf,
    /// The product it must serve.
    pub product_id: String,
    /// And the environment.
    pub environment: Environment,
}

/// What the window asks the agent to do; one at a time.
pub enum Request {
    /// Activate this machine with a key.
    Activate(LicenseKey),
    /// Ask the server now (with the stored key, this also activates again a machine
    /// deactivated elsewhere).
    Refresh,
    /// Free this machine's seat and remove the key.
    Deactivate,
    /// An activation request for this machine, to take to a device with internet access.
    RequestFile,
    /// Install a licence file obtained elsewhere.
    Import(String),
    /// Borrow a seat of the floating licence until this time (RFC 3339).
    Borrow(String),
    /// Give the borrowed seat back early.
    Return,
}

/// An error as the window says it: a stable code, a finer reason, and a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The IPC error code (`invalid_license_key`, `cancelled`, …) or the window's own.
    pub code: String,
    /// The finer code, where there is one.
    pub reason: Option<String>,
    /// A sentence for the user.
    pub message: String,
}

impl Failure {
    /// The code that says most: the reason, else the code.
    pub fn most_precise(&self) -> &str {
        self.reason.as_deref().unwrap_or(&self.code)
    }
}

/// What a finished request answered.
pub enum Answer {
    /// The status after it.
    Status(Box<Status>),
    /// An activation request's text.
    RequestFile(String),
}

/// What reaches the window.
pub enum Event {
    /// The status now (pushed by the agent on every change, or answered).
    Status(Box<Status>),
    /// The agent cannot be reached: nothing shown is current until a status comes again.
    Gone,
    /// The agent ended by the user's Quit in its tray: everything of the product ends.
    Quit,
    /// A request ended.
    Done(Result<Answer, Failure>),
    /// The retry of the request under way (none: no retry now).
    Progress(Option<Retrying>),
    /// Why Cancel was not taken.
    CancelRefused(String),
    /// The local apps that asked.
    Clients(Vec<ClientSeen>),
    /// This machine as the agent knows it.
    Machine(Box<FingerprintResult>),
    /// What the diagnostics report needs beside the status.
    ForReport {
        /// The machine's fingerprint (empty when the agent could not say).
        fingerprint: String,
        /// The local apps that asked.
        clients: Vec<ClientSeen>,
    },
}

impl Agent {
    /// A new checked connection.
    ///
    /// # Errors
    /// When the agent cannot be reached or fails the checks.
    pub fn connect(&self) -> Result<Client, ClientError> {
        Client::connect_to(&self.socket, &self.product_id, self.environment)
    }

    /// Follows the agent's status from a thread of its own: the status at once, then each
    /// change it pushes. While it cannot be reached, says so once and tries again each second
    /// (an agent restarted, or started after the window).
    pub fn follow(&self, events: UnboundedSender<Event>) {
        let agent = self.clone();
        std::thread::spawn(move || {
            let mut said_gone = false;
            loop {
                let ended = agent.connect().and_then(|mut client| {
                    client.set_timeout(None)?;
                    let first = client.subscribe()?;
                    said_gone = false;
                    if events.send(Event::Status(Box::new(first))).is_err() {
                        return Ok(());
                    }
                    loop {
                        let next = client.next_change()?;
                        if events.send(Event::Status(Box::new(next))).is_err() {
                            return Ok(());
                        }
                    }
                });
                if ended.is_ok() || events.is_closed() {
                    return;
                }
                #[cfg(unix)]
                if licentric_platform::endpoint::quit_marked(&agent.socket) {
                    let _ = events.send(Event::Quit);
                    return;
                }
                if !said_gone {
                    said_gone = true;
                    if events.send(Event::Gone).is_err() {
                        return;
                    }
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        });
    }

    /// Serves the window's requests from a thread of its own, one at a time, each answered
    /// with an [`Event::Done`].
    pub fn serve(&self, events: UnboundedSender<Event>) -> mpsc::Sender<Request> {
        let (requests, received) = mpsc::channel::<Request>();
        let agent = self.clone();
        std::thread::spawn(move || {
            let mut client: Option<Client> = None;
            for request in received {
                let answer = agent.answer(&mut client, &request);
                if events.send(Event::Done(answer)).is_err() {
                    return;
                }
            }
        });
        requests
    }

    /// `request` asked on the connection in `slot`, connecting again once if the agent
    /// restarted since.
    fn answer(&self, slot: &mut Option<Client>, request: &Request) -> Result<Answer, Failure> {
        for attempt in 0..2 {
            let client = match slot {
                Some(client) => client,
                None => slot.insert(self.connect().map_err(failure)?),
            };
            // Long operations wait on the server as long as the agent's own retries take.
            client.set_timeout(None).map_err(failure)?;
            let answered = match request {
                Request::Activate(key) => client.activate(key.expose_secret()).map(answered),
                Request::Refresh => client.refresh().map(answered),
                Request::Deactivate => client.deactivate().map(answered),
                Request::RequestFile => client.request_file().map(Answer::RequestFile),
                Request::Import(text) => client.import_license_file(text).map(answered),
                // Their answers are the seat's: the status after them says it all.
                Request::Borrow(until) => client
                    .borrow(until)
                    .and_then(|_| client.status())
                    .map(answered),
                Request::Return => client
                    .return_seat()
                    .and_then(|_| client.status())
                    .map(answered),
            };
            match answered {
                Ok(answer) => return Ok(answer),
                // The agent answered: its error is the answer.
                Err(e @ ClientError::Agent(_)) => return Err(failure(e)),
                Err(e) if attempt == 1 => return Err(failure(e)),
                Err(_) => *slot = None,
            }
        }
        Err(failure(ClientError::NotRunning(self.socket.clone())))
    }
}

fn answered(status: Status) -> Answer {
    Answer::Status(Box::new(status))
}

/// What the window asks on a second connection, from a thread of its own (never the window's:
/// an agent that does not answer must not stop the window from drawing): what a request that
/// waits on the server is doing, Cancel, and what Settings and the status show beside the
/// status.
pub enum Ask {
    /// The retry under way, if any: answered by [`Event::Progress`].
    Progress,
    /// End the wait of the request under way: refused, [`Event::CancelRefused`].
    Cancel,
    /// The local apps that asked: [`Event::Clients`].
    Clients,
    /// This machine as the agent knows it: [`Event::Machine`].
    Machine,
    /// What the diagnostics report needs beside the status: [`Event::ForReport`].
    Report,
}

impl Agent {
    /// Serves the window's [`Ask`]s on a connection of their own, from a thread of its own.
    pub fn side(&self, events: UnboundedSender<Event>) -> mpsc::Sender<Ask> {
        let (asks, received) = mpsc::channel::<Ask>();
        let agent = self.clone();
        std::thread::spawn(move || {
            let mut side = Side {
                agent,
                client: None,
            };
            for ask in received {
                let event = match ask {
                    Ask::Progress => Event::Progress(side.progress()),
                    Ask::Cancel => match side.cancel() {
                        Ok(()) => continue,
                        Err(e) => Event::CancelRefused(e.message),
                    },
                    Ask::Clients => Event::Clients(side.clients()),
                    Ask::Machine => match side.machine() {
                        Ok(machine) => Event::Machine(Box::new(machine)),
                        Err(_) => continue,
                    },
                    Ask::Report => Event::ForReport {
                        fingerprint: side.machine().map(|m| m.fingerprint).unwrap_or_default(),
                        clients: side.clients(),
                    },
                };
                if events.send(event).is_err() {
                    return;
                }
            }
        });
        asks
    }
}

/// The second connection.
struct Side {
    agent: Agent,
    client: Option<Client>,
}

impl Side {
    fn client(&mut self) -> Result<&mut Client, ClientError> {
        let client = match self.client.take() {
            Some(client) => client,
            None => {
                let mut client = self.agent.connect()?;
                client.set_timeout(Some(Duration::from_secs(2)))?;
                client
            }
        };
        Ok(self.client.insert(client))
    }

    /// `call` on the connection; a failed one is dropped, for the next to connect again.
    fn ask<T>(
        &mut self,
        call: impl FnOnce(&mut Client) -> Result<T, ClientError>,
    ) -> Result<T, ClientError> {
        let answer = self.client().and_then(call);
        if answer.is_err() {
            self.client = None;
        }
        answer
    }

    fn progress(&mut self) -> Option<Retrying> {
        self.ask(Client::progress).ok().flatten()
    }

    /// The local apps that asked the agent lately (none when it cannot say); not this
    /// window, which asks too but is no app using the licence.
    fn clients(&mut self) -> Vec<ClientSeen> {
        let me = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.file_name().map(|n| n.to_string_lossy().into_owned()));
        let mut seen = self.ask(Client::clients).unwrap_or_default();
        seen.retain(|c| Some(&c.name) != me.as_ref());
        seen
    }

    fn machine(&mut self) -> Result<FingerprintResult, Failure> {
        self.ask(|c| c.call::<FingerprintResult>(Call::Fingerprint))
            .map_err(failure)
    }

    fn cancel(&mut self) -> Result<(), Failure> {
        self.ask(Client::cancel).map_err(failure)
    }
}

/// A client's error as the window says it.
pub fn failure(e: ClientError) -> Failure {
    match e {
        ClientError::Agent(rpc) => {
            let data = rpc.data.clone();
            Failure {
                code: data
                    .as_ref()
                    .map_or_else(|| "agent_error".to_owned(), |d| d.code.clone()),
                reason: data.and_then(|d| d.reason),
                message: rpc.message,
            }
        }
        ClientError::NotRunning(_) => Failure {
            code: "agent_not_running".into(),
            reason: None,
            message: "The licensing service running in the background has stopped.".into(),
        },
        ClientError::Timeout => Failure {
            code: "agent_timeout".into(),
            reason: None,
            message: "The licensing service running in the background did not answer in time."
                .into(),
        },
        other => Failure {
            code: "ipc_error".into(),
            reason: None,
            message: other.to_string(),
        },
    }
}
