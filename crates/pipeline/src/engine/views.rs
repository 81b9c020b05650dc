//! What listings show: `EnvView` (a row of `envs`), `EnvStatus`, `QueueView`
//! and `LockView`, built from the state at a given time, and how they read.
//! Plain data for the chat layer; nothing here decides or writes.

use std::fmt;

use rushbox_command::{AppName, EnvName, GitRef};

use crate::config::TimesConfig;
use crate::model::{Actor, Env, EnvKey, EnvState, Lock, Operation, State, Time};
use crate::policy::{human_duration, short};
use crate::provider::{CrashLoop, Provider};

/// A lock as listings show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockView {
    pub holder: Actor,
    pub reason: String,
    pub since: Time,
    pub held_for: u64,
    pub expires_in: u64,
    /// Passed from the queue, not claimed yet; claim within this many seconds.
    pub claim_within: Option<u64>,
}

impl LockView {
    pub(super) fn of(lock: &Lock, now: Time) -> LockView {
        LockView {
            holder: lock.holder.clone(),
            reason: lock.reason.clone(),
            since: lock.since,
            held_for: now.saturating_sub(lock.since),
            expires_in: lock.expires_at.saturating_sub(now),
            claim_within: lock.claim_by.map(|t| t.saturating_sub(now)),
        }
    }
}

impl fmt::Display for LockView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.claim_within {
            Some(left) => write!(
                f,
                "offered to {} (claim within {})",
                self.holder,
                human_duration(left)
            ),
            None => write!(
                f,
                "locked by {} for \"{}\" since {} ago, expires in {}",
                self.holder,
                self.reason,
                human_duration(self.held_for),
                human_duration(self.expires_in)
            ),
        }
    }
}

/// One row of `envs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvView {
    pub app: AppName,
    pub env: EnvName,
    pub branch: Option<GitRef>,
    pub commit: Option<String>,
    pub release: Option<String>,
    pub owner: Option<Actor>,
    pub state: EnvState,
    pub age: u64,
    /// Seconds since the last activity.
    pub idle_for: u64,
    pub address: Option<String>,
    pub lock: Option<LockView>,
    pub queue: Vec<Actor>,
    /// Seconds until a dev env is destroyed.
    pub ttl_left: Option<u64>,
    /// Seconds until a running dev env is suspended for idleness.
    pub idle_left: Option<u64>,
    pub operation: Option<u64>,
    /// A running env whose app keeps exiting, as its provider sees it.
    pub crash_loop: Option<CrashLoop>,
}

impl fmt::Display for EnvView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{} [{}]", self.app, self.env, self.state)?;
        if let Some(b) = &self.branch {
            write!(f, " {b}")?;
        }
        if let Some(c) = &self.commit {
            write!(f, "@{}", short(c))?;
        }
        if let Some(r) = &self.release {
            write!(f, " ({r})")?;
        }
        if let Some(o) = &self.owner {
            write!(f, " owner {o}")?;
        }
        write!(
            f,
            ", up {}, last activity {} ago",
            human_duration(self.age),
            human_duration(self.idle_for)
        )?;
        if let Some(a) = &self.address {
            write!(f, ", {a}")?;
        }
        if let Some(l) = &self.lock {
            write!(f, ", {l}")?;
        }
        if !self.queue.is_empty() {
            let q: Vec<&str> = self.queue.iter().map(Actor::as_str).collect();
            write!(f, ", queue: {}", q.join(", "))?;
        }
        if let Some(t) = self.ttl_left {
            write!(f, ", destroyed in {}", human_duration(t))?;
        }
        if let Some(t) = self.idle_left {
            write!(f, ", suspended after {} idle", human_duration(t))?;
        }
        Ok(())
    }
}

/// `status <env>`: the row, plus the operation running or last run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvStatus {
    pub view: EnvView,
    pub last_operation: Option<Operation>,
}

/// A lock's queue as `staging queue` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueView {
    pub env: EnvName,
    pub lock: Option<LockView>,
    pub waiting: Vec<Actor>,
}

impl EnvView {
    /// `env`'s row at `now`; `provider` says whether it is crash-looping.
    pub(super) fn of(
        state: &State,
        env: &Env,
        times: &TimesConfig,
        provider: &dyn Provider,
        now: Time,
    ) -> EnvView {
        let key = env.key();
        EnvView {
            app: env.app.clone(),
            env: env.name.clone(),
            branch: env.branch.clone(),
            commit: env.commit.clone(),
            release: env.release.clone(),
            owner: env.owner.clone(),
            state: env.state,
            age: now.saturating_sub(env.created_at),
            idle_for: now.saturating_sub(env.last_activity),
            address: env.address.clone(),
            lock: state.locks.get(&key).map(|l| LockView::of(l, now)),
            queue: state
                .queue(&key)
                .waiting
                .into_iter()
                .map(|e| e.actor)
                .collect(),
            ttl_left: env.expires_at.map(|t| t.saturating_sub(now)),
            idle_left: (env.is_dev() && env.state == EnvState::Running)
                .then(|| (env.last_activity + times.idle_suspend).saturating_sub(now)),
            operation: env.operation,
            crash_loop: (env.state == EnvState::Running)
                .then(|| provider.crash_loop(&env.app, &env.name))
                .flatten(),
        }
    }
}

impl QueueView {
    /// The lock on `key` (env `env`) and who waits for it, at `now`.
    pub(super) fn of(state: &State, key: &EnvKey, env: EnvName, now: Time) -> QueueView {
        QueueView {
            env,
            lock: state.locks.get(key).map(|l| LockView::of(l, now)),
            waiting: state
                .queue(key)
                .waiting
                .into_iter()
                .map(|e| e.actor)
                .collect(),
        }
    }
}
