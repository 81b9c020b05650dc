//! The one way rushbox runs a child process: the script provider's
//! actions, the local provider's builds, clone-data commands and apps, and
//! git. A child leads its own process group, so a signal reaches everything
//! it started; with a [`GroupLedger`] it writes its entry there before its
//! program runs, and the entry goes once the group is gone; its output
//! arrives a line at a time as it is printed; and it is waited for on
//! events (its exit, its output, a cancel, a deadline), never by polling.
//!
//! ```
//! use std::time::Duration;
//! use rushbox_pipeline::process::{self, Ended, Limits, Output, Spec};
//! let mut lines = Vec::new();
//! let ended = process::run(
//!     &Spec::new("sh").args(["-c", "echo one; echo two >&2"]),
//!     Output::MergedLines,
//!     Limits::new(Duration::from_secs(10), Duration::from_secs(1)),
//!     &mut |line| lines.push(line.text),
//! )?;
//! assert!(matches!(ended, Ended::Exited(exit) if exit.success()));
//! assert_eq!(lines, ["one", "two"]);
//! # Ok::<(), std::io::Error>(())
//! ```

mod cancel;
mod ledger;
mod lines;
mod piped;

use std::collections::{HashMap, VecDeque};
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

pub use cancel::{CancelToken, CancelWatch};
pub use ledger::{GroupLedger, Reaped};
pub use lines::{Line, MAX_LINE_BYTES, Sink, Stream, clean_line};
pub use piped::Piped;

use ledger::{LedgerEntry, Pidfds};

/// Output lines read but not yet taken; a child that prints faster waits on its pipe.
const OUTPUT_BACKLOG: usize = 1024;
/// Lines kept while a group is being stopped; older ones are dropped.
const STOPPING_BACKLOG: usize = 4 * OUTPUT_BACKLOG;
/// After SIGKILL, how long to wait for the output to close: a process that
/// left the group (its own session) may hold it open for good.
const KILL_SETTLE: Duration = Duration::from_secs(1);

/// What to start: a program, its arguments, where, with which environment
/// (rushbox's own, changed as given), and the ledger it is recorded in.
#[derive(Clone)]
pub struct Spec {
    program: String,
    args: Vec<OsString>,
    cwd: Option<PathBuf>,
    /// Set (`Some`) or removed (`None`), in order.
    env: Vec<(OsString, Option<OsString>)>,
    ledger: Option<(Arc<GroupLedger>, String)>,
}

impl Spec {
    /// `program` as written: a relative path with a `/` (`./server`) is
    /// taken from the working directory, a bare name (`git`) is looked up
    /// on `PATH` once and remembered.
    pub fn new(program: impl Into<String>) -> Spec {
        Spec {
            program: program.into(),
            args: Vec::new(),
            cwd: None,
            env: Vec::new(),
            ledger: None,
        }
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Spec {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Spec
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    pub fn cwd(mut self, dir: impl Into<PathBuf>) -> Spec {
        self.cwd = Some(dir.into());
        self
    }

    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Spec {
        self.env
            .push((key.as_ref().to_owned(), Some(value.as_ref().to_owned())));
        self
    }

    pub fn envs<I, K, V>(self, vars: I) -> Spec
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        vars.into_iter().fold(self, |spec, (k, v)| spec.env(k, v))
    }

    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Spec {
        self.env.push((key.as_ref().to_owned(), None));
        self
    }

    /// Records the group in `ledger` as `label` (for people: `api/dev-foo
    /// build`) before the program runs, so a later rushbox stops it if
    /// this one dies first.
    pub fn recorded_in(mut self, ledger: &Arc<GroupLedger>, label: impl Into<String>) -> Spec {
        self.ledger = Some((Arc::clone(ledger), label.into()));
        self
    }

    /// The program as written, for messages.
    pub fn program(&self) -> &str {
        &self.program
    }

    /// The `PATH` the child gets.
    fn search_path(&self) -> Option<OsString> {
        match self.env.iter().rev().find(|(k, _)| k == "PATH") {
            Some((_, value)) => value.clone(),
            None => std::env::var_os("PATH"),
        }
    }

    fn command(&self, path: &Path, output: &Output) -> io::Result<(Command, Pipes)> {
        let mut command = Command::new(path);
        command
            .args(&self.args)
            .stdin(Stdio::null())
            .process_group(0);
        if let Some(dir) = &self.cwd {
            command.current_dir(dir);
        }
        for (key, value) in &self.env {
            match value {
                Some(value) => command.env(key, value),
                None => command.env_remove(key),
            };
        }
        let pipes = match output {
            Output::Lines => {
                command.stdout(Stdio::piped()).stderr(Stdio::piped());
                Pipes::Child
            }
            Output::MergedLines | Output::Raw(_) => {
                let (reader, writer) = io::pipe()?;
                command.stdout(writer.try_clone()?).stderr(writer);
                Pipes::Merged(reader)
            }
        };
        Ok((command, pipes))
    }
}

impl fmt::Debug for Spec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Arguments and environment may hold values people should not see in logs.
        f.debug_struct("Spec")
            .field("program", &self.program)
            .field("cwd", &self.cwd)
            .finish_non_exhaustive()
    }
}

enum Pipes {
    /// stdout and stderr are the child's own pipes.
    Child,
    /// Both write into this one; our copies of the write end go with the `Command`.
    Merged(io::PipeReader),
}

/// What becomes of a child's output.
#[derive(Clone)]
pub enum Output {
    /// stdout and stderr as separate streams of lines.
    Lines,
    /// Both through one pipe, as lines of [`Stream::Both`] in the order written.
    MergedLines,
    /// Both through one pipe, as raw bytes into the sink (an app's log);
    /// [`Group::next`] gives no lines.
    Raw(Sink),
}

/// Bare program names found on a `PATH`, so each is looked up once.
static FOUND: Mutex<Option<HashMap<(OsString, String), PathBuf>>> = Mutex::new(None);

/// The file to execute for `spec`: `/` in the name means a path (from the
/// working directory when relative), otherwise the first executable of that
/// name on `PATH`, remembered. `forget` drops what was remembered first.
fn locate(spec: &Spec, forget: bool) -> io::Result<PathBuf> {
    let program = Path::new(&spec.program);
    if spec.program.contains('/') {
        return Ok(match &spec.cwd {
            Some(dir) if program.is_relative() => dir.join(program),
            _ => program.to_path_buf(),
        });
    }
    // The search execvp makes when there is no PATH at all.
    let search = spec
        .search_path()
        .unwrap_or_else(|| OsString::from("/usr/local/bin:/usr/bin:/bin"));
    let key = (search.clone(), spec.program.clone());
    let mut found = FOUND.lock().unwrap_or_else(PoisonError::into_inner);
    let found = found.get_or_insert_with(HashMap::new);
    if forget {
        found.remove(&key);
    } else if let Some(path) = found.get(&key) {
        return Ok(path.clone());
    }
    let path = std::env::split_paths(&search)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(program))
        .find(|path| {
            path.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))?;
    found.insert(key, path.clone());
    Ok(path)
}

/// How a child ended: its exit status, once reaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit(Option<ExitStatus>);

impl Exit {
    pub fn success(&self) -> bool {
        self.0.is_some_and(|s| s.success())
    }

    pub fn code(&self) -> Option<i32> {
        self.0.and_then(|s| s.code())
    }

    /// `code 3`, `signal 9 (SIGKILL)`: the end in a few words.
    pub fn short(&self) -> String {
        match self.0 {
            None => "unknown".to_owned(),
            Some(status) => match (status.code(), status.signal()) {
                (Some(code), _) => format!("code {code}"),
                (None, Some(signal)) => format!("signal {signal}{}", signal_name(signal)),
                (None, None) => status.to_string(),
            },
        }
    }
}

impl From<ExitStatus> for Exit {
    fn from(status: ExitStatus) -> Exit {
        Exit(Some(status))
    }
}

impl fmt::Display for Exit {
    /// `exited with code 3`, `was killed by signal 9 (SIGKILL)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("ended (its status could not be read)"),
            Some(status) => match (status.code(), status.signal()) {
                (Some(code), _) => write!(f, "exited with code {code}"),
                (None, Some(signal)) => {
                    write!(f, "was killed by signal {signal}{}", signal_name(signal))
                }
                (None, None) => write!(f, "ended with {status}"),
            },
        }
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGHUP => " (SIGHUP)",
        libc::SIGINT => " (SIGINT)",
        libc::SIGABRT => " (SIGABRT)",
        libc::SIGKILL => " (SIGKILL)",
        libc::SIGSEGV => " (SIGSEGV)",
        libc::SIGTERM => " (SIGTERM)",
        _ => "",
    }
}

/// What the reader and waiter threads tell the group.
pub(crate) enum Event {
    Line(Line),
    /// One output stream reached its end.
    Closed,
    /// Look again: the leader exited, or a cancel came.
    Wake,
}

/// What [`Group::next`] saw first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    Line(Line),
    /// The group's leader exited (it is not reaped until [`Group::stop`]).
    Exited,
    Cancelled,
    TimedOut,
}

/// A running child and the process group it leads (its pid is the group
/// id). The leader is reaped only in [`stop`](Group::stop), after the last
/// signal: until then its pid, and so the group id, can't be anyone else's.
/// Dropping a group stops it at once.
pub struct Group {
    child: Child,
    pgid: libc::pid_t,
    events: Receiver<Event>,
    wake: SyncSender<Event>,
    /// Set by the waiter thread when the leader has exited.
    exited: Arc<AtomicBool>,
    /// Output streams not at their end yet.
    open: usize,
    /// Lines taken off the channel while stopping, for [`Group::next`] after.
    held: VecDeque<Line>,
    /// Lines dropped from `held` when it was full.
    dropped: usize,
    status: Option<Exit>,
    cancel_watch: Option<CancelWatch>,
    _entry: Option<LedgerEntry>,
}

impl Group {
    /// Starts `spec` in its own process group, recorded first when the
    /// spec names a ledger.
    pub fn spawn(spec: &Spec, output: Output) -> io::Result<Group> {
        match Group::spawn_at(spec, &output, locate(spec, false)?) {
            // A program remembered on PATH may have moved since.
            Err(e) if e.kind() == io::ErrorKind::NotFound && !spec.program.contains('/') => {
                Group::spawn_at(spec, &output, locate(spec, true)?)
            }
            spawned => spawned,
        }
    }

    fn spawn_at(spec: &Spec, output: &Output, path: PathBuf) -> io::Result<Group> {
        let (mut command, pipes) = spec.command(&path, output)?;
        let entry = match &spec.ledger {
            Some((ledger, label)) => match ledger.prepare(label) {
                Some((child_entry, entry)) => {
                    // SAFETY: `write_in_child` makes only async-signal-safe
                    // calls and allocates nothing.
                    unsafe { command.pre_exec(move || child_entry.write_in_child()) };
                    Some(entry)
                }
                None => None,
            },
            None => None,
        };
        // On failure `entry` is dropped, removing whatever the child wrote.
        let mut child = command.spawn()?;
        // Our copies of a merged pipe's write end go now, so its reader sees
        // the end of output once the group's processes are gone.
        drop(command);
        let pgid = match libc::pid_t::try_from(child.id()) {
            // Never 0 or 1: kill(0) and kill(-1) would reach far more than the child.
            Ok(pgid) if pgid > 1 => pgid,
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(io::Error::other(format!(
                    "unexpected process id {}",
                    child.id()
                )));
            }
        };
        let (wake, events) = mpsc::sync_channel(OUTPUT_BACKLOG);
        let exited = Arc::new(AtomicBool::new(false));
        // The waiter first: stopping a group waits for what it says.
        let waiter = {
            let (exited, wake) = (Arc::clone(&exited), wake.clone());
            thread::Builder::new()
                .name("process-wait".to_owned())
                .spawn(move || {
                    wait_for_exit(pgid);
                    exited.store(true, Ordering::SeqCst);
                    let _ = wake.try_send(Event::Wake);
                })
        };
        if let Err(e) = waiter {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
        let mut group = Group {
            pgid,
            events,
            wake: wake.clone(),
            exited,
            open: 0,
            held: VecDeque::new(),
            dropped: 0,
            status: None,
            cancel_watch: None,
            _entry: entry,
            child,
        };
        // From here on a failure drops `group`, which stops the child.
        let sink = match output {
            Output::Raw(sink) => Some(Arc::clone(sink)),
            _ => None,
        };
        match pipes {
            Pipes::Merged(reader) => {
                lines::spawn_reader(Stream::Both, reader, sink, wake)?;
                group.open += 1;
            }
            Pipes::Child => {
                if let Some(stdout) = group.child.stdout.take() {
                    lines::spawn_reader(Stream::Stdout, stdout, None, wake.clone())?;
                    group.open += 1;
                }
                if let Some(stderr) = group.child.stderr.take() {
                    lines::spawn_reader(Stream::Stderr, stderr, None, wake)?;
                    group.open += 1;
                }
            }
        }
        Ok(group)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the next thing to happen: a line of output, the leader's
    /// exit, `cancel` (the same token at every call), or `deadline`.
    /// Lines already printed come before the exit.
    pub fn next(&mut self, cancel: Option<&CancelToken>, deadline: Option<Instant>) -> Next {
        if let (Some(cancel), None) = (cancel, &self.cancel_watch) {
            let wake = self.wake.clone();
            self.cancel_watch = Some(cancel.watch(move || {
                // A full backlog wakes the reader anyway; the flag is read then.
                let _ = wake.try_send(Event::Wake);
            }));
        }
        loop {
            // Before any line, so a child that never stops printing is still stopped.
            if cancel.is_some_and(CancelToken::is_cancelled) {
                return Next::Cancelled;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Next::TimedOut;
            }
            if let Some(line) = self.held.pop_front() {
                return Next::Line(line);
            }
            if let Ok(event) = self.events.try_recv() {
                if let Some(line) = self.take(event) {
                    return Next::Line(line);
                }
                continue;
            }
            if self.leader_exited() {
                return Next::Exited;
            }
            if !self.wait_event(deadline) {
                return Next::TimedOut;
            }
        }
    }

    /// Blocks for one event (kept for [`next`](Group::next)); false once `deadline` has passed.
    fn wait_event(&mut self, deadline: Option<Instant>) -> bool {
        let event = match deadline {
            None => self.events.recv().ok(),
            Some(deadline) => {
                let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                    return false;
                };
                match self.events.recv_timeout(left) {
                    Ok(event) => Some(event),
                    Err(RecvTimeoutError::Timeout) => return false,
                    Err(RecvTimeoutError::Disconnected) => None,
                }
            }
        };
        if let Some(event) = event {
            self.hold(event);
        }
        true
    }

    /// Keeps an event's line for later, dropping the oldest when too many wait.
    fn hold(&mut self, event: Event) {
        if let Some(line) = self.take(event) {
            if self.held.len() == STOPPING_BACKLOG {
                self.held.pop_front();
                self.dropped += 1;
            }
            self.held.push_back(line);
        }
    }

    fn take(&mut self, event: Event) -> Option<Line> {
        match event {
            Event::Line(line) => Some(line),
            Event::Closed => {
                self.open = self.open.saturating_sub(1);
                None
            }
            Event::Wake => None,
        }
    }

    /// Waits, keeping what arrives, until `done` or `until` (never, if `None`).
    fn wait_until(&mut self, done: impl Fn(&Group) -> bool, until: Option<Instant>) {
        while !done(self) {
            if !self.wait_event(until) {
                return;
            }
        }
    }

    fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill(2) has no memory effects; `pgid > 1` names exactly the
        // child's group, and the leader is not reaped yet, so the id is ours.
        unsafe { libc::kill(-self.pgid, signal) };
    }

    fn leader_exited(&self) -> bool {
        self.exited.load(Ordering::SeqCst)
    }

    /// Stops whatever is left of the group: SIGTERM, then SIGKILL once the
    /// leader has exited and the output closed, or after `grace`; reaps the
    /// leader and removes the ledger entry. Lines printed meanwhile stay for
    /// [`next`](Group::next). A leader that exited on its own and left
    /// nothing behind gets no signal that matters.
    pub fn stop(&mut self, grace: Duration) -> Exit {
        if let Some(exit) = self.status {
            return exit;
        }
        let finished = |g: &Group| g.leader_exited() && g.open == 0;
        if !finished(self) {
            self.signal(libc::SIGTERM);
            self.wait_until(finished, Instant::now().checked_add(grace));
        }
        // Whatever ignored SIGTERM or kept quiet without the output: the
        // leader is unreaped, so the group id is still ours to signal.
        self.signal(libc::SIGKILL);
        self.wait_until(Group::leader_exited, None);
        self.wait_until(|g| g.open == 0, Some(Instant::now() + KILL_SETTLE));
        let exit = Exit(self.child.wait().ok());
        // A process that closed the output is dying, not always dead yet;
        // one still in the group now is waited for by its own exit.
        // SAFETY: signal 0 sends nothing; at worst it names a new group
        // that took the id, whose processes are only waited for.
        if unsafe { libc::kill(-self.pgid, 0) } == 0 {
            Pidfds::of_groups(&[self.pgid]).wait(KILL_SETTLE);
        }
        self.status = Some(exit);
        while let Ok(event) = self.events.try_recv() {
            self.hold(event);
        }
        self._entry = None;
        self.cancel_watch = None;
        if self.dropped > 0 {
            self.held.push_front(Line {
                stream: Stream::Both,
                text: format!("({} lines of output left out while stopping)", self.dropped),
            });
            self.dropped = 0;
        }
        exit
    }

    /// The lines not taken yet: after [`stop`](Group::stop), the rest of the output.
    pub fn rest(&mut self) -> Vec<Line> {
        while let Ok(event) = self.events.try_recv() {
            self.hold(event);
        }
        self.held.drain(..).collect()
    }
}

impl Drop for Group {
    /// However the caller ends (a panic in a progress callback included),
    /// no process of the group outlives it.
    fn drop(&mut self) {
        self.stop(Duration::ZERO);
    }
}

/// Blocks until the leader `pid` has exited, leaving it unreaped.
fn wait_for_exit(pid: libc::pid_t) {
    loop {
        // SAFETY: an all-zero siginfo_t is a valid value; waitid writes into it.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is valid and writable; WNOWAIT leaves the child waitable.
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        if r == 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return;
        }
    }
}

/// How long a child may run, and how long it has to stop once asked.
#[derive(Debug, Clone, Copy)]
pub struct Limits<'a> {
    pub timeout: Duration,
    pub grace: Duration,
    pub cancel: Option<&'a CancelToken>,
}

impl<'a> Limits<'a> {
    pub fn new(timeout: Duration, grace: Duration) -> Limits<'a> {
        Limits {
            timeout,
            grace,
            cancel: None,
        }
    }

    pub fn cancel(self, cancel: &'a CancelToken) -> Limits<'a> {
        Limits {
            cancel: Some(cancel),
            ..self
        }
    }
}

/// How [`run`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Exited(Exit),
    Cancelled,
    TimedOut,
}

/// Runs `spec` to its end, each line to `on_line` as it is printed. On
/// cancel or timeout the group is stopped (SIGTERM, SIGKILL after
/// `grace`); once the leader exits, whatever it left in its group is
/// stopped the same way. Returns after the last line; `Err` only if the
/// child could not be started.
pub fn run(
    spec: &Spec,
    output: Output,
    limits: Limits<'_>,
    on_line: &mut dyn FnMut(Line),
) -> io::Result<Ended> {
    if limits.cancel.is_some_and(CancelToken::is_cancelled) {
        return Ok(Ended::Cancelled);
    }
    let mut group = Group::spawn(spec, output)?;
    // Past the largest `Instant` means never.
    let deadline = Instant::now().checked_add(limits.timeout);
    let ended = loop {
        match group.next(limits.cancel, deadline) {
            Next::Line(line) => on_line(line),
            Next::Exited => break None,
            Next::Cancelled => break Some(Ended::Cancelled),
            Next::TimedOut => break Some(Ended::TimedOut),
        }
    };
    let exit = group.stop(limits.grace);
    for line in group.rest() {
        on_line(line);
    }
    Ok(ended.unwrap_or(Ended::Exited(exit)))
}

/// The last lines of a child's output, for a message when it fails: the
/// last `lines`, and the last `stderr` lines of stderr even when stdout
/// came after them (the error is usually there).
#[derive(Debug, Clone)]
pub struct Tail {
    keep: usize,
    keep_stderr: usize,
    count: u64,
    last: VecDeque<(u64, String)>,
    last_stderr: VecDeque<(u64, String)>,
}

impl Tail {
    pub fn new(lines: usize, stderr: usize) -> Tail {
        Tail {
            keep: lines,
            keep_stderr: stderr,
            count: 0,
            last: VecDeque::new(),
            last_stderr: VecDeque::new(),
        }
    }

    pub fn push(&mut self, line: &Line) {
        self.count += 1;
        let numbered = (self.count, line.text.clone());
        if line.stream == Stream::Stderr {
            push_capped(&mut self.last_stderr, self.keep_stderr, numbered.clone());
        }
        push_capped(&mut self.last, self.keep, numbered);
    }

    /// `; last output:\n    line…`, or ` (no output)`.
    pub fn quote(&self) -> String {
        let mut quoted: Vec<&(u64, String)> = self.last.iter().chain(&self.last_stderr).collect();
        quoted.sort_by_key(|(n, _)| *n);
        quoted.dedup_by_key(|(n, _)| *n);
        quote(quoted.into_iter().map(|(_, line)| line.as_str()))
    }
}

fn push_capped<T>(lines: &mut VecDeque<T>, cap: usize, line: T) {
    if cap == 0 {
        return;
    }
    if lines.len() == cap {
        lines.pop_front();
    }
    lines.push_back(line);
}

/// `; last output:\n    line…` for the lines given, or ` (no output)`.
pub fn quote<'a>(lines: impl IntoIterator<Item = &'a str>) -> String {
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

#[cfg(test)]
mod tests {
    use super::ledger::alive;
    use super::*;

    fn sh(script: &str) -> Spec {
        Spec::new("sh").args(["-c", script])
    }

    #[test]
    fn exits_are_described_for_people() {
        let exit = |raw| Exit::from(ExitStatus::from_raw(raw));
        assert_eq!(exit(3 << 8).to_string(), "exited with code 3");
        assert_eq!(exit(3 << 8).short(), "code 3");
        assert_eq!(exit(9).to_string(), "was killed by signal 9 (SIGKILL)");
        assert_eq!(exit(9).short(), "signal 9 (SIGKILL)");
        assert_eq!(exit(15).to_string(), "was killed by signal 15 (SIGTERM)");
        assert_eq!(
            Exit(None).to_string(),
            "ended (its status could not be read)"
        );
    }

    #[test]
    fn the_entry_is_written_before_the_program_runs_and_removed_after() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Arc::new(GroupLedger::open(dir.path()).unwrap());
        let spec = sh("cat \"$0\"/*")
            .arg(dir.path())
            .recorded_in(&ledger, "api/dev-x build");
        let mut lines = Vec::new();
        let ended = run(
            &spec,
            Output::Lines,
            Limits::new(Duration::from_secs(10), Duration::ZERO),
            &mut |line| lines.push(line.text),
        )
        .unwrap();
        assert!(
            matches!(ended, Ended::Exited(exit) if exit.success()),
            "{ended:?} {lines:?}"
        );
        // The child saw its own entry: its group id first, the label last.
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[1], "api/dev-x build");
        let pgid: i32 = lines[0].split(' ').next().unwrap().parse().unwrap();
        assert!(pgid > 1);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_program_that_is_not_there_is_not_found_and_leaves_no_entry() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Arc::new(GroupLedger::open(dir.path()).unwrap());
        for program in ["no-such-program-anywhere", "./no-such-program"] {
            let spec = Spec::new(program).cwd(dir.path()).recorded_in(&ledger, "x");
            let e = Group::spawn(&spec, Output::Lines).err().unwrap();
            assert_eq!(e.kind(), io::ErrorKind::NotFound, "{program}");
            assert!(e.to_string().contains("No such file"), "{e}");
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn cancel_stops_the_whole_group_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let spec = sh("sleep 30 & echo $! > \"$0\"; echo started; wait").arg(&pid_file);
        let cancel = CancelToken::new();
        let started = Instant::now();
        let mut lines = Vec::new();
        let ended = run(
            &spec,
            Output::MergedLines,
            Limits::new(Duration::from_secs(60), Duration::from_secs(5)).cancel(&cancel),
            &mut |line| {
                if line.text == "started" {
                    cancel.cancel();
                }
                lines.push(line.text);
            },
        )
        .unwrap();
        assert_eq!(ended, Ended::Cancelled);
        assert_eq!(lines, ["started"]);
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{:?}",
            started.elapsed()
        );
        let sleeper: i32 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(!alive(sleeper));
    }

    #[test]
    fn a_timeout_ends_a_silent_child() {
        let started = Instant::now();
        let ended = run(
            &sh("exec sleep 30"),
            Output::Lines,
            Limits::new(Duration::from_millis(200), Duration::from_secs(5)),
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(ended, Ended::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(4));
    }

    #[test]
    fn raw_output_goes_to_the_sink_and_the_exit_is_an_event() {
        let bytes = Arc::new(Mutex::new(Vec::new()));
        let sink: Sink = {
            let bytes = Arc::clone(&bytes);
            Arc::new(move |chunk: &[u8]| bytes.lock().unwrap().extend_from_slice(chunk))
        };
        let mut group =
            Group::spawn(&sh("printf 'no newline'; exit 4"), Output::Raw(sink)).unwrap();
        assert_eq!(group.next(None, None), Next::Exited);
        assert_eq!(group.stop(Duration::from_secs(5)).short(), "code 4");
        assert_eq!(&*bytes.lock().unwrap(), b"no newline");
    }

    #[test]
    fn tails_keep_the_last_lines_and_the_last_errors() {
        let mut tail = Tail::new(2, 1);
        assert_eq!(tail.quote(), " (no output)");
        for (stream, text) in [
            (Stream::Stderr, "error: column exists"),
            (Stream::Stdout, "a"),
            (Stream::Stdout, "b"),
            (Stream::Stdout, "c"),
        ] {
            tail.push(&Line {
                stream,
                text: text.to_owned(),
            });
        }
        assert_eq!(
            tail.quote(),
            "; last output:\n    error: column exists\n    b\n    c"
        );
    }
}
