//! What a person at the terminal sees while an activation or a refresh waits on the server,
//! as the app's window shows it: after two seconds, that the server is awaited; each retry as
//! it comes, and why; and Ctrl-C to stop waiting (`cancel`, asked on a second connection),
//! which leaves this machine as it was. A second Ctrl-C leaves at once.
//!
//! The words go to standard error, so what scripts read on standard output is unchanged.

use std::time::Duration;

use licentric_client::{Client, Retrying};

/// How long an operation runs before the terminal hears of the wait.
const QUIET_FOR: Duration = Duration::from_secs(2);
/// How often the agent is asked about retries meanwhile.
const LOOK_EVERY: Duration = Duration::from_millis(500);

/// Runs `call` (on its own connection to the agent) while a second connection, `side`, says
/// how the wait goes and carries Ctrl-C to the agent. Without a second connection, `call`
/// simply runs.
pub(crate) fn while_waiting<T>(side: Option<Client>, call: impl FnOnce() -> T) -> T {
    let Some(side) = side else {
        return call();
    };
    let (done, finished) = tokio::sync::oneshot::channel::<()>();
    let watcher = std::thread::spawn(move || watch(side, finished));
    let result = call();
    let _ = done.send(());
    let _ = watcher.join();
    result
}

/// The line for a retry.
fn retry_line(retrying: &Retrying) -> String {
    let why = match retrying.because.as_str() {
        "network_unavailable" => "The licensing server could not be reached",
        "server_unavailable" => "The licensing server is busy or unavailable",
        _ => "The licensing server did not answer",
    };
    format!(
        "{why}; trying again (attempt {} of {})…",
        retrying.attempt, retrying.of
    )
}

fn watch(mut side: Client, mut finished: tokio::sync::oneshot::Receiver<()>) {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    runtime.block_on(async move {
        let started = tokio::time::Instant::now();
        let mut ticks = tokio::time::interval_at(started + QUIET_FOR, LOOK_EVERY);
        let mut said_waiting = false;
        let mut last: Option<Retrying> = None;
        let mut cancelled = false;
        loop {
            tokio::select! {
                _ = &mut finished => return,
                interrupted = tokio::signal::ctrl_c() => {
                    if interrupted.is_err() {
                        // No handler could be set: Ctrl-C keeps its usual meaning.
                        let _ = (&mut finished).await;
                        return;
                    }
                    if cancelled {
                        std::process::exit(130);
                    }
                    cancelled = true;
                    match side.cancel() {
                        Ok(()) => eprintln!("Cancelling… (Ctrl-C again to leave at once)"),
                        Err(e) => {
                            eprintln!("licentric: cannot cancel: {e}");
                            std::process::exit(130);
                        }
                    }
                }
                _ = ticks.tick() => {
                    if !said_waiting {
                        said_waiting = true;
                        eprintln!("Waiting for the licensing server… (Ctrl-C to cancel)");
                    }
                    let now = side.progress().ok().flatten();
                    if let Some(retrying) = now.as_ref().filter(|r| last.as_ref() != Some(*r)) {
                        eprintln!("{}", retry_line(retrying));
                    }
                    last = now;
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retry_says_why_and_which_try_comes_next() {
        let line = |because: &str| {
            retry_line(&Retrying {
                attempt: 2,
                of: 3,
                because: because.into(),
            })
        };
        assert_eq!(
            line("server_unavailable"),
            "The licensing server is busy or unavailable; trying again (attempt 2 of 3)…"
        );
        assert_eq!(
            line("network_unavailable"),
            "The licensing server could not be reached; trying again (attempt 2 of 3)…"
        );
        assert!(line("something_new").starts_with("The licensing server did not answer;"));
    }
}
