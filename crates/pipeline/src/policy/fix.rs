//! What clears a blocker, as a value: the commands it names are
//! [`Command`]s, placeholders are data, and who else can help is an
//! [`Asked`]. `Display` words it (the text the audit log keeps);
//! [`Fix::runnable`] is the asker's own next step, which chat offers as a button.

use std::fmt;

use rushbox_command::{Command, EnvName, EnvRef, Span};

use super::human_duration;
use crate::model::{Actor, Role};

/// What a person can do about one blocker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fix {
    /// A command the asker can run as it is: `wake dev-foo`.
    Run(Command),
    /// A command with a part the asker must fill in: `lock staging for <reason>`.
    Template(Template),
    /// Someone else can clear it, optionally by doing something:
    /// ``ask shell:alice to `unlock staging` ``.
    Ask {
        /// Any one of them (`ask shell:alice or a lead`).
        who: Vec<Asked>,
        /// What they would do; `None` when asking is the whole of it.
        to: Option<Box<Fix>>,
    },
    /// It clears by itself.
    Wait(Wait),
    /// Words: what to change or check, naming at most a look-up to run.
    Advice(Advice),
    /// Any one of these: `a, or b`.
    Either(Vec<Fix>),
    /// These together, in order: `a; b`.
    Then(Vec<Fix>),
    /// A fix with what it is for: `` `envs` lists the envs there are ``.
    Noted { fix: Box<Fix>, note: Note },
}

/// Someone to ask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Asked {
    Person(Actor),
    /// Anyone with the role (`a lead`).
    Role(Role),
}

/// A command with a placeholder; the placeholder is the [`Placeholder`], not text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Template {
    /// `lock <env> for <reason>`
    Lock { env: EnvName },
    /// `deploy <branch> to <env>`
    Deploy { env: EnvName },
    /// `rollback <env> to <release>`
    Rollback { env: EnvName },
}

/// The part of a [`Template`] the person fills in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placeholder {
    Reason,
    Branch,
    Release,
}

/// What waiting waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wait {
    /// The running operation ends.
    ForItToFinish,
    /// The asker's turn in a queue.
    ForYourTurn,
    /// The asker's turn in a queue, of which they will be told.
    UntilToldOfYourTurn,
    /// Whoever was offered a lock takes it, or lets it pass on.
    ForClaim {
        by: Actor,
        /// Seconds they have left.
        within: u64,
    },
}

/// Fixes that are words only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Advice {
    /// Use an app from the config, or have it added; `list` shows them.
    NameAConfiguredApp { list: Command },
    /// The ref is not in the repository: a typo, or not pushed yet.
    CheckTheRefAndPush,
    /// What a lead does for someone without the developer role.
    AddYouToTheDevelopers,
    /// Free a dev env of one's own first.
    DestroyOneYouNoLongerNeed,
    /// What someone at their dev env limit does before taking another.
    DestroyOneOfTheirsFirst,
    /// Nothing is in the way: go ahead.
    DeployTo { env: EnvName },
    /// Promotion goes one stage at a time.
    PromoteInOrder,
    /// Only dev envs are given.
    GiveWorksOnDevEnvsOnly,
}

/// What a fix is for, said after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    First,
    ListsTheEnvs,
    ListsItsReleases,
    ShowsItsState,
    ToTakeIt,
    ToJoinIt,
    WhenDone,
    AlreadyRunning,
    OrAnotherYouNoLongerNeed,
    /// A look-up that helps fill the fix in.
    See(Command),
    /// How to stop waiting.
    ToGiveUp(Command),
}

impl Fix {
    /// The asker's own next step that runs as it is, the first the fix
    /// names: what chat offers as a button. Never a command asked of
    /// someone else (the holder's `unlock staging`), nor a template.
    pub fn runnable(&self) -> Option<Command> {
        match self {
            Fix::Run(command) => Some(command.clone()),
            Fix::Template(_) | Fix::Ask { .. } | Fix::Wait(_) => None,
            Fix::Advice(advice) => advice.command().cloned(),
            Fix::Either(fixes) | Fix::Then(fixes) => fixes.iter().find_map(Fix::runnable),
            Fix::Noted { fix, note } => fix.runnable().or_else(|| note.command().cloned()),
        }
    }

    /// `fix`, then what it is for.
    pub(super) fn noted(fix: Fix, note: Note) -> Fix {
        Fix::Noted {
            fix: Box::new(fix),
            note,
        }
    }

    /// Ask `who`, to do `to`.
    pub(super) fn ask(who: Vec<Asked>, to: Option<Fix>) -> Fix {
        Fix::Ask {
            who,
            to: to.map(Box::new),
        }
    }
}

impl Template {
    pub fn placeholder(&self) -> Placeholder {
        match self {
            Template::Lock { .. } => Placeholder::Reason,
            Template::Deploy { .. } => Placeholder::Branch,
            Template::Rollback { .. } => Placeholder::Release,
        }
    }
}

impl Advice {
    /// The command some advice names for the asker to run (a look-up).
    pub fn command(&self) -> Option<&Command> {
        match self {
            Advice::NameAConfiguredApp { list } => Some(list),
            _ => None,
        }
    }
}

impl Note {
    /// The command a note names for the asker to run.
    pub fn command(&self) -> Option<&Command> {
        match self {
            Note::See(command) | Note::ToGiveUp(command) => Some(command),
            _ => None,
        }
    }
}

/// The commands fixes name, built from the names a blocker carries.
pub(super) mod commands {
    use super::*;

    fn env_ref(env: &EnvName) -> EnvRef {
        EnvRef::new(env.clone())
    }

    pub fn list_envs() -> Command {
        Command::ListEnvs {
            app: None,
            stage: None,
        }
    }

    pub fn queue_join(env: &EnvName) -> Command {
        Command::QueueJoin {
            env: env_ref(env),
            git_ref: None,
        }
    }

    pub fn queue_leave(env: &EnvName) -> Command {
        Command::QueueLeave { env: env_ref(env) }
    }

    pub fn unlock(env: &EnvName) -> Command {
        Command::Unlock {
            env: env_ref(env),
            force: false,
        }
    }

    pub fn cancel(env: &EnvName) -> Command {
        Command::Cancel { env: env_ref(env) }
    }

    pub fn destroy(env: &EnvName) -> Command {
        Command::Destroy { env: env_ref(env) }
    }

    pub fn status(env: &EnvName) -> Command {
        Command::EnvStatus { env: env_ref(env) }
    }

    pub fn extend(env: &EnvName, duration: Option<Span>) -> Command {
        Command::Extend {
            env: env_ref(env),
            duration,
        }
    }

    pub fn wake(env: &EnvName) -> Command {
        Command::Wake { env: env_ref(env) }
    }

    pub fn history(env: &EnvName) -> Command {
        Command::History {
            app: None,
            env: Some(env.clone()),
        }
    }

    pub fn promote(from: &EnvName, to: EnvName) -> Command {
        Command::Promote {
            from: env_ref(from),
            to,
            force: false,
        }
    }

    pub fn reset(env: &EnvName, source: &EnvName) -> Command {
        Command::Reset {
            env: env_ref(env),
            source: source.clone(),
        }
    }
}

impl fmt::Display for Fix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |f: &mut fmt::Formatter<'_>, fixes: &[Fix], between: &str| {
            for (i, fix) in fixes.iter().enumerate() {
                if i > 0 {
                    f.write_str(between)?;
                }
                write!(f, "{fix}")?;
            }
            Ok(())
        };
        match self {
            Fix::Run(command) => write!(f, "`{command}`"),
            Fix::Template(template) => write!(f, "`{template}`"),
            Fix::Ask { who, to } => {
                f.write_str("ask ")?;
                for (i, asked) in who.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" or ")?;
                    }
                    write!(f, "{asked}")?;
                }
                match to {
                    Some(to) => write!(f, " to {to}"),
                    None => Ok(()),
                }
            }
            Fix::Wait(wait) => write!(f, "{wait}"),
            Fix::Advice(advice) => write!(f, "{advice}"),
            Fix::Either(fixes) => list(f, fixes, ", or "),
            Fix::Then(fixes) => list(f, fixes, "; "),
            Fix::Noted { fix, note } => write!(f, "{fix}{note}"),
        }
    }
}

impl fmt::Display for Asked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Asked::Person(actor) => write!(f, "{actor}"),
            Asked::Role(role) => write!(f, "a {role}"),
        }
    }
}

impl fmt::Display for Placeholder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Placeholder::Reason => "<reason>",
            Placeholder::Branch => "<branch>",
            Placeholder::Release => "<release>",
        })
    }
}

impl fmt::Display for Template {
    /// The command as it would be typed, the placeholder in angle brackets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let blank = self.placeholder();
        match self {
            Template::Lock { env } => write!(f, "lock {env} for {blank}"),
            Template::Deploy { env } => write!(f, "deploy {blank} to {env}"),
            Template::Rollback { env } => write!(f, "rollback {env} to {blank}"),
        }
    }
}

impl fmt::Display for Wait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Wait::ForItToFinish => f.write_str("wait for it to finish"),
            Wait::ForYourTurn => f.write_str("wait for your turn"),
            Wait::UntilToldOfYourTurn => f.write_str("wait: you will be told when it is your turn"),
            Wait::ForClaim { by, within } => write!(
                f,
                "{by} has {} to claim it before it passes on",
                human_duration(*within)
            ),
        }
    }
}

impl fmt::Display for Advice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Advice::NameAConfiguredApp { list } => write!(
                f,
                "name a configured app (`{list}` lists them) or ask an admin to add it"
            ),
            Advice::CheckTheRefAndPush => {
                f.write_str("check the spelling and push the branch, then deploy again")
            }
            Advice::AddYouToTheDevelopers => f.write_str("add you to rushbox's developers"),
            Advice::DestroyOneYouNoLongerNeed => {
                f.write_str("`destroy` a dev env you no longer need")
            }
            Advice::DestroyOneOfTheirsFirst => f.write_str("`destroy` one of theirs first"),
            Advice::DeployTo { env } => write!(f, "deploy to {env}"),
            Advice::PromoteInOrder => f.write_str("promote along dev → staging → prod"),
            Advice::GiveWorksOnDevEnvsOnly => f.write_str("`give` works on dev envs only"),
        }
    }
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Note::First => f.write_str(" first"),
            Note::ListsTheEnvs => f.write_str(" lists the envs there are"),
            Note::ListsItsReleases => f.write_str(" lists its releases"),
            Note::ShowsItsState => f.write_str(" shows its state"),
            Note::ToTakeIt => f.write_str(" to take it"),
            Note::ToJoinIt => f.write_str(" to join it"),
            Note::WhenDone => f.write_str(" when done"),
            Note::AlreadyRunning => f.write_str(": it is already running"),
            Note::OrAnotherYouNoLongerNeed => f.write_str(" (or another you no longer need)"),
            Note::See(command) => write!(f, " (see `{command}`)"),
            Note::ToGiveUp(command) => write!(f, " (`{command}` to give up)"),
        }
    }
}
