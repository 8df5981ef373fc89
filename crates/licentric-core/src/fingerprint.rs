//! The machine fingerprint: `hex(HMAC-SHA256(key = machine id, msg = "licentric.fingerprint.v1:" + product_id))`.
//!
//! This is the app-specific derivation systemd recommends for `sd_id128_get_machine_app_specific`:
//! the raw machine id never leaves the machine, and two products see unrelated fingerprints.
//! The machine id is read through [`MachineIdSource`]: `/etc/machine-id` (then
//! `/var/lib/dbus/machine-id`) on Linux, `IOPlatformUUID` on macOS, `MachineGuid` on Windows,
//! trimmed and lower-cased; the key is that text's bytes.
//!
//! [`MachineMetadata`] describes the machine for the vendor's dashboard. It is not identity.

use std::fmt;

use licentric_proto::Environment;
use zeroize::Zeroizing;

/// The variable that sets the machine id in tests. Honoured only in the `test` environment.
pub const MACHINE_ID_ENV: &str = "LICENTRIC_MACHINE_ID";

const DERIVATION_LABEL: &str = "licentric.fingerprint.v1:";

/// Why the machine id could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FingerprintError {
    /// No source had a machine id.
    #[error("no machine id found (looked in {looked_in})")]
    NotFound {
        /// Where it looked.
        looked_in: String,
    },
    /// A source had something that is not a machine id.
    #[error("the machine id in {source_name} is malformed")]
    Malformed {
        /// The source.
        source_name: String,
    },
}

impl FingerprintError {
    /// The stable code: `machine_id_not_found` or `machine_id_malformed`.
    pub const fn code(&self) -> &'static str {
        match self {
            FingerprintError::NotFound { .. } => "machine_id_not_found",
            FingerprintError::Malformed { .. } => "machine_id_malformed",
        }
    }
}

/// A machine id: secret to this machine, never shown, wiped on drop.
#[derive(Clone)]
pub struct MachineId(Zeroizing<String>);

impl MachineId {
    /// A machine id from its text: trimmed and lower-cased.
    ///
    /// # Errors
    /// [`FingerprintError::Malformed`] if it is empty, longer than 256 bytes, all zeros, or
    /// has characters outside `0-9a-z-{}`.
    pub fn new(text: &str, source_name: &str) -> Result<MachineId, FingerprintError> {
        let id = text.trim().to_ascii_lowercase();
        let well_formed = !id.is_empty()
            && id.len() <= 256
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'{' | b'}'))
            && id.bytes().any(|b| b.is_ascii_alphanumeric() && b != b'0');
        if well_formed {
            Ok(MachineId(Zeroizing::new(id)))
        } else {
            Err(FingerprintError::Malformed {
                source_name: source_name.to_owned(),
            })
        }
    }

    /// This machine's fingerprint for `product_id`.
    pub fn fingerprint(&self, product_id: &str) -> Fingerprint {
        let mac = crate::hmac_sha256(
            self.0.as_bytes(),
            &[DERIVATION_LABEL.as_bytes(), product_id.as_bytes()],
        );
        Fingerprint(crate::hex::encode(&mac))
    }
}

impl fmt::Debug for MachineId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MachineId(<redacted>)")
    }
}

/// A machine fingerprint: 64 lower-case hex characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// Checks a fingerprint received from elsewhere (a request file, an API body).
    pub fn parse(text: &str) -> Option<Fingerprint> {
        crate::hex::is_lower_hex(text, 64).then(|| Fingerprint(text.to_owned()))
    }

    /// The 64 hex characters.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 12 characters, grouped for reading aloud: `3f9a-c2e1-07bd`.
    pub fn short(&self) -> String {
        format!("{}-{}-{}", &self.0[0..4], &self.0[4..8], &self.0[8..12])
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where the machine id comes from.
pub trait MachineIdSource: Send + Sync {
    /// Reads the machine id.
    ///
    /// # Errors
    /// When no id can be read.
    fn machine_id(&self) -> Result<MachineId, FingerprintError>;
}

/// A fixed machine id: tests, and the `LICENTRIC_MACHINE_ID` override.
#[derive(Debug, Clone)]
pub struct FixedMachineId(pub String);

impl MachineIdSource for FixedMachineId {
    fn machine_id(&self) -> Result<MachineId, FingerprintError> {
        MachineId::new(&self.0, MACHINE_ID_ENV)
    }
}

/// The operating system's machine id: the one production source.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlatformMachineId;

impl MachineIdSource for PlatformMachineId {
    fn machine_id(&self) -> Result<MachineId, FingerprintError> {
        platform::machine_id()
    }
}

/// The source to use for `environment`: the platform's, or `LICENTRIC_MACHINE_ID` when that
/// is set and the environment is `test`. A live build ignores the variable, so it cannot be
/// used to clone a machine's identity.
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

#[cfg(target_os = "linux")]
mod platform {
    use super::{FingerprintError, MachineId};

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
}

#[cfg(target_os = "macos")]
mod platform {
    use super::{FingerprintError, MachineId, parse_ioreg_uuid};

    pub(super) fn machine_id() -> Result<MachineId, FingerprintError> {
        let output = std::process::Command::new("/usr/sbin/ioreg")
            .args(["-rd1", "-c", "IOPlatformExpertDevice"])
            .output()
            .map_err(|_| FingerprintError::NotFound {
                looked_in: "ioreg IOPlatformUUID".into(),
            })?;
        let text = String::from_utf8_lossy(&output.stdout);
        let uuid = parse_ioreg_uuid(&text).ok_or_else(|| FingerprintError::NotFound {
            looked_in: "ioreg IOPlatformUUID".into(),
        })?;
        MachineId::new(uuid, "IOPlatformUUID")
    }
}

#[cfg(windows)]
mod platform {
    use super::{FingerprintError, MachineId, parse_reg_machine_guid};

    pub(super) fn machine_id() -> Result<MachineId, FingerprintError> {
        const KEY: &str = r"HKLM\SOFTWARE\Microsoft\Cryptography";
        // /reg:64 reads the 64-bit view even from a 32-bit process (WOW64 redirection).
        let output = std::process::Command::new("reg")
            .args(["query", KEY, "/v", "MachineGuid", "/reg:64"])
            .output()
            .map_err(|_| FingerprintError::NotFound {
                looked_in: KEY.into(),
            })?;
        let text = String::from_utf8_lossy(&output.stdout);
        let guid = parse_reg_machine_guid(&text).ok_or_else(|| FingerprintError::NotFound {
            looked_in: KEY.into(),
        })?;
        MachineId::new(guid, "MachineGuid")
    }
}

#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
mod platform {
    use super::{FingerprintError, MachineId};

    pub(super) fn machine_id() -> Result<MachineId, FingerprintError> {
        Err(FingerprintError::NotFound {
            looked_in: "nothing: this platform has no known source".into(),
        })
    }
}

/// The value of `"IOPlatformUUID" = "…"` in `ioreg -rd1 -c IOPlatformExpertDevice` output.
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
fn parse_ioreg_uuid(output: &str) -> Option<&str> {
    output.lines().find_map(|line| {
        let rest = line
            .trim()
            .strip_prefix("\"IOPlatformUUID\"")?
            .trim_start()
            .strip_prefix('=')?;
        rest.trim().strip_prefix('"')?.strip_suffix('"')
    })
}

/// The value in `reg query … /v MachineGuid` output: `    MachineGuid    REG_SZ    <guid>`.
#[cfg_attr(not(windows), allow(dead_code))]
fn parse_reg_machine_guid(output: &str) -> Option<&str> {
    output.lines().find_map(|line| {
        let mut parts = line.split_whitespace();
        (parts.next()? == "MachineGuid" && parts.next()? == "REG_SZ").then_some(())?;
        parts.next()
    })
}

/// The platform name sent to the API: `linux`, `macos` or `windows`.
pub fn platform_name() -> &'static str {
    std::env::consts::OS
}

/// A description of the machine for the vendor's dashboard; not identity.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MachineMetadata {
    /// The host name.
    pub hostname: String,
    /// `linux`, `macos` or `windows`.
    pub platform: String,
    /// The OS's name and version (`Debian GNU/Linux 12`).
    pub os: String,
    /// The CPU's brand string.
    pub cpu: String,
    /// Logical CPUs.
    pub cpu_cores: usize,
    /// Installed memory in bytes.
    pub memory_bytes: u64,
}

impl MachineMetadata {
    /// Reads the metadata, loading only CPU names and the RAM size (about half a millisecond,
    /// against ~13 ms for everything `sysinfo` can load).
    pub fn collect() -> MachineMetadata {
        use sysinfo::{CpuRefreshKind, MemoryRefreshKind, RefreshKind, System};
        let kinds = RefreshKind::nothing()
            .with_cpu(CpuRefreshKind::nothing())
            .with_memory(MemoryRefreshKind::nothing().with_ram());
        let (cpu, cpu_cores, memory_bytes) = match System::new_with_specifics(kinds) {
            Ok(system) => (
                system
                    .cpus()
                    .first()
                    .map(|c| c.brand().trim().to_owned())
                    .unwrap_or_default(),
                system.cpus().len(),
                system.total_memory(),
            ),
            Err(_) => (String::new(), 0, 0),
        };
        MachineMetadata {
            hostname: System::host_name().unwrap_or_default(),
            platform: platform_name().to_owned(),
            os: System::long_os_version().unwrap_or_else(|_| platform_name().to_owned()),
            cpu,
            cpu_cores,
            memory_bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivation_matches_an_independent_hmac() {
        // Computed with Python: hmac.new(b"0123456789abcdef0123456789abcdef",
        //   b"licentric.fingerprint.v1:acme-cad", hashlib.sha256).hexdigest()
        let id = MachineId::new("0123456789ABCDEF0123456789abcdef\n", "test").unwrap();
        assert_eq!(
            id.fingerprint("acme-cad").as_str(),
            "d5220bc30cb94644a2d3237328cf64fe56a8c8dfbf581ec170585a5bb62d5884"
        );
    }

    #[test]
    fn products_get_unrelated_fingerprints() {
        let id = MachineId::new("0123456789abcdef0123456789abcdef", "test").unwrap();
        assert_ne!(id.fingerprint("acme-cad"), id.fingerprint("acme-cam"));
        assert!(Fingerprint::parse(id.fingerprint("x").as_str()).is_some());
    }

    #[test]
    fn malformed_ids_are_refused() {
        for bad in [
            "",
            "  \n",
            "00000000000000000000000000000000",
            "abc def",
            "ab\0cd",
        ] {
            assert!(MachineId::new(bad, "t").is_err(), "{bad:?}");
        }
        assert!(format!("{:?}", MachineId::new("abcd", "t").unwrap()).contains("redacted"));
    }

    #[test]
    fn parses_platform_tool_output() {
        let ioreg = "+-o J314sAP  <class IOPlatformExpertDevice>\n    {\n      \"IOPlatformUUID\" = \"1A2B3C4D-0000-1111-2222-333344445555\"\n    }";
        assert_eq!(
            parse_ioreg_uuid(ioreg),
            Some("1A2B3C4D-0000-1111-2222-333344445555")
        );
        let reg = "\r\nHKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Cryptography\r\n    MachineGuid    REG_SZ    5e1f2c3d-aaaa-bbbb-cccc-0123456789ab\r\n";
        assert_eq!(
            parse_reg_machine_guid(reg),
            Some("5e1f2c3d-aaaa-bbbb-cccc-0123456789ab")
        );
        assert_eq!(parse_reg_machine_guid("nothing here"), None);
    }

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

    #[test]
    fn metadata_describes_this_machine() {
        let m = MachineMetadata::collect();
        assert_eq!(m.platform, std::env::consts::OS);
        assert!(m.cpu_cores >= 1, "no CPUs found: {m:?}");
        assert!(m.memory_bytes > 0, "no memory found: {m:?}");
    }
}
