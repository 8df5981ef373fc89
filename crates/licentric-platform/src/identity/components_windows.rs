//! Windows: the machine's parts from the registry and `getmac`, through the system's own
//! tools (no WMI, no PowerShell). Written against Microsoft's documentation; built and tested
//! on Windows only by the GitHub Actions workflow (`docs/platforms.md`). The parsing is in
//! `tools.rs`, tested everywhere.
//!
//! - board UUID: the SMBIOS system UUID Windows keeps as `LastConfig` under
//!   `HKLM\SYSTEM\HardwareConfig`;
//! - network cards: `getmac /fo csv /nh /v`, physical adapters only;
//! - processor: `ProcessorNameString` under `HKLM\HARDWARE\DESCRIPTION\System\CentralProcessor\0`;
//! - board serial, system disk: not read (they need WMI).

use std::process::Command;

use licentric_core::components::{ComponentKind, RawComponent};

use super::Reading;
use super::tools;

/// The system's own `program` (`reg.exe`…), from the system folder — never one found first
/// beside the app — run without a console window.
pub(super) fn system_tool(program: &str) -> Command {
    use std::os::windows::process::CommandExt as _;
    /// `CREATE_NO_WINDOW`: a GUI app's child gets no console window.
    const CREATE_NO_WINDOW: u32 = 0x0800_0000;
    let root = std::env::var_os("SystemRoot").unwrap_or_else(|| r"C:\Windows".into());
    let mut command = Command::new(std::path::Path::new(&root).join("System32").join(program));
    command.creation_flags(CREATE_NO_WINDOW);
    command
}

/// The string value `name` of registry key `key` (the 64-bit view, from a 32-bit process too).
fn registry(key: &str, name: &str) -> Option<String> {
    let out = system_tool("reg.exe")
        .args(["query", key, "/v", name, "/reg:64"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    tools::reg_value(&text, name).map(str::to_owned)
}

pub(super) fn read(kind: ComponentKind) -> Reading {
    match kind {
        ComponentKind::BoardUuid => {
            let uuid = registry(r"HKLM\SYSTEM\HardwareConfig", "LastConfig")
                .map(|v| v.trim_matches(|c| c == '{' || c == '}').to_owned())
                .and_then(|v| RawComponent::new(kind, &v));
            Reading::of(kind, uuid, "the firmware does not say")
        }
        ComponentKind::NetworkCard => {
            let out = system_tool("getmac.exe")
                .args(["/fo", "csv", "/nh", "/v"])
                .output()
                .ok();
            let text = out
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            let found: Vec<RawComponent> = tools::getmac_addresses(&text)
                .iter()
                .filter_map(|a| RawComponent::new(kind, a))
                .collect();
            Reading {
                kind,
                note: found.is_empty().then_some("no physical network card"),
                found,
            }
        }
        ComponentKind::CpuModel => {
            let model = registry(
                r"HKLM\HARDWARE\DESCRIPTION\System\CentralProcessor\0",
                "ProcessorNameString",
            )
            .and_then(|v| RawComponent::new(kind, &v));
            Reading::of(kind, model, "the processor does not say")
        }
        ComponentKind::BoardSerial | ComponentKind::DiskSerial => {
            Reading::none(kind, "not read on Windows")
        }
        ComponentKind::MachineId => Reading::none(kind, "read with the machine id"),
    }
}
