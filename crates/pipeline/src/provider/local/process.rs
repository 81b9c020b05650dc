//! Processes of the local provider: a command run to its end (build,
//! clone-data) and a supervised service (the app's run command), restarted
//! with backoff, its output in a rotating log. Every child leads its own
//! process group and is stopped as a group, so nothing it started is left.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::{Argv, lock};
use crate::provider::{CancelToken, ProviderError};

/// How often a child, a stop request and a cancel token are checked.
const POLL: Duration = Duration::from_millis(20);
/// After SIGKILL, how long to wait for the group to be gone.
const KILL_SETTLE: Duration = Duration::from_secs(1);
/// After a command exits, how long to wait for the rest of its output.
const DRAIN_LIMIT: Duration = Duration::from_secs(1);
/// A log is rotated when it reaches this size; `LOG_FILES` files are kept.
pub(super) const LOG_ROTATE_BYTES: u64 = 1024 * 1024;
const LOG_FILES: usize = 3;
const LOG_NAME: &str = "current.log";
/// Restart backoff of a service that keeps exiting.
const BACKOFF_FIRST: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A service that ran this long before exiting starts again from the first backoff.
const STABLE_AFTER: Duration = Duration::from_secs(30);
/// Bytes of one progress line read from a command.
const MAX_LINE_BYTES: u64 = 1000;
/// Output lines quoted when a command fails.
const LAST_LINES: usize = 8;

/// Everything needed to start one process; built anew for each restart.
#[derive(Debug, Clone)]
pub(super) struct CommandSpec {
    pub program: String,
    pub args: Vec<String>,
    pub cwd: PathBuf,
    pub env: Vec<(String, OsString)>,
}

impl CommandSpec {
    pub fn new(argv: &Argv, cwd: PathBuf, env: Vec<(String, OsString)>) -> CommandSpec {
        CommandSpec {
            program: argv.program().to_owned(),
            args: argv.args().to_vec(),
            cwd,
            env,
        }
    }

    /// The command with both outputs into `output`, stdin closed, its own group.
    fn command(&self, output: io::PipeWriter) -> io::Result<Command> {
        // `./server` is the artifact's (or worktree's) own, whatever the
        // OS does with relative paths and a changed directory.
        let program = Path::new(&self.program);
        let mut command = if self.program.contains('/') && program.is_relative() {
            Command::new(self.cwd.join(program))
        } else {
            Command::new(program)
        };
        command
            .args(&self.args)
            .current_dir(&self.cwd)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(output.try_clone()?)
            .stderr(output)
            .process_group(0);
        Ok(command)
    }

    /// Starts it; the output pipe's write end lives only in the child.
    fn spawn(&self) -> io::Result<(Group, io::PipeReader)> {
        let (reader, writer) = io::pipe()?;
        let mut command = self.command(writer)?;
        let group = Group::spawn(&mut command)?;
        // Dropping the command closes our copies of the write end, so the
        // reader sees end of output once the group is gone.
        drop(command);
        Ok((group, reader))
    }
}

/// A child and the process group it leads (its pid is the group id).
pub(super) struct Group {
    child: Child,
    pgid: libc::pid_t,
    status: Option<ExitStatus>,
}

impl Group {
    fn spawn(command: &mut Command) -> io::Result<Group> {
        let mut child = command.spawn()?;
        match libc::pid_t::try_from(child.id()) {
            // Never 0 or 1: kill(0) and kill(-1) would reach far more than the child.
            Ok(pgid) if pgid > 1 => Ok(Group {
                child,
                pgid,
                status: None,
            }),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                Err(io::Error::other(format!(
                    "unexpected process id {}",
                    child.id()
                )))
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn signal(&self, signal: libc::c_int) -> bool {
        // SAFETY: kill(2) has no memory effects; `pgid > 1` names exactly the
        // child's group, and the leader is not reaped yet when this is called
        // before `status` is set, so the id can't have been reused.
        unsafe { libc::kill(-self.pgid, signal) == 0 }
    }

    /// Whether the leader has exited, looked at without reaping it: its pid,
    /// and so the group id, stays ours until `reap`.
    fn leader_exited(&mut self) -> io::Result<bool> {
        if self.status.is_some() {
            return Ok(true);
        }
        // SAFETY: an all-zero siginfo_t is a valid value; waitid writes into it.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is a valid, writable siginfo_t; WNOWAIT leaves the child waitable.
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                self.pgid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        if r != 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::Interrupted {
                Ok(false)
            } else {
                Err(e)
            };
        }
        Ok(si_pid(&info) != 0)
    }

    /// After the leader exited: kills what it left in its group, then reaps it.
    fn reap(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.signal(libc::SIGKILL);
            self.status = self.child.wait().ok();
            self.settle();
        }
        self.status
    }

    /// SIGTERM to the group, SIGKILL after `grace` (or as soon as the leader
    /// is gone); returns once the leader is reaped.
    pub fn terminate(&mut self, grace: Duration) -> Option<ExitStatus> {
        if self.status.is_some() {
            return self.status;
        }
        self.signal(libc::SIGTERM);
        let until = Instant::now() + grace;
        while Instant::now() < until {
            match self.leader_exited() {
                Ok(false) => thread::sleep(POLL),
                _ => break,
            }
        }
        self.reap()
    }

    /// SIGKILL is delivered at once, but a process takes a moment to die.
    fn settle(&self) {
        let until = Instant::now() + KILL_SETTLE;
        while self.signal(0) && Instant::now() < until {
            thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if self.status.is_none() {
            self.terminate(Duration::ZERO);
        }
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn si_pid(info: &libc::siginfo_t) -> libc::pid_t {
    // SAFETY: for a WEXITED waitid result the kernel fills the child fields.
    unsafe { info.si_pid() }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn si_pid(info: &libc::siginfo_t) -> libc::pid_t {
    info.si_pid
}

/// "exited with code 3", "was killed by signal 9 (SIGKILL)".
pub(super) fn describe_exit(status: Option<ExitStatus>) -> String {
    let Some(status) = status else {
        return "ended (its status could not be read)".to_owned();
    };
    if let Some(code) = status.code() {
        return format!("exited with code {code}");
    }
    match status.signal() {
        Some(libc::SIGKILL) => "was killed by signal 9 (SIGKILL)".to_owned(),
        Some(libc::SIGTERM) => "was stopped by signal 15 (SIGTERM)".to_owned(),
        Some(libc::SIGSEGV) => "crashed with signal 11 (SIGSEGV)".to_owned(),
        Some(signal) => format!("was killed by signal {signal}"),
        None => format!("ended with {status}"),
    }
}

/// An output line, safe for chat and logs. Lines are already capped at
/// [`MAX_LINE_BYTES`] when read, so no further cut is made here.
fn clean_line(raw: &[u8]) -> String {
    super::super::output::clean_line(raw, usize::MAX, false)
}

/// Runs `spec` to its end, each output line to `progress` (and `log`),
/// stopping its group on cancel or after `timeout`. `what` names it in errors.
pub(super) fn run_to_end(
    spec: &CommandSpec,
    what: &str,
    log: Option<&Log>,
    progress: &mut dyn FnMut(&str),
    cancel: &CancelToken,
    timeout: Duration,
) -> Result<(), ProviderError> {
    let failed = |message: String| ProviderError::Failed { message };
    let (mut group, reader) = spec
        .spawn()
        .map_err(|e| failed(format!("{what} could not start `{}`: {e}", spec.program)))?;
    let (sender, lines) = mpsc::sync_channel::<String>(256);
    thread::Builder::new()
        .name("local-output".to_owned())
        .spawn(move || {
            let mut reader = BufReader::new(reader);
            let mut raw = Vec::new();
            loop {
                raw.clear();
                match (&mut reader)
                    .take(MAX_LINE_BYTES)
                    .read_until(b'\n', &mut raw)
                {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let line = clean_line(&raw);
                        if !line.is_empty() && sender.send(line).is_err() {
                            break;
                        }
                    }
                }
            }
        })
        .map_err(|e| failed(format!("{what}: could not read its output: {e}")))?;

    let mut last = std::collections::VecDeque::new();
    let mut take = |line: String, progress: &mut dyn FnMut(&str)| {
        progress(&line);
        if let Some(log) = log {
            log.append_line(&line);
        }
        if last.len() == LAST_LINES {
            last.pop_front();
        }
        last.push_back(line);
    };
    let deadline = Instant::now() + timeout;
    let ended = loop {
        while let Ok(line) = lines.try_recv() {
            take(line, progress);
        }
        match group.leader_exited() {
            Ok(true) | Err(_) => break None,
            Ok(false) => {}
        }
        if cancel.is_cancelled() {
            break Some(ProviderError::Cancelled);
        }
        if Instant::now() >= deadline {
            break Some(failed(format!(
                "{what} took longer than {}s and was stopped",
                timeout.as_secs()
            )));
        }
        if let Ok(line) = lines.recv_timeout(POLL) {
            take(line, progress);
        }
    };
    let status = match ended {
        Some(_) => group.terminate(Duration::from_secs(2)),
        None => group.reap(),
    };
    let until = Instant::now() + DRAIN_LIMIT;
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        match lines.recv_timeout(left) {
            Ok(line) => take(line, progress),
            Err(_) => break,
        }
    }
    let quoted = quote_lines(last.iter().map(String::as_str));
    match ended {
        Some(ProviderError::Failed { message }) => Err(failed(format!("{message}{quoted}"))),
        Some(e) => Err(e),
        None if status.is_some_and(|s| s.success()) => Ok(()),
        None => Err(failed(format!(
            "{what} failed: `{}` {}{quoted}",
            spec.program,
            describe_exit(status)
        ))),
    }
}

/// "; last output:\n    line…" or " (no output)".
pub(super) fn quote_lines<'a>(lines: impl IntoIterator<Item = &'a str>) -> String {
    let mut text = String::new();
    for line in lines {
        text.push_str("\n    ");
        text.push_str(line);
    }
    if text.is_empty() {
        " (no output)".to_owned()
    } else {
        format!("; last output:{text}")
    }
}

/// An env's log: `current.log` plus rotated `current.log.1`, `.2`, …
pub(super) struct Log {
    dir: PathBuf,
    file: Mutex<Option<(File, u64)>>,
}

impl Log {
    pub fn new(dir: PathBuf) -> Log {
        Log {
            dir,
            file: Mutex::new(None),
        }
    }

    /// Forgets the open file (the directory is being removed).
    pub fn close(&self) {
        *lock(&self.file) = None;
    }

    /// A line from rushbox itself, marked as such.
    pub fn note(&self, text: &str) {
        self.append_line(&format!("[rushbox] {text}"));
    }

    pub fn append_line(&self, line: &str) {
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        self.append(&bytes);
    }

    /// Appends, rotating first when the file is full. A log that can't be
    /// written loses the bytes; the app keeps running.
    pub fn append(&self, bytes: &[u8]) {
        let full = |file: &Option<(File, u64)>| {
            file.as_ref()
                .is_some_and(|(_, size)| *size >= LOG_ROTATE_BYTES)
        };
        let mut file = lock(&self.file);
        if full(&file) {
            *file = None;
            self.rotate();
        }
        if file.is_none() {
            *file = self.open();
            // Full from an earlier run: rotate once (if that fails, it grows).
            if full(&file) {
                self.rotate();
                *file = self.open();
            }
        }
        if let Some((f, size)) = file.as_mut()
            && f.write_all(bytes).is_ok()
        {
            *size += bytes.len() as u64;
        }
    }

    fn open(&self) -> Option<(File, u64)> {
        let _ = fs::create_dir_all(&self.dir);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(LOG_NAME))
            .ok()?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Some((file, size))
    }

    fn rotate(&self) {
        let name = |n: usize| match n {
            0 => self.dir.join(LOG_NAME),
            n => self.dir.join(format!("{LOG_NAME}.{n}")),
        };
        let _ = fs::remove_file(name(LOG_FILES - 1));
        for n in (0..LOG_FILES - 1).rev() {
            let _ = fs::rename(name(n), name(n + 1));
        }
    }

    /// The last `lines` lines of the log, oldest first.
    pub fn tail(dir: &Path, lines: usize) -> Vec<String> {
        let mut all = Vec::new();
        for name in [format!("{LOG_NAME}.1"), LOG_NAME.to_owned()] {
            if let Ok(bytes) = fs::read(dir.join(name)) {
                all.extend(bytes.split(|b| *b == b'\n').map(clean_line));
            }
        }
        while all.last().is_some_and(String::is_empty) {
            all.pop();
        }
        let skip = all.len().saturating_sub(lines);
        all.split_off(skip)
    }
}

/// Where a supervisor notes the process groups it runs: a file per group,
/// named by its id, holding an environment entry (`RUSHBOX_DATA_DIR=…`)
/// that only that env's processes have. A rushbox that died without
/// stopping its apps finds and stops them with [`stop_leftover_groups`].
#[derive(Debug, Clone)]
pub(super) struct GroupMarks {
    pub dir: PathBuf,
    pub entry: Vec<u8>,
}

impl GroupMarks {
    fn write(&self, pgid: libc::pid_t) {
        // Without the mark only a crash of rushbox itself leaves the group behind.
        let _ = fs::create_dir_all(&self.dir)
            .and_then(|()| fs::write(self.dir.join(pgid.to_string()), &self.entry));
    }

    fn remove(&self, pgid: libc::pid_t) {
        let _ = fs::remove_file(self.dir.join(pgid.to_string()));
    }
}

/// Stops the process groups marked under `marks` (SIGTERM, SIGKILL after
/// `grace`) whose processes still carry their mark's environment entry, so
/// a reused process id is never taken for ours, and removes every mark.
/// Returns the marks' directories and the groups stopped.
pub(super) fn stop_leftover_groups(marks: &Path, grace: Duration) -> Vec<(PathBuf, libc::pid_t)> {
    let mut files = Vec::new();
    let mut dirs = vec![marks.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
            match entry.file_type() {
                Ok(kind) if kind.is_dir() => dirs.push(entry.path()),
                Ok(_) => files.push(entry.path()),
                Err(_) => {}
            }
        }
    }
    let mut stopped = Vec::new();
    for file in files {
        let pgid = file
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.parse::<libc::pid_t>().ok())
            .filter(|p| *p > 1);
        if let (Some(pgid), Ok(entry)) = (pgid, fs::read(&file))
            && group_carries(pgid, &entry)
            && let Some(dir) = file.parent()
        {
            stopped.push((dir.to_path_buf(), pgid));
        }
        let _ = fs::remove_file(&file);
    }
    // SAFETY (all three): kill(2) has no memory effects; `pgid > 1`, and the
    // group was just seen to hold a process of ours.
    let alive = |pgid: libc::pid_t| unsafe { libc::kill(-pgid, 0) == 0 };
    for (_, pgid) in &stopped {
        unsafe { libc::kill(-pgid, libc::SIGTERM) };
    }
    let until = Instant::now() + grace;
    while stopped.iter().any(|(_, p)| alive(*p)) && Instant::now() < until {
        thread::sleep(POLL);
    }
    for (_, pgid) in &stopped {
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
    }
    stopped
}

/// Whether a process of group `pgid` has `entry` in its environment.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn group_carries(pgid: libc::pid_t, entry: &[u8]) -> bool {
    let Ok(procs) = fs::read_dir("/proc") else {
        return false;
    };
    procs.flatten().any(|p| {
        let path = p.path();
        // /proc/<pid>/stat: "pid (comm) state ppid pgrp …"; comm may hold spaces.
        let pgrp = fs::read_to_string(path.join("stat")).ok().and_then(|stat| {
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(2)?.parse::<libc::pid_t>().ok())
        });
        pgrp == Some(pgid)
            && fs::read(path.join("environ"))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|e| e == entry))
    })
}

/// Elsewhere there is no cheap way to check, so nothing is taken for ours.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn group_carries(_pgid: libc::pid_t, _entry: &[u8]) -> bool {
    false
}

#[derive(Default)]
struct SupervisorState {
    stop: bool,
    /// Processes started so far, and how many have exited on their own.
    starts: u64,
    exits: u64,
    pid: Option<u32>,
    last_exit: Option<String>,
}

struct Shared {
    state: Mutex<SupervisorState>,
    changed: Condvar,
}

/// Keeps one service running: starts it, restarts it with backoff when it
/// exits, stops its group on `stop` or drop.
pub(super) struct Supervisor {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Supervisor {
    pub fn start(
        spec: CommandSpec,
        log: Arc<Log>,
        marks: GroupMarks,
        grace: Duration,
    ) -> io::Result<Supervisor> {
        let shared = Arc::new(Shared {
            state: Mutex::new(SupervisorState::default()),
            changed: Condvar::new(),
        });
        let thread = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name("local-supervisor".to_owned())
                .spawn(move || supervise(&spec, &log, &marks, &shared, grace))?
        };
        Ok(Supervisor {
            shared,
            thread: Some(thread),
        })
    }

    /// Times the service exited on its own, and how the last one ended.
    pub fn exits(&self) -> (u64, Option<String>) {
        let state = lock(&self.shared.state);
        (state.exits, state.last_exit.clone())
    }

    /// Stops the service's group (SIGTERM, then SIGKILL after the grace)
    /// and returns once it is gone.
    pub fn stop(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        lock(&self.shared.state).stop = true;
        self.shared.changed.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.stop_now();
    }
}

fn supervise(
    spec: &CommandSpec,
    log: &Arc<Log>,
    marks: &GroupMarks,
    shared: &Shared,
    grace: Duration,
) {
    let mut backoff = BACKOFF_FIRST;
    loop {
        if lock(&shared.state).stop {
            return;
        }
        let started = Instant::now();
        let ended = match spec.spawn() {
            Ok((mut group, reader)) => {
                let pid = group.pid();
                marks.write(group.pgid);
                copy_output(reader, Arc::clone(log));
                {
                    let mut state = lock(&shared.state);
                    state.starts += 1;
                    state.pid = Some(pid);
                }
                shared.changed.notify_all();
                log.note(&format!("started `{}` (pid {pid})", spec.program));
                if wait_exit_or_stop(&mut group, shared) {
                    let status = group.terminate(grace);
                    marks.remove(group.pgid);
                    log.note(&format!("stopped: {}", describe_exit(status)));
                    lock(&shared.state).pid = None;
                    return;
                }
                let status = group.reap();
                marks.remove(group.pgid);
                describe_exit(status)
            }
            Err(e) => format!("could not start `{}`: {e}", spec.program),
        };
        {
            let mut state = lock(&shared.state);
            state.exits += 1;
            state.pid = None;
            state.last_exit = Some(ended.clone());
        }
        shared.changed.notify_all();
        if started.elapsed() >= STABLE_AFTER {
            backoff = BACKOFF_FIRST;
        }
        log.note(&format!(
            "{ended}; restarting in {:.1}s",
            backoff.as_secs_f32()
        ));
        let until = Instant::now() + backoff;
        let mut state = lock(&shared.state);
        while !state.stop {
            let Some(left) = until.checked_duration_since(Instant::now()) else {
                break;
            };
            state = match shared.changed.wait_timeout(state, left) {
                Ok((state, _)) => state,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// True when asked to stop, false when the leader exited on its own.
fn wait_exit_or_stop(group: &mut Group, shared: &Shared) -> bool {
    loop {
        {
            let state = lock(&shared.state);
            if state.stop {
                return true;
            }
            let _ = shared.changed.wait_timeout(state, POLL);
        }
        match group.leader_exited() {
            Ok(false) => {}
            Ok(true) | Err(_) => return false,
        }
    }
}

/// Copies a service's output into its log until the group is gone.
fn copy_output(mut reader: io::PipeReader, log: Arc<Log>) {
    let spawned = thread::Builder::new()
        .name("local-log".to_owned())
        .spawn(move || {
            let mut buf = [0u8; 8192];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => log.append(&buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
        });
    // Without the thread the pipe's read end is dropped and the service gets
    // SIGPIPE on output; it is restarted, and the log says nothing. Rare enough.
    drop(spawned);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_rotate_and_keep_three_files() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::new(dir.path().to_path_buf());
        let line = "x".repeat(1023);
        for _ in 0..(LOG_ROTATE_BYTES / 1024) * 4 + 10 {
            log.append_line(&line);
        }
        let mut names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["current.log", "current.log.1", "current.log.2"]);
        for name in &names {
            let size = fs::metadata(dir.path().join(name)).unwrap().len();
            assert!(size <= LOG_ROTATE_BYTES + 1024, "{name}: {size}");
        }
        log.append_line("last");
        let tail = Log::tail(dir.path(), 2);
        assert_eq!(tail, [line.as_str(), "last"]);

        // A full log from an earlier run is rotated before the first line.
        let current = dir.path().join(LOG_NAME);
        fs::write(&current, vec![b'x'; LOG_ROTATE_BYTES as usize]).unwrap();
        Log::new(dir.path().to_path_buf()).append_line("after a restart");
        assert_eq!(fs::read_to_string(&current).unwrap(), "after a restart\n");
        let rotated = fs::metadata(dir.path().join(format!("{LOG_NAME}.1"))).unwrap();
        assert_eq!(rotated.len(), LOG_ROTATE_BYTES);
    }

    #[test]
    fn output_lines_are_cleaned_for_chat() {
        for (raw, shown) in [
            (&b"plain\ttab\n"[..], "plain\ttab"),
            (b"\x1b[31mred\x1b[0m done", "red done"),
            (b"\x1b]0;title\x07after", "after"),
            (b"\x1b]0;title\x1b\\after", "after"),
            (b"bell\x07 cr\r", "bell cr"),
            (b"a\xe2\x80\xaeb\xe2\x80\x8bc", "abc"),
            (b"bad \xff utf8", "bad \u{fffd} utf8"),
        ] {
            assert_eq!(clean_line(raw), shown, "{raw:?}");
        }
    }

    #[test]
    fn exits_are_described_for_people() {
        assert_eq!(
            describe_exit(Some(ExitStatus::from_raw(3 << 8))),
            "exited with code 3"
        );
        assert_eq!(
            describe_exit(Some(ExitStatus::from_raw(9))),
            "was killed by signal 9 (SIGKILL)"
        );
    }
}
