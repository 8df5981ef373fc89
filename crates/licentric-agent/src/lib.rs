//! The Licentric companion's runtime: everything but drawing windows.
//!
//! - [`Agent`]: activation, deactivation, refresh, import and the licence status, with a
//!   scheduler that renews the signed licence file before it runs out;
//! - [`config`]: the vendor's `companion.toml`, and [`brand`]: the names a vendor's build
//!   gives the companion;
//! - [`api`]: the Licentric API client (HTTPS only, pins, idempotent retries);
//! - [`credentials`]: the licence key in the OS credential store;
//! - [`storage`]: the data folder, written atomically, state sealed against edits;
//! - [`ipc`]: the local JSON-RPC server other applications query, and [`clients`], the
//!   applications that asked recently;
//! - [`notify`]: desktop notifications, or none;
//! - [`plan`]: what the agent decides at each moment (status, notices, refresh due, next
//!   wake-up), plain code with no I/O; [`words`]: the one place a state is put into words.
//!
//! Start reading at [`plan`] for the decisions (and `licentric_core::memory` for the trust
//! rules they rest on), then [`agent`] for what is done with them; `docs/architecture.md`
//! draws the crates and their arrows.
//!
//! # Example
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use licentric_agent::{Agent, AgentOptions, config::CompanionConfig};
//!
//! let config = CompanionConfig::find(None, None)?;
//! let agent = Agent::start(AgentOptions::new(config)).await?;
//! let status = agent.activate("ACME-7QX2-M4KD-9PZT-H3WC").await?;
//! println!("{:?}, entitled: {}", status.state, status.entitled);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod agent;
pub mod api;
pub mod brand;
pub mod clients;
pub mod config;
pub mod credentials;
mod error;
pub mod ipc;
pub mod notify;
pub mod plan;
pub mod proxy;
pub mod storage;
mod tls;
pub mod words;

pub use agent::{Agent, AgentOptions};
pub use error::AgentError;
