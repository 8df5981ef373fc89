//! Integration tests of licentric-core, in one binary:
//!
//! - `fixture`: a signer, a machine and a payload that passes every check;
//! - `rejections`: one test per verification code, each built so that removing that check
//!   makes the test fail, plus the order of the checks;
//! - `tamper`: every single-bit flip of a valid file is refused; property round trips;
//! - `state`: the licence state model over time;
//! - `memory`: the trust rules (lost state, imports, signed refusals, the clock mark);
//! - `vector`: the committed cross-language test vector still verifies.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod fixture;
mod memory;
mod rejections;
mod state;
mod tamper;
mod vector;
