//! Linux: systemd's `/etc/machine-id`, then D-Bus's copy.

use licentric_core::MachineId;
use licentric_core::fingerprint::FingerprintError;

const PATHS: [&str; 2] = ["/etc/machine-id", "/var/lib/dbus/machine-id"];

pub(super) fn machine_id() -> Result<MachineId, FingerprintError> {
    for path in PATHS {
        if let Ok(text) = std::fs::read_to_string(path) {
            // An empty /etc/machine-id (a container image) falls through to D-Bus's.
            if let Ok(id) = MachineId::new(&text, path) {
                return Ok(id);
            }
        }
    }
    Err(FingerprintError::NotFound {
        looked_in: PATHS.join(", "),
    })
}
