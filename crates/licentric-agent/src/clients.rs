//! The local applications that asked the agent about the licence recently, for the GUI's
//! "recent apps" list: a process name and the time of its last request, nothing more.
//!
//! The IPC server looks the name up once per connection and then only stores a timestamp per
//! request (an atomic store), so keeping the list costs the hot path nothing measurable.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use time::OffsetDateTime;

/// At most this many applications are remembered; the one seen longest ago makes room.
pub const MAX_CLIENTS: usize = 32;

/// The applications seen; cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct ClientLog {
    entries: Arc<Mutex<Vec<Arc<ClientEntry>>>>,
}

/// One application, updated by its connections.
#[derive(Debug)]
pub struct ClientEntry {
    name: String,
    last_query: AtomicI64,
    queries: AtomicU64,
}

impl ClientEntry {
    /// Records one request now.
    pub fn touch(&self) {
        self.last_query.store(
            OffsetDateTime::now_utc().unix_timestamp(),
            Ordering::Relaxed,
        );
        self.queries.fetch_add(1, Ordering::Relaxed);
    }
}

/// An application as the GUI shows it (and the IPC's `clients` answers).
pub use licentric_proto::ipc::ClientSeen;

impl ClientLog {
    /// The entry for the process `pid` (its name looked up now), created if new.
    pub fn entry_for(&self, pid: Option<i32>) -> Arc<ClientEntry> {
        let name = process_name(pid);
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(found) = entries.iter().find(|e| e.name == name) {
            return Arc::clone(found);
        }
        if entries.len() >= MAX_CLIENTS
            && let Some(oldest) = entries
                .iter()
                .enumerate()
                .min_by_key(|(_, e)| e.last_query.load(Ordering::Relaxed))
                .map(|(i, _)| i)
        {
            entries.swap_remove(oldest);
        }
        let entry = Arc::new(ClientEntry {
            name,
            last_query: AtomicI64::new(i64::MIN),
            queries: AtomicU64::new(0),
        });
        entries.push(Arc::clone(&entry));
        entry
    }

    /// The applications that made a request, the most recent first.
    pub fn recent(&self) -> Vec<ClientSeen> {
        let entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut seen: Vec<(i64, ClientSeen)> = entries
            .iter()
            .filter(|e| e.queries.load(Ordering::Relaxed) > 0)
            .map(|e| {
                let at = e.last_query.load(Ordering::Relaxed);
                let last_query = OffsetDateTime::from_unix_timestamp(at).ok().and_then(|t| {
                    t.format(&time::format_description::well_known::Rfc3339)
                        .ok()
                });
                (
                    at,
                    ClientSeen {
                        name: e.name.clone(),
                        last_query,
                        queries: e.queries.load(Ordering::Relaxed),
                    },
                )
            })
            .collect();
        seen.sort_by_key(|(at, _)| std::cmp::Reverse(*at));
        seen.into_iter().map(|(_, s)| s).collect()
    }
}

/// The name the list gives process `pid`.
pub fn process_name(pid: Option<i32>) -> String {
    let Some(pid) = pid else {
        return "unknown process".to_owned();
    };
    #[cfg(target_os = "linux")]
    if let Ok(comm) = std::fs::read_to_string(format!("/proc/{pid}/comm")) {
        let comm = comm.trim_end_matches('\n');
        // The kernel keeps 15 bytes of a name: the program's file says the rest.
        const KEPT: usize = 15;
        if comm.len() == KEPT
            && let Some(file) = std::fs::read_link(format!("/proc/{pid}/exe"))
                .ok()
                .and_then(|exe| exe.file_name().map(|n| n.to_string_lossy().into_owned()))
                .filter(|file| file.starts_with(comm))
        {
            return file;
        }
        if !comm.is_empty() {
            return comm.to_owned();
        }
    }
    format!("process {pid}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn a_long_program_name_is_given_whole() {
        // This test's own program: `licentric_agent-<hash>`, longer than the kernel keeps.
        let exe = std::env::current_exe().unwrap();
        let name = exe.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.len() > 15, "{name}");
        let pid = i32::try_from(std::process::id()).unwrap();
        assert_eq!(process_name(Some(pid)), name);
    }

    #[test]
    fn lists_only_clients_that_asked_most_recent_first() {
        let log = ClientLog::default();
        let quiet = log.entry_for(None);
        let own = log.entry_for(Some(i32::try_from(std::process::id()).unwrap()));
        assert!(log.recent().is_empty(), "nobody asked anything yet");
        own.touch();
        own.touch();
        let recent = log.recent();
        assert_eq!(recent.len(), 1, "only the client that asked: {recent:?}");
        assert_eq!(recent[0].queries, 2);
        assert!(recent[0].last_query.is_some());
        #[cfg(target_os = "linux")]
        assert!(
            !recent[0].name.starts_with("process "),
            "the name comes from /proc: {recent:?}"
        );
        drop(quiet);
    }

    #[test]
    fn same_process_name_shares_an_entry_and_the_list_is_bounded() {
        let log = ClientLog::default();
        let pid = Some(i32::try_from(std::process::id()).unwrap());
        let a = log.entry_for(pid);
        let b = log.entry_for(pid);
        assert!(Arc::ptr_eq(&a, &b), "one entry per process name");
        for n in 0..(MAX_CLIENTS as i32 + 10) {
            // Pids far beyond pid_max: unknown names, each distinct.
            log.entry_for(Some(i32::MAX - n)).touch();
        }
        let count = log.entries.lock().unwrap().len();
        assert_eq!(count, MAX_CLIENTS, "the list stays bounded");
    }
}
