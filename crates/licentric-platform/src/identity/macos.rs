//! macOS: `IOPlatformUUID` of the platform expert device, as `ioreg` prints it.

use licentric_core::MachineId;
use licentric_core::fingerprint::FingerprintError;

pub(super) fn machine_id() -> Result<MachineId, FingerprintError> {
    let not_found = || FingerprintError::NotFound {
        looked_in: "ioreg IOPlatformUUID".into(),
    };
    let output = std::process::Command::new("/usr/sbin/ioreg")
        .args(["-rd1", "-c", "IOPlatformExpertDevice"])
        .output()
        .map_err(|_| not_found())?;
    let text = String::from_utf8_lossy(&output.stdout);
    let uuid = super::tools::ioreg_value(&text, "IOPlatformUUID").ok_or_else(not_found)?;
    MachineId::new(uuid, "IOPlatformUUID")
}
