//! Linux: systemd's `/etc/machine-id`, then D-Bus's copy — or, in a container, the host id
//! its administrator gave it at [`HOST_ID_PATH`].

use std::os::unix::fs::MetadataExt as _;
use std::path::Path;

use licentric_core::MachineId;
use licentric_core::fingerprint::FingerprintError;

const PATHS: [&str; 2] = ["/etc/machine-id", "/var/lib/dbus/machine-id"];

/// Where a container is given its host's identity (for example the host's machine id,
/// mounted read-only: `-v /etc/machine-id:/etc/licentric/host-id:ro`), so that every
/// container started on one host is that host's one machine rather than a new machine each.
pub(super) const HOST_ID_PATH: &str = "etc/licentric/host-id";

pub(super) fn machine_id() -> Result<MachineId, FingerprintError> {
    if let Some(id) = host_id(Path::new("/")) {
        return Ok(id);
    }
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

/// The host id under `root`, when the system there runs in a container and the file is the
/// administrator's: owned by root and writable by no one else (what only root can write
/// carries the weight of `/etc/machine-id`, which root can write too). Anywhere else it is
/// ignored: on a computer it would only be a way to wear another machine's identity.
fn host_id(root: &Path) -> Option<MachineId> {
    let (kind, _) = super::components_linux::virtualization(root)?;
    if kind != "container" {
        return None;
    }
    let path = root.join(HOST_ID_PATH);
    let meta = std::fs::metadata(&path).ok()?;
    let administrators = meta.is_file() && meta.uid() == 0 && meta.mode() & 0o022 == 0;
    if !administrators {
        return None;
    }
    let text = std::fs::read_to_string(&path).ok()?;
    MachineId::new(&text, "the container's host id").ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = root.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        root
    }

    const HOST: &str = "4f1c0de5a1b2c3d4e5f60718293a4b5c";

    #[test]
    fn a_container_is_known_by_its_hosts_id_and_a_computer_is_not() {
        let expected = MachineId::new(HOST, "t").unwrap().fingerprint("p");
        let container = tree(&[(".dockerenv", ""), (HOST_ID_PATH, HOST)]);
        let root_owned = std::fs::metadata(container.path().join(HOST_ID_PATH))
            .unwrap()
            .uid()
            == 0;
        if root_owned {
            let id = host_id(container.path()).expect("the host's id");
            assert_eq!(id.fingerprint("p"), expected);
        }
        // Not a container: the file means nothing.
        let computer = tree(&[(HOST_ID_PATH, HOST)]);
        assert!(host_id(computer.path()).is_none());
        // Writable by others: not the administrator's.
        let path = container.path().join(HOST_ID_PATH);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(host_id(container.path()).is_none());
        // Owned by another user: the same.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        if root_owned && std::os::unix::fs::chown(&path, Some(10_777), None).is_ok() {
            assert!(host_id(container.path()).is_none());
        }
        // Empty or malformed: ignored.
        let empty = tree(&[(".dockerenv", ""), (HOST_ID_PATH, "\n")]);
        assert!(host_id(empty.path()).is_none());
    }
}
