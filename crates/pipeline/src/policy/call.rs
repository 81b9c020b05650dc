//! What can be asked of the pipeline: [`Call`] (each request, already resolved
//! by I/O) and [`Finish`] (how an operation ended). Data and its wording only;
//! the rules that judge a call live in the sibling modules.

use std::fmt;

use rushbox_command::{AppName, EnvName, GitRef, ReleaseId, Span, Target};

use crate::model::Actor;

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
