//! The diagnostics report a user can send to support: versions, configuration and status,
//! redacted. It is built from the status (which holds only the key's hint) and never from the
//! key itself, and it shows only the start of the fingerprint.

use std::fmt::Write as _;

use licentric_agent::clients::ClientSeen;
use licentric_proto::ipc::Status;

/// What goes into the report.
#[derive(Debug)]
pub struct Inputs<'a> {
    /// The app's version.
    pub app_version: &'a str,
    /// The operating system, as sysinfo names it.
    pub os: String,
    /// The configuration's origin, product and server.
    pub product_name: &'a str,
    /// The API address.
    pub api_base_url: &'a str,
    /// The IPC socket.
    pub socket: String,
    /// The machine's fingerprint (only its first 12 characters are shown).
    pub fingerprint: &'a str,
    /// The status now.
    pub status: &'a Status,
    /// Local applications that queried recently.
    pub clients: &'a [ClientSeen],
    /// When the report was made (RFC 3339).
    pub generated_at: String,
}

/// Characters of the fingerprint shown in the UI and the report.
pub const SHORT_FINGERPRINT: usize = 12;

/// The short form of a fingerprint shown to users.
pub fn short_fingerprint(fingerprint: &str) -> String {
    fingerprint.chars().take(SHORT_FINGERPRINT).collect()
}

/// The report, as plain text.
pub fn report(inputs: &Inputs<'_>) -> String {
    let s = inputs.status;
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_owned());
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(
        out,
        "{} diagnostics",
        licentric_agent::brand::built_in().app_name
    );
    let _ = writeln!(out, "Generated:         {}", inputs.generated_at);
    let _ = writeln!(out, "App version:       {}", inputs.app_version);
    let _ = writeln!(
        out,
        "Protocol:          {}",
        licentric_proto::PROTOCOL_VERSION
    );
    let _ = writeln!(out, "OS:                {}", inputs.os);
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Product:           {} ({})",
        inputs.product_name, s.product_id
    );
    let _ = writeln!(out, "Environment:       {}", s.environment.as_str());
    let _ = writeln!(out, "API:               {}", inputs.api_base_url);
    let _ = writeln!(out, "IPC socket:        {}", inputs.socket);
    let _ = writeln!(
        out,
        "Fingerprint:       {}… (shortened)",
        short_fingerprint(inputs.fingerprint)
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "State:             {}", s.state.as_str());
    let _ = writeln!(out, "Entitled:          {}", s.entitled);
    let _ = writeln!(out, "Reason:            {}", opt(&s.reason));
    let _ = writeln!(out, "Licence key:       {}", opt(&s.license_key_hint));
    let _ = writeln!(out, "Licence id:        {}", opt(&s.license_id));
    let _ = writeln!(out, "Machine id:        {}", opt(&s.machine_id));
    let _ = writeln!(out, "Entitlements:      {}", s.entitlements.join(", "));
    let _ = writeln!(
        out,
        "Machines allowed:  {}",
        s.max_machines
            .map_or_else(|| "-".to_owned(), |n| n.to_string())
    );
    let _ = writeln!(out, "Licence expires:   {}", opt(&s.license_expires_at));
    let _ = writeln!(out, "File issued:       {}", opt(&s.issued_at));
    let _ = writeln!(out, "Offline until:     {}", opt(&s.offline_valid_until));
    let _ = writeln!(out, "Last refresh:      {}", opt(&s.last_refresh_at));
    let _ = writeln!(out, "Next refresh:      {}", opt(&s.next_refresh_at));
    let _ = writeln!(out, "Credential store:  {}", s.credential_store.as_str());
    let _ = writeln!(out);
    let _ = writeln!(out, "Recent local applications:");
    if inputs.clients.is_empty() {
        let _ = writeln!(out, "  none");
    }
    for c in inputs.clients {
        let _ = writeln!(
            out,
            "  {} — last query {}, {} queries",
            c.name,
            opt(&c.last_query),
            c.queries
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use licentric_proto::{CredentialStoreKind, Environment, LicenseState};

    #[test]
    fn the_report_is_redacted_and_complete() {
        let status = Status {
            state: LicenseState::Active,
            entitled: true,
            product_id: "acme-cad".into(),
            environment: Environment::Test,
            license_id: Some("lic_1".into()),
            machine_id: Some("mach_1".into()),
            license_key_hint: Some("ACME-****-****-****-H3WC".into()),
            entitlements: vec!["pro".into()],
            max_machines: Some(2),
            machines_active: Some(1),
            license_expires_at: None,
            issued_at: Some("2026-11-22T12:00:00Z".into()),
            offline_valid_until: Some("2026-12-06T12:00:00Z".into()),
            last_refresh_at: None,
            next_refresh_at: None,
            credential_store: CredentialStoreKind::Os,
            reason: None,
            summary: "Active".into(),
            detail: "Acme CAD is licensed on this machine.".into(),
            offline: false,
            runs_in: None,
            lease: None,
            seats_waiting: 0,
        };
        let fingerprint = "ab".repeat(32);
        let report = report(&Inputs {
            app_version: "0.1.0",
            os: "Debian 12".into(),
            product_name: "Acme CAD",
            api_base_url: "https://api.example",
            socket: "/run/user/1000/licentric/acme-cad.sock".into(),
            fingerprint: &fingerprint,
            status: &status,
            clients: &[ClientSeen {
                name: "acme-cad".into(),
                last_query: Some("2026-11-23T10:00:00Z".into()),
                queries: 3,
            }],
            generated_at: "2026-11-23T10:01:00Z".into(),
        });
        assert!(report.contains("ACME-****-****-****-H3WC"), "{report}");
        assert!(report.contains("abababababab… (shortened)"), "{report}");
        assert!(
            !report.contains(&fingerprint),
            "never the whole fingerprint"
        );
        for expected in [
            "State:             active",
            "Entitlements:      pro",
            "acme-cad — last query",
        ] {
            assert!(report.contains(expected), "{expected:?} in {report}");
        }
    }
}
