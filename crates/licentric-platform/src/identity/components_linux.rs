//! Linux: the machine's components from `/sys` and `/proc` — files, no commands, no
//! `sysinfo` scan — so reading them all takes well under a millisecond.

use std::path::{Path, PathBuf};

use licentric_core::components::{ComponentKind, RawComponent};

use super::Reading;

/// Where this machine's firmware describes itself.
const DMI: &str = "/sys/class/dmi/id";

pub(super) fn read(kind: ComponentKind) -> Reading {
    match kind {
        ComponentKind::BoardUuid => firmware(kind, "product_uuid"),
        ComponentKind::BoardSerial => firmware(kind, "board_serial"),
        ComponentKind::DiskSerial => disk(),
        ComponentKind::NetworkCard => network_cards(Path::new("/sys/class/net")),
        ComponentKind::CpuModel => cpu(),
        // The machine id is read by the machine-id source (with the test override).
        ComponentKind::MachineId => Reading::none(kind, "read with the machine id"),
    }
}

fn firmware(kind: ComponentKind, file: &str) -> Reading {
    match std::fs::read_to_string(Path::new(DMI).join(file)) {
        Ok(text) => Reading::of(
            kind,
            RawComponent::new(kind, &text),
            "the firmware leaves it blank",
        ),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            Reading::none(kind, "readable by administrators only")
        }
        Err(_) => Reading::none(kind, "the firmware does not say"),
    }
}

/// The serial of the disk `/` is on: its block device from the mount table, the whole disk
/// behind a partition, then the disk's own serial or udev's `by-id` name for it.
fn disk() -> Reading {
    let kind = ComponentKind::DiskSerial;
    let Some(device) = root_device() else {
        return Reading::none(kind, "the system is not on a local disk (a container, say)");
    };
    let Some(disk) = whole_disk(&device) else {
        return Reading::none(kind, "the system is not on a local disk (a container, say)");
    };
    let name = disk
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let serial = ["device/serial", "serial"]
        .iter()
        .find_map(|f| std::fs::read_to_string(disk.join(f)).ok())
        .and_then(|text| RawComponent::new(kind, &text))
        .or_else(|| by_id(&name).and_then(|id| RawComponent::new(kind, &id)));
    Reading::of(kind, serial, "the disk does not give a serial number")
}

/// `major:minor` of the file system mounted at `/`, from `/proc/self/mountinfo`.
fn root_device() -> Option<String> {
    let table = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    // The last mount at `/` is the one in use (a container's stacks on the host's).
    table.lines().rev().find_map(|line| {
        let fields: Vec<&str> = line.split(' ').collect();
        if fields.get(4) == Some(&"/") {
            fields.get(2).map(|d| (*d).to_owned())
        } else {
            None
        }
    })
}

/// The whole disk's `/sys` folder for block device `major:minor` (itself, or the parent of a
/// partition); `None` for what is not a block device (overlay, tmpfs, NFS).
fn whole_disk(device: &str) -> Option<PathBuf> {
    let path = std::fs::canonicalize(Path::new("/sys/dev/block").join(device)).ok()?;
    if path.join("partition").exists() {
        path.parent().map(Path::to_owned)
    } else {
        Some(path)
    }
}

/// udev's stable name for disk `name` (`ata-MODEL_SERIAL`, `nvme-MODEL_SERIAL`…), which
/// carries the serial where `/sys` does not.
fn by_id(name: &str) -> Option<String> {
    let mut ids: Vec<String> = std::fs::read_dir("/dev/disk/by-id")
        .ok()?
        .flatten()
        .filter(|entry| {
            std::fs::read_link(entry.path())
                .ok()
                .and_then(|target| target.file_name().map(|n| n == name))
                .unwrap_or(false)
        })
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|id| {
            !id.starts_with("wwn-") && !id.contains("-part") && !id.starts_with("nvme-eui.")
        })
        .collect();
    ids.sort();
    ids.into_iter().next()
}

/// The hardware addresses of the physical network cards: an interface with a device behind
/// it (not a bridge, VPN, Docker or loopback interface) and a globally assigned address (not
/// a random or locally administered one).
fn network_cards(root: &Path) -> Reading {
    let kind = ComponentKind::NetworkCard;
    let Ok(interfaces) = std::fs::read_dir(root) else {
        return Reading::none(kind, "no network interfaces");
    };
    let mut found: Vec<RawComponent> = interfaces
        .flatten()
        .filter(|i| i.path().join("device").exists())
        .filter_map(|i| std::fs::read_to_string(i.path().join("address")).ok())
        .filter(|address| super::tools::globally_assigned(address.trim()))
        .filter_map(|address| RawComponent::new(kind, &address))
        .collect();
    found.sort_by_key(|c| format!("{c:?}")); // stable order; the hashes are sorted later anyway
    Reading {
        kind,
        note: found.is_empty().then_some("no physical network card"),
        found,
    }
}

fn cpu() -> Reading {
    let kind = ComponentKind::CpuModel;
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines().find_map(|line| {
                let (key, value) = line.split_once(':')?;
                matches!(key.trim(), "model name" | "Model" | "Hardware")
                    .then(|| value.trim().to_owned())
            })
        });
    Reading::of(
        kind,
        model.and_then(|m| RawComponent::new(kind, &m)),
        "the processor does not name its model",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_interfaces_are_not_cards() {
        let root = tempfile::tempdir().unwrap();
        let iface = |name: &str, address: &str, device: bool| {
            let dir = root.path().join(name);
            std::fs::create_dir(&dir).unwrap();
            std::fs::write(dir.join("address"), format!("{address}\n")).unwrap();
            if device {
                std::fs::create_dir(dir.join("device")).unwrap();
            }
        };
        iface("eth0", "00:1b:21:3a:4f:5c", true);
        iface("docker0", "00:1b:21:00:00:01", false);
        iface("wlan0", "da:1b:21:3a:4f:5d", true); // a randomised address
        let reading = network_cards(root.path());
        assert_eq!(reading.found.len(), 1);
        assert_eq!(reading.note, None);
    }
}

/// What this system runs in, when it is not bare hardware: `("container", name)` or
/// `("virtual machine", name)`, read from files under `root` (`/` but in tests).
pub(super) fn virtualization(root: &Path) -> Option<(&'static str, String)> {
    let read = |path: &str| std::fs::read_to_string(root.join(path)).ok();
    // Containers first: a container on a virtual machine is used as a container.
    if root.join(".dockerenv").exists() {
        return Some(("container", "docker".into()));
    }
    if root.join("run/.containerenv").exists() {
        return Some(("container", "podman".into()));
    }
    if let Some(environ) = std::fs::read(root.join("proc/1/environ")).ok()
        && let Some(name) = environ
            .split(|b| *b == 0)
            .find_map(|v| v.strip_prefix(b"container="))
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .filter(|v| !v.is_empty())
    {
        return Some(("container", name));
    }
    if let Some(cgroup) = read("proc/1/cgroup") {
        for (mark, name) in [
            ("kubepods", "kubernetes"),
            ("docker", "docker"),
            ("lxc", "lxc"),
        ] {
            if cgroup.contains(mark) {
                return Some(("container", name.into()));
            }
        }
    }
    let dmi = |file: &str| read(&format!("sys/class/dmi/id/{file}")).unwrap_or_default();
    let firmware = format!("{} {}", dmi("sys_vendor"), dmi("product_name")).to_ascii_lowercase();
    for (mark, name) in [
        ("qemu", "qemu"),
        ("kvm", "kvm"),
        ("vmware", "vmware"),
        ("virtualbox", "virtualbox"),
        ("innotek", "virtualbox"),
        ("virtual machine", "hyper-v"),
        ("xen", "xen"),
        ("amazon ec2", "amazon ec2"),
        ("google compute engine", "google compute engine"),
        ("parallels", "parallels"),
        ("bhyve", "bhyve"),
    ] {
        if firmware.contains(mark) {
            return Some(("virtual machine", name.into()));
        }
    }
    let hypervisor = read("proc/cpuinfo").is_some_and(|info| {
        info.lines()
            .any(|l| l.starts_with("flags") && l.split_whitespace().any(|f| f == "hypervisor"))
    });
    hypervisor.then(|| ("virtual machine", "unknown hypervisor".into()))
}

#[cfg(test)]
mod virtualization_tests {
    use super::*;

    fn root(files: &[(&str, &str)]) -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = root.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        root
    }

    #[test]
    fn containers_and_virtual_machines_are_named() {
        let docker = root(&[(".dockerenv", "")]);
        assert_eq!(
            virtualization(docker.path()),
            Some(("container", "docker".into()))
        );
        let nspawn = root(&[("proc/1/environ", "PATH=/bin\0container=systemd-nspawn\0")]);
        assert_eq!(
            virtualization(nspawn.path()),
            Some(("container", "systemd-nspawn".into()))
        );
        let kube = root(&[("proc/1/cgroup", "0::/kubepods/besteffort/pod1\n")]);
        assert_eq!(
            virtualization(kube.path()),
            Some(("container", "kubernetes".into()))
        );
        let kvm = root(&[
            ("sys/class/dmi/id/sys_vendor", "QEMU\n"),
            (
                "sys/class/dmi/id/product_name",
                "Standard PC (Q35 + ICH9, 2009)\n",
            ),
        ]);
        assert_eq!(
            virtualization(kvm.path()),
            Some(("virtual machine", "qemu".into()))
        );
        let cloud = root(&[("proc/cpuinfo", "flags\t\t: fpu vme hypervisor lahf_lm\n")]);
        assert_eq!(
            virtualization(cloud.path()),
            Some(("virtual machine", "unknown hypervisor".into()))
        );
        let bare = root(&[
            ("sys/class/dmi/id/sys_vendor", "Dell Inc.\n"),
            ("proc/cpuinfo", "flags\t\t: fpu vme lahf_lm\n"),
            ("proc/1/cgroup", "0::/init.scope\n"),
        ]);
        assert_eq!(virtualization(bare.path()), None);
    }
}
