//! The rules, as one pure function: [`decide`] takes the state, a call, who
//! made it and the time, and returns a [`Plan`] (the changes, the reply, the
//! notices, the operations to start) or a [`Refusal`] listing every blocker
//! with the command that clears it. No I/O: the engine persists and acts.
//! This module holds the entry points, the dispatch of a call to its rule and
//! the checks every rule shares; the rules themselves are in the submodules.

mod call;
mod deploy;
mod fix;
mod lifecycle;
mod lock_queue;
mod refusal;

pub use call::{Call, Finish};
pub use fix::{Advice, Asked, Fix, Note, Placeholder, Template, Wait};
pub use refusal::{Blocker, LimitScope, Refusal, human_duration};

use rushbox_command::{AppName, Command, Stage};

use crate::config::{Groups, PipelineConfig};
use crate::model::{
    Actor, AuditEntry, AuditOutcome, Effect, Env, EnvKey, EnvState, OpKind, OpState, Operation,
    Role, State, Time,
};
use crate::provider::{Action, Request};

/// A message for someone other than the caller (a lock passed on or stolen).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub to: Actor,
    pub text: String,
    /// The commands `text` suggests its reader run as they are, in the order
    /// it names them (templates such as `lock staging for <reason>` are not).
    pub commands: Vec<Command>,
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

/// One call being decided: its inputs, the plan so far and the blockers found.
/// The rules are `impl Decider` blocks in the submodules; the shared checks are here.
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
}

/// The first 10 characters of a commit id.
pub fn short(commit: &str) -> &str {
    commit.get(..10).unwrap_or(commit)
}
