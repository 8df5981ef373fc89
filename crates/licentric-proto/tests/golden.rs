//! Golden files: every IPC and API message, as JSON, in `tests/golden/`.
//!
//! Each message is built in code, serialised and compared with its file; the file is then
//! parsed back into the type and must give the same message. A change to the wire format
//! therefore shows up as a diff in a golden file. After an intended change, regenerate with
//! `LICENTRIC_UPDATE_GOLDEN=1 cargo test -p licentric-proto --test golden` and review the diff.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Debug;
use std::path::PathBuf;

use licentric_proto::api::{
    ActivationRequest, ActivationResponse, ApiErrorCode, CheckoutRequest, CheckoutResponse,
    ErrorBody, LeaseRequest, LeaseResponse, MachineComponent, OfflineActivationRequest, RunsIn,
    RunsInKind,
};
use licentric_proto::ipc::{
    ActivateParams, BorrowParams, Call, CancelResult, CheckoutParams, CheckoutResult, ClientSeen,
    ClientsResult, ComponentSummary, FingerprintResult, HasEntitlementParams, HasEntitlementResult,
    ImportLicenseFileParams, LicenseFileResult, ProgressResult, ReleaseResult, RequestFileResult,
    Retrying, ReturnResult, Status, SubscribeResult, VersionResult, method,
};
use licentric_proto::jsonrpc::{Id, Request, Response, RpcError, ServerMessage};
use licentric_proto::{CredentialStoreKind, Environment, ErrorCode, LicenseState};
use serde::Serialize;
use serde::de::DeserializeOwned;

const LICENSE_FILE: &str =
    "-----BEGIN LICENTRIC LICENSE FILE-----\neyJ2IjoxfQ==\n-----END LICENTRIC LICENSE FILE-----\n";

fn golden<T: Serialize + DeserializeOwned + PartialEq + Debug>(name: &str, message: &T) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.json"));
    let produced = serde_json::to_value(message).unwrap();
    if std::env::var_os("LICENTRIC_UPDATE_GOLDEN").is_some() {
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&produced).unwrap() + "\n",
        )
        .unwrap();
    }
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let expected: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        produced, expected,
        "{name}: the message no longer serialises as its golden file"
    );
    let parsed: T = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{name}: golden file does not parse: {e}"));
    assert_eq!(
        &parsed, message,
        "{name}: the golden file parses into a different message"
    );
}

fn request(call: Call, id: i64) -> Request {
    call.into_request(Id::Number(id))
}

fn active_status() -> Status {
    Status {
        state: LicenseState::Active,
        entitled: true,
        product_id: "acme-cad".into(),
        environment: Environment::Live,
        license_id: Some("lic_01HZX".into()),
        machine_id: Some("mach_01HZY".into()),
        license_key_hint: Some("ACME-****-****-****-H3WC".into()),
        entitlements: vec!["pro".into(), "export-pdf".into()],
        max_machines: Some(2),
        machines_active: Some(1),
        license_expires_at: Some("2027-11-23T00:00:00Z".into()),
        issued_at: Some("2026-11-22T12:00:00Z".into()),
        offline_valid_until: Some("2026-12-06T12:00:00Z".into()),
        last_refresh_at: Some("2026-11-22T12:00:00Z".into()),
        next_refresh_at: Some("2026-11-29T09:36:00Z".into()),
        credential_store: CredentialStoreKind::Os,
        reason: None,
        summary: "Active".into(),
        detail: "Acme CAD is licensed on this machine.".into(),
        offline: false,
        runs_in: Some(RunsIn {
            kind: RunsInKind::VirtualMachine,
            name: "kvm".into(),
        }),
        lease: None,
        seats_waiting: 0,
    }
}

fn unlicensed_status() -> Status {
    Status {
        state: LicenseState::Unlicensed,
        entitled: false,
        product_id: "acme-cad".into(),
        environment: Environment::Test,
        license_id: None,
        machine_id: None,
        license_key_hint: None,
        entitlements: vec![],
        max_machines: None,
        machines_active: None,
        license_expires_at: None,
        issued_at: None,
        offline_valid_until: None,
        last_refresh_at: None,
        next_refresh_at: None,
        credential_store: CredentialStoreKind::Os,
        reason: None,
        summary: "Not activated".into(),
        detail: "Enter your licence key to activate Acme CAD on this machine.".into(),
        offline: false,
        runs_in: None,
        lease: None,
        seats_waiting: 0,
    }
}

fn result<T: Serialize>(id: i64, value: &T) -> Response {
    Response::result(Some(Id::Number(id)), serde_json::to_value(value).unwrap())
}

#[test]
fn ipc_requests() {
    golden("ipc_request_status", &request(Call::Status, 1));
    golden(
        "ipc_request_has_entitlement",
        &request(
            Call::HasEntitlement(HasEntitlementParams { code: "pro".into() }),
            2,
        ),
    );
    golden("ipc_request_license_file", &request(Call::LicenseFile, 3));
    golden("ipc_request_fingerprint", &request(Call::Fingerprint, 4));
    golden(
        "ipc_request_version",
        &Call::Version.into_request(Id::String("hello".into())),
    );
    golden("ipc_request_subscribe", &request(Call::Subscribe, 6));
    golden(
        "ipc_request_activate",
        &request(
            Call::Activate(ActivateParams {
                license_key: "ACME-7QX2-M4KD-9PZT-H3WC".into(),
            }),
            7,
        ),
    );
    golden("ipc_request_deactivate", &request(Call::Deactivate, 8));
    golden("ipc_request_refresh", &request(Call::Refresh, 9));
    golden(
        "ipc_request_import_license_file",
        &request(
            Call::ImportLicenseFile(ImportLicenseFileParams {
                text: LICENSE_FILE.into(),
            }),
            10,
        ),
    );
    golden("ipc_request_request_file", &request(Call::RequestFile, 11));
    golden(
        "ipc_request_checkout",
        &request(
            Call::Checkout(CheckoutParams {
                entitlement: Some("pro".into()),
                wait: true,
            }),
            12,
        ),
    );
    golden("ipc_request_release", &request(Call::Release, 13));
    golden(
        "ipc_request_borrow",
        &request(
            Call::Borrow(BorrowParams {
                until: "2026-11-29T12:00:00Z".into(),
            }),
            14,
        ),
    );
    golden("ipc_request_return", &request(Call::Return, 15));
    golden("ipc_request_progress", &request(Call::Progress, 16));
    golden("ipc_request_cancel", &request(Call::Cancel, 17));
    golden("ipc_request_clients", &request(Call::Clients, 18));
}

#[test]
fn ipc_results() {
    golden("ipc_result_status_active", &result(1, &active_status()));
    golden(
        "ipc_result_request_file",
        &result(
            11,
            &RequestFileResult {
                text: "-----BEGIN LICENTRIC ACTIVATION REQUEST-----\n…\n-----END LICENTRIC ACTIVATION REQUEST-----\n".into(),
            },
        ),
    );
    golden(
        "ipc_result_status_unlicensed",
        &result(1, &unlicensed_status()),
    );
    golden(
        "ipc_result_has_entitlement",
        &result(
            2,
            &HasEntitlementResult {
                code: "pro".into(),
                entitled: true,
                state: LicenseState::Grace,
            },
        ),
    );
    golden(
        "ipc_result_license_file",
        &result(
            3,
            &LicenseFileResult {
                license_file: Some(LICENSE_FILE.into()),
            },
        ),
    );
    golden(
        "ipc_result_fingerprint",
        &result(
            4,
            &FingerprintResult {
                product_id: "acme-cad".into(),
                fingerprint: "d5".repeat(32),
                runs_in: None,
                components: vec![
                    ComponentSummary {
                        kind: "machine_id".into(),
                        describes: "operating system installation".into(),
                        hashes: vec!["3c3c3c3c".into()],
                    },
                    ComponentSummary {
                        kind: "board_uuid".into(),
                        describes: "firmware (board) identifier".into(),
                        hashes: vec![],
                    },
                ],
            },
        ),
    );
    golden(
        "ipc_result_version",
        &result(
            5,
            &VersionResult {
                protocol: 1,
                agent_version: "0.1.0".into(),
                product_id: "acme-cad".into(),
                environment: Some(Environment::Live),
                management: true,
            },
        ),
    );
    golden(
        "ipc_result_subscribe",
        &result(
            6,
            &SubscribeResult {
                status: active_status(),
            },
        ),
    );
}

#[test]
fn ipc_floating_results() {
    golden(
        "ipc_result_checkout",
        &result(
            12,
            &CheckoutResult {
                expires_at: "2026-11-22T12:15:00Z".into(),
                seats_in_use: 3,
                max_seats: 10,
                entitlements: vec!["pro".into()],
                lease_file: Some(
                    "-----BEGIN LICENTRIC LEASE-----\n…\n-----END LICENTRIC LEASE-----\n".into(),
                ),
            },
        ),
    );
    golden(
        "ipc_result_release",
        &result(13, &ReleaseResult { released: true }),
    );
    golden(
        "ipc_result_return",
        &result(
            15,
            &ReturnResult {
                kept_for_apps: false,
            },
        ),
    );
    golden(
        "ipc_result_progress",
        &result(
            16,
            &ProgressResult {
                retrying: Some(Retrying {
                    attempt: 2,
                    of: 3,
                    because: "server_unavailable".into(),
                }),
            },
        ),
    );
    golden(
        "ipc_result_progress_none",
        &result(16, &ProgressResult { retrying: None }),
    );
    golden("ipc_result_cancel", &result(17, &CancelResult {}));
    golden(
        "ipc_result_clients",
        &result(
            18,
            &ClientsResult {
                clients: vec![
                    ClientSeen {
                        name: "acme-cad".into(),
                        last_query: Some("2026-11-29T12:00:00Z".into()),
                        queries: 42,
                    },
                    ClientSeen {
                        name: "process 4242".into(),
                        last_query: None,
                        queries: 0,
                    },
                ],
            },
        ),
    );
}

#[test]
fn ipc_errors_and_notifications() {
    golden(
        "ipc_error_method_not_found",
        &Response::error(
            Some(Id::Number(11)),
            RpcError::new(ErrorCode::MethodNotFound, "no method named \"launch\""),
        ),
    );
    golden(
        "ipc_error_parse_error",
        &Response::error(
            None,
            RpcError::new(ErrorCode::ParseError, "the line is not JSON"),
        ),
    );
    golden(
        "ipc_error_message_too_large",
        &Response::error(
            None,
            RpcError::new(
                ErrorCode::MessageTooLarge,
                "message longer than 65536 bytes",
            ),
        ),
    );
    golden(
        "ipc_error_server_rejected",
        &Response::error(
            Some(Id::Number(7)),
            RpcError::new(
                ErrorCode::ServerRejected,
                "every seat of this licence is taken",
            )
            .with_reason("machine_limit_reached"),
        ),
    );
    golden(
        "ipc_error_invalid_license_key",
        &Response::error(
            Some(Id::Number(7)),
            RpcError::new(ErrorCode::InvalidLicenseKey, "the licence key is too short")
                .with_reason("wrong_length"),
        ),
    );
    golden(
        "ipc_notification_status_changed",
        &ServerMessage::Notification(Request::notification(
            method::STATUS_CHANGED,
            Some(serde_json::to_value(active_status()).unwrap()),
        )),
    );
    golden(
        "ipc_notification_seat_available",
        &ServerMessage::Notification(Request::notification(
            method::SEAT_AVAILABLE,
            Some(
                serde_json::to_value(CheckoutResult {
                    expires_at: "2026-11-22T12:15:00Z".into(),
                    seats_in_use: 10,
                    max_seats: 10,
                    entitlements: vec!["pro".into()],
                    lease_file: None,
                })
                .unwrap(),
            ),
        )),
    );
}

#[test]
fn api_bodies() {
    golden(
        "api_activation_request",
        &ActivationRequest {
            fingerprint: "d5".repeat(32),
            platform: "linux".into(),
            hostname: "studio-3".into(),
            app_version: "0.1.0".into(),
            nonce: "0f1e2d3c4b5a69788796a5b4c3d2e1f0".into(),
            components: vec![
                MachineComponent {
                    kind: "machine_id".into(),
                    hash: "3c".repeat(32),
                },
                MachineComponent {
                    kind: "disk_serial".into(),
                    hash: "a1".repeat(32),
                },
            ],
            runs_in: Some(RunsIn {
                kind: RunsInKind::Container,
                name: "docker".into(),
            }),
        },
    );
    golden(
        "api_activation_response",
        &ActivationResponse {
            machine_id: "mach_01HZY".into(),
            license_file: LICENSE_FILE.into(),
            machines_active: Some(1),
        },
    );
    golden(
        "api_checkout_request",
        &CheckoutRequest {
            fingerprint: "d5".repeat(32),
            ttl_seconds: Some(1_209_600),
            nonce: "00112233445566778899aabbccddeeff".into(),
            components: Vec::new(),
        },
    );
    golden(
        "api_checkout_response",
        &CheckoutResponse {
            license_file: LICENSE_FILE.into(),
            machines_active: Some(1),
        },
    );
    golden(
        "api_offline_activation_request",
        &OfflineActivationRequest {
            request: "-----BEGIN LICENTRIC ACTIVATION REQUEST-----\n...".into(),
        },
    );
    golden(
        "api_error_invalid_license_key",
        &ErrorBody::new(ApiErrorCode::InvalidLicenseKey, "invalid licence key"),
    );
    let mut limit = ErrorBody::new(
        ApiErrorCode::MachineLimitReached,
        "all 2 machines of this licence are in use",
    );
    limit.error.max_machines = Some(2);
    golden("api_error_machine_limit_reached", &limit);
    let mut suspended = ErrorBody::new(ApiErrorCode::LicenseSuspended, "the licence is suspended");
    suspended.error.license_file = Some(LICENSE_FILE.into());
    golden("api_error_license_suspended", &suspended);
    let mut gone = ErrorBody::new(
        ApiErrorCode::MachineNotFound,
        "this machine was deactivated on this licence; its seat is free",
    );
    gone.error.statement =
        Some("-----BEGIN LICENTRIC STATEMENT-----\n…\n-----END LICENTRIC STATEMENT-----\n".into());
    golden("api_error_machine_not_found", &gone);
    let mut no_seat = ErrorBody::new(
        ApiErrorCode::NoSeatAvailable,
        "all 10 seats of this licence are in use",
    );
    no_seat.error.seats_in_use = Some(10);
    no_seat.error.max_machines = Some(10);
    no_seat.error.retry_at = Some("2026-11-22T12:15:00Z".into());
    golden("api_error_no_seat_available", &no_seat);
    golden(
        "api_lease_request",
        &LeaseRequest {
            fingerprint: "d5".repeat(32),
            nonce: "0f1e2d3c4b5a69788796a5b4c3d2e1f0".into(),
            label: Some("Acme CAD".into()),
            borrow_until: None,
            entitlement: Some("pro".into()),
        },
    );
    golden(
        "api_lease_request_borrow",
        &LeaseRequest {
            fingerprint: "d5".repeat(32),
            nonce: "0f1e2d3c4b5a69788796a5b4c3d2e1f0".into(),
            label: Some("Acme CAD".into()),
            borrow_until: Some("2026-11-29T12:00:00Z".into()),
            entitlement: None,
        },
    );
    let mut too_long = ErrorBody::new(
        ApiErrorCode::BorrowTooLong,
        "a seat can be borrowed for at most 7 days from now, and until a time after now",
    );
    too_long.error.max_borrow_seconds = Some(604_800);
    golden("api_error_borrow_too_long", &too_long);
    golden(
        "api_lease_response",
        &LeaseResponse {
            lease_id: "lease_01J0".into(),
            lease_secret: Some("0123456789abcdefghjkmnpqrstvwxyz".into()),
            lease_file: "-----BEGIN LICENTRIC LEASE-----\n…\n-----END LICENTRIC LEASE-----\n"
                .into(),
            expires_at: "2026-11-22T12:15:00Z".into(),
            seats_in_use: 3,
            max_seats: 10,
        },
    );
}

#[test]
fn every_golden_file_is_checked_by_a_test() {
    let source = include_str!("golden.rs");
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let stem = name.strip_suffix(".json").unwrap();
        assert!(
            source.contains(&format!("\"{stem}\"")),
            "{name} is not checked by any test: remove it"
        );
    }
}
