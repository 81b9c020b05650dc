//! Why a call cannot go ahead: each [`Blocker`] says what is in the way and
//! (via `fix()`) the command that clears it; a [`Refusal`] carries them all.
//! Wording only: the rules that find blockers are in the sibling modules.

use std::fmt;

use rushbox_command::{AppName, EnvName, GitRef, Stage};

use crate::model::{Actor, EnvState, OpKind, Role, Time};

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
    pub(super) fn one(blocker: Blocker) -> Refusal {
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
