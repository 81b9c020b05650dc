//! Providers make envs real. The engine decides; a provider acts, one
//! request at a time per env, reporting each line of progress and stopping
//! when asked. Implementations: `noop` (records, for dry runs and benchmarks)
//! `script` (runs the commands config gives) and `local` (each env on this
//! machine: a worktree, a build made once, a supervised process).

pub mod local;
pub mod noop;
pub mod script;

use std::fmt;

use rushbox_command::{AppName, EnvName, GitRef, ReleaseId};
use serde::{Deserialize, Serialize};

pub use crate::process::CancelToken;
pub use noop::NoopProvider;

/// What a provider is asked to do to one env.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Make a new env (a dev env is cloned from `source_env`, usually staging).
    Create,
    /// Copy `source_env`'s data into the env.
    CloneData,
    /// Run `commit` (built once as `release`) on the env.
    Deploy,
    Suspend,
    Wake,
    Destroy,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::CloneData => "clone-data",
            Action::Deploy => "deploy",
            Action::Suspend => "suspend",
            Action::Wake => "wake",
            Action::Destroy => "destroy",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One request to a provider. Every field is validated data; a provider
/// passes them to processes as arguments or environment variables, never
/// spliced into a shell string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub action: Action,
    pub app: AppName,
    pub env: EnvName,
    /// The ref the person asked for (`feature/login`), when there is one.
    pub git_ref: Option<GitRef>,
    /// The full commit id the ref resolved to.
    pub commit: Option<String>,
    /// The release being deployed: one build of one commit, promoted as is.
    pub release: Option<String>,
    /// Where config and data are cloned from (staging for a new dev env).
    pub source_env: Option<EnvName>,
}

impl Request {
    /// What every provider checks before it acts: the operation is not
    /// cancelled already, the commit is a hex commit id (4 to 64 digits)
    /// and the release a release id. The engine sends full ids, so anything
    /// else is a bug or an attack, and nothing that starts like an option
    /// may reach git or a command.
    pub(crate) fn ready(&self, cancel: &CancelToken) -> Result<(), ProviderError> {
        if cancel.is_cancelled() {
            return Err(ProviderError::Cancelled);
        }
        let refused = |what: String| {
            Err(ProviderError::Failed {
                message: format!("`{}` was given {what}", self.action),
            })
        };
        if let Some(commit) = &self.commit
            && (!commit.bytes().all(|b| b.is_ascii_hexdigit()) || !(4..=64).contains(&commit.len()))
        {
            return refused("a commit that is not a hex commit id".to_owned());
        }
        if let Some(release) = &self.release
            && let Err(e) = ReleaseId::parse(release)
        {
            return refused(format!("a bad release id: {e}"));
        }
        Ok(())
    }
}

/// What a finished request produced.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// Where people reach the env (`http://dev-foo.localhost:8080`), if it has an address.
    pub address: Option<String>,
}

/// Why a request failed, in words for the person who asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderError {
    /// Stopped because the operation was cancelled.
    Cancelled,
    /// The provider could not do it; `message` says why (last output lines, exit status).
    Failed { message: String },
    /// The provider is not set up for this action (no command configured).
    NotConfigured { action: Action },
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProviderError::Cancelled => f.write_str("cancelled"),
            ProviderError::Failed { message } => f.write_str(message),
            ProviderError::NotConfigured { action } => {
                write!(f, "the provider has no `{action}` command configured")
            }
        }
    }
}

impl std::error::Error for ProviderError {}

/// A provider setting that is refused as it is read (a command with no
/// program, a placeholder no request has, a domain that is no host name),
/// said for the person who wrote the config; the config loader puts the
/// file, line and key in front.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderConfigError(String);

impl fmt::Display for ProviderConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ProviderConfigError {}

/// An env whose app keeps exiting and being started again, as the provider
/// that supervises it sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrashLoop {
    /// Starts since it last ran steadily (each after an exit).
    pub restarts: u64,
    /// How the last run ended, in a few words: `code 3`, `signal 9 (SIGKILL)`.
    pub last_exit: String,
}

impl fmt::Display for CrashLoop {
    /// `crashing (restarted 3 times, last exit: code 3)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let times = if self.restarts == 1 { "time" } else { "times" };
        write!(
            f,
            "crashing (restarted {} {times}, last exit: {})",
            self.restarts, self.last_exit
        )
    }
}

/// A backend that makes envs real. Calls block (run them on a blocking
/// thread); `progress` receives one line per step or output line. Each
/// `run` starts with [`Request::ready`], the checks every provider makes.
pub trait Provider: Send + Sync {
    /// `noop`, `script`, `local`, …: shown in status and logs.
    fn name(&self) -> &str;

    fn run(
        &self,
        request: &Request,
        progress: &mut dyn FnMut(&str),
        cancel: &CancelToken,
    ) -> Result<Outcome, ProviderError>;

    /// Whether `run` changes nothing outside rushbox and returns at once
    /// (the `noop` provider's dry runs). The engine then runs such an
    /// operation to its end inside the call that starts it: no thread, and
    /// its start and end are made durable by the one sync of the call.
    fn effect_free(&self) -> bool {
        false
    }

    /// Whether the env's app is in a crash loop. Only a provider that
    /// supervises the app's process knows; the others say `None`.
    fn crash_loop(&self, _app: &AppName, _env: &EnvName) -> Option<CrashLoop> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deploy(commit: &str, release: &str) -> Request {
        Request {
            action: Action::Deploy,
            app: AppName::parse("shop").expect("a valid app name"),
            env: EnvName::parse("staging").expect("a valid env name"),
            git_ref: None,
            commit: Some(commit.to_owned()),
            release: Some(release.to_owned()),
            source_env: None,
        }
    }

    #[test]
    fn a_provider_acts_only_on_a_request_that_is_not_cancelled_and_holds_real_ids() {
        const COMMIT: &str = "f00f00f00f00f00f00f00f00f00f00f00f00f00f";
        let not_hex = Err(ProviderError::Failed {
            message: "`deploy` was given a commit that is not a hex commit id".to_owned(),
        });
        let table = [
            (COMMIT, "r12", Ok(())),
            ("--upload-pack=x", "r12", not_hex.clone()),
            ("f00", "r12", not_hex.clone()),
            (&COMMIT.repeat(2), "r12", not_hex),
        ];
        for (commit, release, ready) in table {
            assert_eq!(
                deploy(commit, release).ready(&CancelToken::new()),
                ready,
                "{commit} {release}"
            );
        }
        let Err(ProviderError::Failed { message }) =
            deploy(COMMIT, "-rf").ready(&CancelToken::new())
        else {
            panic!("a release id starting with `-` is refused");
        };
        assert!(
            message.starts_with("`deploy` was given a bad release id: "),
            "{message}"
        );
        let cancel = CancelToken::new();
        cancel.cancel();
        assert_eq!(
            deploy(COMMIT, "r12").ready(&cancel),
            Err(ProviderError::Cancelled)
        );
    }
}
