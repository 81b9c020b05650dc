//! Why a call cannot go ahead: each [`Blocker`] says what is in the way and
//! (via `fix()`) the [`Fix`] that clears it; a [`Refusal`] carries them all.
//! The rules that find blockers are in the sibling modules.

use std::fmt;

use rushbox_command::{AppName, EnvName, GitRef, Stage};

use super::fix::{Advice, Asked, Fix, Note, Template, Wait, commands};
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
    /// What clears it: a command to type, someone to ask, or a wait.
    pub fn fix(&self) -> Fix {
        use commands::*;
        let lead = || Asked::Role(Role::Lead);
        match self {
            Blocker::NoSuchApp { .. } => {
                Fix::Advice(Advice::NameAConfiguredApp { list: list_envs() })
            }
            Blocker::NeedsRole { role, .. } => match role {
                Role::Lead => Fix::ask(vec![lead()], None),
                Role::Developer => Fix::ask(
                    vec![lead()],
                    Some(Fix::Advice(Advice::AddYouToTheDevelopers)),
                ),
            },
            Blocker::UnknownRef { .. } => Fix::Advice(Advice::CheckTheRefAndPush),
            Blocker::LockedBy { env, holder, .. } => Fix::Either(vec![
                Fix::Run(queue_join(env)),
                Fix::ask(
                    vec![Asked::Person(holder.clone())],
                    Some(Fix::Run(unlock(env))),
                ),
            ]),
            Blocker::LockOffered {
                env,
                to,
                claim_within,
            } => Fix::Then(vec![
                Fix::Run(queue_join(env)),
                Fix::Wait(Wait::ForClaim {
                    by: to.clone(),
                    within: *claim_within,
                }),
            ]),
            Blocker::QueuePosition { env, .. } => Fix::noted(
                Fix::Wait(Wait::UntilToldOfYourTurn),
                Note::ToGiveUp(queue_leave(env)),
            ),
            Blocker::NotOwner { owner, .. } => {
                Fix::ask(vec![Asked::Person(owner.clone()), lead()], None)
            }
            Blocker::EnvBusy { env, .. } => {
                Fix::Either(vec![Fix::Wait(Wait::ForItToFinish), Fix::Run(cancel(env))])
            }
            Blocker::LimitReached { envs, .. } => match envs.first() {
                Some(env) => Fix::noted(Fix::Run(destroy(env)), Note::OrAnotherYouNoLongerNeed),
                None => Fix::Either(vec![
                    Fix::Advice(Advice::DestroyOneYouNoLongerNeed),
                    Fix::ask(vec![lead()], None),
                ]),
            },
            Blocker::RecipientAtLimit { to, .. } => Fix::ask(
                vec![Asked::Person(to.clone())],
                Some(Fix::Advice(Advice::DestroyOneOfTheirsFirst)),
            ),
            Blocker::NoSuchEnv { .. } => Fix::noted(Fix::Run(list_envs()), Note::ListsTheEnvs),
            Blocker::NoRelease { env } => Fix::noted(
                Fix::Template(Template::Deploy { env: env.clone() }),
                Note::First,
            ),
            Blocker::NoSuchRelease { env, .. } => {
                Fix::noted(Fix::Run(history(env)), Note::ListsItsReleases)
            }
            Blocker::NothingToRollBack { env } => Fix::noted(
                Fix::Template(Template::Rollback { env: env.clone() }),
                Note::See(history(env)),
            ),
            Blocker::ReasonRequired { env } => Fix::Template(Template::Lock { env: env.clone() }),
            Blocker::NotLocked { env } => Fix::noted(
                Fix::Template(Template::Lock { env: env.clone() }),
                Note::ToTakeIt,
            ),
            Blocker::NotHolder { env, holder } => Fix::Either(vec![
                Fix::ask(
                    vec![Asked::Person(holder.clone())],
                    Some(Fix::Run(unlock(env))),
                ),
                Fix::ask(vec![lead()], None),
            ]),
            Blocker::AlreadyHolder { env } => Fix::Either(vec![
                Fix::Advice(Advice::DeployTo { env: env.clone() }),
                Fix::noted(Fix::Run(unlock(env)), Note::WhenDone),
            ]),
            Blocker::AlreadyQueued { env, .. } => Fix::Either(vec![
                Fix::Wait(Wait::ForYourTurn),
                Fix::Run(queue_leave(env)),
            ]),
            Blocker::NotQueued { env } => Fix::noted(Fix::Run(queue_join(env)), Note::ToJoinIt),
            Blocker::NoOperation { env } => Fix::noted(Fix::Run(status(env)), Note::ShowsItsState),
            Blocker::OutOfOrder { from, to } => match to.stage() {
                Some(Stage::Prod) => {
                    Fix::noted(Fix::Run(promote(from, EnvName::staging())), Note::First)
                }
                _ if from.stage() == Some(Stage::Prod) => Fix::Run(reset(to, from)),
                _ => Fix::Advice(Advice::PromoteInOrder),
            },
            Blocker::NotDevEnv { .. } => Fix::Advice(Advice::GiveWorksOnDevEnvsOnly),
            Blocker::WrongState { env, state } => match state {
                EnvState::Suspended => Fix::Run(wake(env)),
                EnvState::Running => Fix::noted(Fix::Run(status(env)), Note::AlreadyRunning),
                _ => Fix::Either(vec![Fix::Run(status(env)), Fix::Run(destroy(env))]),
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
    use rushbox_command::{Command, Grammar, Intent};

    use super::super::fix::Placeholder;
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
            assert_eq!(blocker.fix().to_string(), fix, "{blocker:?}");
        }
    }

    /// Every fix, worded as it always was, and the one button it offers:
    /// the asker's own next step, never a command someone else must run.
    fn every_fix() -> Vec<(Blocker, &'static str, Option<&'static str>)> {
        let staging = || env("staging");
        let dev_foo = || env("dev-foo");
        vec![
            (
                Blocker::NoSuchApp {
                    app: AppName::parse("api").unwrap(),
                },
                "name a configured app (`envs` lists them) or ask an admin to add it",
                Some("envs"),
            ),
            (
                Blocker::NeedsRole {
                    role: Role::Lead,
                    to: "promote to prod".into(),
                },
                "ask a lead",
                None,
            ),
            (
                Blocker::NeedsRole {
                    role: Role::Developer,
                    to: "lock staging".into(),
                },
                "ask a lead to add you to rushbox's developers",
                None,
            ),
            (
                Blocker::UnknownRef {
                    git_ref: GitRef::parse("fooo").unwrap(),
                    why: "no such ref".into(),
                },
                "check the spelling and push the branch, then deploy again",
                None,
            ),
            (
                Blocker::LockedBy {
                    env: staging(),
                    holder: who("shell:alice"),
                    reason: "testing login".into(),
                    since: 0,
                    held_for: 60,
                },
                "`queue me for staging`, or ask shell:alice to `unlock staging`",
                Some("queue me for staging"),
            ),
            (
                Blocker::LockOffered {
                    env: staging(),
                    to: who("shell:bob"),
                    claim_within: 600,
                },
                "`queue me for staging`; shell:bob has 10m to claim it before it passes on",
                Some("queue me for staging"),
            ),
            (
                Blocker::QueuePosition {
                    env: staging(),
                    position: 2,
                    length: 3,
                },
                "wait: you will be told when it is your turn (`leave the staging queue` to give up)",
                Some("leave the staging queue"),
            ),
            (
                Blocker::NotOwner {
                    env: dev_foo(),
                    owner: who("shell:alice"),
                },
                "ask shell:alice or a lead",
                None,
            ),
            (
                Blocker::EnvBusy {
                    env: dev_foo(),
                    operation: 7,
                    kind: OpKind::Deploy,
                    by: who("shell:alice"),
                },
                "wait for it to finish, or `cancel dev-foo`",
                Some("cancel dev-foo"),
            ),
            (
                Blocker::LimitReached {
                    scope: LimitScope::PerPerson,
                    max: 2,
                    envs: vec![dev_foo(), env("dev-bar")],
                },
                "`destroy dev-foo` (or another you no longer need)",
                Some("destroy dev-foo"),
            ),
            (
                Blocker::LimitReached {
                    scope: LimitScope::Total,
                    max: 20,
                    envs: vec![],
                },
                "`destroy` a dev env you no longer need, or ask a lead",
                None,
            ),
            (
                Blocker::RecipientAtLimit {
                    to: who("shell:bob"),
                    max: 2,
                },
                "ask shell:bob to `destroy` one of theirs first",
                None,
            ),
            (
                Blocker::NoSuchEnv {
                    env: env("dev-nope"),
                },
                "`envs` lists the envs there are",
                Some("envs"),
            ),
            (
                Blocker::NoRelease { env: staging() },
                "`deploy <branch> to staging` first",
                None,
            ),
            (
                Blocker::NoSuchRelease {
                    env: staging(),
                    release: "v9".into(),
                },
                "`history staging` lists its releases",
                Some("history staging"),
            ),
            (
                Blocker::NothingToRollBack { env: staging() },
                "`rollback staging to <release>` (see `history staging`)",
                Some("history staging"),
            ),
            (
                Blocker::ReasonRequired { env: staging() },
                "`lock staging for <reason>`",
                None,
            ),
            (
                Blocker::NotLocked { env: staging() },
                "`lock staging for <reason>` to take it",
                None,
            ),
            (
                Blocker::NotHolder {
                    env: staging(),
                    holder: who("shell:alice"),
                },
                "ask shell:alice to `unlock staging`, or ask a lead",
                None,
            ),
            (
                Blocker::AlreadyHolder { env: staging() },
                "deploy to staging, or `unlock staging` when done",
                Some("unlock staging"),
            ),
            (
                Blocker::AlreadyQueued {
                    env: staging(),
                    position: 1,
                },
                "wait for your turn, or `leave the staging queue`",
                Some("leave the staging queue"),
            ),
            (
                Blocker::NotQueued { env: staging() },
                "`queue me for staging` to join it",
                Some("queue me for staging"),
            ),
            (
                Blocker::NoOperation { env: dev_foo() },
                "`status dev-foo` shows its state",
                Some("status dev-foo"),
            ),
            (
                Blocker::OutOfOrder {
                    from: dev_foo(),
                    to: env("prod"),
                },
                "`promote dev-foo to staging` first",
                Some("promote dev-foo to staging"),
            ),
            (
                Blocker::OutOfOrder {
                    from: env("prod"),
                    to: staging(),
                },
                "`reset staging to prod`",
                Some("reset staging to prod"),
            ),
            (
                Blocker::OutOfOrder {
                    from: dev_foo(),
                    to: env("dev-bar"),
                },
                "promote along dev → staging → prod",
                None,
            ),
            (
                Blocker::NotDevEnv { env: staging() },
                "`give` works on dev envs only",
                None,
            ),
            (
                Blocker::WrongState {
                    env: dev_foo(),
                    state: EnvState::Suspended,
                },
                "`wake dev-foo`",
                Some("wake dev-foo"),
            ),
            (
                Blocker::WrongState {
                    env: dev_foo(),
                    state: EnvState::Running,
                },
                "`status dev-foo`: it is already running",
                Some("status dev-foo"),
            ),
            (
                Blocker::WrongState {
                    env: dev_foo(),
                    state: EnvState::Failed,
                },
                "`status dev-foo`, or `destroy dev-foo`",
                Some("status dev-foo"),
            ),
        ]
    }

    #[test]
    fn every_fix_reads_as_before_and_offers_only_the_askers_own_command() {
        for (blocker, text, button) in every_fix() {
            let fix = blocker.fix();
            assert_eq!(fix.to_string(), text, "{blocker:?}");
            let runnable = fix.runnable().map(|c| c.to_string());
            assert_eq!(runnable.as_deref(), button, "{blocker:?}");
        }
    }

    /// Every command a fix carries, the asker's or someone else's, in order.
    fn commands_in(fix: &Fix) -> Vec<&Command> {
        match fix {
            Fix::Run(command) => vec![command],
            Fix::Template(_) | Fix::Wait(_) => vec![],
            Fix::Advice(advice) => advice.command().into_iter().collect(),
            Fix::Ask { to, .. } => to.iter().flat_map(|f| commands_in(f)).collect(),
            Fix::Either(fixes) | Fix::Then(fixes) => fixes.iter().flat_map(commands_in).collect(),
            Fix::Noted { fix, note } => {
                let mut all = commands_in(fix);
                all.extend(note.command());
                all
            }
        }
    }

    fn templates_in(fix: &Fix) -> Vec<&Template> {
        match fix {
            Fix::Template(template) => vec![template],
            Fix::Ask { to, .. } => to.iter().flat_map(|f| templates_in(f)).collect(),
            Fix::Either(fixes) | Fix::Then(fixes) => fixes.iter().flat_map(templates_in).collect(),
            Fix::Noted { fix, .. } => templates_in(fix),
            Fix::Run(_) | Fix::Wait(_) | Fix::Advice(_) => vec![],
        }
    }

    /// What a fix shows in backticks is the command's canonical text, so a
    /// button runs exactly what the reply says.
    #[test]
    fn every_command_a_fix_carries_is_quoted_as_it_parses() {
        let grammar = Grammar::new();
        let mut seen = 0;
        for (blocker, ..) in every_fix() {
            let fix = blocker.fix();
            for command in commands_in(&fix) {
                let text = command.to_string();
                assert_eq!(grammar.parse(&text).as_ref(), Ok(command), "{blocker:?}");
                assert!(
                    fix.to_string().contains(&format!("`{text}`")),
                    "{blocker:?}"
                );
                seen += 1;
            }
        }
        // The 18 buttons, the two unlocks asked of a holder, and the
        // destroy offered after a status.
        assert_eq!(seen, 21);
    }

    /// A template filled in is a command of the grammar.
    #[test]
    fn every_template_filled_in_parses() {
        let grammar = Grammar::new();
        let sample = |p: Placeholder| match p {
            Placeholder::Reason => "release testing",
            Placeholder::Branch => "feature/login",
            Placeholder::Release => "v12",
        };
        let mut seen = Vec::new();
        for (blocker, ..) in every_fix() {
            for template in templates_in(&blocker.fix()) {
                let blank = template.placeholder();
                let text = template
                    .to_string()
                    .replace(&blank.to_string(), sample(blank));
                let intent = grammar.parse(&text).map(|c| c.intent());
                let expected = match template {
                    Template::Lock { .. } => Intent::Lock,
                    Template::Deploy { .. } => Intent::Deploy,
                    Template::Rollback { .. } => Intent::Rollback,
                };
                assert_eq!(intent, Ok(expected), "{text}");
                seen.push(blank);
            }
        }
        for blank in [
            Placeholder::Reason,
            Placeholder::Branch,
            Placeholder::Release,
        ] {
            assert!(seen.contains(&blank), "{blank:?}");
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
