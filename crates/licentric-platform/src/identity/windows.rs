//! Windows: `MachineGuid` under `HKLM\SOFTWARE\Microsoft\Cryptography`, as `reg query` prints it.

use licentric_core::MachineId;
use licentric_core::fingerprint::FingerprintError;

pub(super) fn machine_id() -> Result<MachineId, FingerprintError> {
    const KEY: &str = r"HKLM\SOFTWARE\Microsoft\Cryptography";
    let not_found = || FingerprintError::NotFound {
        looked_in: KEY.into(),
    };
    // /reg:64 reads the 64-bit view even from a 32-bit process (WOW64 redirection).
    let output = super::components_os::system_tool("reg.exe")
        .args(["query", KEY, "/v", "MachineGuid", "/reg:64"])
        .output()
        .map_err(|_| not_found())?;
    let text = String::from_utf8_lossy(&output.stdout);
    let guid = super::tools::reg_value(&text, "MachineGuid").ok_or_else(not_found)?;
    MachineId::new(guid, "MachineGuid")
}
