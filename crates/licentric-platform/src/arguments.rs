//! This process's command line as other local users read it: on Linux, `ps` and
//! `/proc/<pid>/cmdline` show every process's arguments to every user on the machine.

/// Overwrites each occurrence of `secret` in this process's arguments with `*`, so that other
/// local users no longer read it there — a licence key handed over by a
/// `licentric://activate?key=…` link, or typed after `activate`. The program has already read
/// its arguments; what it parsed is unchanged. Returns whether any was found and hidden.
///
/// Linux: the arguments' memory, whose bounds the kernel gives (`/proc/self/stat`, fields 48
/// and 49), rewritten through `/proc/self/mem` — as a database client hides a password typed
/// on its command line. Until this runs (the first moments of the process) the secret is
/// there to read: asking for it (standard input, a prompt) stays the better way. Elsewhere it
/// does nothing and returns `Ok(false)` (on macOS links reach an app as events, not
/// arguments).
///
/// # Errors
/// When the argument area cannot be read or written (a kernel that forbids writing through
/// `/proc/self/mem`): the secret stays where it was.
pub fn hide_argument(secret: &str) -> std::io::Result<bool> {
    #[cfg(target_os = "linux")]
    {
        linux::hide(secret.as_bytes())
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = secret;
        Ok(false)
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::os::unix::fs::FileExt as _;

    /// The largest argument area rewritten: 1 MiB.
    const MAX_AREA: u64 = 1 << 20;

    pub(super) fn hide(secret: &[u8]) -> std::io::Result<bool> {
        if secret.is_empty() {
            return Ok(false);
        }
        let stat = std::fs::read_to_string("/proc/self/stat")?;
        let (start, end) = area(&stat)
            .ok_or_else(|| std::io::Error::other("no argument area in /proc/self/stat"))?;
        let memory = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/proc/self/mem")?;
        let len = usize::try_from(end - start).map_err(std::io::Error::other)?;
        let mut area = vec![0u8; len];
        memory.read_exact_at(&mut area, start)?;
        let hidden = super::masked(&mut area, secret);
        if hidden {
            memory.write_all_at(&area, start)?;
        }
        Ok(hidden)
    }

    /// `arg_start` and `arg_end` of a `/proc/<pid>/stat` line (fields 48 and 49, counted
    /// after the command's name, which may hold spaces and parentheses).
    pub(super) fn area(stat: &str) -> Option<(u64, u64)> {
        let (_, rest) = stat.rsplit_once(')')?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // `rest` starts at field 3 (the state).
        let start: u64 = fields.get(48 - 3)?.parse().ok()?;
        let end: u64 = fields.get(49 - 3)?.parse().ok()?;
        (start < end && end - start <= MAX_AREA).then_some((start, end))
    }
}

/// Overwrites each occurrence of `secret` in `area` with `*`; whether there was one.
fn masked(area: &mut [u8], secret: &[u8]) -> bool {
    if secret.is_empty() || secret.len() > area.len() {
        return false;
    }
    let mut found = false;
    let mut at = 0;
    while at + secret.len() <= area.len() {
        if &area[at..at + secret.len()] == secret {
            area[at..at + secret.len()].fill(b'*');
            found = true;
            at += secret.len();
        } else {
            at += 1;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::masked;

    #[test]
    fn every_occurrence_is_masked_and_nothing_else() {
        let mut area = b"app\0licentric://activate?key=K-1\0--key\0K-1\0".to_vec();
        assert!(masked(&mut area, b"K-1"));
        assert_eq!(area, b"app\0licentric://activate?key=***\0--key\0***\0");
        assert!(!masked(&mut area, b"K-1"), "nothing left to hide");
        assert!(!masked(&mut area, b""));
        assert!(!masked(&mut b"ab".to_vec(), b"abc"));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_argument_area_is_read_past_a_name_with_spaces_and_parentheses() {
        let mut fields: Vec<String> = (3..=52).map(|n| n.to_string()).collect();
        fields[48 - 3] = "1000".into();
        fields[49 - 3] = "1040".into();
        let stat = format!("42 (a (b) c) {}", fields.join(" "));
        assert_eq!(super::linux::area(&stat), Some((1000, 1040)));
        assert_eq!(super::linux::area("42 (x) S 1"), None, "too short");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_reads_its_own_argument_area() {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
        let (start, end) = super::linux::area(&stat).expect("an area");
        let shown = std::fs::read("/proc/self/cmdline").unwrap();
        assert_eq!(usize::try_from(end - start).unwrap(), shown.len());
    }
}
