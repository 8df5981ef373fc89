//! macOS: the machine's parts from the system's own tools. Written against Apple's
//! documentation and the tools' manual pages; built and tested on macOS only by the GitHub
//! Actions workflow (`docs/platforms.md`). The parsing is in `tools.rs`, tested everywhere.
//!
//! - board serial: `IOPlatformSerialNumber` of the platform expert device (`ioreg`); the
//!   board's UUID is `IOPlatformUUID`, which is already the machine id;
//! - network cards: `networksetup -listallhardwareports`, physical ports only;
//! - processor: `sysctl -n machdep.cpu.brand_string`;
//! - system disk: not read (no serial without a slow `system_profiler` scan).

use std::process::Command;

use licentric_core::components::{ComponentKind, RawComponent};

use super::Reading;
use super::tools;

/// What `program args…` prints, if it ran.
fn output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

pub(super) fn read(kind: ComponentKind) -> Reading {
    match kind {
        ComponentKind::BoardSerial => {
            let text = output("/usr/sbin/ioreg", &["-rd1", "-c", "IOPlatformExpertDevice"]);
            let serial = text
                .as_deref()
                .and_then(|t| tools::ioreg_value(t, "IOPlatformSerialNumber"))
                .and_then(|s| RawComponent::new(kind, s));
            Reading::of(kind, serial, "the firmware does not say")
        }
        ComponentKind::NetworkCard => {
            let text = output("/usr/sbin/networksetup", &["-listallhardwareports"]);
            let found: Vec<RawComponent> = text
                .as_deref()
                .map(tools::networksetup_addresses)
                .unwrap_or_default()
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
            let text = output("/usr/sbin/sysctl", &["-n", "machdep.cpu.brand_string"]);
            let model = text.and_then(|t| RawComponent::new(kind, &t));
            Reading::of(kind, model, "the processor does not say")
        }
        ComponentKind::BoardUuid => Reading::none(kind, "the same as the machine id on macOS"),
        ComponentKind::DiskSerial => Reading::none(kind, "not read on macOS"),
        ComponentKind::MachineId => Reading::none(kind, "read with the machine id"),
    }
}
