//! End-to-end tests of licentric-server over real TLS on 127.0.0.1:0, with a real HTTPS
//! client that trusts only the server's own CA:
//!
//! - `client_api`: activation, checkout, deactivation, offline activation, every error code;
//! - `concurrency`: idempotent replays and seat limits under parallel requests;
//! - `admin`: the management API, scopes, environment isolation;
//! - `audit`: the audit log — every kind of change, paging, scope, append-only;
//! - `at_rest`: no raw secret in the database files;
//! - `webhooks`: signatures verified by the documented recipe, retries, exactly-once by id;
//! - `abuse`: rate limits, uniform 401s, body limits, metrics;
//! - `policy`: a product's seat-move limit and longest file;
//! - `parts`: tolerant fingerprints — a machine known again by its parts, or refused by name;
//! - `keys`: rotating the signing key while serving, old files still verifying;
//! - `leases`: floating licences — seats as leases, counted exactly under a race;
//! - `layout`: no SQL outside the store module;
//! - `openapi`: `docs/api/openapi.yaml` against the running server, both ways;
//! - `process`: the binary — init, the listening line, TLS versions, SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod abuse;
mod admin;
mod at_rest;
mod audit;
mod client_api;
mod concurrency;
mod harness;
mod keys;
mod layout;
mod leases;
mod openapi;
mod parts;
mod policy;
mod process;
mod webhooks;
