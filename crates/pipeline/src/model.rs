//! The pipeline's data: envs, releases, locks, queues, operations and the
//! audit log. Plain serde values; time is `u64` unix seconds, always passed
//! in, so every decision is reproducible.

use std::collections::BTreeMap;
use std::fmt;

use rushbox_command::{AppName, EnvName, GitRef, Stage};
use serde::{Deserialize, Serialize};

use crate::provider::Request;

/// Unix time in seconds.
pub type Time = u64;

/// A chat identity, `platform:id` (`slack:T1:U1`, `shell:alice`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Actor(String);

impl Actor {
    pub const MAX_LEN: usize = 128;

    /// Printable ASCII without spaces, 1–128 bytes.
    pub fn parse(s: &str) -> Result<Actor, String> {
        if s.is_empty() || s.len() > Self::MAX_LEN {
            return Err(format!(
                "an actor is 1 to {} characters, like `slack:T1:U1`",
                Self::MAX_LEN
            ));
        }
        if let Some(c) = s.chars().find(|c| !c.is_ascii_graphic()) {
            return Err(format!(
                "an actor is plain ASCII without spaces; found U+{:04X}",
                c as u32
            ));
        }
        Ok(Actor(s.to_owned()))
    }

    /// The engine itself, for timed decisions (lease expiry, TTL) and finished operations.
    pub fn rushbox() -> Actor {
        Actor("rushbox".to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Actor {
    type Error = String;
    fn try_from(s: String) -> Result<Actor, String> {
        Actor::parse(&s)
    }
}

impl From<Actor> for String {
    fn from(a: Actor) -> String {
        a.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Developer,
    Lead,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Developer => "developer",
            Role::Lead => "lead",
        })
    }
}

/// One env of one app: the key of every per-env tree.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EnvKey {
    pub app: AppName,
    pub env: EnvName,
}

impl EnvKey {
    pub fn new(app: &AppName, env: &EnvName) -> EnvKey {
        EnvKey {
            app: app.clone(),
            env: env.clone(),
        }
    }
}

impl fmt::Display for EnvKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.app, self.env)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EnvState {
    /// Being made by its first operation.
    Creating,
    Running,
    Suspended,
    /// Being destroyed.
    Destroying,
    /// The last operation failed or was interrupted; redeploy or destroy it.
    Failed,
}

impl fmt::Display for EnvState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EnvState::Creating => "creating",
            EnvState::Running => "running",
            EnvState::Suspended => "suspended",
            EnvState::Destroying => "destroying",
            EnvState::Failed => "failed",
        })
    }
}

/// A named, addressable deployment of an app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Env {
    pub app: AppName,
    pub name: EnvName,
    pub state: EnvState,
    /// Dev envs have an owner; staging and prod belong to the team.
    pub owner: Option<Actor>,
    /// The branch (or tag, or commit) this env was deployed from: its own,
    /// even when another branch at the same commit built the release.
    pub branch: Option<GitRef>,
    pub commit: Option<String>,
    /// The release running (or being put) there.
    pub release: Option<String>,
    /// Releases that ran here before, oldest first (for `rollback`).
    pub previous_releases: Vec<String>,
    pub address: Option<String>,
    pub created_at: Time,
    pub last_activity: Time,
    /// When a dev env is destroyed unless extended.
    pub expires_at: Option<Time>,
    /// Its owner has been warned that `expires_at` is near (reset by `extend`).
    #[serde(default)]
    pub expiry_warned: bool,
    /// The operation running on it; one at a time.
    pub operation: Option<u64>,
}

impl Env {
    pub fn key(&self) -> EnvKey {
        EnvKey::new(&self.app, &self.name)
    }

    pub fn is_dev(&self) -> bool {
        self.name.stage() == Some(Stage::Dev)
    }
}

/// One build of one commit, made once and promoted as is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    /// `r1`, `r2`, … per app.
    pub id: String,
    pub app: AppName,
    pub commit: String,
    /// The ref that first built it. Another branch at the same commit shares
    /// the release; each env keeps the branch it was deployed from.
    pub git_ref: Option<GitRef>,
    pub built_at: Time,
    pub built_by: Actor,
}

/// A lease on an env. A lock passed on from the queue is `offered` until its
/// new holder claims it (by locking or deploying) before `claim_by`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lock {
    pub holder: Actor,
    pub reason: String,
    pub since: Time,
    pub expires_at: Time,
    /// Set while the lock waits for its holder to claim it.
    pub claim_by: Option<Time>,
}

impl Lock {
    pub fn is_offer(&self) -> bool {
        self.claim_by.is_some()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueEntry {
    pub actor: Actor,
    /// What they mean to deploy, when they said.
    pub git_ref: Option<GitRef>,
    pub joined_at: Time,
}

/// Who waits for an env's lock, first come first served.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Queue {
    pub waiting: Vec<QueueEntry>,
}

impl Queue {
    /// 1-based place of `actor` in line.
    pub fn position(&self, actor: &Actor) -> Option<usize> {
        self.waiting
            .iter()
            .position(|e| &e.actor == actor)
            .map(|i| i + 1)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OpKind {
    Create,
    Deploy,
    Promote,
    Rollback,
    Reset,
    Suspend,
    Wake,
    Destroy,
}

impl fmt::Display for OpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OpKind::Create => "create",
            OpKind::Deploy => "deploy",
            OpKind::Promote => "promote",
            OpKind::Rollback => "rollback",
            OpKind::Reset => "reset",
            OpKind::Suspend => "suspend",
            OpKind::Wake => "wake",
            OpKind::Destroy => "destroy",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "state")]
pub enum OpState {
    Running,
    Succeeded,
    Failed {
        error: String,
    },
    Cancelled,
    /// rushbox stopped while it ran; found so on the next start.
    Interrupted,
}

impl OpState {
    pub fn is_running(&self) -> bool {
        matches!(self, OpState::Running)
    }
}

/// Provider work for one env, with its progress as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation {
    pub id: u64,
    pub app: AppName,
    pub env: EnvName,
    pub kind: OpKind,
    pub requested_by: Actor,
    pub started_at: Time,
    pub finished_at: Option<Time>,
    pub state: OpState,
    /// The provider requests, run in order.
    pub requests: Vec<Request>,
    /// Every progress line, in order.
    pub steps: Vec<String>,
    /// What the person asked, in the command language
    /// (`deploy foo to staging`): the command to offer when it must be run
    /// again. None for timed rules and the router's wakes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
}

impl Operation {
    pub fn key(&self) -> EnvKey {
        EnvKey::new(&self.app, &self.env)
    }
}

/// What happened to one call: done (with the reply given) or refused (with its blockers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "outcome")]
pub enum AuditOutcome {
    Done { message: String },
    Refused { blockers: Vec<String> },
}

/// One line of the append-only audit log: every decision, granted or refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Position in the log, from 1; the store assigns it.
    pub seq: u64,
    pub at: Time,
    pub actor: Actor,
    pub app: Option<AppName>,
    pub env: Option<EnvName>,
    /// The call, as words (`deploy foo to staging`).
    pub call: String,
    pub outcome: AuditOutcome,
    /// The chat platform's id for the message that asked (a Slack event id),
    /// so a redelivery after a restart is recognised and not run again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<String>,
}

/// Everything the policy decides on, as the store holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    pub envs: BTreeMap<EnvKey, Env>,
    pub locks: BTreeMap<EnvKey, Lock>,
    pub queues: BTreeMap<EnvKey, Queue>,
    /// By (app, release id).
    pub releases: BTreeMap<(AppName, String), Release>,
    pub operations: BTreeMap<u64, Operation>,
}

/// One change to [`State`]; the store writes a decision's changes in one transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Effect {
    PutEnv(Env),
    RemoveEnv(EnvKey),
    PutLock(EnvKey, Lock),
    RemoveLock(EnvKey),
    /// An empty queue is removed.
    PutQueue(EnvKey, Queue),
    PutRelease(Release),
    PutOperation(Operation),
}

impl State {
    pub fn apply(&mut self, effect: &Effect) {
        match effect {
            Effect::PutEnv(env) => {
                self.envs.insert(env.key(), env.clone());
            }
            Effect::RemoveEnv(key) => {
                self.envs.remove(key);
            }
            Effect::PutLock(key, lock) => {
                self.locks.insert(key.clone(), lock.clone());
            }
            Effect::RemoveLock(key) => {
                self.locks.remove(key);
            }
            Effect::PutQueue(key, queue) => {
                if queue.waiting.is_empty() {
                    self.queues.remove(key);
                } else {
                    self.queues.insert(key.clone(), queue.clone());
                }
            }
            Effect::PutRelease(release) => {
                self.releases
                    .insert((release.app.clone(), release.id.clone()), release.clone());
            }
            Effect::PutOperation(op) => {
                self.operations.insert(op.id, op.clone());
            }
        }
    }

    pub fn env(&self, key: &EnvKey) -> Option<&Env> {
        self.envs.get(key)
    }

    pub fn queue(&self, key: &EnvKey) -> Queue {
        self.queues.get(key).cloned().unwrap_or_default()
    }

    pub fn next_operation_id(&self) -> u64 {
        self.operations.keys().next_back().map_or(1, |id| id + 1)
    }

    /// The release already built from `commit`, if any.
    pub fn release_of_commit(&self, app: &AppName, commit: &str) -> Option<&Release> {
        self.releases
            .values()
            .find(|r| &r.app == app && r.commit == commit)
    }

    pub fn next_release_id(&self, app: &AppName) -> String {
        let n = self.releases.keys().filter(|(a, _)| a == app).count();
        format!("r{}", n + 1)
    }
}
