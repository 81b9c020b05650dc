//! A ledger on disk of the process groups providers start, so that the next
//! start of rushbox stops what a crashed one left running. Each entry names
//! the group and when its leader started in which boot, so a recycled pid
//! is never mistaken for ours.

use std::io;
use std::path::{Path, PathBuf};

/// One directory of entries, one file per live group.
#[derive(Debug)]
pub struct GroupLedger {
    dir: PathBuf,
}

/// An entry that removes itself when the group it records has been stopped.
#[derive(Debug)]
pub struct LedgerEntry {
    path: Option<PathBuf>,
}

impl Drop for LedgerEntry {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            // Already gone is fine: the entry only matters while the group may run.
            let _ = std::fs::remove_file(path);
        }
    }
}

impl GroupLedger {
    /// Uses (and creates) `dir`. Open it only while holding the store's lock,
    /// so two rushbox processes never share a ledger.
    pub fn open(dir: &Path) -> io::Result<GroupLedger> {
        std::fs::create_dir_all(dir)?;
        Ok(GroupLedger {
            dir: dir.to_owned(),
        })
    }

    /// Records a group just started. If the entry can't be written the group
    /// still runs; only its clean-up after a crash is lost.
    pub fn record(&self, pgid: libc::pid_t) -> LedgerEntry {
        let Some(identity) = identity(pgid) else {
            return LedgerEntry { path: None };
        };
        let path = self.dir.join(pgid.to_string());
        match std::fs::write(&path, identity) {
            Ok(()) => LedgerEntry { path: Some(path) },
            Err(_) => LedgerEntry { path: None },
        }
    }

    /// Stops every recorded group whose leader is still the process we
    /// started (SIGKILL to the whole group) and clears the ledger. Returns
    /// how many groups were stopped.
    pub fn reap(&self) -> usize {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return 0;
        };
        let mut stopped = 0;
        for entry in entries.flatten() {
            let path = entry.path();
            let pgid = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.parse::<libc::pid_t>().ok())
                .filter(|pgid| *pgid > 1);
            let recorded = std::fs::read_to_string(&path).ok();
            if let (Some(pgid), Some(recorded)) = (pgid, recorded)
                && identity(pgid).as_deref() == Some(recorded.as_str())
            {
                // SAFETY: kill(2) has no memory effects; `pgid > 1` so
                // `-pgid` names exactly that process group.
                if unsafe { libc::kill(-pgid, libc::SIGKILL) } == 0 {
                    stopped += 1;
                }
            }
            let _ = std::fs::remove_file(&path);
        }
        stopped
    }
}

/// `<boot id> <start time>` of a process, from /proc; `None` if it is gone.
fn identity(pid: libc::pid_t) -> Option<String> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; fields after its `)` are plain.
    let after_name = &stat[stat.rfind(')')? + 1..];
    // Field 22, start time, is the 20th after the name.
    let start = after_name.split_whitespace().nth(19)?;
    Some(format!("{} {start}", boot.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;
    use std::process::Command;

    fn alive(pid: libc::pid_t) -> bool {
        // A zombie still answers kill(0); read its state to tell.
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| {
                !s.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            })
            .unwrap_or(false)
    }

    #[test]
    fn a_recorded_group_left_running_is_reaped_and_a_finished_one_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = GroupLedger::open(dir.path()).unwrap();
        let mut child = Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .unwrap();
        let pgid = child.id() as libc::pid_t;
        // A group that ended normally leaves no entry behind.
        drop(ledger.record(pgid));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        // A crash: the entry is never dropped.
        std::mem::forget(ledger.record(pgid));

        let after_restart = GroupLedger::open(dir.path()).unwrap();
        assert_eq!(after_restart.reap(), 1);
        let _ = child.wait();
        assert!(!alive(pgid));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_recycled_pid_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .unwrap();
        let pgid = child.id() as libc::pid_t;
        // An entry written for another process that had this pid before.
        std::fs::write(dir.path().join(pgid.to_string()), "other-boot 12345").unwrap();
        let ledger = GroupLedger::open(dir.path()).unwrap();
        assert_eq!(ledger.reap(), 0);
        assert!(alive(pgid));
        let _ = child.kill();
        let _ = child.wait();
    }
}
