//! The `local` provider, rushbox's embedded default: envs on this machine.
//! A git worktree per env, the app's build run once per commit into a
//! content-addressed artifact (promotion reuses it), the app's run command
//! supervised in its own process group, a data directory cloned from
//! staging's. The router reaches envs through [`LocalProvider::backend`] and
//! [`LocalProvider::wake_blocking`]; it lives elsewhere.
//!
//! This module holds [`LocalProvider`], its live per-env state and the
//! [`Provider`] impl, which only dispatches. The rest: `config` (settings
//! and their checks), `layout` (what lives where under `root`), `actions`
//! (what is done to envs), `health` (starting an app until it is ready),
//! `supervisor` (keeping it running), `log` (its log), `workspace` (git
//! worktrees, artifact keys, directory copies).

mod actions;
mod config;
mod health;
mod layout;
mod log;
mod supervisor;
mod workspace;

use std::collections::BTreeMap;
use std::fs;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use rushbox_command::{AppName, EnvName};

use super::{
    Action, CancelToken, CrashLoop, Outcome, Provider, ProviderConfigError, ProviderError, Request,
};
use crate::process::GroupLedger;
pub use config::{Argv, HealthPath, LocalApp, LocalConfig};
use log::Log;
use supervisor::Supervisor;

type EnvKey = (AppName, EnvName);

/// One env's live state. `op` serialises changes (provider actions and the
/// start a wake makes); `state` is held only briefly.
#[derive(Default)]
struct EnvSlot {
    op: Mutex<()>,
    state: Mutex<SlotState>,
    changed: Condvar,
    log: OnceLog,
}

#[derive(Default)]
struct OnceLog(std::sync::OnceLock<Arc<Log>>);

#[derive(Default)]
struct SlotState {
    running: Option<Running>,
    /// A wake is starting the env; others wait for it instead of starting it too.
    starting: bool,
    wake_attempts: u64,
    last_wake_failure: Option<String>,
    /// Processes started for this env by this provider (tests count them).
    starts: u64,
}

struct Running {
    supervisor: Supervisor,
    addr: SocketAddr,
}

/// Envs on this machine. See the module docs.
///
/// ```no_run
/// use std::collections::BTreeMap;
/// use rushbox_command::{AppName, EnvName};
/// use rushbox_pipeline::provider::local::{LocalConfig, LocalProvider};
/// let config: LocalConfig = serde_json::from_str(r#"{
///     "root": "rushbox-data",
///     "apps": { "api": { "run": ["python3", "server.py"] } }
/// }"#).unwrap();
/// let api = AppName::parse("api").unwrap();
/// let provider = LocalProvider::new(config, BTreeMap::from([(api.clone(), "repos/api".into())]))?;
/// // What the router does for a request to dev-foo.localhost:8080:
/// let backend = provider.wake_blocking(&api, &EnvName::parse("dev-foo").unwrap());
/// # Ok::<(), rushbox_pipeline::provider::ProviderConfigError>(())
/// ```
pub struct LocalProvider {
    config: LocalConfig,
    repos: BTreeMap<AppName, PathBuf>,
    /// Every process group the provider starts, recorded before it runs.
    ledger: Arc<GroupLedger>,
    envs: Mutex<BTreeMap<EnvKey, Arc<EnvSlot>>>,
    /// One build at a time, so two envs on one commit build it once.
    build_lock: Mutex<()>,
    builds: AtomicU64,
    closed: AtomicBool,
}

/// `Mutex::lock` that carries on after a panic elsewhere: every guarded
/// value here stays consistent between statements.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn failed(message: impl Into<String>) -> ProviderError {
    ProviderError::Failed {
        message: message.into(),
    }
}

impl LocalProvider {
    /// `repos` maps each app to its repository on this machine. `root` is
    /// made absolute (apps run elsewhere and get paths under it). Touches
    /// no process: what a crashed rushbox left is for [`stop_leftovers`](Self::stop_leftovers).
    pub fn new(
        config: LocalConfig,
        repos: BTreeMap<AppName, PathBuf>,
    ) -> Result<LocalProvider, ProviderConfigError> {
        let config = config.checked()?;
        fs::create_dir_all(&config.root).map_err(|e| {
            ProviderConfigError(format!(
                "can't make the root directory `{}`: {e}",
                config.root.display()
            ))
        })?;
        let groups = LocalProvider::groups_dir(&config.root);
        let ledger = GroupLedger::open(&groups)
            .map_err(|e| ProviderConfigError(format!("can't make `{}`: {e}", groups.display())))?;
        Ok(LocalProvider {
            config,
            repos,
            ledger: Arc::new(ledger),
            envs: Mutex::new(BTreeMap::new()),
            build_lock: Mutex::new(()),
            builds: AtomicU64::new(0),
            closed: AtomicBool::new(false),
        })
    }

    pub fn config(&self) -> &LocalConfig {
        &self.config
    }

    /// Builds run by this provider since it was made (promotion doesn't add one).
    pub fn builds(&self) -> u64 {
        self.builds.load(Ordering::SeqCst)
    }

    /// Processes started for the env by this provider, restarts included.
    pub fn starts(&self, app: &AppName, env: &EnvName) -> u64 {
        self.existing_slot(app, env)
            .map_or(0, |slot| lock(&slot.state).starts)
    }

    /// Where the router sends the env's requests; `None` when it is not running.
    pub fn backend(&self, app: &AppName, env: &EnvName) -> Option<SocketAddr> {
        let slot = self.existing_slot(app, env)?;
        let state = lock(&slot.state);
        state.running.as_ref().map(|r| r.addr)
    }

    /// The running env's address, starting it first when it is suspended and
    /// waiting until it is healthy. Callers that arrive while a start is
    /// under way wait for that one: one start, however many callers.
    pub fn wake_blocking(&self, app: &AppName, env: &EnvName) -> Result<SocketAddr, String> {
        self.wake(app, env, &mut |_| {}, &CancelToken::new())
            .map_err(|e| e.to_string())
    }

    /// The last `lines` lines of the env's log (its output and rushbox's notes).
    pub fn logs_tail(&self, app: &AppName, env: &EnvName, lines: usize) -> Vec<String> {
        Log::tail(&self.logs_dir(app, env), lines)
    }

    fn slot(&self, app: &AppName, env: &EnvName) -> Arc<EnvSlot> {
        let mut envs = lock(&self.envs);
        Arc::clone(envs.entry((app.clone(), env.clone())).or_default())
    }

    fn existing_slot(&self, app: &AppName, env: &EnvName) -> Option<Arc<EnvSlot>> {
        lock(&self.envs)
            .get(&(app.clone(), env.clone()))
            .map(Arc::clone)
    }

    fn log(&self, slot: &EnvSlot, app: &AppName, env: &EnvName) -> Arc<Log> {
        Arc::clone(
            slot.log
                .0
                .get_or_init(|| Arc::new(Log::new(self.logs_dir(app, env)))),
        )
    }
}

impl Drop for LocalProvider {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl Provider for LocalProvider {
    fn name(&self) -> &str {
        "local"
    }

    fn crash_loop(&self, app: &AppName, env: &EnvName) -> Option<CrashLoop> {
        let slot = self.existing_slot(app, env)?;
        let state = lock(&slot.state);
        state.running.as_ref()?.supervisor.crash_loop()
    }

    fn run(
        &self,
        request: &Request,
        progress: &mut dyn FnMut(&str),
        cancel: &CancelToken,
    ) -> Result<Outcome, ProviderError> {
        request.ready(cancel)?;
        let (app, env) = (&request.app, &request.env);
        // Create, clone-data and deploy hold the env's `op` for their whole
        // run (a deploy's worktree is checked out and built, then the process
        // switched, with nothing in between); the others take it themselves.
        let slot = self.slot(app, env);
        let _op = matches!(
            request.action,
            Action::Create | Action::CloneData | Action::Deploy
        )
        .then(|| lock(&slot.op));
        match request.action {
            Action::Create => self.create(request, progress),
            Action::CloneData => self.clone_data(request, progress, cancel),
            Action::Deploy => self.deploy(request, progress, cancel),
            Action::Suspend => {
                self.suspend(app, env)?;
                progress(&format!("{env} is suspended; its data is kept"));
                Ok(Outcome::default())
            }
            Action::Wake => {
                self.wake(app, env, progress, cancel)?;
                Ok(Outcome {
                    address: Some(self.config.address(env)),
                })
            }
            Action::Destroy => {
                self.destroy(app, env, progress)?;
                Ok(Outcome::default())
            }
        }
    }
}
