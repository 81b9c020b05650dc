//! One pattern's captures to a [`Command`]: each captured word is checked by
//! the rule of the name it stands for (branch, env, app, user, release) under
//! the configured apps and envs. Knows names and commands, not regexes.

use crate::command::{Command, EnvRef, ParseError, Target};
use crate::intent::Intent;
use crate::names::{AppName, EnvName, GitRef, NameError, ReleaseId, Span, Stage, UserRef};
use crate::table::{BRANCH_PREFIXES, GIT_REF_PREFIXES};

use super::MAX_REASON_BYTES;
use super::explain::STAND_IN_REF;
use super::matching::{Captured, Group};

/// What a pattern's captures amount to.
pub(super) enum Built {
    Command(Command),
    Invalid(ParseError),
    /// The pattern matched the words, but a name in it is not what the row
    /// expects (`deploy foo to stagign`: `stagign` is no env). Try the next one.
    TryNextPattern,
}

/// Reads captures as commands under the configuration: which apps exist,
/// which envs beyond `prod`, `staging` and `dev-*`.
pub(super) struct CommandBuilder {
    /// Configured app names; `None` means "use the branch-prefix rule".
    pub(super) apps: Option<Vec<String>>,
    /// Env names beyond `prod`, `staging` and `dev-*` that config declares.
    pub(super) extra_envs: Vec<String>,
    /// Every word the grammar reads, sorted: never an app without config.
    grammar_words: Vec<String>,
}

impl CommandBuilder {
    pub(super) fn new(grammar_words: Vec<String>) -> CommandBuilder {
        CommandBuilder {
            apps: None,
            extra_envs: Vec::new(),
            grammar_words,
        }
    }

    /// Turns one pattern's captures into a command of `intent`.
    pub(super) fn build(&self, intent: Intent, captured: &Captured) -> Built {
        let force = captured.get(Group::Force).is_some();
        match intent {
            Intent::Help => {
                let topic = captured.get(Group::Topic).map(|t| t.to_ascii_lowercase());
                match topic {
                    Some(t)
                        if t.len() > 60 || !t.chars().all(|c| c.is_ascii_graphic() || c == ' ') =>
                    {
                        Built::TryNextPattern
                    }
                    topic => Built::Command(Command::Help { topic }),
                }
            }
            Intent::Deploy => self.build_deploy(captured, force),
            Intent::Promote => {
                let Some(source) = captured.get(Group::Source) else {
                    return Built::TryNextPattern;
                };
                self.build_promote(source, captured.get(Group::Target), force)
            }
            Intent::ListEnvs => {
                let stage = match captured.get(Group::Stage) {
                    None => None,
                    Some(word) if word.eq_ignore_ascii_case("all") => None,
                    Some(word) => match Stage::from_word(word) {
                        Some(stage) => Some(stage),
                        None => return Built::TryNextPattern,
                    },
                };
                let app = match captured.get(Group::App).map(|a| self.app(a)) {
                    None => None,
                    Some(Ok(Some(app))) => Some(app),
                    Some(Ok(None)) => return Built::TryNextPattern,
                    Some(Err(e)) => return Built::Invalid(e),
                };
                Built::Command(Command::ListEnvs { app, stage })
            }
            Intent::History => {
                let app = match captured.get(Group::App).map(|a| self.app(a)) {
                    None => None,
                    Some(Ok(Some(app))) => Some(app),
                    Some(Ok(None)) => return Built::TryNextPattern,
                    Some(Err(e)) => return Built::Invalid(e),
                };
                match captured.get(Group::Env) {
                    None => Built::Command(Command::History { app, env: None }),
                    Some(token) => match self.env_ref(token) {
                        Ok(Some(env)) => Built::Command(Command::History {
                            app: env.app.or(app),
                            env: Some(env.env),
                        }),
                        Ok(None) if app.is_none() => match self.app(token) {
                            Ok(Some(app)) => Built::Command(Command::History {
                                app: Some(app),
                                env: None,
                            }),
                            Ok(None) => Built::TryNextPattern,
                            Err(e) => Built::Invalid(e),
                        },
                        Ok(None) => Built::TryNextPattern,
                        Err(e) => Built::Invalid(e),
                    },
                }
            }
            _ => self.build_env_command(intent, captured, force),
        }
    }

    /// The commands whose subject is one env (given, or staging by default for
    /// lock and queue commands, or derived from a branch: `my env for foo`).
    fn build_env_command(&self, intent: Intent, captured: &Captured, force: bool) -> Built {
        let env = match (captured.get(Group::Env), captured.get(Group::Ref)) {
            (Some(token), _) => match self.env_ref(token) {
                Ok(Some(env)) => env,
                Ok(None) => return Built::TryNextPattern,
                Err(e) => return Built::Invalid(e),
            },
            (None, Some(branch)) if intent != Intent::QueueJoin => match self.git_ref(branch) {
                Ok(git_ref) => EnvRef::new(EnvName::for_branch(&git_ref)),
                Err(e) => return Built::Invalid(e),
            },
            _ => EnvRef::staging(),
        };
        let duration = match captured.get(Group::Duration) {
            None => None,
            Some(text) => match Span::parse(text) {
                Some(span) => Some(span),
                None => {
                    return Built::Invalid(ParseError::Incomplete {
                        what: "durations run from one second to 366 days",
                        usage: format!("extend {env} by 1d"),
                    });
                }
            },
        };
        let command = match intent {
            Intent::EnvStatus => Command::EnvStatus { env },
            Intent::Lock => {
                let reason = match captured.get(Group::Reason).map(str::trim) {
                    None => None,
                    Some(reason) => match check_reason(reason) {
                        Ok(reason) => Some(reason),
                        Err(e) => return Built::Invalid(e),
                    },
                };
                Command::Lock {
                    env,
                    reason,
                    duration,
                    force,
                }
            }
            Intent::Unlock => Command::Unlock { env, force },
            Intent::LockStatus => Command::LockStatus { env },
            Intent::QueueJoin => {
                let git_ref = match captured.get(Group::Ref).map(|r| self.git_ref(r)) {
                    None => None,
                    Some(Ok(r)) if r.as_str().eq_ignore_ascii_case("me") => None,
                    Some(Ok(r)) => Some(r),
                    Some(Err(e)) => return Built::Invalid(e),
                };
                Command::QueueJoin { env, git_ref }
            }
            Intent::QueueLeave => Command::QueueLeave { env },
            Intent::QueueStatus => Command::QueueStatus { env },
            Intent::Destroy => Command::Destroy { env },
            Intent::Suspend => Command::Suspend { env },
            Intent::Wake => Command::Wake { env },
            Intent::Extend => Command::Extend { env, duration },
            Intent::Cancel => Command::Cancel { env },
            Intent::Rollback => {
                let release = match captured.get(Group::Release).map(ReleaseId::parse) {
                    None => None,
                    Some(Ok(release)) => Some(release),
                    Some(Err(error)) => {
                        return Built::Invalid(ParseError::BadName {
                            role: "release",
                            error,
                        });
                    }
                };
                Command::Rollback { env, release }
            }
            Intent::Reset => {
                let source = match captured.get(Group::Source).map(|s| self.env_ref(s)) {
                    None => EnvName::prod(),
                    Some(Ok(Some(EnvRef { app: None, env }))) => env,
                    Some(Ok(_)) => return Built::TryNextPattern,
                    Some(Err(e)) => return Built::Invalid(e),
                };
                Command::Reset { env, source }
            }
            Intent::Owner => Command::Owner { env },
            Intent::Transfer => {
                let Some(user) = captured.get(Group::User) else {
                    return Built::TryNextPattern;
                };
                match UserRef::parse(user) {
                    Ok(user) => Command::Transfer { env, user },
                    Err(error) => {
                        return Built::Invalid(ParseError::BadName {
                            role: "user",
                            error,
                        });
                    }
                }
            }
            Intent::Logs => Command::Logs { env },
            _ => return Built::TryNextPattern,
        };
        Built::Command(command)
    }

    fn build_deploy(&self, captured: &Captured, force: bool) -> Built {
        if let Some(verb) = captured.get(Group::BareVerb) {
            return Built::Invalid(ParseError::Incomplete {
                what: "which branch?",
                usage: format!("{} branch <ref> to dev", verb.to_ascii_lowercase()),
            });
        }
        let explicit_app = match captured.get(Group::App) {
            None => None,
            Some(word) if ARTICLES.iter().any(|a| a.eq_ignore_ascii_case(word)) => None,
            Some(word) => match AppName::parse(word) {
                Ok(app) => Some(app),
                Err(error) => return Built::Invalid(ParseError::BadName { role: "app", error }),
            },
        };
        let (app, git_ref) = if let Some(branch) = captured.get(Group::Ref) {
            (explicit_app, branch)
        } else if let Some(token) = captured.get(Group::RefNotEnv) {
            // `spin up dev-foo` wakes an env; only a branch is deployed here.
            if self.is_env_like(token) {
                return Built::TryNextPattern;
            }
            self.split_app(token)
        } else if let Some(token) = captured.get(Group::RefOrEnv) {
            // An env where the ref belongs means promotion: `deploy staging to prod`.
            if self.is_env_like(token) {
                return self.build_promote(token, captured.get(Group::Target), force);
            }
            self.split_app(token)
        } else {
            return Built::TryNextPattern;
        };
        let git_ref = match self.git_ref(git_ref) {
            Ok(r) => r,
            Err(e) => return Built::Invalid(e),
        };
        let (target, hosts) = match captured.get(Group::Target) {
            None => (Target::Dev, None),
            Some(token) => {
                let (env, hosts) = match token.split_once('/') {
                    Some((env, hosts)) if !env.eq_ignore_ascii_case("dev") => (env, Some(hosts)),
                    _ => (token, None),
                };
                let target = if Stage::from_word(env) == Some(Stage::Dev) {
                    Target::Dev
                } else {
                    match self.env_name(env) {
                        Ok(Some(env)) => Target::Env(env),
                        Ok(None) => return Built::TryNextPattern,
                        Err(e) => return Built::Invalid(e),
                    }
                };
                let hosts = match hosts.map(check_hosts) {
                    None => None,
                    Some(Ok(hosts)) => Some(hosts),
                    Some(Err(e)) => return Built::Invalid(e),
                };
                (target, hosts)
            }
        };
        Built::Command(Command::Deploy {
            app,
            git_ref,
            target,
            hosts,
            force,
        })
    }

    /// `promote <source> [to <target>]`. Without a target a dev env goes to
    /// staging; anything else must say where, since prod is never a default.
    fn build_promote(&self, source: &str, target: Option<&str>, force: bool) -> Built {
        let from = match self.env_ref(source) {
            Ok(Some(from)) => from,
            Ok(None) => return Built::TryNextPattern,
            Err(e) => return Built::Invalid(e),
        };
        let to = match target {
            Some(token) => match self.env_name(token) {
                Ok(Some(to)) => to,
                Ok(None) => return Built::TryNextPattern,
                Err(e) => return Built::Invalid(e),
            },
            None if from.env.stage() == Some(Stage::Dev) => EnvName::staging(),
            None => {
                let next = if from.env == EnvName::staging() {
                    "prod"
                } else {
                    "<env>"
                };
                return Built::Invalid(ParseError::Incomplete {
                    what: "which environment? Production is never a default",
                    usage: format!("promote {from} to {next}"),
                });
            }
        };
        if to == from.env {
            return Built::Invalid(ParseError::Incomplete {
                what: "an env can't be promoted to itself",
                usage: format!("promote {from} to <env>"),
            });
        }
        Built::Command(Command::Promote { from, to, force })
    }

    /// True when a token names an env rather than a branch: a stage word,
    /// `dev-x`, `x.dev`, `dev/x`, a configured env, optionally after `app/`.
    fn is_env_like(&self, token: &str) -> bool {
        let (app, rest) = match token.split_once('/') {
            Some((first, rest)) if !first.eq_ignore_ascii_case("dev") => (Some(first), rest),
            _ => (None, token),
        };
        if app.is_some_and(|app| !self.is_app(app)) {
            return false;
        }
        let lower = rest.to_ascii_lowercase();
        matches!(Stage::from_word(&lower), Some(Stage::Prod | Stage::Staging))
            || lower == "dev"
            || lower.starts_with("dev-")
            || lower.starts_with("dev/")
            || lower.ends_with(".dev")
            || self.extra_envs.contains(&lower)
    }

    /// `[app/]env` → `Ok(None)` when the token is no env (try another reading).
    fn env_ref(&self, token: &str) -> Result<Option<EnvRef>, ParseError> {
        if !self.is_env_like(token) {
            return Ok(None);
        }
        let (app, env) = match token.split_once('/') {
            Some((first, rest)) if !first.eq_ignore_ascii_case("dev") => (self.app(first)?, rest),
            _ => (None, token),
        };
        let env =
            EnvName::from_user(env).map_err(|error| ParseError::BadName { role: "env", error })?;
        Ok(Some(EnvRef { app, env }))
    }

    /// An env with no app part.
    fn env_name(&self, token: &str) -> Result<Option<EnvName>, ParseError> {
        if token.contains('/') && !token.to_ascii_lowercase().starts_with("dev/") {
            return Ok(None);
        }
        Ok(self.env_ref(token)?.map(|r| r.env))
    }

    /// True when `name/…` is read as an app prefix: a configured app, or
    /// without configuration any app name that is not a conventional branch
    /// prefix (`feature`, `fix`, …).
    pub(super) fn is_app(&self, name: &str) -> bool {
        let lower = name.to_ascii_lowercase();
        match &self.apps {
            // A stand-in (`bad_name_in`) may take an app's place, so `envs for $(x)` is explained too.
            Some(apps) => apps.contains(&lower) || lower.starts_with(STAND_IN_REF),
            // A word of the grammar (`my`, `me`, `ty`) reads as that word.
            None => {
                self.grammar_words.binary_search(&lower).is_err()
                    && !BRANCH_PREFIXES.contains(&lower.as_str())
                    && !GIT_REF_PREFIXES.contains(&lower.as_str())
                    && AppName::parse(&lower).is_ok()
            }
        }
    }

    fn app(&self, token: &str) -> Result<Option<AppName>, ParseError> {
        if token.starts_with('<') {
            return Err(ParseError::NotAName {
                role: "an app name",
            });
        }
        if !self.is_app(token) {
            return Ok(None);
        }
        AppName::parse(token)
            .map(Some)
            .map_err(|error| ParseError::BadName { role: "app", error })
    }

    /// `api/foo` → (`api`, `foo`) when `api` is an app; otherwise the whole token is the ref.
    fn split_app<'t>(&self, token: &'t str) -> (Option<AppName>, &'t str) {
        if let Some((first, rest)) = token.split_once('/')
            && !rest.is_empty()
            && self.is_app(first)
            && let Ok(app) = AppName::parse(first)
        {
            return (Some(app), rest);
        }
        (None, token)
    }

    /// A branch, tag or commit as typed; `refs/heads/` is dropped.
    pub(super) fn git_ref(&self, token: &str) -> Result<GitRef, ParseError> {
        if token.starts_with('<') && token.ends_with('>') {
            return Err(ParseError::NotAName {
                role: "a branch name",
            });
        }
        // `refs/heads/foo` is git's full name of the branch `foo`.
        let token = match token.strip_prefix("refs/heads/") {
            Some(branch) if !branch.is_empty() => branch,
            _ => token,
        };
        GitRef::parse(token).map_err(|error| ParseError::BadName {
            role: "branch",
            error,
        })
    }
}

fn check_reason(reason: &str) -> Result<String, ParseError> {
    if reason.len() > MAX_REASON_BYTES {
        return Err(ParseError::BadReason {
            why: "at most 300 bytes",
        });
    }
    if reason.chars().any(|c| c.is_control() || is_invisible(c)) {
        return Err(ParseError::BadReason {
            why: "no control or invisible characters",
        });
    }
    Ok(reason.to_owned())
}

fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2064}' | '\u{feff}')
}

/// hubot-deploy's `to env/hosts`: host names separated by commas.
fn check_hosts(hosts: &str) -> Result<String, ParseError> {
    let error = |error| ParseError::BadName {
        role: "hosts",
        error,
    };
    if hosts.is_empty() || hosts.len() > 200 {
        return Err(error(NameError::BadShape {
            what: "a host list",
            rule: "must be 1 to 200 bytes",
        }));
    }
    if let Some(ch) = hosts
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || ".,-_".contains(*c)))
    {
        return Err(error(NameError::ForbiddenChar {
            what: "a host list",
            ch,
            allowed: "letters, digits, `.`, `-`, `_`, separated by `,`",
        }));
    }
    if hosts.starts_with('-') || hosts.contains(",-") {
        return Err(error(NameError::BadShape {
            what: "a host name",
            rule: "can't start with `-`",
        }));
    }
    Ok(hosts.to_ascii_lowercase())
}

/// Words that may stand before `branch` without naming an app.
const ARTICLES: &[&str] = &["the", "my", "our", "this", "that", "a", "an", "new"];
