//! Runs operations against the provider: on a bounded pool of blocking
//! threads (the policy lets only one run per env), or inside the call that starts
//! it when the provider is effect-free; each step kept in memory and sent
//! as [`Progress`], cancelled through a [`CancelToken`]. The end is decided
//! and stored before the last event is sent.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use rushbox_command::{AppName, EnvName};
use tokio::sync::mpsc;

use crate::model::{OpKind, Operation};
use crate::policy::Finish;
use crate::provider::{Action, CancelToken, ProviderError, Request};

/// What an operation reports while it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    Started,
    Step(String),
    Finished { address: Option<String> },
    Failed { error: String },
}

impl Progress {
    pub fn is_end(&self) -> bool {
        matches!(self, Progress::Finished { .. } | Progress::Failed { .. })
    }
}

/// A started operation: its id, what it does, and its progress events,
/// ending with `Finished` or `Failed`.
#[derive(Debug)]
pub struct OperationHandle {
    pub id: u64,
    pub app: AppName,
    pub env: EnvName,
    pub kind: OpKind,
    /// The release it puts on the env (ref, commit, release), if it deploys
    /// one: what its messages say was deployed where.
    pub deploys: Option<Request>,
    pub events: mpsc::UnboundedReceiver<Progress>,
}

impl OperationHandle {
    pub(crate) fn new(
        op: &Operation,
        events: mpsc::UnboundedReceiver<Progress>,
    ) -> OperationHandle {
        OperationHandle {
            id: op.id,
            app: op.app.clone(),
            env: op.env.clone(),
            kind: op.kind,
            deploys: op
                .requests
                .iter()
                .rev()
                .find(|r| r.action == Action::Deploy)
                .cloned(),
            events,
        }
    }

    /// Blocks until the operation ends and returns its last event.
    /// For threads outside a tokio runtime (tests, the shell); async code reads `events`.
    pub fn wait(mut self) -> Progress {
        while let Some(event) = self.events.blocking_recv() {
            if event.is_end() {
                return event;
            }
        }
        Progress::Failed {
            error: "the operation's runner stopped without a result".to_owned(),
        }
    }
}

/// What the runner needs from the engine: the provider, a place to record
/// steps, and the decision at the end.
pub(crate) trait OperationHost: Send + Sync + 'static {
    fn provider(&self) -> &dyn crate::provider::Provider;
    /// Keeps a step for the live view and the operation's record; a step is
    /// not a decision, so nothing is written or synced for it.
    fn record_step(&self, operation: u64, line: &str);
    /// Decides and stores the end; `Err` says why it could not be stored.
    fn finish(&self, operation: u64, result: Finish) -> Result<(), String>;
}

/// At most this many operations run at once; more wait their turn, in the
/// order they were started (each env runs one at a time, so this is a
/// bound across envs: builds on one machine, calls to one cluster).
pub const MAX_RUNNING: usize = 64;

type Job = Box<dyn FnOnce() + Send>;

/// The threads operations run on: started as needed up to [`MAX_RUNNING`],
/// then kept and reused.
struct Pool {
    state: Mutex<PoolState>,
    work: Condvar,
}

struct PoolState {
    jobs: VecDeque<Job>,
    workers: usize,
    idle: usize,
}

static POOL: Pool = Pool {
    state: Mutex::new(PoolState {
        jobs: VecDeque::new(),
        workers: 0,
        idle: 0,
    }),
    work: Condvar::new(),
};

impl Pool {
    fn state(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn submit(&'static self, job: Job) {
        let mut state = self.state();
        state.jobs.push_back(job);
        // A thread for every job no idle one will take, up to the bound.
        if state.jobs.len() > state.idle && state.workers < MAX_RUNNING {
            let started = std::thread::Builder::new()
                .name("operation".to_owned())
                .spawn(move || self.work_loop());
            // Without a new thread the job waits for a running one.
            if started.is_ok() {
                state.workers += 1;
            }
        }
        drop(state);
        self.work.notify_one();
    }

    fn work_loop(&self) {
        loop {
            let mut state = self.state();
            let job = loop {
                if let Some(job) = state.jobs.pop_front() {
                    break job;
                }
                state.idle += 1;
                state = self
                    .work
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
                state.idle -= 1;
            };
            drop(state);
            // A panicking operation ends (its watchers see the runner stop);
            // the thread goes on to the next.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
        }
    }
}

/// Runs `op`'s requests in order on the operations' pool.
pub(crate) fn spawn<H: OperationHost>(
    host: std::sync::Arc<H>,
    op: Operation,
    cancel: CancelToken,
    events: mpsc::UnboundedSender<Progress>,
) {
    POOL.submit(Box::new(move || {
        let send = |p: Progress| {
            // A dropped receiver only means nobody is watching.
            let _ = events.send(p);
        };
        send(Progress::Started);
        let result = run(host.provider(), &op, &cancel, &mut |line| {
            host.record_step(op.id, line);
            send(Progress::Step(line.to_owned()));
        });
        let end = end_event(&result, host.finish(op.id, result.clone()));
        // Let go of the engine before the last event, so whoever waits for it
        // may drop (and reopen) the engine at once.
        drop(host);
        send(end);
    }));
}

/// Runs `op`'s requests in order on this thread, each step to `step`, and
/// says how it ended (not yet decided: the caller decides the end).
pub(crate) fn run(
    provider: &dyn crate::provider::Provider,
    op: &Operation,
    cancel: &CancelToken,
    step: &mut dyn FnMut(&str),
) -> Finish {
    let mut address = None;
    for request in &op.requests {
        if cancel.is_cancelled() {
            return Finish::Cancelled;
        }
        step(&format!("{} {}", request.action, request.env));
        match provider.run(request, step, cancel) {
            Ok(outcome) => {
                if outcome.address.is_some() {
                    address = outcome.address;
                }
            }
            Err(ProviderError::Cancelled) => return Finish::Cancelled,
            Err(e) => {
                return Finish::Failed {
                    error: e.to_string(),
                };
            }
        }
    }
    Finish::Succeeded { address }
}

/// The last event of an operation that ended as `result`, once its end was
/// decided and stored (or could not be).
pub(crate) fn end_event(result: &Finish, stored: Result<(), String>) -> Progress {
    match (result, stored) {
        (_, Err(why)) => Progress::Failed {
            error: format!("the result could not be recorded: {why}"),
        },
        (Finish::Succeeded { address }, Ok(())) => Progress::Finished {
            address: address.clone(),
        },
        (Finish::Cancelled, Ok(())) => Progress::Failed {
            error: "cancelled".to_owned(),
        },
        (Finish::Failed { error }, Ok(())) => Progress::Failed {
            error: error.clone(),
        },
    }
}
