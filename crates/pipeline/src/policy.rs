//! The rules, as one pure function: [`decide`] takes the state, a call, who
//! made it and the time, and returns a [`Plan`] (the changes, the reply, the
//! notices, the operations to start) or a [`Refusal`] listing every blocker
//! with the command that clears it. No I/O: the engine persists and acts.

use std::fmt;

use rushbox_command::{AppName, EnvName, GitRef, ReleaseId, Span, Stage, Target};

use crate::config::{Groups, PipelineConfig};
use crate::model::{
    Actor, AuditEntry, AuditOutcome, Effect, Env, EnvKey, EnvState, Lock, OpKind, OpState,
    Operation, Queue, QueueEntry, Release, Role, State, Time,
};
use crate::provider::{Action, Request};

/// A request to the pipeline, with everything I/O had to find out already
/// found (a ref is resolved to a commit before the policy sees it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    Deploy {
        app: Option<AppName>,
        git_ref: GitRef,
        /// The full commit the ref resolved to, or why it did not resolve.
        commit: Result<String, String>,
        target: Target,
    },
    Promote {
        app: Option<AppName>,
        from: EnvName,
        to: EnvName,
    },
    Lock {
        app: Option<AppName>,
        env: EnvName,
        reason: Option<String>,
        duration: Option<Span>,
        /// `steal`: take it from its holder (leads only).
        force: bool,
    },
    Unlock {
        app: Option<AppName>,
        env: EnvName,
    },
    Extend {
        app: Option<AppName>,
        env: EnvName,
        duration: Option<Span>,
    },
    QueueJoin {
        app: Option<AppName>,
        env: EnvName,
        git_ref: Option<GitRef>,
    },
    QueueLeave {
        app: Option<AppName>,
        env: EnvName,
    },
    Destroy {
        app: Option<AppName>,
        env: EnvName,
    },
    Suspend {
        app: Option<AppName>,
        env: EnvName,
    },
    Wake {
        app: Option<AppName>,
        env: EnvName,
    },
    Cancel {
        app: Option<AppName>,
        env: EnvName,
    },
    Rollback {
        app: Option<AppName>,
        env: EnvName,
        release: Option<ReleaseId>,
    },
    Reset {
        app: Option<AppName>,
        env: EnvName,
        source: EnvName,
    },
    Transfer {
        app: Option<AppName>,
        env: EnvName,
        to: Actor,
    },
    /// Someone used the env (the router saw a request): it is not idle.
    Activity {
        app: Option<AppName>,
        env: EnvName,
    },
    /// A request reached a suspended env: start it again. Anyone who can
    /// reach the address may cause this; it changes no release, lock or owner.
    WakeOnRequest {
        app: Option<AppName>,
        env: EnvName,
    },
    /// Time passed: leases, claims, TTLs and idle times run out.
    Tick,
    /// rushbox started: operations a crash left running are interrupted,
    /// locks whose lease ran out meanwhile are freed.
    Reconcile,
    /// An operation ended (the ops runner reports it).
    Finish {
        operation: u64,
        result: Finish,
    },
}

/// How an operation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finish {
    Succeeded { address: Option<String> },
    Failed { error: String },
    Cancelled,
}

impl Call {
    /// The app (as named) and env the call is about, for the audit log.
    pub fn subject(&self) -> (Option<AppName>, Option<EnvName>) {
        match self {
            Call::Deploy {
                app,
                target,
                git_ref,
                ..
            } => (
                app.clone(),
                Some(match target {
                    Target::Env(env) => env.clone(),
                    Target::Dev => EnvName::for_branch(git_ref),
                }),
            ),
            Call::Promote { app, to, .. } => (app.clone(), Some(to.clone())),
            Call::Lock { app, env, .. }
            | Call::Unlock { app, env }
            | Call::Extend { app, env, .. }
            | Call::QueueJoin { app, env, .. }
            | Call::QueueLeave { app, env }
            | Call::Destroy { app, env }
            | Call::Suspend { app, env }
            | Call::Wake { app, env }
            | Call::Cancel { app, env }
            | Call::Rollback { app, env, .. }
            | Call::Reset { app, env, .. }
            | Call::Transfer { app, env, .. }
            | Call::Activity { app, env }
            | Call::WakeOnRequest { app, env } => (app.clone(), Some(env.clone())),
            Call::Tick | Call::Reconcile | Call::Finish { .. } => (None, None),
        }
    }

    /// The call as a person types it, to offer again (`deploy foo to
    /// staging`); `None` for what rushbox does by itself.
    pub fn command(&self) -> Option<String> {
        match self {
            Call::Activity { .. }
            | Call::WakeOnRequest { .. }
            | Call::Tick
            | Call::Reconcile
            | Call::Finish { .. } => None,
            _ => Some(self.to_string()),
        }
    }
}

impl fmt::Display for Call {
    /// The call in the words of the command language.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let app = |a: &Option<AppName>| a.as_ref().map(|a| format!("{a}/")).unwrap_or_default();
        match self {
            Call::Deploy {
                app: a,
                git_ref,
                target,
                ..
            } => write!(f, "deploy {}{git_ref} to {target}", app(a)),
            Call::Promote { app: a, from, to } => write!(f, "promote {}{from} to {to}", app(a)),
            Call::Lock {
                app: a,
                env,
                reason,
                force,
                ..
            } => {
                let verb = if *force { "steal" } else { "lock" };
                write!(f, "{verb} {}{env}", app(a))?;
                match reason {
                    Some(r) => write!(f, " for {r}"),
                    None => Ok(()),
                }
            }
            Call::Unlock { app: a, env } => write!(f, "unlock {}{env}", app(a)),
            Call::Extend { app: a, env, .. } => write!(f, "extend {}{env}", app(a)),
            Call::QueueJoin { app: a, env, .. } => write!(f, "queue me for {}{env}", app(a)),
            Call::QueueLeave { app: a, env } => write!(f, "leave the {}{env} queue", app(a)),
            Call::Destroy { app: a, env } => write!(f, "destroy {}{env}", app(a)),
            Call::Suspend { app: a, env } => write!(f, "suspend {}{env}", app(a)),
            Call::Wake { app: a, env } => write!(f, "wake {}{env}", app(a)),
            Call::Cancel { app: a, env } => write!(f, "cancel {}{env}", app(a)),
            Call::Rollback {
                app: a,
                env,
                release,
            } => match release {
                Some(r) => write!(f, "rollback {}{env} to {r}", app(a)),
                None => write!(f, "rollback {}{env}", app(a)),
            },
            Call::Reset {
                app: a,
                env,
                source,
            } => write!(f, "reset {}{env} to {source}", app(a)),
            Call::Transfer { app: a, env, to } => write!(f, "give {}{env} to {to}", app(a)),
            Call::Activity { app: a, env } => write!(f, "activity on {}{env}", app(a)),
            Call::WakeOnRequest { app: a, env } => {
                write!(f, "wake {}{env} for a request", app(a))
            }
            Call::Tick => f.write_str("tick"),
            Call::Reconcile => f.write_str("start-up reconcile"),
            Call::Finish { operation, result } => match result {
                Finish::Succeeded { .. } => write!(f, "operation {operation} succeeded"),
                Finish::Failed { error } => write!(f, "operation {operation} failed: {error}"),
                Finish::Cancelled => write!(f, "operation {operation} cancelled"),
            },
        }
    }
}

/// A message for someone other than the caller (a lock passed on or stolen).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub to: Actor,
    pub text: String,
}

/// What a granted call changes and says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Written in one transaction, in order.
    pub effects: Vec<Effect>,
    /// The reply to the caller.
    pub message: String,
    pub notices: Vec<Notice>,
    /// Operations (already in `effects`) to start once the effects are stored.
    pub start: Vec<u64>,
    /// The running operation to cancel.
    pub cancel: Option<u64>,
}

impl Plan {
    /// True when nothing changes (a quiet tick, a repeated finish).
    pub fn is_empty(&self) -> bool {
        self.effects.is_empty() && self.cancel.is_none()
    }
}

/// Which limit a new dev env would break.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitScope {
    PerPerson,
    Total,
}

/// One reason a call cannot go ahead, with what a person can do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocker {
    NoSuchApp {
        app: AppName,
    },
    NeedsRole {
        role: Role,
        to: String,
    },
    UnknownRef {
        git_ref: GitRef,
        why: String,
    },
    LockedBy {
        env: EnvName,
        holder: Actor,
        reason: String,
        since: Time,
        /// Seconds it has been held, at the time of the refusal.
        held_for: u64,
    },
    /// The lock was passed to the next in line, who has until `claim_by` to take it.
    LockOffered {
        env: EnvName,
        to: Actor,
        /// Seconds they have left to claim it.
        claim_within: u64,
    },
    QueuePosition {
        env: EnvName,
        position: usize,
        length: usize,
    },
    NotOwner {
        env: EnvName,
        owner: Actor,
    },
    EnvBusy {
        env: EnvName,
        operation: u64,
        kind: OpKind,
        by: Actor,
    },
    LimitReached {
        scope: LimitScope,
        max: usize,
        envs: Vec<EnvName>,
    },
    /// The person an env would be given to already has as many as one may.
    RecipientAtLimit {
        to: Actor,
        max: usize,
    },
    NoSuchEnv {
        env: EnvName,
    },
    NoRelease {
        env: EnvName,
    },
    NoSuchRelease {
        env: EnvName,
        release: String,
    },
    NothingToRollBack {
        env: EnvName,
    },
    ReasonRequired {
        env: EnvName,
    },
    NotLocked {
        env: EnvName,
    },
    NotHolder {
        env: EnvName,
        holder: Actor,
    },
    AlreadyHolder {
        env: EnvName,
    },
    AlreadyQueued {
        env: EnvName,
        position: usize,
    },
    NotQueued {
        env: EnvName,
    },
    NoOperation {
        env: EnvName,
    },
    OutOfOrder {
        from: EnvName,
        to: EnvName,
    },
    NotDevEnv {
        env: EnvName,
    },
    WrongState {
        env: EnvName,
        state: EnvState,
    },
}

/// `5m`, `2h 10m`, `3d 4h`.
pub fn human_duration(secs: u64) -> String {
    let (d, h, m) = (secs / 86400, secs % 86400 / 3600, secs % 3600 / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{secs}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, 0) => format!("{h}h"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, 0, _) => format!("{d}d"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

impl fmt::Display for Blocker {
    /// What is in the way, in a sentence.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Blocker::NoSuchApp { app } => write!(f, "there is no app `{app}` in rushbox's config"),
            Blocker::NeedsRole { role, to } => write!(f, "only a {role} may {to}"),
            Blocker::UnknownRef { git_ref, why } => {
                write!(f, "`{git_ref}` is not a commit I can find: {why}")
            }
            Blocker::LockedBy {
                env,
                holder,
                reason,
                held_for,
                ..
            } => write!(
                f,
                "{env} is locked by {holder} for \"{reason}\" since {} ago",
                human_duration(*held_for)
            ),
            Blocker::LockOffered { env, to, .. } => {
                write!(f, "{env} was passed to {to}, next in the queue")
            }
            Blocker::QueuePosition {
                env,
                position,
                length,
            } => write!(f, "you are #{position} of {length} in the {env} queue"),
            Blocker::NotOwner { env, owner } => write!(f, "{env} belongs to {owner}"),
            Blocker::EnvBusy {
                env,
                operation,
                kind,
                by,
            } => write!(
                f,
                "{env} is busy with operation {operation} ({kind}, asked by {by})"
            ),
            Blocker::LimitReached { scope, max, envs } => {
                let list: Vec<&str> = envs.iter().map(EnvName::as_str).collect();
                match scope {
                    LimitScope::PerPerson => write!(
                        f,
                        "you already have {max} dev envs, the most one person may have ({})",
                        list.join(", ")
                    ),
                    LimitScope::Total => {
                        write!(f, "all {max} dev envs the team may have are in use")
                    }
                }
            }
            Blocker::RecipientAtLimit { to, max } => {
                write!(
                    f,
                    "{to} already has {max} dev envs, the most one person may have"
                )
            }
            Blocker::NoSuchEnv { env } => write!(f, "there is no env {env}"),
            Blocker::NoRelease { env } => write!(f, "{env} has no release yet"),
            Blocker::NoSuchRelease { env, release } => {
                write!(f, "there is no release `{release}` of {env}'s app")
            }
            Blocker::NothingToRollBack { env } => {
                write!(f, "{env} has no earlier release to roll back to")
            }
            Blocker::ReasonRequired { env } => {
                write!(
                    f,
                    "a lock on {env} needs a reason, so others know what it is for"
                )
            }
            Blocker::NotLocked { env } => write!(f, "{env} is not locked"),
            Blocker::NotHolder { env, holder } => {
                write!(f, "the {env} lock is {holder}'s, not yours")
            }
            Blocker::AlreadyHolder { env } => write!(f, "you already hold the {env} lock"),
            Blocker::AlreadyQueued { env, position } => {
                write!(f, "you are already #{position} in the {env} queue")
            }
            Blocker::NotQueued { env } => write!(f, "you are not in the {env} queue"),
            Blocker::NoOperation { env } => write!(f, "nothing is running on {env}"),
            Blocker::OutOfOrder { from, to } => {
                write!(f, "{from} can't be promoted straight to {to}")
            }
            Blocker::NotDevEnv { env } => {
                write!(f, "{env} is not a dev env; only dev envs have owners")
            }
            Blocker::WrongState { env, state } => write!(f, "{env} is {state}"),
        }
    }
}

impl Blocker {
    /// What to type (or whom to ask) to clear it.
    pub fn fix(&self) -> String {
        match self {
            Blocker::NoSuchApp { .. } => {
                "name a configured app (`envs` lists them) or ask an admin to add it".to_owned()
            }
            Blocker::NeedsRole { role, .. } => match role {
                Role::Lead => "ask a lead".to_owned(),
                Role::Developer => "ask a lead to add you to rushbox's developers".to_owned(),
            },
            Blocker::UnknownRef { .. } => {
                "check the spelling and push the branch, then deploy again".to_owned()
            }
            Blocker::LockedBy { env, holder, .. } => {
                format!("`queue me for {env}`, or ask {holder} to `unlock {env}`")
            }
            Blocker::LockOffered {
                env,
                to,
                claim_within,
            } => format!(
                "`queue me for {env}`; {to} has {} to claim it before it passes on",
                human_duration(*claim_within)
            ),
            Blocker::QueuePosition { env, .. } => format!(
                "wait: you will be told when it is your turn (`leave the {env} queue` to give up)"
            ),
            Blocker::NotOwner { owner, .. } => format!("ask {owner} or a lead"),
            Blocker::EnvBusy { env, .. } => {
                format!("wait for it to finish, or `cancel {env}`")
            }
            Blocker::LimitReached { envs, .. } => match envs.first() {
                Some(env) => format!("`destroy {env}` (or another you no longer need)"),
                None => "`destroy` a dev env you no longer need, or ask a lead".to_owned(),
            },
            Blocker::RecipientAtLimit { to, .. } => {
                format!("ask {to} to `destroy` one of theirs first")
            }
            Blocker::NoSuchEnv { .. } => "`envs` lists the envs there are".to_owned(),
            Blocker::NoRelease { env } => format!("`deploy <branch> to {env}` first"),
            Blocker::NoSuchRelease { env, .. } => {
                format!("`history {env}` lists its releases")
            }
            Blocker::NothingToRollBack { env } => {
                format!("`rollback {env} to <release>` (see `history {env}`)")
            }
            Blocker::ReasonRequired { env } => format!("`lock {env} for <reason>`"),
            Blocker::NotLocked { env } => format!("`lock {env} for <reason>` to take it"),
            Blocker::NotHolder { env, holder } => {
                format!("ask {holder} to `unlock {env}`, or ask a lead")
            }
            Blocker::AlreadyHolder { env } => {
                format!("deploy to {env}, or `unlock {env}` when done")
            }
            Blocker::AlreadyQueued { env, .. } => {
                format!("wait for your turn, or `leave the {env} queue`")
            }
            Blocker::NotQueued { env } => format!("`queue me for {env}` to join it"),
            Blocker::NoOperation { env } => format!("`status {env}` shows its state"),
            Blocker::OutOfOrder { from, to } => match to.stage() {
                Some(Stage::Prod) => format!("`promote {from} to staging` first"),
                _ if from.stage() == Some(Stage::Prod) => format!("`reset {to} to {from}`"),
                _ => "promote along dev → staging → prod".to_owned(),
            },
            Blocker::NotDevEnv { .. } => "`give` works on dev envs only".to_owned(),
            Blocker::WrongState { env, state } => match state {
                EnvState::Suspended => format!("`wake {env}`"),
                EnvState::Running => format!("`status {env}`: it is already running"),
                _ => format!("`status {env}`, or `destroy {env}`"),
            },
        }
    }
}

/// Why a call was refused: every blocker at once, so one answer says all
/// that stands in the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub blockers: Vec<Blocker>,
}

impl Refusal {
    fn one(blocker: Blocker) -> Refusal {
        Refusal {
            blockers: vec![blocker],
        }
    }

    /// Each blocker with its fix, one line each (for the audit log).
    pub fn lines(&self) -> Vec<String> {
        self.blockers
            .iter()
            .map(|b| format!("{b} → {}", b.fix()))
            .collect()
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("I can't do that:")?;
        for b in &self.blockers {
            write!(f, "\n• {b} → {}", b.fix())?;
        }
        Ok(())
    }
}

impl std::error::Error for Refusal {}

/// Decides one call. Pure: the same inputs give the same plan.
pub fn decide(
    state: &State,
    config: &PipelineConfig,
    groups: &Groups,
    actor: &Actor,
    call: &Call,
    now: Time,
) -> Result<Plan, Refusal> {
    let mut d = Decider {
        state,
        config,
        actor,
        role: config.role_of(actor, groups),
        command: call.command(),
        now,
        plan: Plan::default(),
        blockers: Vec::new(),
    };
    match call {
        Call::Deploy {
            app,
            git_ref,
            commit,
            target,
        } => d.deploy(app.as_ref(), git_ref, commit, target)?,
        Call::Promote { app, from, to } => d.promote(app.as_ref(), from, to)?,
        Call::Lock {
            app,
            env,
            reason,
            duration,
            force,
        } => d.lock(app.as_ref(), env, reason.as_deref(), *duration, *force)?,
        Call::Unlock { app, env } => d.unlock(app.as_ref(), env)?,
        Call::Extend { app, env, duration } => d.extend(app.as_ref(), env, *duration)?,
        Call::QueueJoin { app, env, git_ref } => d.queue_join(app.as_ref(), env, git_ref)?,
        Call::QueueLeave { app, env } => d.queue_leave(app.as_ref(), env)?,
        Call::Destroy { app, env } => d.env_op(app.as_ref(), env, OpKind::Destroy)?,
        Call::Suspend { app, env } => d.env_op(app.as_ref(), env, OpKind::Suspend)?,
        Call::Wake { app, env } => d.env_op(app.as_ref(), env, OpKind::Wake)?,
        Call::Cancel { app, env } => d.cancel(app.as_ref(), env)?,
        Call::Rollback { app, env, release } => d.rollback(app.as_ref(), env, release.as_ref())?,
        Call::Reset { app, env, source } => d.reset(app.as_ref(), env, source)?,
        Call::Transfer { app, env, to } => d.transfer(app.as_ref(), env, to)?,
        Call::Activity { app, env } => d.activity(app.as_ref(), env)?,
        Call::WakeOnRequest { app, env } => d.wake_on_request(app.as_ref(), env)?,
        Call::Tick => d.tick(),
        Call::Reconcile => d.reconcile(),
        Call::Finish { operation, result } => d.finish(*operation, result),
    }
    Ok(d.plan)
}

/// A decision and the audit entry that records it (`None` only for a
/// tick, start-up or finish that changed nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub outcome: Result<Plan, Refusal>,
    pub audit: Option<AuditEntry>,
}

/// [`decide`], plus the audit entry the store writes in the same transaction:
/// every refusal and every change is logged.
pub fn decide_and_audit(
    state: &State,
    config: &PipelineConfig,
    groups: &Groups,
    actor: &Actor,
    call: &Call,
    now: Time,
) -> Decision {
    let outcome = decide(state, config, groups, actor, call, now);
    let (app, env) = match call {
        Call::Finish { operation, .. } => match state.operations.get(operation) {
            Some(op) => (Some(op.app.clone()), Some(op.env.clone())),
            None => (None, None),
        },
        _ => {
            let (app, env) = call.subject();
            let app = config.app(app.as_ref()).map(|a| a.name.clone()).or(app);
            (app, env)
        }
    };
    let outcome_entry = match &outcome {
        Err(refusal) => Some(AuditOutcome::Refused {
            blockers: refusal.lines(),
        }),
        Ok(plan)
            if plan.is_empty()
                && matches!(
                    call,
                    Call::Tick | Call::Reconcile | Call::Finish { .. } | Call::Activity { .. }
                ) =>
        {
            None
        }
        Ok(plan) => Some(AuditOutcome::Done {
            message: plan.message.clone(),
        }),
    };
    let audit = outcome_entry.map(|outcome| AuditEntry {
        seq: 0,
        at: now,
        actor: actor.clone(),
        app,
        env,
        call: call.to_string(),
        outcome,
        delivery: None,
    });
    Decision { outcome, audit }
}

/// What holding the lock takes, for a call that needs it.
enum LockNeed {
    /// The caller holds it already.
    Held,
    /// Free, or offered to the caller: taking it is part of the plan.
    Take,
}

struct Decider<'a> {
    state: &'a State,
    config: &'a PipelineConfig,
    actor: &'a Actor,
    role: Option<Role>,
    /// The call in the command language, recorded on the operations it starts.
    command: Option<String>,
    now: Time,
    plan: Plan,
    blockers: Vec<Blocker>,
}

impl Decider<'_> {
    fn block(&mut self, b: Blocker) {
        self.blockers.push(b);
    }

    /// Ends the checks: a refusal if anything blocked.
    fn checked(&mut self) -> Result<(), Refusal> {
        if self.blockers.is_empty() {
            Ok(())
        } else {
            Err(Refusal {
                blockers: std::mem::take(&mut self.blockers),
            })
        }
    }

    fn app(&self, named: Option<&AppName>) -> Result<AppName, Refusal> {
        match self.config.app(named) {
            Some(app) => Ok(app.name.clone()),
            None => Err(Refusal::one(Blocker::NoSuchApp {
                app: named
                    .cloned()
                    .or_else(|| self.config.default_app.clone())
                    .unwrap_or_else(|| crate::config::AppConfig::default().name),
            })),
        }
    }

    fn is_lead(&self) -> bool {
        self.role == Some(Role::Lead)
    }

    fn need_developer(&mut self, to: &str) {
        if self.role.is_none() {
            self.block(Blocker::NeedsRole {
                role: Role::Developer,
                to: to.to_owned(),
            });
        }
    }

    fn need_lead(&mut self, to: &str) {
        if !self.is_lead() {
            self.block(Blocker::NeedsRole {
                role: Role::Lead,
                to: to.to_owned(),
            });
        }
    }

    /// A dev env is its owner's (or a lead's) to change.
    fn need_owner(&mut self, env: &Env) {
        if let Some(owner) = &env.owner
            && owner != self.actor
            && !self.is_lead()
        {
            self.block(Blocker::NotOwner {
                env: env.name.clone(),
                owner: owner.clone(),
            });
        }
    }

    fn need_idle(&mut self, env: &Env) {
        if let Some(id) = env.operation {
            let (kind, by) = match self.state.operations.get(&id) {
                Some(op) => (op.kind, op.requested_by.clone()),
                None => (OpKind::Deploy, Actor::rushbox()),
            };
            self.block(Blocker::EnvBusy {
                env: env.name.clone(),
                operation: id,
                kind,
                by,
            });
        }
    }

    /// Someone else's lock blocks; with `take`, a free lock is taken.
    fn need_lock(&mut self, key: &EnvKey, take: bool) -> Option<LockNeed> {
        match self.state.locks.get(key) {
            None => take.then_some(LockNeed::Take),
            Some(lock) if &lock.holder == self.actor => Some(if lock.is_offer() {
                LockNeed::Take
            } else {
                LockNeed::Held
            }),
            Some(lock) => {
                self.block_on_lock(key, lock);
                None
            }
        }
    }

    fn block_on_lock(&mut self, key: &EnvKey, lock: &Lock) {
        let env = key.env.clone();
        match lock.claim_by {
            Some(claim_by) => self.block(Blocker::LockOffered {
                env: env.clone(),
                to: lock.holder.clone(),
                claim_within: claim_by.saturating_sub(self.now),
            }),
            None => self.block(Blocker::LockedBy {
                env: env.clone(),
                holder: lock.holder.clone(),
                reason: lock.reason.clone(),
                since: lock.since,
                held_for: self.now.saturating_sub(lock.since),
            }),
        }
        let queue = self.state.queue(key);
        if let Some(position) = queue.position(self.actor) {
            self.block(Blocker::QueuePosition {
                env,
                position,
                length: queue.waiting.len(),
            });
        }
    }

    /// The caller takes (or claims) the lock and leaves the queue if in it.
    fn take_lock(&mut self, key: &EnvKey, reason: &str, lease: u64) {
        self.plan.effects.push(Effect::PutLock(
            key.clone(),
            Lock {
                holder: self.actor.clone(),
                reason: reason.to_owned(),
                since: self.now,
                expires_at: self.now + lease,
                claim_by: None,
            },
        ));
        let mut queue = self.state.queue(key);
        if queue.position(self.actor).is_some() {
            queue.waiting.retain(|e| &e.actor != self.actor);
            self.plan.effects.push(Effect::PutQueue(key.clone(), queue));
        }
    }

    /// Frees the lock: it passes to the head of the queue, who is told, or is removed.
    fn pass_lock(&mut self, key: &EnvKey, queue: Option<Queue>) {
        let mut queue = queue.unwrap_or_else(|| self.state.queue(key));
        if queue.waiting.is_empty() {
            self.plan.effects.push(Effect::RemoveLock(key.clone()));
            return;
        }
        let head = queue.waiting.remove(0);
        let claim_by = self.now + self.config.times.queue_claim;
        let reason = match &head.git_ref {
            Some(r) => format!("deploy {r} (from the queue)"),
            None => "from the queue".to_owned(),
        };
        self.plan.effects.push(Effect::PutLock(
            key.clone(),
            Lock {
                holder: head.actor.clone(),
                reason,
                since: self.now,
                expires_at: self.now + self.config.times.lock_lease,
                claim_by: Some(claim_by),
            },
        ));
        self.plan.effects.push(Effect::PutQueue(key.clone(), queue));
        let env = &key.env;
        self.plan.notices.push(Notice {
            to: head.actor,
            text: format!(
                "It's your turn: the {env} lock is yours. Claim it within {} with `lock {env} for <reason>` or by deploying to {env}, or it passes to the next in line.",
                human_duration(self.config.times.queue_claim)
            ),
        });
    }

    fn new_operation(&mut self, key: &EnvKey, kind: OpKind, requests: Vec<Request>) -> u64 {
        let id = self.state.next_operation_id() + self.plan.start.len() as u64;
        self.plan.effects.push(Effect::PutOperation(Operation {
            id,
            app: key.app.clone(),
            env: key.env.clone(),
            kind,
            requested_by: self.actor.clone(),
            started_at: self.now,
            finished_at: None,
            state: OpState::Running,
            requests,
            steps: Vec::new(),
            command: self.command.clone(),
        }));
        self.plan.start.push(id);
        id
    }

    fn new_env(&self, key: &EnvKey, owner: Option<Actor>) -> Env {
        let dev = key.env.stage() == Some(Stage::Dev);
        Env {
            app: key.app.clone(),
            name: key.env.clone(),
            state: EnvState::Creating,
            owner: if dev { owner } else { None },
            branch: None,
            commit: None,
            release: None,
            previous_releases: Vec::new(),
            address: None,
            created_at: self.now,
            last_activity: self.now,
            expires_at: dev.then_some(self.now + self.config.times.dev_ttl),
            expiry_warned: false,
            operation: None,
        }
    }

    fn request(&self, action: Action, key: &EnvKey) -> Request {
        Request {
            action,
            app: key.app.clone(),
            env: key.env.clone(),
            git_ref: None,
            commit: None,
            release: None,
            source_env: None,
        }
    }

    /// Putting `release` on the env at `key`, from `git_ref`: the env's own
    /// branch, which need not be the one that built the release's commit.
    fn deploy_request(&self, key: &EnvKey, release: &Release, git_ref: Option<GitRef>) -> Request {
        Request {
            git_ref,
            commit: Some(release.commit.clone()),
            release: Some(release.id.clone()),
            ..self.request(Action::Deploy, key)
        }
    }

    /// Starts putting `release` on the env at `key` from `git_ref` (creating
    /// the env when new, waking it when suspended) and marks the env busy.
    fn put_release(
        &mut self,
        key: &EnvKey,
        release: &Release,
        git_ref: Option<GitRef>,
        kind: OpKind,
    ) -> u64 {
        // An env whose creation failed or was interrupted is made again.
        let existing = self
            .state
            .env(key)
            .filter(|e| !(e.state == EnvState::Failed && e.release.is_none()))
            .cloned();
        let mut requests = Vec::new();
        let mut env = match existing {
            Some(env) => {
                if env.state == EnvState::Suspended {
                    requests.push(self.request(Action::Wake, key));
                }
                env
            }
            None => {
                let mut create = self.request(Action::Create, key);
                if key.env.stage() == Some(Stage::Dev) {
                    let staging = Some(EnvName::staging());
                    create.source_env = staging.clone();
                    requests.push(create);
                    requests.push(Request {
                        source_env: staging,
                        ..self.request(Action::CloneData, key)
                    });
                } else {
                    requests.push(create);
                }
                let owner = self
                    .state
                    .env(key)
                    .and_then(|e| e.owner.clone())
                    .unwrap_or_else(|| self.actor.clone());
                self.new_env(key, Some(owner))
            }
        };
        requests.push(self.deploy_request(key, release, git_ref));
        let kind = if env.state == EnvState::Creating && kind == OpKind::Deploy {
            OpKind::Create
        } else {
            kind
        };
        let id = self.new_operation(key, kind, requests);
        env.operation = Some(id);
        env.last_activity = self.now;
        self.plan.effects.push(Effect::PutEnv(env));
        id
    }

    /// The release an env runs, to be moved elsewhere; blocks when there is none.
    fn release_running_on(&mut self, key: &EnvKey) -> Option<Release> {
        let env = key.env.clone();
        match self.state.env(key).map(|e| e.release.as_ref()) {
            None => {
                self.block(Blocker::NoSuchEnv { env });
                None
            }
            Some(None) => {
                self.block(Blocker::NoRelease { env });
                None
            }
            Some(Some(id)) => self
                .state
                .releases
                .get(&(key.app.clone(), id.clone()))
                .cloned(),
        }
    }

    /// Takes the lock when the checks said so, then starts putting the release on the env.
    fn ship(
        &mut self,
        key: &EnvKey,
        release: &Release,
        git_ref: Option<GitRef>,
        kind: OpKind,
        take_lock_for: Option<String>,
    ) -> u64 {
        if let Some(reason) = take_lock_for {
            self.take_lock(key, &reason, self.config.times.lock_lease);
        }
        self.put_release(key, release, git_ref, kind)
    }

    /// The branch `release` ran from on the env at `key`: the env's own if it
    /// runs it now, else that of its last deployment there, else the one
    /// that built it. Two branches at one commit share a release, not a branch.
    fn branch_of(&self, key: &EnvKey, release: &Release) -> Option<GitRef> {
        if let Some(env) = self.state.env(key)
            && env.release.as_ref() == Some(&release.id)
            && env.branch.is_some()
        {
            return env.branch.clone();
        }
        self.state
            .operations
            .values()
            .rev()
            .filter(|op| op.key() == *key && op.state == OpState::Succeeded)
            .flat_map(|op| op.requests.iter().rev())
            .find(|r| r.action == Action::Deploy && r.release.as_ref() == Some(&release.id))
            .and_then(|r| r.git_ref.clone())
            .or_else(|| release.git_ref.clone())
    }

    fn release_for(&mut self, app: &AppName, git_ref: &GitRef, commit: &str) -> Release {
        if let Some(r) = self.state.release_of_commit(app, commit) {
            return r.clone();
        }
        let release = Release {
            id: self.state.next_release_id(app),
            app: app.clone(),
            commit: commit.to_owned(),
            git_ref: Some(git_ref.clone()),
            built_at: self.now,
            built_by: self.actor.clone(),
        };
        self.plan.effects.push(Effect::PutRelease(release.clone()));
        release
    }

    /// Checks for changing a non-dev env: prod needs a lead, staging needs
    /// the lock (taken when free), any env someone else locked is refused.
    /// Returns whether the plan must take the lock.
    fn need_pipeline_env(&mut self, key: &EnvKey, what: &str) -> bool {
        match key.env.stage() {
            Some(Stage::Prod) => {
                self.need_lead(&format!("{what} prod"));
                self.need_lock(key, false);
                false
            }
            Some(Stage::Staging) => matches!(self.need_lock(key, true), Some(LockNeed::Take)),
            _ => {
                self.need_lock(key, false);
                false
            }
        }
    }

    fn deploy(
        &mut self,
        app: Option<&AppName>,
        git_ref: &GitRef,
        commit: &Result<String, String>,
        target: &Target,
    ) -> Result<(), Refusal> {
        let app = self.app(app)?;
        let env_name = match target {
            Target::Dev => EnvName::for_branch(git_ref),
            Target::Env(env) => env.clone(),
        };
        let key = EnvKey::new(&app, &env_name);
        self.need_developer(&format!("deploy to {env_name}"));
        if let Err(why) = commit {
            self.block(Blocker::UnknownRef {
                git_ref: git_ref.clone(),
                why: why.clone(),
            });
        }
        let existing = self.state.env(&key);
        let mut take = false;
        if env_name.stage() == Some(Stage::Dev) {
            match existing {
                Some(env) => self.need_owner(env),
                None => self.need_dev_limits(),
            }
            self.need_lock(&key, false);
        } else {
            take = self.need_pipeline_env(&key, "deploy to");
        }
        if let Some(env) = existing {
            self.need_idle(env);
        }
        self.checked()?;
        let commit = match commit {
            Ok(commit) => commit,
            Err(why) => {
                return Err(Refusal::one(Blocker::UnknownRef {
                    git_ref: git_ref.clone(),
                    why: why.clone(),
                }));
            }
        };
        let release = self.release_for(&app, git_ref, commit);
        let reason = take.then(|| format!("deploy {git_ref}"));
        let id = self.ship(
            &key,
            &release,
            Some(git_ref.clone()),
            OpKind::Deploy,
            reason,
        );
        self.plan.message = format!(
            "Deploying {git_ref} ({}, release {}) to {env_name}: operation {id}.",
            short(commit),
            release.id
        );
        Ok(())
    }

    fn need_dev_limits(&mut self) {
        let dev_envs: Vec<&Env> = self.state.envs.values().filter(|e| e.is_dev()).collect();
        let mine: Vec<EnvName> = dev_envs
            .iter()
            .filter(|e| e.owner.as_ref() == Some(self.actor))
            .map(|e| e.name.clone())
            .collect();
        let limits = &self.config.limits;
        if mine.len() >= limits.dev_envs_per_person {
            self.block(Blocker::LimitReached {
                scope: LimitScope::PerPerson,
                max: limits.dev_envs_per_person,
                envs: mine.clone(),
            });
        }
        if dev_envs.len() >= limits.dev_envs_total {
            self.block(Blocker::LimitReached {
                scope: LimitScope::Total,
                max: limits.dev_envs_total,
                envs: mine,
            });
        }
    }

    fn promote(
        &mut self,
        app: Option<&AppName>,
        from: &EnvName,
        to: &EnvName,
    ) -> Result<(), Refusal> {
        let app = self.app(app)?;
        let from_key = EnvKey::new(&app, from);
        let to_key = EnvKey::new(&app, to);
        self.need_developer(&format!("promote to {to}"));
        let release = self.release_running_on(&from_key);
        let in_order = matches!(
            (from.stage(), to.stage()),
            (Some(Stage::Dev), Some(Stage::Staging)) | (Some(Stage::Staging), Some(Stage::Prod))
        );
        if !in_order {
            self.block(Blocker::OutOfOrder {
                from: from.clone(),
                to: to.clone(),
            });
        }
        let take = self.need_pipeline_env(&to_key, "promote to");
        if let Some(env) = self.state.env(&to_key) {
            self.need_idle(env);
        }
        self.checked()?;
        let Some(release) = release else {
            return Err(Refusal::one(Blocker::NoRelease { env: from.clone() }));
        };
        let reason = take.then(|| format!("promote {} from {from}", release.id));
        let branch = self.branch_of(&from_key, &release);
        let id = self.ship(&to_key, &release, branch, OpKind::Promote, reason);
        self.plan.message = format!(
            "Promoting release {} ({}) from {from} to {to}, no rebuild: operation {id}.",
            release.id,
            short(&release.commit)
        );
        Ok(())
    }

    fn lock(
        &mut self,
        app: Option<&AppName>,
        env: &EnvName,
        reason: Option<&str>,
        duration: Option<Span>,
        force: bool,
    ) -> Result<(), Refusal> {
        let app = self.app(app)?;
        let key = EnvKey::new(&app, env);
        self.need_developer(&format!("lock {env}"));
        let reason = reason.map(str::trim).filter(|r| !r.is_empty());
        if reason.is_none() {
            self.block(Blocker::ReasonRequired { env: env.clone() });
        }
        let lease = duration.map_or(self.config.times.lock_lease, Span::secs);
        let previous = self.state.locks.get(&key).cloned();
        match &previous {
            Some(lock) if &lock.holder != self.actor => {
                if force {
                    self.need_lead(&format!("steal the {env} lock"));
                    if !self.is_lead() {
                        self.block_on_lock(&key, lock);
                    }
                } else {
                    self.block_on_lock(&key, lock);
                }
            }
            _ => {}
        }
        self.checked()?;
        let reason = reason.unwrap_or_default();
        self.take_lock(&key, reason, lease);
        self.plan.message = match previous {
            Some(lock) if &lock.holder != self.actor => {
                self.plan.notices.push(Notice {
                    to: lock.holder.clone(),
                    text: format!(
                        "{} took the {env} lock from you (you had it for \"{}\"); their reason: {reason}.",
                        self.actor, lock.reason
                    ),
                });
                format!(
                    "You took the {env} lock from {} for \"{reason}\"; they have been told. It expires in {}.",
                    lock.holder,
                    human_duration(lease)
                )
            }
            _ => format!(
                "{env} is locked for you: \"{reason}\". It expires in {} (`extend {env}` for more).",
                human_duration(lease)
            ),
        };
        Ok(())
    }

    fn unlock(&mut self, app: Option<&AppName>, env: &EnvName) -> Result<(), Refusal> {
        let app = self.app(app)?;
        let key = EnvKey::new(&app, env);
        let Some(lock) = self.state.locks.get(&key) else {
            return Err(Refusal::one(Blocker::NotLocked { env: env.clone() }));
        };
        if &lock.holder != self.actor && !self.is_lead() {
            self.block(Blocker::NotHolder {
                env: env.clone(),
                holder: lock.holder.clone(),
            });
        }
        self.checked()?;
        if &lock.holder != self.actor {
            self.plan.notices.push(Notice {
                to: lock.holder.clone(),
                text: format!("{} released your {env} lock.", self.actor),
            });
        }
        self.pass_lock(&key, None);
        self.plan.message = format!("{env} is unlocked.");
        Ok(())
    }

    fn extend(
        &mut self,
        app: Option<&AppName>,
        env_name: &EnvName,
        duration: Option<Span>,
    ) -> Result<(), Refusal> {
        let app = self.app(app)?;
        let key = EnvKey::new(&app, env_name);
        if let Some(lock) = self.state.locks.get(&key)
            && &lock.holder == self.actor
            && !lock.is_offer()
        {
            let add = duration.map_or(self.config.times.lock_lease, Span::secs);
            let mut lock = lock.clone();
            lock.expires_at = lock.expires_at.max(self.now) + add;
            let left = lock.expires_at - self.now;
            self.plan.effects.push(Effect::PutLock(key, lock));
            self.plan.message = format!(
                "Your {env_name} lock now expires in {}.",
                human_duration(left)
            );
            return Ok(());
        }
        let Some(env) = self.state.env(&key) else {
            if let Some(lock) = self.state.locks.get(&key) {
                return Err(Refusal::one(Blocker::NotHolder {
                    env: env_name.clone(),
                    holder: lock.holder.clone(),
                }));
            }
            return Err(Refusal::one(Blocker::NoSuchEnv {
                env: env_name.clone(),
            }));
        };
        let Some(expires_at) = env.expires_at else {
            return Err(Refusal::one(match self.state.locks.get(&key) {
                Some(lock) => Blocker::NotHolder {
                    env: env_name.clone(),
                    holder: lock.holder.clone(),
                },
                None => Blocker::NotLocked {
                    env: env_name.clone(),
                },
            }));
        };
        self.need_owner(env);
        self.checked()?;
        let add = duration.map_or(self.config.times.dev_ttl, Span::secs);
        let mut env = env.clone();
        env.expires_at = Some(expires_at.max(self.now) + add);
        env.expiry_warned = false;
        env.last_activity = self.now;
        let left = expires_at.max(self.now) + add - self.now;
        self.plan.effects.push(Effect::PutEnv(env));
        self.plan.message = format!("{env_name} now lives {} more.", human_duration(left));
        Ok(())
    }

    fn queue_join(
        &mut self,
        app: Option<&AppName>,
        env: &EnvName,
        git_ref: &Option<GitRef>,
    ) -> Result<(), Refusal> {
        let app = self.app(app)?;
        let key = EnvKey::new(&app, env);
        self.need_developer(&format!("queue for {env}"));
        let lock = self.state.locks.get(&key);
        if lock.is_some_and(|l| &l.holder == self.actor) {
            self.block(Blocker::AlreadyHolder { env: env.clone() });
        }
        let mut queue = self.state.queue(&key);
        if let Some(position) = queue.position(self.actor) {
            self.block(Blocker::AlreadyQueued {
                env: env.clone(),
                position,
            });
        }
        self.checked()?;
        queue.waiting.push(QueueEntry {
            actor: self.actor.clone(),
            git_ref: git_ref.clone(),
            joined_at: self.now,
        });
        match lock {
            None => {
                self.pass_lock(&key, Some(queue));
                self.plan.message = format!(
                    "{env} is free and nobody is waiting, so it is your turn now: claim it within {} with `lock {env} for <reason>` or by deploying to it.",
                    human_duration(self.config.times.queue_claim)
                );
            }
            Some(lock) => {
                let position = queue.waiting.len();
                self.plan.message = format!(
                    "You are #{position} in the {env} queue; {} holds it for \"{}\". You will be told when it is your turn.",
                    lock.holder, lock.reason
                );
                self.plan.effects.push(Effect::PutQueue(key, queue));
            }
        }
        Ok(())
    }

    fn queue_leave(&mut self, app: Option<&AppName>, env: &EnvName) -> Result<(), Refusal> {
        let app = self.app(app)?;
        let key = EnvKey::new(&app, env);
        let mut queue = self.state.queue(&key);
        if queue.position(self.actor).is_some() {
            queue.waiting.retain(|e| &e.actor != self.actor);
            self.plan.effects.push(Effect::PutQueue(key, queue));
            self.plan.message = format!("You left the {env} queue.");
            return Ok(());
        }
        match self.state.locks.get(&key) {
            // Declining a lock passed from the queue passes it on.
            Some(lock) if &lock.holder == self.actor && lock.is_offer() => {
                self.pass_lock(&key, Some(queue));
                self.plan.message = format!("You gave up your turn; {env} passes on.");
                Ok(())
            }
            _ => Err(Refusal::one(Blocker::NotQueued { env: env.clone() })),
        }
    }

    fn env_op(
        &mut self,
        app: Option<&AppName>,
        env_name: &EnvName,
        kind: OpKind,
    ) -> Result<(), Refusal> {
        let app = self.app(app)?;
        let key = EnvKey::new(&app, env_name);
        let Some(env) = self.state.env(&key) else {
            return Err(Refusal::one(Blocker::NoSuchEnv {
                env: env_name.clone(),
            }));
        };
        self.need_developer(&format!("{kind} {env_name}"));
        if env.is_dev() {
            self.need_owner(env);
        } else {
            self.need_lead(&format!("{kind} {env_name}"));
        }
        self.need_lock(&key, false);
        self.need_idle(env);
        let wrong_state = match kind {
            OpKind::Suspend => env.state != EnvState::Running,
            OpKind::Wake => env.state != EnvState::Suspended,
            _ => false,
        };
        if wrong_state && env.operation.is_none() {
            self.block(Blocker::WrongState {
                env: env_name.clone(),
                state: env.state,
            });
        }
        self.checked()?;
        let action = match kind {
            OpKind::Suspend => Action::Suspend,
            OpKind::Wake => Action::Wake,
            _ => Action::Destroy,
        };
        let id = self.start_env_op(env, kind, action);
        self.plan.message = format!("{kind} {env_name}: operation {id}.");
        Ok(())
    }

    fn start_env_op(&mut self, env: &Env, kind: OpKind, action: Action) -> u64 {
        let key = env.key();
        let request = self.request(action, &key);
        let id = self.new_operation(&key, kind, vec![request]);
        let mut env = env.clone();
        env.operation = Some(id);
        if kind == OpKind::Destroy {
            env.state = EnvState::Destroying;
        }
        if kind == OpKind::Wake {
            env.last_activity = self.now;
        }
        self.plan.effects.push(Effect::PutEnv(env));
        id
    }

    fn cancel(&mut self, app: Option<&AppName>, env_name: &EnvName) -> Result<(), Refusal> {
        let app = self.app(app)?;
        let key = EnvKey::new(&app, env_name);
        let op = self
            .state
            .env(&key)
            .and_then(|e| e.operation)
            .and_then(|id| self.state.operations.get(&id));
        let Some(op) = op else {
            return Err(Refusal::one(Blocker::NoOperation {
                env: env_name.clone(),
            }));
        };
        let owner = self.state.env(&key).and_then(|e| e.owner.as_ref());
        if &op.requested_by != self.actor && owner != Some(self.actor) && !self.is_lead() {
            self.block(Blocker::NotOwner {
                env: env_name.clone(),
                owner: op.requested_by.clone(),
            });
        }
        self.checked()?;
        self.plan.cancel = Some(op.id);
        self.plan.message = format!(
            "Cancelling operation {} ({}) on {env_name}.",
            op.id, op.kind
        );
        Ok(())
    }

    fn find_release(&self, app: &AppName, wanted: &ReleaseId) -> Option<Release> {
        let w = wanted.as_str().to_ascii_lowercase();
        let numbered = w
            .strip_prefix('v')
            .or_else(|| w.strip_prefix('r'))
            .unwrap_or(&w);
        let of_app = || self.state.releases.values().filter(|r| &r.app == app);
        if let Some(r) = of_app().find(|r| r.id == w || r.id.strip_prefix('r') == Some(numbered)) {
            return Some(r.clone());
        }
        let by_commit: Vec<&Release> = of_app()
            .filter(|r| w.len() >= 4 && r.commit.starts_with(&w))
            .collect();
        match by_commit.as_slice() {
            [one] => Some((*one).clone()),
            _ => None,
        }
    }

    fn rollback(
        &mut self,
        app: Option<&AppName>,
        env_name: &EnvName,
        wanted: Option<&ReleaseId>,
    ) -> Result<(), Refusal> {
        let app = self.app(app)?;
        let key = EnvKey::new(&app, env_name);
        let Some(env) = self.state.env(&key) else {
            return Err(Refusal::one(Blocker::NoSuchEnv {
                env: env_name.clone(),
            }));
        };
        self.need_developer(&format!("roll back {env_name}"));
        let take = if env.is_dev() {
            self.need_owner(env);
            false
        } else {
            self.need_pipeline_env(&key, "roll back")
        };
        self.need_idle(env);
        let release = match wanted {
            Some(w) => {
                let found = self.find_release(&app, w);
                if found.is_none() {
                    self.block(Blocker::NoSuchRelease {
                        env: env_name.clone(),
                        release: w.to_string(),
                    });
                }
                found
            }
            None => {
                let found = env
                    .previous_releases
                    .iter()
                    .rev()
                    .find(|r| Some(*r) != env.release.as_ref())
                    .and_then(|id| self.state.releases.get(&(app.clone(), id.clone())))
                    .cloned();
                if found.is_none() {
                    self.block(Blocker::NothingToRollBack {
                        env: env_name.clone(),
                    });
                }
                found
            }
        };
        self.checked()?;
        let Some(release) = release else {
            return Err(Refusal::one(Blocker::NothingToRollBack {
                env: env_name.clone(),
            }));
        };
        let reason = take.then(|| format!("roll back to {}", release.id));
        let branch = self.branch_of(&key, &release);
        let id = self.ship(&key, &release, branch, OpKind::Rollback, reason);
        self.plan.message = format!(
            "Rolling {env_name} back to release {} ({}): operation {id}.",
            release.id,
            short(&release.commit)
        );
        Ok(())
    }

    fn reset(
        &mut self,
        app: Option<&AppName>,
        env_name: &EnvName,
        source: &EnvName,
    ) -> Result<(), Refusal> {
        let app = self.app(app)?;
        let key = EnvKey::new(&app, env_name);
        let source_key = EnvKey::new(&app, source);
        self.need_developer(&format!("reset {env_name}"));
        let release = self.release_running_on(&source_key);
        if env_name.stage() == Some(Stage::Prod) {
            self.need_lead("reset prod");
        }
        // A lead may reset staging under someone's lock: that is what the reset is for.
        if !self.is_lead() {
            self.need_lock(&key, false);
        }
        if let Some(env) = self.state.env(&key) {
            self.need_idle(env);
            if env.is_dev() {
                self.need_owner(env);
            }
        }
        self.checked()?;
        let Some(release) = release else {
            return Err(Refusal::one(Blocker::NoRelease {
                env: source.clone(),
            }));
        };
        let branch = self.branch_of(&source_key, &release);
        let id = self.put_release(&key, &release, branch, OpKind::Reset);
        self.plan.message = format!(
            "Resetting {env_name} to {source}'s release {}: operation {id}.",
            release.id
        );
        Ok(())
    }

    fn transfer(
        &mut self,
        app: Option<&AppName>,
        env_name: &EnvName,
        to: &Actor,
    ) -> Result<(), Refusal> {
        let app = self.app(app)?;
        let key = EnvKey::new(&app, env_name);
        let Some(env) = self.state.env(&key) else {
            return Err(Refusal::one(Blocker::NoSuchEnv {
                env: env_name.clone(),
            }));
        };
        if !env.is_dev() {
            self.block(Blocker::NotDevEnv {
                env: env_name.clone(),
            });
        }
        self.need_owner(env);
        let theirs = self
            .state
            .envs
            .values()
            .filter(|e| e.is_dev() && e.owner.as_ref() == Some(to))
            .count();
        let max = self.config.limits.dev_envs_per_person;
        if env.owner.as_ref() != Some(to) && theirs >= max {
            self.block(Blocker::RecipientAtLimit {
                to: to.clone(),
                max,
            });
        }
        self.checked()?;
        let mut env = env.clone();
        env.owner = Some(to.clone());
        self.plan.effects.push(Effect::PutEnv(env));
        self.plan.notices.push(Notice {
            to: to.clone(),
            text: format!("{} gave you {env_name}.", self.actor),
        });
        self.plan.message = format!("{env_name} is now {to}'s.");
        Ok(())
    }

    /// Activity is written at most once a minute per env: enough for idle
    /// times counted in hours, without a write per web request.
    /// The router's wake: only that the env exists, is suspended and idle.
    fn wake_on_request(
        &mut self,
        app: Option<&AppName>,
        env_name: &EnvName,
    ) -> Result<(), Refusal> {
        let app = self.app(app)?;
        let key = EnvKey::new(&app, env_name);
        let Some(env) = self.state.env(&key) else {
            return Err(Refusal::one(Blocker::NoSuchEnv {
                env: env_name.clone(),
            }));
        };
        self.need_idle(env);
        if env.state != EnvState::Suspended && env.operation.is_none() {
            self.block(Blocker::WrongState {
                env: env_name.clone(),
                state: env.state,
            });
        }
        self.checked()?;
        let id = self.start_env_op(env, OpKind::Wake, Action::Wake);
        // Nobody asked in chat, so its owner would not know it is up again.
        if let Some(owner) = &env.owner {
            self.plan.notices.push(Notice {
                to: owner.clone(),
                text: format!(
                    "`{env_name}` is waking up: a request reached it while it was suspended (operation #{id})."
                ),
            });
        }
        self.plan.message = format!("wake {env_name} for a request: operation {id}.");
        Ok(())
    }

    fn activity(&mut self, app: Option<&AppName>, env_name: &EnvName) -> Result<(), Refusal> {
        let app = self.app(app)?;
        let key = EnvKey::new(&app, env_name);
        let Some(env) = self.state.env(&key) else {
            return Err(Refusal::one(Blocker::NoSuchEnv {
                env: env_name.clone(),
            }));
        };
        if self.now >= env.last_activity + 60 {
            let mut env = env.clone();
            env.last_activity = self.now;
            self.plan.effects.push(Effect::PutEnv(env));
        }
        Ok(())
    }

    fn tick(&mut self) {
        let mut said = self.expire_locks();
        let now = self.now;
        let idle = self.config.times.idle_suspend;
        for env in self.state.envs.values() {
            if !env.is_dev() || env.operation.is_some() {
                continue;
            }
            if env.expires_at.is_some_and(|t| t <= now) && env.state != EnvState::Destroying {
                let id = self.start_env_op(env, OpKind::Destroy, Action::Destroy);
                said.push(format!(
                    "{} reached its time to live (operation {id})",
                    env.key()
                ));
                if let Some(owner) = &env.owner {
                    self.plan.notices.push(Notice {
                        to: owner.clone(),
                        text: format!(
                            "{} reached its time to live and is being destroyed.",
                            env.name
                        ),
                    });
                }
            } else if env.state == EnvState::Running && env.last_activity + idle <= now {
                let id = self.start_env_op(env, OpKind::Suspend, Action::Suspend);
                said.push(format!("{} was idle (operation {id})", env.key()));
                if let Some(owner) = &env.owner {
                    self.plan.notices.push(Notice {
                        to: owner.clone(),
                        text: format!(
                            "`{name}` was idle for {idle}, so it is being suspended (operation #{id}); the next visit or `wake {name}` starts it again.",
                            name = env.name,
                            idle = human_duration(now.saturating_sub(env.last_activity)),
                        ),
                    });
                }
            }
        }
        self.warn_of_expiry(&mut said);
        self.plan.message = said.join("; ");
    }

    /// Tells owners, once, when their dev env's time to live is about to run out.
    fn warn_of_expiry(&mut self, said: &mut Vec<String>) {
        let now = self.now;
        let warning = self.config.times.expiry_warning;
        let due: Vec<Env> = self
            .state
            .envs
            .values()
            .filter(|e| e.is_dev() && !e.expiry_warned && e.operation.is_none())
            .filter(|e| e.expires_at.is_some_and(|t| t > now && t <= now + warning))
            .filter(|e| {
                !self
                    .plan
                    .effects
                    .iter()
                    .any(|x| matches!(x, Effect::PutEnv(p) if p.key() == e.key()))
            })
            .cloned()
            .collect();
        for mut env in due {
            let left = env.expires_at.map_or(0, |t| t - now);
            if let Some(owner) = &env.owner {
                self.plan.notices.push(Notice {
                    to: owner.clone(),
                    text: format!(
                        "{name} will be destroyed in {left} (its time to live runs out); `extend {name} by 1d` keeps it.",
                        name = env.name,
                        left = human_duration(left)
                    ),
                });
            }
            said.push(format!(
                "{} expires in {}; owner warned",
                env.key(),
                human_duration(left)
            ));
            env.expiry_warned = true;
            self.plan.effects.push(Effect::PutEnv(env));
        }
    }

    fn reconcile(&mut self) {
        let mut said = Vec::new();
        for op in self
            .state
            .operations
            .values()
            .filter(|op| op.state.is_running())
        {
            let mut op = op.clone();
            op.state = OpState::Interrupted;
            op.finished_at = Some(self.now);
            said.push(format!(
                "operation {} ({} {}) was interrupted",
                op.id,
                op.kind,
                op.key()
            ));
            if op.requested_by != Actor::rushbox() {
                self.plan.notices.push(Notice {
                    to: op.requested_by.clone(),
                    text: self.interrupted_text(&op),
                });
            }
            if let Some(env) = self.state.env(&op.key()) {
                let mut env = env.clone();
                env.operation = None;
                if matches!(env.state, EnvState::Creating | EnvState::Destroying) {
                    env.state = EnvState::Failed;
                }
                self.plan.effects.push(Effect::PutEnv(env));
            }
            self.plan.effects.push(Effect::PutOperation(op));
        }
        said.extend(self.expire_locks());
        self.plan.message = said.join("; ");
    }

    /// What the requester of an operation a restart cut short is told: that
    /// it stopped, the lock they still hold (its lease runs on, so nobody
    /// else gets staging meanwhile), and what to type to try again or let go.
    fn interrupted_text(&self, op: &Operation) -> String {
        let env = &op.env;
        let mut text = format!(
            "rushbox restarted while operation #{} ({} of `{env}`) was running; it was stopped.",
            op.id, op.kind
        );
        let retry = op.command.as_ref().map(|c| format!("`{c}` tries again"));
        let held =
            self.state.locks.get(&op.key()).filter(|l| {
                l.holder == op.requested_by && !l.is_offer() && l.expires_at > self.now
            });
        match (held, retry) {
            (Some(lock), retry) => {
                text.push_str(&format!(
                    " You still hold the {env} lock (\"{}\", lease ends in {}): {}`unlock {env}` lets the next in line have it.",
                    lock.reason,
                    human_duration(lock.expires_at - self.now),
                    retry.map(|r| format!("{r}; ")).unwrap_or_default(),
                ));
            }
            (None, Some(retry)) => {
                text.push_str(&format!(" {retry}; `status {env}` shows where it stopped."));
            }
            (None, None) => text.push_str(&format!(" `status {env}` shows where it stopped.")),
        }
        text
    }

    /// Frees locks whose lease ran out and passes on turns nobody claimed.
    fn expire_locks(&mut self) -> Vec<String> {
        let now = self.now;
        let mut said = Vec::new();
        for (key, lock) in &self.state.locks {
            let env = &key.env;
            if let Some(claim_by) = lock.claim_by {
                if claim_by <= now {
                    self.plan.notices.push(Notice {
                        to: lock.holder.clone(),
                        text: format!(
                            "You did not claim the {env} lock in time, so it passed to the next in line. `queue me for {env}` to wait again."
                        ),
                    });
                    said.push(format!("{}'s turn on {key} ran out", lock.holder));
                    self.pass_lock(key, None);
                }
            } else if lock.expires_at <= now {
                self.plan.notices.push(Notice {
                    to: lock.holder.clone(),
                    text: format!(
                        "Your {env} lock (\"{}\") expired. `lock {env} for <reason>` to take it again.",
                        lock.reason
                    ),
                });
                said.push(format!("{}'s lock on {key} expired", lock.holder));
                self.pass_lock(key, None);
            }
        }
        said
    }

    fn finish(&mut self, id: u64, result: &Finish) {
        let Some(op) = self.state.operations.get(&id) else {
            return;
        };
        if !op.state.is_running() {
            return;
        }
        let mut op = op.clone();
        op.finished_at = Some(self.now);
        op.state = match result {
            Finish::Succeeded { .. } => OpState::Succeeded,
            Finish::Failed { error } => OpState::Failed {
                error: error.clone(),
            },
            Finish::Cancelled => OpState::Cancelled,
        };
        let key = op.key();
        self.plan.message = format!("operation {id} ({} {}) ended: {:?}", op.kind, key, op.state);
        let kind = op.kind;
        let deployed = op
            .requests
            .iter()
            .rev()
            .find(|r| r.action == Action::Deploy)
            .cloned();
        self.plan.effects.push(Effect::PutOperation(op));
        let Some(env) = self.state.env(&key) else {
            return;
        };
        let mut env = env.clone();
        env.operation = None;
        match result {
            Finish::Succeeded { address } => {
                if kind == OpKind::Destroy {
                    self.plan.effects.push(Effect::RemoveEnv(key.clone()));
                    self.plan.effects.push(Effect::RemoveLock(key.clone()));
                    self.plan
                        .effects
                        .push(Effect::PutQueue(key.clone(), Queue::default()));
                    return;
                }
                if address.is_some() {
                    env.address = address.clone();
                }
                env.last_activity = self.now;
                env.state = match kind {
                    OpKind::Suspend => EnvState::Suspended,
                    _ => EnvState::Running,
                };
                if let Some(req) = deployed {
                    if let Some(old) = env.release.take()
                        && Some(&old) != req.release.as_ref()
                    {
                        env.previous_releases.push(old);
                    }
                    env.release = req.release;
                    env.commit = req.commit;
                    env.branch = req.git_ref;
                }
                let to_prod = key.env.stage() == Some(Stage::Prod);
                self.plan.effects.push(Effect::PutEnv(env));
                if to_prod && kind == OpKind::Promote {
                    // Staging equals prod again: its lock is done, the next in line goes.
                    let staging = EnvKey::new(&key.app, &EnvName::staging());
                    if let Some(lock) = self.state.locks.get(&staging)
                        && !lock.is_offer()
                    {
                        self.plan.notices.push(Notice {
                            to: lock.holder.clone(),
                            text: "Your change is in prod, so the staging lock is released."
                                .to_owned(),
                        });
                        self.pass_lock(&staging, None);
                    }
                }
            }
            Finish::Failed { .. } | Finish::Cancelled => {
                if matches!(env.state, EnvState::Creating | EnvState::Destroying) {
                    env.state = EnvState::Failed;
                }
                self.plan.effects.push(Effect::PutEnv(env));
            }
        }
    }
}

/// The first 10 characters of a commit id.
pub fn short(commit: &str) -> &str {
    commit.get(..10).unwrap_or(commit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(s: &str) -> EnvName {
        EnvName::from_user(s).unwrap()
    }

    fn who(s: &str) -> Actor {
        Actor::parse(s).unwrap()
    }

    /// Every blocker says what is in the way and what to type next.
    #[test]
    fn blockers_read_as_sentences_with_a_command_to_type() {
        let table: Vec<(Blocker, &str, &str)> = vec![
            (
                Blocker::LockedBy {
                    env: env("staging"),
                    holder: who("slack:T1:U1"),
                    reason: "testing login".into(),
                    since: 0,
                    held_for: 7260,
                },
                "staging is locked by slack:T1:U1 for \"testing login\" since 2h 1m ago",
                "`queue me for staging`, or ask slack:T1:U1 to `unlock staging`",
            ),
            (
                Blocker::LockOffered {
                    env: env("staging"),
                    to: who("shell:bob"),
                    claim_within: 600,
                },
                "staging was passed to shell:bob, next in the queue",
                "`queue me for staging`; shell:bob has 10m to claim it before it passes on",
            ),
            (
                Blocker::QueuePosition {
                    env: env("staging"),
                    position: 2,
                    length: 3,
                },
                "you are #2 of 3 in the staging queue",
                "wait: you will be told when it is your turn (`leave the staging queue` to give up)",
            ),
            (
                Blocker::NeedsRole {
                    role: Role::Lead,
                    to: "promote to prod".into(),
                },
                "only a lead may promote to prod",
                "ask a lead",
            ),
            (
                Blocker::EnvBusy {
                    env: env("dev-foo"),
                    operation: 7,
                    kind: OpKind::Deploy,
                    by: who("shell:alice"),
                },
                "dev-foo is busy with operation 7 (deploy, asked by shell:alice)",
                "wait for it to finish, or `cancel dev-foo`",
            ),
            (
                Blocker::NotOwner {
                    env: env("dev-foo"),
                    owner: who("shell:alice"),
                },
                "dev-foo belongs to shell:alice",
                "ask shell:alice or a lead",
            ),
            (
                Blocker::ReasonRequired {
                    env: env("staging"),
                },
                "a lock on staging needs a reason, so others know what it is for",
                "`lock staging for <reason>`",
            ),
            (
                Blocker::OutOfOrder {
                    from: env("prod"),
                    to: env("staging"),
                },
                "prod can't be promoted straight to staging",
                "`reset staging to prod`",
            ),
            (
                Blocker::WrongState {
                    env: env("dev-foo"),
                    state: EnvState::Suspended,
                },
                "dev-foo is suspended",
                "`wake dev-foo`",
            ),
        ];
        for (blocker, says, fix) in table {
            assert_eq!(blocker.to_string(), says);
            assert_eq!(blocker.fix(), fix, "{blocker:?}");
        }
    }

    #[test]
    fn durations_are_short() {
        for (secs, shown) in [
            (0, "0s"),
            (59, "59s"),
            (60, "1m"),
            (3600, "1h"),
            (3660, "1h 1m"),
            (86400, "1d"),
            (90000, "1d 1h"),
        ] {
            assert_eq!(human_duration(secs), shown);
        }
    }
}
