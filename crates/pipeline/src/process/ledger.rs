//! A ledger on disk of the process groups rushbox starts, so that the next
//! start stops what a crashed one left running. A child writes its own
//! entry between fork and exec, so no group runs a single instruction of
//! its program unrecorded; the entry goes once the group is gone. Each entry
//! names the group and when its leader started in which boot, so a recycled
//! pid is never mistaken for ours.

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// After SIGKILL, how long to wait for the stopped processes to be gone.
const KILL_SETTLE: Duration = Duration::from_secs(1);
/// Bytes of a label kept in an entry.
const MAX_LABEL_BYTES: usize = 256;
/// Room for an entry's text and for /proc/self/stat in the child (on its stack).
const ENTRY_BYTES: usize = 512;
const STAT_BYTES: usize = 1024;
/// Room for the entry's path in the child; a longer ledger directory is refused at open.
const PATH_BYTES: usize = 1024;

/// One directory of entries, one file per live group. Open it only while
/// holding the store's lock, so two rushbox processes never share a ledger.
#[derive(Debug)]
pub struct GroupLedger {
    dir: PathBuf,
    /// This boot's id; empty where there is none to read (then nothing is recorded).
    boot: String,
    /// Names this process gives its entries (`<pid>.<start time>-`), unique in a boot.
    prefix: String,
    next: AtomicU64,
}

/// A group stopped by [`GroupLedger::reap`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reaped {
    pub pgid: libc::pid_t,
    /// What the group was, as given when it was started (`api/dev-foo build`).
    pub label: String,
}

/// Removes its entry when dropped: the group it records has been stopped.
#[derive(Debug)]
pub(crate) struct LedgerEntry {
    path: PathBuf,
}

impl Drop for LedgerEntry {
    fn drop(&mut self) {
        // Already gone is fine: the entry only matters while the group may run.
        let _ = fs::remove_file(&self.path);
    }
}

/// What a child needs to write its entry between fork and exec, where it
/// may not allocate: everything is made beforehand.
pub(crate) struct ChildEntry {
    path: CString,
    boot: Vec<u8>,
    label: Vec<u8>,
}

impl GroupLedger {
    /// Uses (and creates) `dir`. Opening touches no process; [`reap`](Self::reap) does.
    pub fn open(dir: &Path) -> io::Result<GroupLedger> {
        let dir = std::path::absolute(dir)?;
        if dir.as_os_str().len() > PATH_BYTES - 64 {
            return Err(io::Error::other(format!(
                "the path `{}` is too long for the process ledger",
                dir.display()
            )));
        }
        fs::create_dir_all(&dir)?;
        let boot = fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .map(|b| b.trim().to_owned())
            .unwrap_or_default();
        let me = identity(std::process::id() as libc::pid_t)
            .map(|(_, start)| start)
            .unwrap_or_default();
        Ok(GroupLedger {
            dir,
            boot,
            prefix: format!("{}.{me}-", std::process::id()),
            next: AtomicU64::new(0),
        })
    }

    /// A new entry for a child about to start, as `label` (for people:
    /// `api/dev-foo build`), and the guard that removes it. `None` where
    /// processes can't be identified (no boot id).
    pub(crate) fn prepare(&self, label: &str) -> Option<(ChildEntry, LedgerEntry)> {
        if self.boot.is_empty() {
            return None;
        }
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let path = self.dir.join(format!("{}{n}", self.prefix));
        let c_path = CString::new(path.as_os_str().as_bytes()).ok()?;
        let mut label: Vec<u8> = label
            .bytes()
            .map(|b| if b.is_ascii_graphic() { b } else { b' ' })
            .collect();
        label.truncate(MAX_LABEL_BYTES);
        Some((
            ChildEntry {
                path: c_path,
                boot: self.boot.as_bytes().to_vec(),
                label,
            },
            LedgerEntry { path },
        ))
    }

    /// Stops every recorded group whose leader is still the process that
    /// was started (SIGTERM to the whole group, SIGKILL after `grace`),
    /// waits until their processes are gone, and clears the ledger. Entries
    /// of this process itself are left alone.
    pub fn reap(&self, grace: Duration) -> Vec<Reaped> {
        let mut found = Vec::new();
        let mut files = Vec::new();
        for entry in fs::read_dir(&self.dir).into_iter().flatten().flatten() {
            let name = entry.file_name();
            if name.as_bytes().starts_with(self.prefix.as_bytes()) {
                continue;
            }
            let path = entry.path();
            if let Ok(text) = fs::read_to_string(&path)
                && let Some((pgid, recorded, label)) = parse_entry(&text)
                && identity(pgid).is_some_and(|(boot, start)| recorded == (boot.as_str(), start))
            {
                found.push(Reaped {
                    pgid,
                    label: label.to_owned(),
                });
            }
            files.push(path);
        }
        let pgids: Vec<libc::pid_t> = found.iter().map(|r| r.pgid).collect();
        stop_groups(&pgids, grace);
        for file in files {
            let _ = fs::remove_file(file);
        }
        found
    }
}

/// `<pgid> <boot id> <start time>\n<label>\n` → its parts.
fn parse_entry(text: &str) -> Option<(libc::pid_t, (&str, u64), &str)> {
    let (first, label) = text.split_once('\n').unwrap_or((text, ""));
    let mut fields = first.split(' ');
    let pgid = fields
        .next()?
        .parse::<libc::pid_t>()
        .ok()
        .filter(|p| *p > 1)?;
    let boot = fields.next()?;
    let start = fields.next()?.parse().ok()?;
    Some((pgid, (boot, start), label.trim_end()))
}

/// The boot id and start time of a process, from /proc; `None` if it is gone.
fn identity(pid: libc::pid_t) -> Option<(String, u64)> {
    let boot = fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let stat = fs::read(format!("/proc/{pid}/stat")).ok()?;
    let start = std::str::from_utf8(stat_field(&stat, START_TIME)?)
        .ok()?
        .parse()
        .ok()?;
    Some((boot.trim().to_owned(), start))
}

/// Whether `pid` runs: a zombie still has a /proc entry; its state says so.
#[cfg(test)]
pub(super) fn alive(pid: libc::pid_t) -> bool {
    fs::read(format!("/proc/{pid}/stat")).is_ok_and(|stat| stat_field(&stat, STATE) != Some(b"Z"))
}

/// Fields of /proc/<pid>/stat, counted from the state (field 3) as 0.
#[cfg(test)]
const STATE: usize = 0;
const PROCESS_GROUP: usize = 2;
const START_TIME: usize = 19;

/// One field of a /proc/<pid>/stat line after the command name, which may
/// hold spaces and parentheses (so it ends at the last `)`). Allocates
/// nothing: a child calls it between fork and exec.
fn stat_field(stat: &[u8], index: usize) -> Option<&[u8]> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    stat.get(close + 1..)?
        .split(|b| b.is_ascii_whitespace())
        .filter(|f| !f.is_empty())
        .nth(index)
}

impl ChildEntry {
    /// Writes the entry for the calling process, between fork and exec:
    /// only async-signal-safe calls, no allocation.
    pub(crate) fn write_in_child(&self) -> io::Result<()> {
        let mut stat = [0u8; STAT_BYTES];
        let stat = read_in_child(c"/proc/self/stat", &mut stat)?;
        let start = stat_field(stat, START_TIME).ok_or(io::Error::from_raw_os_error(libc::EIO))?;
        // SAFETY: getpid has no preconditions.
        let pid = unsafe { libc::getpid() };
        let mut text = Fill::new([0u8; ENTRY_BYTES]);
        text.number(pid);
        text.bytes(b" ");
        text.bytes(&self.boot);
        text.bytes(b" ");
        text.bytes(start);
        text.bytes(b"\n");
        text.bytes(&self.label);
        text.bytes(b"\n");
        // SAFETY: `path` is a NUL-terminated string that outlives the call.
        let fd = unsafe {
            libc::open(
                self.path.as_ptr(),
                libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC,
                0o600,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just opened and is owned by nothing else.
        let file = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut left = text.filled();
        while !left.is_empty() {
            // SAFETY: `left` is valid for reads of its length.
            let n = unsafe { libc::write(file.as_raw_fd(), left.as_ptr().cast(), left.len()) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    // SAFETY: as for open.
                    unsafe { libc::unlink(self.path.as_ptr()) };
                    return Err(e);
                }
                continue;
            }
            left = &left[n as usize..];
        }
        Ok(())
    }
}

/// Reads a small file whole into `buf`, without allocating.
fn read_in_child<'a>(path: &std::ffi::CStr, buf: &'a mut [u8]) -> io::Result<&'a [u8]> {
    // SAFETY: `path` is NUL-terminated.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just opened and is owned by nothing else.
    let file = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut len = 0;
    while len < buf.len() {
        // SAFETY: the tail of `buf` is valid for writes of its length.
        let n = unsafe {
            libc::read(
                file.as_raw_fd(),
                buf[len..].as_mut_ptr().cast(),
                buf.len() - len,
            )
        };
        match n {
            0 => break,
            n if n > 0 => len += n as usize,
            _ => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
    Ok(&buf[..len])
}

/// A fixed buffer filled from the front; what does not fit is left out.
struct Fill<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> Fill<N> {
    fn new(buf: [u8; N]) -> Fill<N> {
        Fill { buf, len: 0 }
    }

    fn bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.len < N {
                self.buf[self.len] = b;
                self.len += 1;
            }
        }
    }

    fn number(&mut self, n: libc::pid_t) {
        let mut digits = [0u8; 12];
        let mut i = digits.len();
        let mut n = n.unsigned_abs();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.bytes(&digits[i..]);
    }

    fn filled(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// SIGTERM to each group, SIGKILL after `grace`; returns once every
/// process that was in them is gone (or `grace` and a moment more passed).
fn stop_groups(pgids: &[libc::pid_t], grace: Duration) {
    if pgids.is_empty() {
        return;
    }
    // Held before the first signal, so the wait is for exactly these processes.
    let members = Pidfds::of_groups(pgids);
    let signal = |signal| {
        for pgid in pgids {
            // SAFETY: kill(2) has no memory effects; `pgid > 1`, and the
            // group's leader was just seen to be the process we started.
            unsafe { libc::kill(-pgid, signal) };
        }
    };
    let mut members = members;
    signal(libc::SIGTERM);
    members.wait(grace);
    signal(libc::SIGKILL);
    members.wait(KILL_SETTLE);
}

/// Process file descriptors, to wait on the exit of processes that are not
/// our children (left by an earlier run, or a child's children) as an event.
pub(super) struct Pidfds(Vec<OwnedFd>);

impl Pidfds {
    /// Every process now in one of `pgids` (found through /proc).
    pub(super) fn of_groups(pgids: &[libc::pid_t]) -> Pidfds {
        let mut fds = Vec::new();
        for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<libc::pid_t>().ok())
            else {
                continue;
            };
            let in_group = fs::read(entry.path().join("stat"))
                .ok()
                .is_some_and(|stat| {
                    stat_field(&stat, PROCESS_GROUP)
                        .and_then(|f| std::str::from_utf8(f).ok()?.parse::<libc::pid_t>().ok())
                        .is_some_and(|pgrp| pgids.contains(&pgrp))
                });
            if in_group && let Some(fd) = pidfd_open(pid) {
                fds.push(fd);
            }
        }
        Pidfds(fds)
    }

    /// Waits until every process has exited, for at most `limit`; forgets
    /// those that did.
    pub(super) fn wait(&mut self, limit: Duration) {
        let until = Instant::now() + limit;
        while !self.0.is_empty() {
            let Some(left) = until.checked_duration_since(Instant::now()) else {
                return;
            };
            let mut polled: Vec<libc::pollfd> = self
                .0
                .iter()
                .map(|fd| libc::pollfd {
                    fd: fd.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                })
                .collect();
            let millis = libc::c_int::try_from(left.as_millis().max(1)).unwrap_or(libc::c_int::MAX);
            // SAFETY: `polled` is a valid array of its length.
            let n =
                unsafe { libc::poll(polled.as_mut_ptr(), polled.len() as libc::nfds_t, millis) };
            if n < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                return;
            }
            let mut i = 0;
            self.0.retain(|_| {
                let exited = polled[i].revents != 0;
                i += 1;
                !exited
            });
        }
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn pidfd_open(pid: libc::pid_t) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let fd = i32::try_from(fd).ok().filter(|fd| *fd >= 0)?;
    // SAFETY: the kernel just made `fd` for us.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Without process descriptors there is nothing to wait on: the signals are sent, that is all.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn pidfd_open(_pid: libc::pid_t) -> Option<OwnedFd> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;
    use std::process::Command;

    /// A `sleep 30` in its own group, recorded by `ledger` the way the
    /// process layer does it: by the child itself, before exec.
    fn recorded_sleeper(ledger: &GroupLedger, label: &str) -> (std::process::Child, LedgerEntry) {
        let (child_entry, entry) = ledger.prepare(label).unwrap();
        let mut command = Command::new("sleep");
        command.arg("30").process_group(0);
        // SAFETY: the closure only makes async-signal-safe calls.
        unsafe { command.pre_exec(move || child_entry.write_in_child()) };
        (command.spawn().unwrap(), entry)
    }

    #[test]
    fn a_recorded_group_left_running_is_reaped_and_a_finished_one_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = GroupLedger::open(dir.path()).unwrap();
        let (mut finished, entry) = recorded_sleeper(&ledger, "api/dev-x build");
        // A group that ended normally leaves no entry behind.
        finished.kill().unwrap();
        finished.wait().unwrap();
        drop(entry);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
        // A crash: the entry is never dropped.
        let (mut child, entry) = recorded_sleeper(&ledger, "api/dev-x build");
        std::mem::forget(entry);
        let pgid = child.id() as libc::pid_t;
        // This process's own entries are never reaped (they are live).
        assert_eq!(ledger.reap(Duration::from_secs(2)), []);
        assert!(alive(pgid));

        let after_restart = GroupLedger {
            prefix: "another-run-".to_owned(),
            ..GroupLedger::open(dir.path()).unwrap()
        };
        let reaped = after_restart.reap(Duration::from_secs(2));
        assert_eq!(
            reaped,
            [Reaped {
                pgid,
                label: "api/dev-x build".to_owned()
            }]
        );
        assert!(!alive(pgid), "reap returns once the group is gone");
        let _ = child.wait();
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
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
        fs::write(
            dir.path().join("1.2-3"),
            format!("{pgid} other-boot 12345\nold\n"),
        )
        .unwrap();
        let ledger = GroupLedger::open(dir.path()).unwrap();
        assert_eq!(ledger.reap(Duration::ZERO), []);
        assert!(alive(pgid));
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
        let _ = child.kill();
        let _ = child.wait();
    }

    #[test]
    fn stat_fields_survive_odd_command_names() {
        let stat = b"42 (a) b (c)) S 1 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 987654 1 2";
        assert_eq!(stat_field(stat, STATE), Some(&b"S"[..]));
        assert_eq!(stat_field(stat, PROCESS_GROUP), Some(&b"42"[..]));
        assert_eq!(stat_field(stat, START_TIME), Some(&b"987654"[..]));
        assert_eq!(stat_field(b"no parenthesis", 0), None);
        let mut fill = Fill::new([0u8; 8]);
        fill.number(1234);
        fill.bytes(b" overflow");
        assert_eq!(fill.filled(), b"1234 ove");
    }
}
