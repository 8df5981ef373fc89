//! Reading what the operating systems' own tools print (`ioreg`, `sysctl` and `networksetup`
//! on macOS; `reg` and `getmac` on Windows): plain functions of their output, compiled and
//! tested on every system, used by the sources of the system they belong to.

/// The value of `"key" = "…"` in `ioreg -rd1 -c IOPlatformExpertDevice` output.
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
pub(super) fn ioreg_value<'a>(output: &'a str, key: &str) -> Option<&'a str> {
    let quoted = format!("\"{key}\"");
    output.lines().find_map(|line| {
        let rest = line
            .trim()
            .strip_prefix(quoted.as_str())?
            .trim_start()
            .strip_prefix('=')?;
        rest.trim().strip_prefix('"')?.strip_suffix('"')
    })
}

/// The string value `name` in `reg query KEY /v NAME` output:
/// `    NAME    REG_SZ    value, spaces and all`.
#[cfg_attr(not(windows), allow(dead_code))]
pub(super) fn reg_value<'a>(output: &'a str, name: &str) -> Option<&'a str> {
    output.lines().find_map(|line| {
        let rest = line.trim_start().strip_prefix(name)?;
        let value = rest.trim_start().strip_prefix("REG_SZ")?.trim();
        (!value.is_empty()).then_some(value)
    })
}

/// The hardware addresses `networksetup -listallhardwareports` prints for physical ports
/// (not bridges), in colon notation.
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
pub(super) fn networksetup_addresses(output: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut port = "";
    for line in output.lines() {
        if let Some(name) = line.strip_prefix("Hardware Port:") {
            port = name.trim();
        } else if let Some(address) = line.strip_prefix("Ethernet Address:") {
            let address = address.trim().to_ascii_lowercase();
            if !port.contains("Bridge") && globally_assigned(&address) {
                found.push(address);
            }
        }
    }
    found
}

/// The hardware addresses `getmac /fo csv /nh /v` prints for physical adapters (not
/// virtual, VPN, Hyper-V or TAP adapters), in colon notation.
#[cfg_attr(not(windows), allow(dead_code))]
pub(super) fn getmac_addresses(output: &str) -> Vec<String> {
    const VIRTUAL: [&str; 6] = ["virtual", "vpn", "hyper-v", "tap-", "loopback", "vmware"];
    output
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split("\",\"").map(|f| f.trim_matches('"')).collect();
            let (adapter, address) = (fields.get(1)?, fields.get(2)?);
            let adapter = adapter.to_ascii_lowercase();
            if VIRTUAL.iter().any(|v| adapter.contains(v)) {
                return None;
            }
            let address = address.replace('-', ":").to_ascii_lowercase();
            globally_assigned(&address).then_some(address)
        })
        .collect()
}

/// Whether `address` (`aa:bb:cc:dd:ee:ff`) is globally assigned: the first octet's
/// locally-administered bit clear.
#[cfg_attr(
    not(any(target_os = "linux", target_os = "macos", windows)),
    allow(dead_code)
)]
pub(super) fn globally_assigned(address: &str) -> bool {
    address
        .split(':')
        .next()
        .and_then(|first| u8::from_str_radix(first, 16).ok())
        .is_some_and(|first| first & 0b10 == 0)
        && address.len() == 17
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ioreg_and_reg() {
        let ioreg = "+-o J314sAP  <class IOPlatformExpertDevice>\n    {\n      \"IOPlatformSerialNumber\" = \"C02XG0FDH7JY\"\n      \"IOPlatformUUID\" = \"1A2B3C4D-0000-1111-2222-333344445555\"\n    }";
        assert_eq!(
            ioreg_value(ioreg, "IOPlatformUUID"),
            Some("1A2B3C4D-0000-1111-2222-333344445555")
        );
        assert_eq!(
            ioreg_value(ioreg, "IOPlatformSerialNumber"),
            Some("C02XG0FDH7JY")
        );
        assert_eq!(ioreg_value(ioreg, "IOPlatform"), None);
        let reg = "\r\nHKEY_LOCAL_MACHINE\\HARDWARE\\DESCRIPTION\\System\\CentralProcessor\\0\r\n    ProcessorNameString    REG_SZ    Intel(R) Core(TM) i7-8650U CPU @ 1.90GHz\r\n";
        assert_eq!(
            reg_value(reg, "ProcessorNameString"),
            Some("Intel(R) Core(TM) i7-8650U CPU @ 1.90GHz")
        );
        let guid = "    MachineGuid    REG_SZ    5e1f2c3d-aaaa-bbbb-cccc-0123456789ab\r\n";
        assert_eq!(
            reg_value(guid, "MachineGuid"),
            Some("5e1f2c3d-aaaa-bbbb-cccc-0123456789ab")
        );
        assert_eq!(reg_value("nothing here", "MachineGuid"), None);
        assert_eq!(reg_value(guid, "Machine"), None, "the whole name");
    }

    #[test]
    fn reads_the_physical_network_cards() {
        let ports = "Hardware Port: Wi-Fi\nDevice: en0\nEthernet Address: 3C:22:FB:11:22:33\n\nHardware Port: Thunderbolt Bridge\nDevice: bridge0\nEthernet Address: 82:1f:22:00:00:01\n\nHardware Port: Thunderbolt 1\nDevice: en1\nEthernet Address: N/A\n\nHardware Port: USB 10/100/1000 LAN\nDevice: en5\nEthernet Address: 00:e0:4c:68:00:01\n";
        assert_eq!(
            networksetup_addresses(ports),
            ["3c:22:fb:11:22:33", "00:e0:4c:68:00:01"]
        );
        let getmac = "\"Ethernet\",\"Intel(R) Ethernet Connection I219-LM\",\"00-1B-21-3A-4F-5C\",\"\\Device\\Tcpip_{1}\"\r\n\"vEthernet (WSL)\",\"Hyper-V Virtual Ethernet Adapter\",\"00-15-5D-01-02-03\",\"\\Device\\Tcpip_{2}\"\r\n\"Wi-Fi\",\"Intel(R) Wi-Fi 6 AX201 160MHz\",\"N/A\",\"Media disconnected\"\r\n";
        assert_eq!(getmac_addresses(getmac), ["00:1b:21:3a:4f:5c"]);
    }

    #[test]
    fn only_globally_assigned_addresses_are_cards() {
        assert!(globally_assigned("00:1b:21:3a:4f:5c"));
        assert!(!globally_assigned("02:42:ac:11:00:02"), "docker's");
        assert!(
            !globally_assigned("de:ad:be:ef:00:01"),
            "locally administered"
        );
        assert!(!globally_assigned("nonsense"));
    }
}
