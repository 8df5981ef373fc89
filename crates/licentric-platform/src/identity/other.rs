//! Platforms with no known machine id source.

use licentric_core::MachineId;
use licentric_core::fingerprint::FingerprintError;

pub(super) fn machine_id() -> Result<MachineId, FingerprintError> {
    Err(FingerprintError::NotFound {
        looked_in: "nothing: this platform has no known source".into(),
    })
}
