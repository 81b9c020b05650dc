//! The typed API the chat layer, webhooks and the shell call. Each call
//! resolves what needs I/O (a ref to a commit), asks the policy, writes the
//! decision (granted or refused) to the store atomically, waits for a
//! flush that covers it, and only then answers, starting provider work in
//! the background (or, for an effect-free provider, running it to its end
//! within the call). Decisions are made one at a time under one lock; the
//! flush is outside it, so concurrent callers share one (group commit), and
//! a thread that holds its calls ([`Engine::hold`]) shares one across them.
//! This module is the API; what listings show is in `views`, the time in
//! `clock`, and how a ref becomes a commit in [`crate::git`].

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard};

use rushbox_command::{AppName, EnvName, GitRef, ReleaseId, Span, Stage, Target};
use tokio::sync::{broadcast, mpsc};

use crate::config::{Groups, PipelineConfig};
use crate::git::RefResolver;
use crate::model::{Actor, AuditEntry, EnvKey, Operation, Role, State, Time};
use crate::ops::{self, OperationHandle, OperationHost, Progress};
use crate::policy::{self, Blocker, Call, Finish, Notice, Refusal};
use crate::provider::{CancelToken, Provider};
use crate::store::{Store, StoreError, Written};

mod clock;
mod held;
mod index;
mod views;

pub use clock::{Clock, ManualClock, SystemClock};
pub use held::{Hold, Unsynced};
pub use index::{EnvIndex, IndexedEnv};
pub use views::{EnvStatus, EnvView, LockView, QueueView};

/// Why a call did not go ahead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineError {
    /// The rules said no; every blocker, each with its fix.
    Refused(Refusal),
    /// The decision could not be stored, so nothing happened.
    Store(StoreError),
    /// This delivery (a chat message id) was decided before: the platform
    /// sent it again, and it is not run twice.
    AlreadyHandled { delivery: String },
}

impl EngineError {
    /// The blockers of a refusal (none for a store failure).
    pub fn blockers(&self) -> &[Blocker] {
        match self {
            EngineError::Refused(r) => &r.blockers,
            EngineError::Store(_) | EngineError::AlreadyHandled { .. } => &[],
        }
    }
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineError::Refused(r) => r.fmt(f),
            // A failed flush leaves it unknown what was saved; say only that.
            EngineError::Store(e @ StoreError::Poisoned { .. }) => e.fmt(f),
            EngineError::Store(e) => write!(f, "nothing was changed: {e}"),
            EngineError::AlreadyHandled { .. } => {
                f.write_str("that message arrived twice; it was handled the first time")
            }
        }
    }
}

impl std::error::Error for EngineError {}

impl From<StoreError> for EngineError {
    fn from(e: StoreError) -> EngineError {
        EngineError::Store(e)
    }
}

/// The answer to a granted call.
#[derive(Debug)]
pub struct Reply {
    pub message: String,
    /// Messages for other people (a lock passed on or stolen, an env given).
    pub notices: Vec<Notice>,
    /// Operations started, with their progress.
    pub operations: Vec<OperationHandle>,
}

impl Reply {
    /// The single operation a deploy, promote, destroy… started.
    pub fn operation(self) -> Option<OperationHandle> {
        self.operations.into_iter().next()
    }
}

struct Core {
    state: State,
    running: HashMap<u64, CancelToken>,
    /// Deliveries decided in the last [`DELIVERY_MEMORY`] seconds.
    deliveries: Deliveries,
}

/// How long a delivery id is remembered: Slack retries an event for a few
/// minutes, and Socket Mode redelivers what was not acknowledged.
pub const DELIVERY_MEMORY: Time = 60 * 60;

/// Delivery ids with when they were decided, oldest first out.
#[derive(Default)]
struct Deliveries {
    at: HashMap<String, Time>,
    order: std::collections::VecDeque<(Time, String)>,
}

impl Deliveries {
    fn contains(&self, id: &str) -> bool {
        self.at.contains_key(id)
    }

    fn insert(&mut self, id: String, now: Time) {
        while let Some((at, _)) = self.order.front()
            && at.saturating_add(DELIVERY_MEMORY) < now
        {
            if let Some((_, old)) = self.order.pop_front() {
                self.at.remove(&old);
            }
        }
        if self.at.insert(id.clone(), now).is_none() {
            self.order.push_back((now, id));
        }
    }
}

struct Inner {
    config: PipelineConfig,
    /// Members of the groups roles name, as the chat adapters last said.
    groups: RwLock<Groups>,
    provider: Arc<dyn Provider>,
    resolver: Arc<dyn RefResolver>,
    clock: Arc<dyn Clock>,
    store: Store,
    core: Mutex<Core>,
    /// The envs by name, for readers that must not wait for `core`.
    index: index::Published,
    notices: broadcast::Sender<Notice>,
}

/// The pipeline engine. Cheap to clone; all clones share one store.
/// Running operations hold it too: the database closes when the last clone
/// is dropped and the last operation has ended.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
    interrupted: Arc<Vec<Operation>>,
    /// What start-up decided to tell people; nobody was listening yet.
    restart_notices: Arc<Vec<Notice>>,
    /// The chat message this handle decides for (see [`Engine::for_delivery`]).
    delivery: Option<Arc<str>>,
}

impl Engine {
    /// How many times the store's log has been synced (each sync covers
    /// every decision written before it): for benchmarks and tests.
    pub fn syncs(&self) -> u64 {
        self.inner.store.wal_syncs()
    }

    /// Holds back the sync of every call this thread makes until the
    /// returned [`Hold`] is released: their decisions are made and written
    /// in order at once, one sync then covers them all, and only then are
    /// their operations started and their notices sent (group commit for
    /// one stream of lines). The caller must not tell anyone of a held
    /// call's answer before [`Hold::release`] returns `Ok`.
    pub fn hold(&self) -> Hold {
        Hold::new(Arc::clone(&self.inner))
    }

    /// Opens (or creates) the store at `store_path`, reconciles what a crash
    /// left running, and is ready for calls. Uses the system clock.
    pub fn open(
        config: PipelineConfig,
        store_path: &Path,
        provider: Arc<dyn Provider>,
        resolver: Arc<dyn RefResolver>,
    ) -> Result<Engine, EngineError> {
        Engine::open_with_clock(
            config,
            store_path,
            provider,
            resolver,
            Arc::new(SystemClock),
        )
    }

    pub fn open_with_clock(
        config: PipelineConfig,
        store_path: &Path,
        provider: Arc<dyn Provider>,
        resolver: Arc<dyn RefResolver>,
        clock: Arc<dyn Clock>,
    ) -> Result<Engine, EngineError> {
        let store = Store::open(store_path)?;
        let state = store.load()?;
        let running_before: Vec<u64> = state
            .operations
            .values()
            .filter(|op| op.state.is_running())
            .map(|op| op.id)
            .collect();
        let (notices, _) = broadcast::channel(1024);
        let mut deliveries = Deliveries::default();
        let since = clock.now().saturating_sub(DELIVERY_MEMORY);
        for (id, at) in store.deliveries_since(since)?.into_iter().rev() {
            deliveries.insert(id, at);
        }
        let inner = Arc::new(Inner {
            index: index::Published::new(&state, &config),
            config,
            groups: RwLock::new(Groups::default()),
            provider,
            resolver,
            clock,
            store,
            core: Mutex::new(Core {
                state,
                running: HashMap::new(),
                deliveries,
            }),
            notices,
        });
        let now = inner.clock.now();
        let reconciled = inner.call(&Actor::rushbox(), &Call::Reconcile, now, None)?;
        let interrupted = {
            let core = inner.core();
            running_before
                .iter()
                .filter_map(|id| core.state.operations.get(id).cloned())
                .collect()
        };
        Ok(Engine {
            inner,
            interrupted: Arc::new(interrupted),
            restart_notices: Arc::new(reconciled.notices),
            delivery: None,
        })
    }

    /// Operations found running at start-up, now marked interrupted, so
    /// their requesters can be told.
    pub fn interrupted(&self) -> &[Operation] {
        &self.interrupted
    }

    /// What start-up has to tell people, decided before anyone could
    /// subscribe to [`Engine::notices`]: the requester of each interrupted
    /// operation (with the lock they still hold and the command that tries
    /// again), and holders of leases that ran out while rushbox was down.
    pub fn restart_notices(&self) -> &[Notice] {
        &self.restart_notices
    }

    /// Notices decided outside a call (a lock passed on when an operation
    /// ends). Notices of a call are in its [`Reply`] and sent here too.
    pub fn notices(&self) -> broadcast::Receiver<Notice> {
        self.inner.notices.subscribe()
    }

    pub fn config(&self) -> &PipelineConfig {
        &self.inner.config
    }

    /// The engine's clock, for showing ages ("5m ago") in its own time.
    pub fn now(&self) -> Time {
        self.inner.clock.now()
    }

    pub fn role_of(&self, actor: &Actor) -> Option<Role> {
        self.inner.config.role_of(actor, &self.inner.groups())
    }

    /// The groups `[roles]` names, for adapters to report members of.
    pub fn group_names(&self) -> Vec<String> {
        self.inner.config.group_names()
    }

    /// Replaces who is in `group` (e.g. `slack:S0LEADS`); the next decision
    /// sees it. Members are the platform's word, refreshed by its adapter.
    pub fn set_group_members(&self, group: &str, members: impl IntoIterator<Item = Actor>) {
        let mut groups = self.inner.groups.write().unwrap_or_else(|p| p.into_inner());
        groups.set(group, members);
    }

    fn call(&self, actor: &Actor, call: Call) -> Result<Reply, EngineError> {
        self.inner.call(
            actor,
            &call,
            self.inner.clock.now(),
            self.delivery.as_deref(),
        )
    }

    /// A handle whose decisions are recorded as answering `delivery`, a chat
    /// platform's id for the message (a Slack event id). A delivery decided
    /// before, in this run or in the last hour of earlier ones, is refused
    /// with [`EngineError::AlreadyHandled`]: a redelivery never runs twice.
    pub fn for_delivery(&self, delivery: &str) -> Engine {
        Engine {
            delivery: Some(Arc::from(delivery)),
            ..self.clone()
        }
    }

    /// Whether `delivery` was decided already (see [`Engine::for_delivery`]).
    pub fn delivered(&self, delivery: &str) -> bool {
        self.inner.core().deliveries.contains(delivery)
    }

    /// `deploy <ref> to dev|<env>`: resolves the ref, then builds (once per
    /// commit) and deploys it; a new dev env is cloned from staging.
    pub fn deploy(
        &self,
        actor: &Actor,
        app: Option<AppName>,
        git_ref: GitRef,
        target: Target,
    ) -> Result<Reply, EngineError> {
        let commit = match self.inner.config.app(app.as_ref()) {
            Some(a) => self.inner.resolver.resolve(&a.name, &git_ref),
            None => Err("unknown app".to_owned()),
        };
        self.call(
            actor,
            Call::Deploy {
                app,
                git_ref,
                commit,
                target,
            },
        )
    }

    /// `promote <from> to <to>`: the same release, never rebuilt.
    pub fn promote(
        &self,
        actor: &Actor,
        app: Option<AppName>,
        from: EnvName,
        to: EnvName,
    ) -> Result<Reply, EngineError> {
        self.call(actor, Call::Promote { app, from, to })
    }

    /// `lock <env> for <reason>`; `force` steals it (leads only).
    pub fn lock(
        &self,
        actor: &Actor,
        app: Option<AppName>,
        env: EnvName,
        reason: Option<String>,
        duration: Option<Span>,
        force: bool,
    ) -> Result<Reply, EngineError> {
        self.call(
            actor,
            Call::Lock {
                app,
                env,
                reason,
                duration,
                force,
            },
        )
    }

    pub fn unlock(
        &self,
        actor: &Actor,
        app: Option<AppName>,
        env: EnvName,
    ) -> Result<Reply, EngineError> {
        self.call(actor, Call::Unlock { app, env })
    }

    /// More time for a lock one holds, or for a dev env's life.
    pub fn extend(
        &self,
        actor: &Actor,
        app: Option<AppName>,
        env: EnvName,
        duration: Option<Span>,
    ) -> Result<Reply, EngineError> {
        self.call(actor, Call::Extend { app, env, duration })
    }

    pub fn queue_join(
        &self,
        actor: &Actor,
        app: Option<AppName>,
        env: EnvName,
        git_ref: Option<GitRef>,
    ) -> Result<Reply, EngineError> {
        self.call(actor, Call::QueueJoin { app, env, git_ref })
    }

    pub fn queue_leave(
        &self,
        actor: &Actor,
        app: Option<AppName>,
        env: EnvName,
    ) -> Result<Reply, EngineError> {
        self.call(actor, Call::QueueLeave { app, env })
    }

    pub fn destroy(
        &self,
        actor: &Actor,
        app: Option<AppName>,
        env: EnvName,
    ) -> Result<Reply, EngineError> {
        self.call(actor, Call::Destroy { app, env })
    }

    pub fn suspend(
        &self,
        actor: &Actor,
        app: Option<AppName>,
        env: EnvName,
    ) -> Result<Reply, EngineError> {
        self.call(actor, Call::Suspend { app, env })
    }

    pub fn wake(
        &self,
        actor: &Actor,
        app: Option<AppName>,
        env: EnvName,
    ) -> Result<Reply, EngineError> {
        self.call(actor, Call::Wake { app, env })
    }

    /// Cancels the operation running on `env`.
    pub fn cancel(
        &self,
        actor: &Actor,
        app: Option<AppName>,
        env: EnvName,
    ) -> Result<Reply, EngineError> {
        self.call(actor, Call::Cancel { app, env })
    }

    /// `rollback <env> [to <release>]`: an earlier release, redeployed.
    pub fn rollback(
        &self,
        actor: &Actor,
        app: Option<AppName>,
        env: EnvName,
        release: Option<ReleaseId>,
    ) -> Result<Reply, EngineError> {
        self.call(actor, Call::Rollback { app, env, release })
    }

    /// `reset staging to prod`: puts `source`'s release back on `env`.
    pub fn reset(
        &self,
        actor: &Actor,
        app: Option<AppName>,
        env: EnvName,
        source: EnvName,
    ) -> Result<Reply, EngineError> {
        self.call(actor, Call::Reset { app, env, source })
    }

    /// `give <env> to @user`.
    pub fn transfer(
        &self,
        actor: &Actor,
        app: Option<AppName>,
        env: EnvName,
        to: Actor,
    ) -> Result<Reply, EngineError> {
        self.call(actor, Call::Transfer { app, env, to })
    }

    /// A request reached a suspended env (the router calls this): wake it,
    /// whoever sent the request. Refused only if the env is missing, busy or
    /// not suspended.
    pub fn wake_on_request(
        &self,
        app: Option<AppName>,
        env: EnvName,
    ) -> Result<Reply, EngineError> {
        self.call(&Actor::rushbox(), Call::WakeOnRequest { app, env })
    }

    /// The env served a request (the router calls this): it is not idle.
    /// Written at most once a minute per env, and not audited when skipped.
    pub fn record_activity(&self, app: Option<AppName>, env: EnvName) -> Result<(), EngineError> {
        self.call(&Actor::rushbox(), Call::Activity { app, env })
            .map(|_| ())
    }

    /// Lets time act: lock leases and queue claims run out, dev envs past
    /// their time to live are destroyed and idle ones suspended.
    /// The runtime calls it periodically.
    pub fn tick(&self, now: Time) -> Result<Reply, EngineError> {
        self.inner.call(&Actor::rushbox(), &Call::Tick, now, None)
    }

    fn default_app(&self, app: Option<&AppName>) -> Result<AppName, EngineError> {
        match self.inner.config.app(app) {
            Some(a) => Ok(a.name.clone()),
            None => Err(EngineError::Refused(Refusal {
                blockers: vec![Blocker::NoSuchApp {
                    app: app
                        .cloned()
                        .unwrap_or_else(|| crate::config::AppConfig::default().name),
                }],
            })),
        }
    }

    /// `envs`: every env, of one app and/or stage when given.
    pub fn list_envs(&self, app: Option<&AppName>, stage: Option<Stage>) -> Vec<EnvView> {
        let now = self.inner.clock.now();
        let core = self.inner.core();
        core.state
            .envs
            .values()
            .filter(|e| app.is_none_or(|a| &e.app == a))
            .filter(|e| stage.is_none_or(|s| e.name.stage() == Some(s)))
            .map(|e| {
                EnvView::of(
                    &core.state,
                    e,
                    &self.inner.config.times,
                    self.inner.provider.as_ref(),
                    now,
                )
            })
            .collect()
    }

    /// `status <env>`.
    pub fn status(&self, app: Option<&AppName>, env: &EnvName) -> Result<EnvStatus, EngineError> {
        let app = self.default_app(app)?;
        let now = self.inner.clock.now();
        let core = self.inner.core();
        let key = EnvKey::new(&app, env);
        let Some(e) = core.state.env(&key) else {
            return Err(EngineError::Refused(Refusal {
                blockers: vec![Blocker::NoSuchEnv { env: env.clone() }],
            }));
        };
        let last_operation = core
            .state
            .operations
            .values()
            .rev()
            .find(|op| op.key() == key)
            .cloned();
        Ok(EnvStatus {
            view: EnvView::of(
                &core.state,
                e,
                &self.inner.config.times,
                self.inner.provider.as_ref(),
                now,
            ),
            last_operation,
        })
    }

    /// `staging queue` / `who has staging`: the lock and who waits for it.
    pub fn queue_status(
        &self,
        app: Option<&AppName>,
        env: &EnvName,
    ) -> Result<QueueView, EngineError> {
        let app = self.default_app(app)?;
        let now = self.inner.clock.now();
        let core = self.inner.core();
        let key = EnvKey::new(&app, env);
        Ok(QueueView::of(&core.state, &key, env.clone(), now))
    }

    /// `who owns <env>`.
    pub fn owner(
        &self,
        app: Option<&AppName>,
        env: &EnvName,
    ) -> Result<Option<Actor>, EngineError> {
        Ok(self.status(app, env)?.view.owner)
    }

    /// `history [<env>]`: the last `limit` audit entries of the app (and env).
    pub fn history(
        &self,
        app: Option<&AppName>,
        env: Option<&EnvName>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, EngineError> {
        let app = self.default_app(app)?;
        Ok(self.inner.store.audit(
            |e| e.app.as_ref() == Some(&app) && env.is_none_or(|env| e.env.as_ref() == Some(env)),
            limit,
        )?)
    }

    /// The whole audit log, oldest first.
    pub fn audit_log(&self) -> Result<Vec<AuditEntry>, EngineError> {
        Ok(self.inner.store.audit(|_| true, usize::MAX)?)
    }

    /// Every env by name, as of the last decision that changed one: read
    /// without the engine's lock, so a request never waits for a decision.
    pub fn env_index(&self) -> Arc<EnvIndex> {
        self.inner.index.current()
    }

    /// A copy of the state the policy decides on.
    pub fn snapshot(&self) -> State {
        self.inner.core().state.clone()
    }

    /// The releases of an app, oldest first.
    pub fn releases(
        &self,
        app: Option<&AppName>,
    ) -> Result<Vec<crate::model::Release>, EngineError> {
        let app = self.default_app(app)?;
        let core = self.inner.core();
        let mut list: Vec<_> = core
            .state
            .releases
            .values()
            .filter(|r| r.app == app)
            .cloned()
            .collect();
        list.sort_by_key(|r| (r.built_at, r.id.trim_start_matches('r').parse::<u64>().ok()));
        Ok(list)
    }
}

impl Inner {
    fn core(&self) -> MutexGuard<'_, Core> {
        // A panic elsewhere while holding the lock leaves the state as last
        // committed (effects are applied only after a successful write).
        self.core.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Decide, write, apply: the one path every decision takes. The refusal
    /// or the plan is written to the store (not yet flushed) and the plan
    /// applied to the state, so the next decision sees it; the caller must
    /// [`Store::sync`] the returned [`Written`] before telling anyone.
    fn groups(&self) -> RwLockReadGuard<'_, Groups> {
        self.groups.read().unwrap_or_else(|p| p.into_inner())
    }

    fn decide_and_write(
        &self,
        core: &mut Core,
        actor: &Actor,
        call: &Call,
        now: Time,
        delivery: Option<&str>,
    ) -> Result<(Result<policy::Plan, Refusal>, Written), EngineError> {
        // After a failed flush the state may be ahead of the disk: decide nothing more.
        self.store.check_poisoned()?;
        let mut decision =
            policy::decide_and_audit(&core.state, &self.config, &self.groups(), actor, call, now);
        // The delivery is written with the decision, so both or neither survive a crash.
        let mut record = None;
        if let (Some(id), Some(audit)) = (delivery, decision.audit.as_mut()) {
            audit.delivery = Some(id.to_owned());
            record = Some(id);
        }
        let effects = match &decision.outcome {
            Ok(plan) => plan.effects.as_slice(),
            Err(_) => &[],
        };
        let written = self.store.write(effects, decision.audit)?;
        if let Some(id) = record {
            core.deliveries.insert(id.to_owned(), now);
        }
        if let Ok(plan) = &decision.outcome {
            self.index
                .apply(&mut core.state, &plan.effects, &self.config);
        }
        Ok((decision.outcome, written))
    }

    /// Runs `op` on this thread with the lock held (an effect-free
    /// provider: it returns at once), then decides and writes its end. The
    /// end's notices go to `ended`; the caller syncs the returned ticket
    /// before anyone hears of it, then tells them.
    fn run_here(
        &self,
        core: &mut Core,
        op: &Operation,
        token: &CancelToken,
        events: &mpsc::UnboundedSender<Progress>,
        now: Time,
        ended: &mut Vec<Notice>,
    ) -> Result<Written, EngineError> {
        // A dropped receiver only means nobody is watching.
        let _ = events.send(Progress::Started);
        let result = ops::run(self.provider.as_ref(), op, token, &mut |line| {
            keep_step(&mut core.state, op.id, line);
            let _ = events.send(Progress::Step(line.to_owned()));
        });
        core.running.remove(&op.id);
        let call = Call::Finish {
            operation: op.id,
            result: result.clone(),
        };
        let (outcome, written) =
            self.decide_and_write(core, &Actor::rushbox(), &call, now, None)?;
        let stored = match outcome {
            Ok(plan) => {
                ended.extend(plan.notices);
                Ok(())
            }
            Err(refusal) => Err(EngineError::Refused(refusal).to_string()),
        };
        let _ = events.send(ops::end_event(&result, stored));
        Ok(written)
    }

    /// What a call does once its decision is durable: start its operations
    /// and tell people.
    fn begin(
        self: &Arc<Self>,
        to_start: Vec<(Operation, CancelToken, mpsc::UnboundedSender<Progress>)>,
        notices: &[Notice],
    ) {
        for (op, token, tx) in to_start {
            ops::spawn(Arc::clone(self), op, token, tx);
        }
        self.tell(notices);
    }

    fn tell(&self, notices: &[Notice]) {
        for notice in notices {
            // No subscriber is fine: replies carry their notices too.
            let _ = self.notices.send(notice.clone());
        }
    }

    /// A call from a person (or the clock): decided and written under the
    /// lock, flushed outside it, then its operations started and its notices sent.
    fn call(
        self: &Arc<Self>,
        actor: &Actor,
        call: &Call,
        now: Time,
        delivery: Option<&str>,
    ) -> Result<Reply, EngineError> {
        let mut core = self.core();
        if let Some(id) = delivery
            && core.deliveries.contains(id)
        {
            return Err(EngineError::AlreadyHandled {
                delivery: id.to_owned(),
            });
        }
        let (outcome, written) = self.decide_and_write(&mut core, actor, call, now, delivery)?;
        let plan = match outcome {
            Ok(plan) => plan,
            Err(refusal) => {
                drop(core);
                // A refusal is an answer too: its audit entry is on disk first.
                if !held::defer(self, written, &mut Vec::new(), &[]) {
                    self.store.sync(written)?;
                }
                return Err(EngineError::Refused(refusal));
            }
        };
        if let Some(id) = plan.cancel
            && let Some(token) = core.running.get(&id)
        {
            token.cancel();
        }
        // Tokens are registered now, so a cancel decided before the flush
        // finds them; the threads start only once the decision is durable.
        let mut operations = Vec::new();
        let mut to_start = Vec::new();
        for id in &plan.start {
            let Some(op) = core.state.operations.get(id).cloned() else {
                continue;
            };
            let token = CancelToken::new();
            core.running.insert(op.id, token.clone());
            let (tx, rx) = mpsc::unbounded_channel();
            operations.push(OperationHandle::new(&op, rx));
            to_start.push((op, token, tx));
        }
        // An effect-free provider's operations run to their end now, under
        // the lock: their ends are decided and written here, and the one
        // sync below covers the call and every end.
        let mut written = written;
        let mut ended = Vec::new();
        if self.provider.effect_free() {
            for (op, token, tx) in std::mem::take(&mut to_start) {
                written = self.run_here(&mut core, &op, &token, &tx, now, &mut ended)?;
            }
        }
        drop(core);
        let mut told = plan.notices.clone();
        told.extend(ended);
        if !held::defer(self, written, &mut to_start, &told) {
            self.store.sync(written)?;
            self.begin(to_start, &told);
        }
        Ok(Reply {
            message: plan.message,
            notices: plan.notices,
            operations,
        })
    }
}

impl OperationHost for Inner {
    fn provider(&self) -> &dyn Provider {
        self.provider.as_ref()
    }

    fn record_step(&self, operation: u64, line: &str) {
        keep_step(&mut self.core().state, operation, line);
    }

    fn finish(&self, operation: u64, result: Finish) -> Result<(), String> {
        let now = self.clock.now();
        let call = Call::Finish { operation, result };
        let mut core = self.core();
        core.running.remove(&operation);
        let (outcome, written) = self
            .decide_and_write(&mut core, &Actor::rushbox(), &call, now, None)
            .map_err(|e| e.to_string())?;
        drop(core);
        self.store.sync(written).map_err(|e| e.to_string())?;
        match outcome {
            Ok(plan) => {
                self.tell(&plan.notices);
                Ok(())
            }
            Err(refusal) => Err(EngineError::Refused(refusal).to_string()),
        }
    }
}

/// The most steps an operation keeps (the latest): `logs` shows the tail.
pub const STEPS_KEPT: usize = 1000;

/// Adds a step to the running operation in memory only: steps are not
/// decisions. The operation's record gets them when its end is written.
fn keep_step(state: &mut State, operation: u64, line: &str) {
    if let Some(op) = state.operations.get_mut(&operation) {
        if op.steps.len() >= STEPS_KEPT {
            op.steps.remove(0);
        }
        op.steps.push(line.to_owned());
    }
}
