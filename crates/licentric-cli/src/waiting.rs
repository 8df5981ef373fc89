//! What a person at the terminal sees while an activation or a refresh waits on the server,
//! as the app's window shows it: after two seconds, that the server is awaited; each retry as
//! it comes, and why; and Ctrl-C to stop waiting (`cancel`, asked on a second connection),
//! which leaves this machine as it was. A second Ctrl-C leaves at once, whatever the agent
//! does.
//!
//! The words go to standard error, so what scripts read on standard output is unchanged.

use std::path::PathBuf;
use std::time::Duration;

use licentric_client::nonblocking::AsyncClient;
use licentric_client::{ClientError, Retrying};
use licentric_proto::Environment;

/// How long an operation runs before the terminal hears of the wait.
const QUIET_FOR: Duration = Duration::from_secs(2);
/// How often the agent is asked about retries meanwhile.
const LOOK_EVERY: Duration = Duration::from_millis(500);
/// The longest a question on the second connection may take: the loop must stay free for a
/// second Ctrl-C.
const SIDE_LIMIT: Duration = Duration::from_secs(1);

/// The agent to ask on the second connection.
pub(crate) struct Side {
    pub(crate) socket: PathBuf,
    pub(crate) product_id: String,
    pub(crate) environment: Environment,
}

/// Runs `call` (on its own connection to the agent) while a second connection to `side` says
/// how the wait goes and carries Ctrl-C to the agent.
pub(crate) fn while_waiting<T>(side: Side, call: impl FnOnce() -> T) -> T {
    let (done, finished) = tokio::sync::oneshot::channel::<()>();
    let watcher = std::thread::spawn(move || watch(side, finished));
    let result = call();
    let _ = done.send(());
    let _ = watcher.join();
    result
}

/// What has been said of the wait, and what to say next: a pure decision, apart from the
/// clock and the connection.
#[derive(Debug, Default)]
struct Said {
    waiting: bool,
    last: Option<Retrying>,
}

impl Said {
    /// The lines to print at a look, the agent's `progress` being `now`: the wait once, and
    /// each retry once.
    fn look(&mut self, now: Option<Retrying>) -> Vec<String> {
        let mut lines = Vec::new();
        if !self.waiting {
            self.waiting = true;
            lines.push("Waiting for the licensing server… (Ctrl-C to cancel)".to_owned());
        }
        if let Some(retrying) = now.as_ref().filter(|r| self.last.as_ref() != Some(*r)) {
            lines.push(retry_line(retrying));
        }
        self.last = now;
        lines
    }
}

/// The line for a retry: which try comes, not of how many — the total time allowed may end
/// the tries sooner than their number would (the app says the same).
fn retry_line(retrying: &Retrying) -> String {
    let why = match retrying.because.as_str() {
        "network_unavailable" => "The licensing server could not be reached",
        "server_unavailable" => "The licensing server is busy or unavailable",
        _ => "The licensing server did not answer",
    };
    format!("{why}; trying again (attempt {})…", retrying.attempt)
}

/// The second connection, opened when first needed and again after a failure.
struct Connection {
    side: Side,
    client: Option<AsyncClient>,
}

impl Connection {
    /// `ask` on the connection, within [`SIDE_LIMIT`].
    async fn ask<T>(
        &mut self,
        ask: impl AsyncFnOnce(&mut AsyncClient) -> Result<T, ClientError>,
    ) -> Result<T, String> {
        let asked = tokio::time::timeout(SIDE_LIMIT, async {
            if self.client.is_none() {
                let side = &self.side;
                self.client = Some(
                    AsyncClient::connect_to(&side.socket, &side.product_id, side.environment)
                        .await?,
                );
            }
            match self.client.as_mut() {
                Some(client) => ask(client).await,
                None => Err(ClientError::Timeout),
            }
        })
        .await;
        match asked {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => {
                self.client = None;
                Err(e.to_string())
            }
            Err(_) => {
                self.client = None;
                Err("the agent did not answer in time".to_owned())
            }
        }
    }
}

fn watch(side: Side, mut finished: tokio::sync::oneshot::Receiver<()>) {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    runtime.block_on(async move {
        let mut connection = Connection { side, client: None };
        let mut ticks =
            tokio::time::interval_at(tokio::time::Instant::now() + QUIET_FOR, LOOK_EVERY);
        let mut said = Said::default();
        let mut cancelled = false;
        // One listener for the whole wait: a Ctrl-C is never lost between two looks.
        let mut interrupt = std::pin::pin!(tokio::signal::ctrl_c());
        loop {
            tokio::select! {
                _ = &mut finished => return,
                heard = &mut interrupt => {
                    if heard.is_err() {
                        // No handler could be set: Ctrl-C keeps its usual meaning.
                        let _ = (&mut finished).await;
                        return;
                    }
                    interrupt.set(tokio::signal::ctrl_c());
                    if cancelled {
                        std::process::exit(130);
                    }
                    cancelled = true;
                    match connection.ask(async |c| c.cancel().await).await {
                        Ok(()) => tell!("Cancelling… (Ctrl-C again to leave at once)"),
                        Err(e) => {
                            tell!("{}: cannot cancel: {e}; leaving (the agent's operation goes on)", crate::me());
                            std::process::exit(130);
                        }
                    }
                }
                _ = ticks.tick() => {
                    let now = connection.ask(async |c| c.progress().await).await.ok().flatten();
                    for line in said.look(now) {
                        tell!("{line}");
                    }
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retrying(attempt: u32, because: &str) -> Retrying {
        Retrying {
            attempt,
            of: 3,
            because: because.into(),
        }
    }

    #[test]
    fn a_retry_says_why_and_which_try_comes_next() {
        assert_eq!(
            retry_line(&retrying(2, "server_unavailable")),
            "The licensing server is busy or unavailable; trying again (attempt 2)…"
        );
        assert_eq!(
            retry_line(&retrying(2, "network_unavailable")),
            "The licensing server could not be reached; trying again (attempt 2)…"
        );
        assert!(
            retry_line(&retrying(2, "something_new"))
                .starts_with("The licensing server did not answer;")
        );
    }

    #[test]
    fn the_wait_is_said_once_and_each_retry_once() {
        let mut said = Said::default();
        assert_eq!(
            said.look(None),
            ["Waiting for the licensing server… (Ctrl-C to cancel)"]
        );
        assert!(said.look(None).is_empty(), "nothing new");
        let second = said.look(Some(retrying(2, "server_unavailable")));
        assert_eq!(second.len(), 1);
        assert!(second[0].contains("attempt 2)"), "{second:?}");
        assert!(
            said.look(Some(retrying(2, "server_unavailable")))
                .is_empty(),
            "the same retry is not said again"
        );
        assert!(said.look(None).is_empty(), "the retry's end says nothing");
        let third = said.look(Some(retrying(3, "network_unavailable")));
        assert!(third[0].contains("attempt 3)"), "{third:?}");
    }
}
