//! Keeps an env's app running: starts its run command (through the process
//! layer: its own group, recorded before it runs), copies its output into
//! the env's log, restarts it with backoff when it exits, and knows when it
//! is in a crash loop.

use std::io;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::lock;
use super::log::Log;
use crate::process::{CancelToken, Group, Next, Output, Spec};
use crate::provider::CrashLoop;

/// Restart backoff of a service that keeps exiting.
const BACKOFF_FIRST: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A service that ran this long before exiting starts again from the first
/// backoff; one that has run this long since its last start is steady.
const STABLE_AFTER: Duration = Duration::from_secs(30);

#[derive(Default)]
struct SupervisorState {
    /// Processes started so far, and how many have exited on their own.
    starts: u64,
    exits: u64,
    /// Exits since the service last ran for [`STABLE_AFTER`].
    exits_in_a_row: u64,
    pid: Option<u32>,
    started_at: Option<Instant>,
    /// How the last run ended: in full, and in a few words.
    last_exit: Option<(String, String)>,
}

struct Shared {
    state: Mutex<SupervisorState>,
    changed: Condvar,
}

impl Shared {
    fn update(&self, change: impl FnOnce(&mut SupervisorState)) {
        change(&mut lock(&self.state));
        self.changed.notify_all();
    }
}

/// Keeps one service running: starts it, restarts it with backoff when it
/// exits, stops its group on `stop` or drop.
pub(super) struct Supervisor {
    shared: Arc<Shared>,
    stop: CancelToken,
    thread: Option<JoinHandle<()>>,
}

impl Supervisor {
    /// Starts supervising `spec` (which names the ledger it is recorded in).
    /// `grace` is how long the service has to stop after SIGTERM.
    pub fn start(spec: Spec, log: Arc<Log>, grace: Duration) -> io::Result<Supervisor> {
        let shared = Arc::new(Shared {
            state: Mutex::new(SupervisorState::default()),
            changed: Condvar::new(),
        });
        let stop = CancelToken::new();
        let thread = {
            let (shared, stop) = (Arc::clone(&shared), stop.clone());
            thread::Builder::new()
                .name("local-supervisor".to_owned())
                .spawn(move || supervise(&spec, &log, &shared, &stop, grace))?
        };
        Ok(Supervisor {
            shared,
            stop,
            thread: Some(thread),
        })
    }

    /// Times the service exited on its own, and how the last one ended.
    pub fn exits(&self) -> (u64, Option<String>) {
        let state = lock(&self.shared.state);
        (
            state.exits,
            state.last_exit.as_ref().map(|(full, _)| full.clone()),
        )
    }

    /// Waits until the service has exited more than `seen` times, for at
    /// most `timeout` (or until `cancel`).
    pub fn wait_exit(&self, seen: u64, timeout: Duration, cancel: &CancelToken) {
        let _watch = cancel.watch({
            let shared = Arc::clone(&self.shared);
            move || shared.update(|_| {})
        });
        let until = Instant::now() + timeout;
        let mut state = lock(&self.shared.state);
        while state.exits <= seen && !cancel.is_cancelled() {
            let Some(left) = until.checked_duration_since(Instant::now()) else {
                return;
            };
            state = match self.shared.changed.wait_timeout(state, left) {
                Ok((state, _)) => state,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// `Some` while the service keeps exiting: it exited since it last ran
    /// steadily, and is waiting to start again or has not run steadily since.
    pub fn crash_loop(&self) -> Option<CrashLoop> {
        let state = lock(&self.shared.state);
        let steady = state.pid.is_some()
            && state
                .started_at
                .is_some_and(|at| at.elapsed() >= STABLE_AFTER);
        match &state.last_exit {
            Some((_, short)) if state.exits_in_a_row > 0 && !steady => Some(CrashLoop {
                restarts: state.exits_in_a_row,
                last_exit: short.clone(),
            }),
            _ => None,
        }
    }

    /// Stops the service's group (SIGTERM, then SIGKILL after the grace)
    /// and returns once it is gone.
    pub fn stop(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        self.stop.cancel();
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

fn supervise(spec: &Spec, log: &Arc<Log>, shared: &Shared, stop: &CancelToken, grace: Duration) {
    let mut backoff = BACKOFF_FIRST;
    let to_log = {
        let log = Arc::clone(log);
        Output::Raw(Arc::new(move |bytes: &[u8]| log.append(bytes)))
    };
    loop {
        if stop.is_cancelled() {
            return;
        }
        let started = Instant::now();
        let (ended, short) = match Group::spawn(spec, to_log.clone()) {
            Ok(mut group) => {
                let pid = group.pid();
                shared.update(|state| {
                    state.starts += 1;
                    state.pid = Some(pid);
                    state.started_at = Some(started);
                });
                log.note(&format!("started `{}` (pid {pid})", spec.program()));
                // Raw output gives no lines: the next thing is the exit or the stop.
                if group.next(Some(stop), None) == Next::Cancelled {
                    let exit = group.stop(grace);
                    log.note(&format!("stopped: {exit}"));
                    shared.update(|state| state.pid = None);
                    return;
                }
                let exit = group.stop(Duration::ZERO);
                (exit.to_string(), exit.short())
            }
            Err(e) => (
                format!("could not start `{}`: {e}", spec.program()),
                "it could not start".to_owned(),
            ),
        };
        let steady = started.elapsed() >= STABLE_AFTER;
        shared.update(|state| {
            state.exits += 1;
            state.exits_in_a_row = if steady { 1 } else { state.exits_in_a_row + 1 };
            state.pid = None;
            state.last_exit = Some((ended.clone(), short));
        });
        if steady {
            backoff = BACKOFF_FIRST;
        }
        log.note(&format!(
            "{ended}; restarting in {:.1}s",
            backoff.as_secs_f32()
        ));
        if stop.wait_timeout(backoff) {
            return;
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}
