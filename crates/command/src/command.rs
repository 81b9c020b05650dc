//! The typed result of parsing: [`Command`] when the text is a request,
//! [`Rejection`] when it is not, and [`Report`], the flat shape that
//! `rushbox parse --json` prints.

use std::fmt;

use serde::Serialize;

use crate::intent::Intent;
use crate::names::{AppName, EnvName, GitRef, NameError, ReleaseId, Span, Stage, UserRef};

/// One environment, optionally of a named app (`api/staging`); without an app
/// the engine uses the default app.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EnvRef {
    pub app: Option<AppName>,
    pub env: EnvName,
}

impl EnvRef {
    pub fn new(env: EnvName) -> EnvRef {
        EnvRef { app: None, env }
    }

    pub fn staging() -> EnvRef {
        EnvRef::new(EnvName::staging())
    }
}

impl fmt::Display for EnvRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.app {
            Some(app) => write!(f, "{app}/{}", self.env),
            None => write!(f, "{}", self.env),
        }
    }
}

/// Where a deploy goes: the `dev` stage (the engine names the env from the
/// branch, `dev-<slug>`), or one named env.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    Dev,
    Env(EnvName),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Dev => f.write_str("dev"),
            Target::Env(env) => write!(f, "{env}"),
        }
    }
}

/// A request, parsed and validated. Each variant is one [`Intent`].
/// `Display` renders the canonical text, which parses back to the same value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Command {
    /// Build and deploy a ref. `force` (`deploy!`) asks to override a
    /// running operation; `hosts` is hubot-deploy's `to env/hosts`.
    Deploy {
        app: Option<AppName>,
        git_ref: GitRef,
        target: Target,
        hosts: Option<String>,
        force: bool,
    },
    /// Move the release running on `from` to `to`, without rebuilding.
    Promote {
        from: EnvRef,
        to: EnvName,
        force: bool,
    },
    /// List environments, all or of one stage or app.
    ListEnvs {
        app: Option<AppName>,
        stage: Option<Stage>,
    },
    EnvStatus {
        env: EnvRef,
    },
    /// Take the lock of an env; `force` (`steal`, `lock!`) takes it from its holder.
    Lock {
        env: EnvRef,
        reason: Option<String>,
        duration: Option<Span>,
        force: bool,
    },
    Unlock {
        env: EnvRef,
        force: bool,
    },
    LockStatus {
        env: EnvRef,
    },
    /// Wait in line for an env's lock, optionally naming what will go there.
    QueueJoin {
        env: EnvRef,
        git_ref: Option<GitRef>,
    },
    QueueLeave {
        env: EnvRef,
    },
    QueueStatus {
        env: EnvRef,
    },
    Destroy {
        env: EnvRef,
    },
    Suspend {
        env: EnvRef,
    },
    Wake {
        env: EnvRef,
    },
    /// Give an env (or its lock) more time; `None` means the configured step.
    Extend {
        env: EnvRef,
        duration: Option<Span>,
    },
    /// Cancel the operation running on an env.
    Cancel {
        env: EnvRef,
    },
    /// Redeploy an earlier release (the previous one when `None`).
    Rollback {
        env: EnvRef,
        release: Option<ReleaseId>,
    },
    /// Put `source`'s release back on `env` (`reset staging to prod`).
    Reset {
        env: EnvRef,
        source: EnvName,
    },
    History {
        app: Option<AppName>,
        env: Option<EnvName>,
    },
    Owner {
        env: EnvRef,
    },
    Transfer {
        env: EnvRef,
        user: UserRef,
    },
    Logs {
        env: EnvRef,
    },
    Help {
        topic: Option<String>,
    },
}

impl Command {
    pub fn intent(&self) -> Intent {
        match self {
            Command::Deploy { .. } => Intent::Deploy,
            Command::Promote { .. } => Intent::Promote,
            Command::ListEnvs { .. } => Intent::ListEnvs,
            Command::EnvStatus { .. } => Intent::EnvStatus,
            Command::Lock { .. } => Intent::Lock,
            Command::Unlock { .. } => Intent::Unlock,
            Command::LockStatus { .. } => Intent::LockStatus,
            Command::QueueJoin { .. } => Intent::QueueJoin,
            Command::QueueLeave { .. } => Intent::QueueLeave,
            Command::QueueStatus { .. } => Intent::QueueStatus,
            Command::Destroy { .. } => Intent::Destroy,
            Command::Suspend { .. } => Intent::Suspend,
            Command::Wake { .. } => Intent::Wake,
            Command::Extend { .. } => Intent::Extend,
            Command::Cancel { .. } => Intent::Cancel,
            Command::Rollback { .. } => Intent::Rollback,
            Command::Reset { .. } => Intent::Reset,
            Command::History { .. } => Intent::History,
            Command::Owner { .. } => Intent::Owner,
            Command::Transfer { .. } => Intent::Transfer,
            Command::Logs { .. } => Intent::Logs,
            Command::Help { .. } => Intent::Help,
        }
    }

    /// True for commands that change nothing (safe to run from any channel, cheap to answer).
    pub fn is_read_only(&self) -> bool {
        matches!(
            self,
            Command::ListEnvs { .. }
                | Command::EnvStatus { .. }
                | Command::LockStatus { .. }
                | Command::QueueStatus { .. }
                | Command::History { .. }
                | Command::Owner { .. }
                | Command::Logs { .. }
                | Command::Help { .. }
        )
    }
}

/// True when a lock reason would be misread after `for` (it starts like a duration).
fn reason_needs_colon(reason: &str) -> bool {
    let first = reason.split(' ').next().unwrap_or("");
    first.starts_with(|c: char| c.is_ascii_digit())
        || ["a", "an", "one", "another", "two", "three"]
            .iter()
            .any(|w| w.eq_ignore_ascii_case(first))
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bang = |force: &bool| if *force { "!" } else { "" };
        match self {
            Command::Deploy {
                app,
                git_ref,
                target,
                hosts,
                force,
            } => {
                match app {
                    // `app branch ref` rather than `app/ref`: it reads the same under any
                    // configuration and whatever the ref looks like.
                    Some(app) => write!(
                        f,
                        "deploy{} {app} branch {git_ref} to {target}",
                        bang(force)
                    )?,
                    None => write!(f, "deploy{} branch {git_ref} to {target}", bang(force))?,
                }
                match hosts {
                    Some(hosts) => write!(f, "/{hosts}"),
                    None => Ok(()),
                }
            }
            Command::Promote { from, to, force } => {
                write!(f, "promote{} {from} to {to}", bang(force))
            }
            Command::ListEnvs { app, stage } => {
                if let Some(stage) = stage {
                    write!(f, "{stage} ")?;
                }
                f.write_str("envs")?;
                match app {
                    Some(app) => write!(f, " for {app}"),
                    None => Ok(()),
                }
            }
            Command::EnvStatus { env } => write!(f, "status {env}"),
            Command::Lock {
                env,
                reason,
                duration,
                force,
            } => {
                write!(f, "lock{} {env}", bang(force))?;
                if let Some(duration) = duration {
                    write!(f, " for {duration}")?;
                }
                match (reason, duration) {
                    (Some(reason), Some(_)) => write!(f, ": {reason}"),
                    (Some(reason), None) if reason_needs_colon(reason) => write!(f, ": {reason}"),
                    (Some(reason), None) => write!(f, " for {reason}"),
                    (None, _) => Ok(()),
                }
            }
            Command::Unlock { env, force } => write!(f, "unlock{} {env}", bang(force)),
            Command::LockStatus { env } => write!(f, "who has {env}"),
            Command::QueueJoin { env, git_ref: None } => write!(f, "queue me for {env}"),
            Command::QueueJoin {
                env,
                git_ref: Some(git_ref),
            } => {
                write!(f, "queue branch {git_ref} for {env}")
            }
            Command::QueueLeave { env } => write!(f, "leave the {env} queue"),
            Command::QueueStatus { env } => write!(f, "{env} queue"),
            Command::Destroy { env } => write!(f, "destroy {env}"),
            Command::Suspend { env } => write!(f, "suspend {env}"),
            Command::Wake { env } => write!(f, "wake {env}"),
            Command::Extend {
                env,
                duration: None,
            } => write!(f, "extend {env}"),
            Command::Extend {
                env,
                duration: Some(duration),
            } => {
                write!(f, "extend {env} by {duration}")
            }
            Command::Cancel { env } => write!(f, "cancel {env}"),
            Command::Rollback { env, release: None } => write!(f, "rollback {env}"),
            Command::Rollback {
                env,
                release: Some(release),
            } => {
                write!(f, "rollback {env} to {release}")
            }
            Command::Reset { env, source } => write!(f, "reset {env} to {source}"),
            Command::History { app, env } => match (app, env) {
                (None, None) => f.write_str("history"),
                (Some(app), None) => write!(f, "history for {app}"),
                (None, Some(env)) => write!(f, "history {env}"),
                (Some(app), Some(env)) => write!(f, "history {app}/{env}"),
            },
            Command::Owner { env } => write!(f, "who owns {env}"),
            Command::Transfer { env, user } => write!(f, "give {env} to {user}"),
            Command::Logs { env } => write!(f, "logs {env}"),
            Command::Help { topic: None } => f.write_str("help"),
            Command::Help { topic: Some(topic) } => write!(f, "help {topic}"),
        }
    }
}

/// Why a line that looked like a command can't be run as typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// The whole line is over [`crate::MAX_LINE_BYTES`].
    LineTooLong { len: usize },
    /// The line's bytes are not UTF-8 text: `byte` at `position` (from 0) is the first that breaks it.
    NotUtf8 { byte: u8, position: usize },
    /// A name in the command breaks a rule (`feat;$(id)`, `Feat_X`).
    BadName {
        role: &'static str,
        error: NameError,
    },
    /// A link or mention where a name belongs (`<http://fix.io|fix.io>`).
    NotAName { role: &'static str },
    /// A lock reason that is too long or has control characters.
    BadReason { why: &'static str },
    /// The command needs one more thing; `usage` shows how to say it.
    Incomplete { what: &'static str, usage: String },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::LineTooLong { len } => write!(
                f,
                "that message is {len} bytes; commands are at most {} bytes",
                crate::MAX_LINE_BYTES
            ),
            ParseError::NotUtf8 { byte, position } => write!(
                f,
                "that text is not valid UTF-8 (byte {byte:#04x} at position {position})"
            ),
            ParseError::BadName { role, error } => write!(f, "bad {role}: {error}"),
            ParseError::NotAName { role } => {
                write!(
                    f,
                    "expected {role}, got a link or mention; type the name as plain text"
                )
            }
            ParseError::BadReason { why } => write!(f, "bad reason: {why}"),
            ParseError::Incomplete { what, usage } => write!(f, "{what}: say `{usage}`"),
        }
    }
}

impl std::error::Error for ParseError {}

/// A line that is not a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// Not understood. `suggestions` are canonical commands (or usage lines)
    /// close to what was typed, at most three; never run on their own.
    Unknown { suggestions: Vec<String> },
    /// Understood, but something in it breaks a rule.
    Invalid {
        error: ParseError,
        suggestions: Vec<String>,
    },
}

impl Rejection {
    pub fn intent(&self) -> Intent {
        match self {
            Rejection::Unknown { .. } => Intent::Unknown,
            Rejection::Invalid { .. } => Intent::Invalid,
        }
    }

    pub fn suggestions(&self) -> &[String] {
        match self {
            Rejection::Unknown { suggestions } | Rejection::Invalid { suggestions, .. } => {
                suggestions
            }
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // The error already says what to type instead.
            Rejection::Invalid { error, .. } => write!(f, "Can't do that: {error}."),
            Rejection::Unknown { suggestions } if suggestions.is_empty() => {
                f.write_str("I didn't understand that. Say `help` to see what I can do.")
            }
            Rejection::Unknown { suggestions } => {
                let quoted: Vec<String> = suggestions.iter().map(|s| format!("`{s}`")).collect();
                write!(
                    f,
                    "I didn't understand that. Did you mean {}?",
                    quoted.join(" or ")
                )
            }
        }
    }
}

/// The flat shape of a parse, one key per thing a command can carry, `None`
/// where absent. This is the stable contract of `rushbox parse --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub intent: &'static str,
    pub app: Option<String>,
    #[serde(rename = "ref")]
    pub git_ref: Option<String>,
    pub source: Option<String>,
    pub target: Option<String>,
    pub force: bool,
    pub reason: Option<String>,
    pub duration_secs: Option<u64>,
    pub user: Option<String>,
    pub release: Option<String>,
    pub hosts: Option<String>,
    pub topic: Option<String>,
    pub suggestions: Vec<String>,
    pub error: Option<String>,
}

impl Report {
    fn empty(intent: Intent) -> Report {
        Report {
            intent: intent.as_str(),
            app: None,
            git_ref: None,
            source: None,
            target: None,
            force: false,
            reason: None,
            duration_secs: None,
            user: None,
            release: None,
            hosts: None,
            topic: None,
            suggestions: Vec::new(),
            error: None,
        }
    }

    fn env(mut self, env: &EnvRef) -> Report {
        self.app = env.app.as_ref().map(|a| a.to_string());
        self.target = Some(env.env.to_string());
        self
    }

    pub fn new(parsed: &Result<Command, Rejection>) -> Report {
        match parsed {
            Ok(command) => Report::of_command(command),
            Err(rejection) => {
                let mut report = Report::empty(rejection.intent());
                report.suggestions = rejection.suggestions().to_vec();
                if let Rejection::Invalid { error, .. } = rejection {
                    report.error = Some(error.to_string());
                }
                report
            }
        }
    }

    pub(crate) fn of_command(command: &Command) -> Report {
        let report = Report::empty(command.intent());
        let text = |s: &dyn fmt::Display| Some(s.to_string());
        match command {
            Command::Deploy {
                app,
                git_ref,
                target,
                hosts,
                force,
            } => Report {
                app: app.as_ref().map(|a| a.to_string()),
                git_ref: text(git_ref),
                target: text(target),
                hosts: hosts.clone(),
                force: *force,
                ..report
            },
            Command::Promote { from, to, force } => Report {
                app: from.app.as_ref().map(|a| a.to_string()),
                source: text(&from.env),
                target: text(to),
                force: *force,
                ..report
            },
            Command::ListEnvs { app, stage } => Report {
                app: app.as_ref().map(|a| a.to_string()),
                target: stage.map(|s| s.to_string()),
                ..report
            },
            Command::Lock {
                env,
                reason,
                duration,
                force,
            } => Report {
                reason: reason.clone(),
                duration_secs: duration.map(Span::secs),
                force: *force,
                ..report.env(env)
            },
            Command::Unlock { env, force } => Report {
                force: *force,
                ..report.env(env)
            },
            Command::QueueJoin { env, git_ref } => Report {
                git_ref: git_ref.as_ref().map(|r| r.to_string()),
                ..report.env(env)
            },
            Command::Extend { env, duration } => Report {
                duration_secs: duration.map(Span::secs),
                ..report.env(env)
            },
            Command::Rollback { env, release } => Report {
                release: release.as_ref().map(|r| r.to_string()),
                ..report.env(env)
            },
            Command::Reset { env, source } => Report {
                source: text(source),
                ..report.env(env)
            },
            Command::History { app, env } => Report {
                app: app.as_ref().map(|a| a.to_string()),
                target: env.as_ref().map(|e| e.to_string()),
                ..report
            },
            Command::Transfer { env, user } => Report {
                user: Some(user.as_str().to_owned()),
                ..report.env(env)
            },
            Command::Help { topic } => Report {
                topic: topic.clone(),
                ..report
            },
            Command::EnvStatus { env }
            | Command::LockStatus { env }
            | Command::QueueLeave { env }
            | Command::QueueStatus { env }
            | Command::Destroy { env }
            | Command::Suspend { env }
            | Command::Wake { env }
            | Command::Cancel { env }
            | Command::Owner { env }
            | Command::Logs { env } => report.env(env),
        }
    }
}
