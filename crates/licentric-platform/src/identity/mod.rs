//! This machine's identity: the machine id the fingerprint is derived from, read from the
//! operating system (Linux `/etc/machine-id` then `/var/lib/dbus/machine-id`, macOS
//! `IOPlatformUUID`, Windows `MachineGuid`), and the descriptive metadata for the vendor's
//! dashboard (feature `metadata`), which is not identity.
//!
//! Tests may set [`MACHINE_ID_ENV`]; it is honoured only in the `test` environment, so it
//! cannot be used to clone a machine's identity for a live licence.

use licentric_core::MachineId;
use licentric_core::components::{ComponentHash, ComponentKind, RawComponent};
use licentric_core::fingerprint::{FingerprintError, FixedMachineId, MachineIdSource};
use licentric_proto::Environment;
use licentric_proto::api::{RunsIn, RunsInKind};

#[cfg(target_os = "linux")]
#[path = "linux.rs"]
mod os;
#[cfg(target_os = "macos")]
#[path = "macos.rs"]
mod os;
#[cfg(windows)]
#[path = "windows.rs"]
mod os;
#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
#[path = "other.rs"]
mod os;

#[cfg(target_os = "linux")]
mod components_linux;
#[cfg(target_os = "macos")]
#[path = "components_macos.rs"]
mod components_os;
#[cfg(windows)]
#[path = "components_windows.rs"]
mod components_os;
#[cfg(feature = "metadata")]
mod metadata;
mod tools;
#[cfg(feature = "metadata")]
pub use metadata::MachineMetadata;

/// The variable that sets the machine id in tests. Honoured only in the `test` environment.
pub const MACHINE_ID_ENV: &str = "LICENTRIC_MACHINE_ID";

/// The operating system's machine id: the one production source.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlatformMachineId;

impl MachineIdSource for PlatformMachineId {
    fn machine_id(&self) -> Result<MachineId, FingerprintError> {
        os::machine_id()
    }
}

/// The source to use for `environment`: the platform's, or [`MACHINE_ID_ENV`] when that is
/// set and the environment is `test`. A live build ignores the variable.
pub fn machine_id_source(environment: Environment) -> Box<dyn MachineIdSource> {
    source_for(environment, std::env::var(MACHINE_ID_ENV).ok())
}

fn source_for(environment: Environment, override_id: Option<String>) -> Box<dyn MachineIdSource> {
    match override_id {
        Some(id) if environment == Environment::Test && !id.is_empty() => {
            Box::new(FixedMachineId(id))
        }
        _ => Box::new(PlatformMachineId),
    }
}

/// What one source of a component found, and if nothing, why (in words for the user).
#[derive(Debug)]
pub struct Reading {
    /// The kind of part.
    pub kind: ComponentKind,
    /// What was found: several for network cards, at most one otherwise.
    pub found: Vec<RawComponent>,
    /// Why nothing was found.
    pub note: Option<&'static str>,
}

impl Reading {
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    fn of(kind: ComponentKind, found: Option<RawComponent>, why_not: &'static str) -> Reading {
        Reading {
            kind,
            note: found.is_none().then_some(why_not),
            found: found.into_iter().collect(),
        }
    }

    fn none(kind: ComponentKind, why: &'static str) -> Reading {
        Reading {
            kind,
            found: Vec::new(),
            note: Some(why),
        }
    }
}

/// Reads the component `kind` of this machine; the machine id comes from `source` (so the
/// test environment's override applies to it as to the fingerprint).
pub fn read_component(kind: ComponentKind, source: &dyn MachineIdSource) -> Reading {
    if kind == ComponentKind::MachineId {
        return match source.machine_id() {
            Ok(id) => Reading::of(kind, id.component(), "the machine id is blank"),
            Err(_) => Reading::none(kind, "no machine id"),
        };
    }
    #[cfg(target_os = "linux")]
    {
        components_linux::read(kind)
    }
    #[cfg(any(target_os = "macos", windows))]
    {
        components_os::read(kind)
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
    {
        Reading::none(kind, "not read on this operating system yet")
    }
}

/// The variable that sets the machine's parts in tests (`kind=value;kind=value`), replacing
/// the ones read from the hardware (the machine id still comes from the machine-id source).
/// Honoured only in the `test` environment, as [`MACHINE_ID_ENV`] is.
pub const COMPONENTS_ENV: &str = "LICENTRIC_COMPONENTS";

/// This machine's parts hashed for `product_id`, as sent with an activation or a check: the
/// machine id from `source` and the hardware's parts (in the `test` environment,
/// [`COMPONENTS_ENV`]'s instead when it is set).
pub fn product_components(
    source: &dyn MachineIdSource,
    environment: Environment,
    product_id: &str,
) -> Vec<ComponentHash> {
    let mut raw: Vec<RawComponent> = Vec::new();
    if let Ok(id) = source.machine_id() {
        raw.extend(id.component());
    }
    let fake = std::env::var(COMPONENTS_ENV)
        .ok()
        .filter(|_| environment == Environment::Test);
    match fake {
        Some(spec) => raw.extend(spec.split(';').filter_map(|pair| {
            let (name, value) = pair.split_once('=')?;
            let kind =
                ComponentKind::parse(name.trim()).filter(|k| *k != ComponentKind::MachineId)?;
            RawComponent::new(kind, value)
        })),
        None => {
            for kind in ComponentKind::ALL {
                if kind != ComponentKind::MachineId {
                    raw.extend(read_component(kind, source).found);
                }
            }
        }
    }
    licentric_core::components::hash_all(&raw, product_id)
}

/// What this system runs in when it is not bare hardware: a container (`docker`, `podman`…)
/// or a virtual machine (`kvm`, `vmware`…); `None` on bare hardware (or where this is not read
/// yet: macOS, Windows).
pub fn virtualization() -> Option<RunsIn> {
    #[cfg(target_os = "linux")]
    {
        components_linux::virtualization(std::path::Path::new("/")).map(|(what, name)| RunsIn {
            kind: if what == "container" {
                RunsInKind::Container
            } else {
                RunsInKind::VirtualMachine
            },
            name,
        })
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

/// The variable that says in tests what the system runs in — `container:docker`,
/// `virtual_machine:kvm`, or `none` for bare hardware — instead of reading it. Honoured only
/// in the `test` environment, as [`MACHINE_ID_ENV`] is.
pub const RUNS_IN_ENV: &str = "LICENTRIC_RUNS_IN";

/// What this system runs in, as sent with an activation: [`virtualization`], or in the `test`
/// environment [`RUNS_IN_ENV`]'s when it is set.
pub fn runs_in(environment: Environment) -> Option<RunsIn> {
    match std::env::var(RUNS_IN_ENV)
        .ok()
        .filter(|_| environment == Environment::Test)
    {
        Some(spec) => parse_runs_in(&spec),
        None => virtualization(),
    }
}

fn parse_runs_in(spec: &str) -> Option<RunsIn> {
    let (kind, name) = spec.split_once(':')?;
    let kind = match kind {
        "container" => RunsInKind::Container,
        "virtual_machine" => RunsInKind::VirtualMachine,
        _ => return None,
    };
    Some(RunsIn {
        kind,
        name: name.trim().to_ascii_lowercase(),
    })
}

/// Every component of this machine, in [`ComponentKind::ALL`]'s order.
pub fn components(source: &dyn MachineIdSource) -> Vec<Reading> {
    ComponentKind::ALL
        .iter()
        .map(|kind| read_component(*kind, source))
        .collect()
}

/// The platform name sent to the API: `linux`, `macos` or `windows`.
pub fn platform_name() -> &'static str {
    std::env::consts::OS
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    #[test]
    fn override_is_honoured_only_in_test() {
        let fixed = "feedfacefeedfacefeedfacefeedface".to_owned();
        let expected = MachineId::new(&fixed, "t").unwrap().fingerprint("p");
        let test = source_for(Environment::Test, Some(fixed.clone()));
        assert_eq!(test.machine_id().unwrap().fingerprint("p"), expected);

        let platform = PlatformMachineId.machine_id().map(|id| id.fingerprint("p"));
        let live = source_for(Environment::Live, Some(fixed));
        assert_eq!(
            live.machine_id().map(|id| id.fingerprint("p")),
            platform,
            "live must ignore the override"
        );
        let unset = source_for(Environment::Test, Some(String::new()));
        assert_eq!(unset.machine_id().map(|id| id.fingerprint("p")), platform);
    }

    #[test]
    fn what_a_test_says_the_system_runs_in() {
        let docker = parse_runs_in("container:Docker").unwrap();
        assert_eq!(
            (docker.kind, docker.name.as_str()),
            (RunsInKind::Container, "docker")
        );
        let kvm = parse_runs_in("virtual_machine:kvm").unwrap();
        assert_eq!(kvm.kind, RunsInKind::VirtualMachine);
        assert_eq!(parse_runs_in("none"), None);
        assert_eq!(parse_runs_in("toaster:x"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn linux_machine_id_matches_the_file() {
        let text = std::fs::read_to_string("/etc/machine-id")
            .or_else(|_| std::fs::read_to_string("/var/lib/dbus/machine-id"));
        match (text, PlatformMachineId.machine_id()) {
            (Ok(text), Ok(id)) => assert_eq!(
                id.fingerprint("p"),
                MachineId::new(&text, "f").unwrap().fingerprint("p")
            ),
            (Err(_), Err(e)) => assert_eq!(e.code(), "machine_id_not_found"),
            (text, id) => panic!("file and source disagree: {text:?} vs {id:?}"),
        }
    }
}

#[cfg(test)]
mod component_tests {
    use super::*;

    #[test]
    fn this_machines_components_read_the_same_twice() {
        let source = FixedMachineId("0123456789abcdef0123456789abcdef".into());
        let hashes = || -> Vec<_> {
            components(&source)
                .iter()
                .flat_map(|r| licentric_core::components::hash_all(&r.found, "p"))
                .collect()
        };
        let first = hashes();
        assert_eq!(first, hashes());
        // The machine id is always one of them; what else is found depends on the machine,
        // and each kind not found says why.
        assert!(first.iter().any(|h| h.kind == ComponentKind::MachineId));
        for reading in components(&source) {
            assert!(
                !reading.found.is_empty() || reading.note.is_some(),
                "{}: neither found nor explained",
                reading.kind
            );
        }
    }
}
