//! End-to-end tests with real parts: `licentric-server` over TLS in its own process, the
//! `licentric` agent in its own process, its Unix socket, and — in CI — a real Secret Service
//! (gnome-keyring on a private D-Bus session, started by `.ci/test`).
//!
//! - `agent`: one agent per socket, stale sockets, repair of edited files, the async client;
//! - `clients`: every client against a misbehaving agent: never "entitled" on doubt;
//! - `clock`: the state and clock rules with the real server and agent code in this process,
//!   an injected clock and an in-memory credential store (days pass in microseconds);
//! - `floating`: a floating licence: seats held by local apps, given back when they die;
//! - `flow`: activate → status → offline → back online → deactivate; an air-gapped activation;
//! - `security`: TLS failures, pins, `http://`, the key only in the Secret Service, other
//!   users, hostile IPC input, revocation, older files;
//! - `gui`: the companion app in a real webview under Xvfb, through WebDriver;
//! - `native`: the native window on Linux under Xvfb, through AT-SPI;
//! - `load`: clients that go away, never read, or exhaust descriptors; a server that asks to
//!   wait: the agent stays available;
//! - `parts`: tolerant fingerprints — a reinstalled machine keeps its seat, another does not;
//! - `retry`: an activation whose answer is lost is retried and creates one machine;
//! - `resilience`: `kill -9` during cache writes, a clock turned back;
//! - `trust`: the trust issue's attacks (user configurations setting live anchors, lost
//!   state, replayed files, remote deactivation) and what honest users do beside them;
//! - `watch`: the client library's answers from memory, following the agent's pushes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod agent;
mod clients;
mod clock;
mod floating;
mod flow;
mod gui;
mod load;
mod native;
mod parts;
mod resilience;
mod retry;
mod security;
mod trust;
mod watch;
