//! The `local` provider, rushbox's embedded default: envs on this machine.
//! A git worktree per env, the app's build run once per commit into a
//! content-addressed artifact (promotion reuses it), the app's run command
//! supervised in its own process group, a data directory cloned from
//! staging's. The router reaches envs through [`LocalProvider::backend`] and
//! [`LocalProvider::wake_blocking`]; it lives elsewhere.
//!
//! Layout under `root`: `worktrees/<app>/<env>/`, `artifacts/<key>/`,
//! `data/<app>/<env>/`, `logs/<app>/<env>/current.log`, `envs/<app>/<env>.json`
//! (which artifact the env runs and whether it should be running),
//! `groups/` (the ledger of the process groups running: builds, clone-data
//! commands and apps, which [`LocalProvider::stop_leftovers`] stops after a
//! crash).

mod log;
mod supervisor;
mod workspace;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use rushbox_command::{AppName, EnvName};
use serde::{Deserialize, Serialize};

use super::script::StaticEnv;
use super::{Action, CancelToken, CrashLoop, Outcome, Provider, ProviderError, Request};
use crate::process::{self, Ended, GroupLedger, Limits, Spec, Tail};
use log::Log;
use supervisor::Supervisor;

/// Log lines quoted when an app fails to start, and output lines when a
/// build or clone-data command fails.
const LOG_LINES_IN_ERRORS: usize = 10;
const OUTPUT_LINES_IN_ERRORS: usize = 8;
/// Bytes of a health check's answer read (the rest is not waited for).
const MAX_HEALTH_ANSWER: u64 = 64 * 1024;
/// How often a starting app is asked for its health path.
const HEALTH_POLL: Duration = Duration::from_millis(50);

/// The `local` provider's config.
///
/// ```
/// use rushbox_pipeline::provider::local::LocalConfig;
/// let config: LocalConfig = serde_json::from_value(serde_json::json!({
///     "root": "rushbox-data",
///     "apps": {
///         "api": {
///             "build": ["make", "dist"],
///             "run": ["./dist/server"],
///             "health": "/healthz",
///             "env": { "LOG_LEVEL": "info" },
///             "env_overrides": { "prod": { "LOG_LEVEL": "warn" } }
///         }
///     }
/// })).unwrap();
/// assert_eq!(config.router_port, 8080);
/// assert_eq!(config.domain, "localhost");
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalConfig {
    /// Everything the provider keeps: worktrees, artifacts, data, logs.
    pub root: PathBuf,
    /// The router's port, used only to form addresses.
    #[serde(default = "default_router_port")]
    pub router_port: u16,
    /// Envs are reached at `http://<env>.<domain>:<router_port>`.
    #[serde(default = "default_domain")]
    pub domain: String,
    /// After SIGTERM, how long an app (or a build or clone-data command
    /// being stopped) has to stop before SIGKILL.
    #[serde(default = "default_stop_grace")]
    pub stop_grace_secs: u64,
    /// How long a build or clone-data command may run.
    #[serde(default = "default_command_timeout")]
    pub command_timeout_secs: u64,
    #[serde(default)]
    pub apps: BTreeMap<AppName, LocalApp>,
}

/// How one app is built, run and checked. Commands are argument lists run
/// without a shell; values reach them as environment variables
/// (`PORT`, `RUSHBOX_DATA_DIR`, `RUSHBOX_ARTIFACT_DIR`, …), never spliced
/// into arguments.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalApp {
    /// Runs in the env's worktree and writes the artifact into
    /// `$RUSHBOX_ARTIFACT_DIR`; without it the artifact is a copy of the worktree.
    #[serde(default)]
    pub build: Option<Argv>,
    /// Runs in the artifact directory and serves HTTP on `$PORT`.
    pub run: Argv,
    /// The path that answers 2xx or 3xx once the app is ready.
    #[serde(default)]
    pub health: HealthPath,
    #[serde(default = "default_health_timeout")]
    pub health_timeout_secs: u64,
    /// Config variables for every env of the app (staging's are what a dev env gets).
    #[serde(default)]
    pub env: StaticEnv,
    /// Per-env overrides of `env`; a dev env gets staging's overrides, then its own.
    #[serde(default)]
    pub env_overrides: BTreeMap<EnvName, StaticEnv>,
    /// Copies data into a new env instead of copying staging's data directory:
    /// runs with `RUSHBOX_SOURCE_DATA_DIR` and `RUSHBOX_DATA_DIR` set.
    #[serde(default)]
    pub clone_data: Option<Argv>,
}

fn default_router_port() -> u16 {
    8080
}

fn default_domain() -> String {
    "localhost".to_owned()
}

fn default_stop_grace() -> u64 {
    5
}

fn default_command_timeout() -> u64 {
    30 * 60
}

fn default_health_timeout() -> u64 {
    30
}

/// A config value the local provider refuses, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalConfigError(String);

impl fmt::Display for LocalConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LocalConfigError {}

/// A program and its arguments, taken literally (no placeholders: values
/// come as environment variables).
///
/// ```
/// use rushbox_pipeline::provider::local::Argv;
/// assert!(Argv::parse(["python3", "server.py"]).is_ok());
/// assert!(Argv::parse(Vec::<String>::new()).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "Vec<String>")]
pub struct Argv(Vec<String>);

impl Argv {
    pub fn parse<I, S>(argv: I) -> Result<Argv, LocalConfigError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let argv: Vec<String> = argv.into_iter().map(Into::into).collect();
        match argv.first() {
            None => Err(LocalConfigError(
                "a command needs at least a program, like [\"python3\", \"server.py\"]".to_owned(),
            )),
            Some(program) if program.is_empty() => {
                Err(LocalConfigError("the program is empty".to_owned()))
            }
            _ if argv.iter().any(|a| a.contains('\0')) => Err(LocalConfigError(
                "a command's argument contains a NUL byte".to_owned(),
            )),
            _ => Ok(Argv(argv)),
        }
    }

    pub fn program(&self) -> &str {
        self.0.first().map(String::as_str).unwrap_or_default()
    }

    pub fn args(&self) -> &[String] {
        self.0.get(1..).unwrap_or_default()
    }

    pub fn iter(&self) -> impl Iterator<Item = &String> {
        self.0.iter()
    }
}

impl TryFrom<Vec<String>> for Argv {
    type Error = LocalConfigError;
    fn try_from(argv: Vec<String>) -> Result<Argv, LocalConfigError> {
        Argv::parse(argv)
    }
}

impl fmt::Display for Argv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

/// The HTTP path asked to decide that an app is ready: starts with `/`,
/// printable ASCII without spaces.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct HealthPath(String);

impl HealthPath {
    pub fn parse(path: &str) -> Result<HealthPath, LocalConfigError> {
        if path.starts_with('/') && path.len() <= 1024 && path.bytes().all(|b| b.is_ascii_graphic())
        {
            Ok(HealthPath(path.to_owned()))
        } else {
            Err(LocalConfigError(format!(
                "the health path {path:?} must start with `/` and hold no spaces or control characters"
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for HealthPath {
    fn default() -> HealthPath {
        HealthPath("/".to_owned())
    }
}

impl TryFrom<String> for HealthPath {
    type Error = LocalConfigError;
    fn try_from(path: String) -> Result<HealthPath, LocalConfigError> {
        HealthPath::parse(&path)
    }
}

/// What the provider remembers of one env across restarts of rushbox.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct EnvRecord {
    /// The commit deployed last, and the artifact it runs.
    commit: Option<String>,
    artifact: Option<String>,
    /// Whether the env should be running (false once suspended).
    running: bool,
    /// Where its config and data came from (staging, for a dev env).
    source_env: Option<EnvName>,
}

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
/// # Ok::<(), rushbox_pipeline::provider::local::LocalConfigError>(())
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
        mut config: LocalConfig,
        repos: BTreeMap<AppName, PathBuf>,
    ) -> Result<LocalProvider, LocalConfigError> {
        let domain_ok = !config.domain.is_empty()
            && config
                .domain
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
        if !domain_ok {
            return Err(LocalConfigError(format!(
                "the domain {:?} must be a host name (lowercase letters, digits, `.`, `-`)",
                config.domain
            )));
        }
        config.root = std::path::absolute(&config.root).map_err(|e| {
            LocalConfigError(format!(
                "the root `{}` can't be made absolute: {e}",
                config.root.display()
            ))
        })?;
        fs::create_dir_all(&config.root).map_err(|e| {
            LocalConfigError(format!(
                "can't make the root directory `{}`: {e}",
                config.root.display()
            ))
        })?;
        let groups = config.root.join("groups");
        let ledger = GroupLedger::open(&groups)
            .map_err(|e| LocalConfigError(format!("can't make `{}`: {e}", groups.display())))?;
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

    /// Stops what a rushbox that died (SIGKILL, power) left running under
    /// this root, builds and clone-data commands as well as apps (they would
    /// hold ports and write data), notes each in its env's log, and removes
    /// the builds it cut short. Call it only once the state store's lock is
    /// held, so the processes are never a live rushbox's. Returns how many
    /// process groups were stopped.
    pub fn stop_leftovers(&self) -> usize {
        let grace = Duration::from_secs(self.config.stop_grace_secs);
        let reaped = self.ledger.reap(grace);
        for group in &reaped {
            // Labels are `<app>/<env> <what>`, as `spec` writes them.
            let (env, what) = group.label.split_once(' ').unwrap_or((&group.label, ""));
            let parsed = env.split_once('/').and_then(|(app, env)| {
                Some((AppName::parse(app).ok()?, EnvName::parse(env).ok()?))
            });
            if let Some((app, env)) = parsed {
                Log::new(self.logs_dir(&app, &env)).note(&format!(
                    "stopped process group {} ({what}), left running by an earlier rushbox",
                    group.pgid
                ));
            }
        }
        // Artifacts are renamed into place whole; these were being built.
        for entry in fs::read_dir(self.artifacts_dir())
            .into_iter()
            .flatten()
            .flatten()
        {
            if entry.file_name().to_string_lossy().starts_with(".build-") {
                let _ = workspace::remove_dir(&entry.path());
            }
        }
        reaped.len()
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

    /// At start-up, with the engine's list: starts the envs that should run
    /// (in parallel, each waited for until healthy) and keeps the others
    /// stopped. Returns how each start went.
    pub fn restore(
        &self,
        envs: &[(AppName, EnvName, bool)],
    ) -> Vec<(AppName, EnvName, Result<SocketAddr, String>)> {
        thread::scope(|scope| {
            let starts: Vec<_> = envs
                .iter()
                .filter(|(_, _, run)| *run)
                .map(|(app, env, _)| {
                    let start = move || self.wake_blocking(app, env);
                    let spawned = thread::Builder::new()
                        .name("local-restore".to_owned())
                        .spawn_scoped(scope, start);
                    // Without a thread, start it here and now.
                    (app, env, spawned.map_err(|_| start()))
                })
                .collect();
            for (app, env, _) in envs.iter().filter(|(_, _, run)| !*run) {
                let _ = self.suspend(app, env);
            }
            starts
                .into_iter()
                .map(|(app, env, started)| {
                    let result = match started {
                        Ok(handle) => handle
                            .join()
                            .unwrap_or_else(|_| Err("the start panicked".to_owned())),
                        Err(result) => result,
                    };
                    (app.clone(), env.clone(), result)
                })
                .collect()
        })
    }

    /// Stops every env's process (their records keep saying whether they
    /// should run, for `restore`); later starts are refused.
    pub fn shutdown(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let slots: Vec<Arc<EnvSlot>> = lock(&self.envs).values().cloned().collect();
        let running: Vec<Running> = slots
            .iter()
            .filter_map(|slot| lock(&slot.state).running.take())
            .collect();
        // In parallel, so the grace periods don't add up.
        thread::scope(|scope| {
            for r in running {
                let stop = thread::Builder::new()
                    .name("local-shutdown".to_owned())
                    .spawn_scoped(scope, move || r.supervisor.stop());
                // The failed spawn dropped `r`, which stops it (Supervisor's Drop).
                drop(stop);
            }
        });
    }

    // ----- paths and records -----

    fn dir(&self, kind: &str, app: &AppName, env: &EnvName) -> PathBuf {
        self.config
            .root
            .join(kind)
            .join(app.as_str())
            .join(env.as_str())
    }

    fn worktree_dir(&self, app: &AppName, env: &EnvName) -> PathBuf {
        self.dir("worktrees", app, env)
    }

    fn data_dir(&self, app: &AppName, env: &EnvName) -> PathBuf {
        self.dir("data", app, env)
    }

    fn logs_dir(&self, app: &AppName, env: &EnvName) -> PathBuf {
        self.dir("logs", app, env)
    }

    fn record_path(&self, app: &AppName, env: &EnvName) -> PathBuf {
        self.config
            .root
            .join("envs")
            .join(app.as_str())
            .join(format!("{}.json", env.as_str()))
    }

    fn artifacts_dir(&self) -> PathBuf {
        self.config.root.join("artifacts")
    }

    fn read_record(&self, app: &AppName, env: &EnvName) -> Result<Option<EnvRecord>, String> {
        let path = self.record_path(app, env);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| format!("`{}` is damaged: {e}", path.display())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("can't read `{}`: {e}", path.display())),
        }
    }

    /// Writes the record through a temporary file, so a crash leaves the old or the new one.
    fn write_record(&self, app: &AppName, env: &EnvName, record: &EnvRecord) -> Result<(), String> {
        let path = self.record_path(app, env);
        let write = || -> io::Result<()> {
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent)?;
            }
            let tmp = path.with_extension("json.tmp");
            let mut file = fs::File::create(&tmp)?;
            file.write_all(&serde_json::to_vec_pretty(record).map_err(io::Error::other)?)?;
            file.sync_all()?;
            fs::rename(&tmp, &path)
        };
        write().map_err(|e| format!("can't write `{}`: {e}", path.display()))
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

    fn app(&self, app: &AppName) -> Result<&LocalApp, ProviderError> {
        self.config.apps.get(app).ok_or_else(|| {
            let known: Vec<&str> = self.config.apps.keys().map(AppName::as_str).collect();
            failed(format!(
                "the local provider has no settings for app `{app}` (configured: {}); \
                 add it under `apps` with at least a `run` command",
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            ))
        })
    }

    fn repo(&self, app: &AppName) -> Result<&Path, ProviderError> {
        let repo = self
            .repos
            .get(app)
            .ok_or_else(|| failed(format!("app `{app}` has no repository configured")))?;
        if !workspace::is_repository(repo) {
            return Err(failed(format!(
                "`{}` (app `{app}`'s repository) is not a git repository",
                repo.display()
            )));
        }
        Ok(repo)
    }

    /// The env's config variables: the app's, then the source env's
    /// overrides (staging's, for a dev env), then its own.
    fn config_vars(
        &self,
        app: &LocalApp,
        env: &EnvName,
        source: Option<&EnvName>,
    ) -> Vec<(String, OsString)> {
        let mut vars: BTreeMap<&str, &str> = app.env.vars().collect();
        for name in source.into_iter().chain([env]) {
            if let Some(overrides) = app.env_overrides.get(name) {
                vars.extend(overrides.vars());
            }
        }
        vars.into_iter()
            .map(|(k, v)| (k.to_owned(), OsString::from(v)))
            .collect()
    }

    fn address(&self, env: &EnvName) -> String {
        format!(
            "http://{}.{}:{}",
            env.as_str(),
            self.config.domain,
            self.config.router_port
        )
    }

    /// A command of the app's config, run in `dir` and recorded in the
    /// ledger as `<app>/<env> <what>` before it runs. Values reach it as
    /// environment variables only.
    fn spec(&self, argv: &Argv, dir: &Path, app: &AppName, env: &EnvName, what: &str) -> Spec {
        Spec::new(argv.program())
            .args(argv.args())
            .cwd(dir)
            .recorded_in(&self.ledger, format!("{app}/{env} {what}"))
    }

    /// Runs a build or clone-data command to its end, each output line to
    /// `progress` and the env's log; stopped on cancel or after the
    /// command timeout. `what` names it in errors.
    fn run_to_end(
        &self,
        spec: &Spec,
        what: &str,
        app: &AppName,
        env: &EnvName,
        progress: &mut dyn FnMut(&str),
        cancel: &CancelToken,
    ) -> Result<(), ProviderError> {
        let log = self.log(&self.slot(app, env), app, env);
        let timeout = Duration::from_secs(self.config.command_timeout_secs);
        let grace = Duration::from_secs(self.config.stop_grace_secs);
        let mut tail = Tail::new(OUTPUT_LINES_IN_ERRORS, 0);
        let ended = process::run(
            spec,
            process::Output::MergedLines,
            Limits::new(timeout, grace).cancel(cancel),
            &mut |line| {
                progress(&line.text);
                log.append_line(&line.text);
                tail.push(&line);
            },
        )
        .map_err(|e| failed(format!("{what} could not start `{}`: {e}", spec.program())))?;
        match ended {
            Ended::Cancelled => Err(ProviderError::Cancelled),
            Ended::TimedOut => Err(failed(format!(
                "{what} took longer than {}s and was stopped{}",
                timeout.as_secs(),
                tail.quote()
            ))),
            Ended::Exited(exit) if exit.success() => Ok(()),
            Ended::Exited(exit) => Err(failed(format!(
                "{what} failed: `{}` {exit}{}",
                spec.program(),
                tail.quote()
            ))),
        }
    }

    // ----- actions -----

    /// Makes the env's directories and record; on failure removes what it made.
    fn create(
        &self,
        request: &Request,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Outcome, ProviderError> {
        let (app, env) = (&request.app, &request.env);
        self.app(app)?;
        self.repo(app)?;
        if let Some(record) = self.read_record(app, env).map_err(failed)? {
            progress(&format!("{env} already exists here; keeping it"));
            if record.source_env.is_none() && request.source_env.is_some() {
                let record = EnvRecord {
                    source_env: request.source_env.clone(),
                    ..record
                };
                self.write_record(app, env, &record).map_err(failed)?;
            }
            return Ok(Outcome::default());
        }
        let made = || -> Result<(), String> {
            for dir in [self.data_dir(app, env), self.logs_dir(app, env)] {
                fs::create_dir_all(&dir)
                    .map_err(|e| format!("can't make `{}`: {e}", dir.display()))?;
            }
            self.write_record(
                app,
                env,
                &EnvRecord {
                    source_env: request.source_env.clone(),
                    ..EnvRecord::default()
                },
            )
        };
        if let Err(e) = made() {
            self.remove_env_files(app, env);
            return Err(failed(format!("creating {env} failed: {e}")));
        }
        progress(&format!("made {env}'s data and log directories"));
        Ok(Outcome::default())
    }

    /// Copies the source env's data (staging's) into the env, or runs the
    /// app's `clone_data` command.
    fn clone_data(
        &self,
        request: &Request,
        progress: &mut dyn FnMut(&str),
        cancel: &CancelToken,
    ) -> Result<Outcome, ProviderError> {
        let (app, env) = (&request.app, &request.env);
        let settings = self.app(app)?;
        let source = request.source_env.clone().unwrap_or_else(EnvName::staging);
        if &source == env {
            return Err(failed(format!("{env} can't clone its data from itself")));
        }
        let mut record = self.read_record(app, env).map_err(failed)?.ok_or_else(|| {
            failed(format!(
                "{env} does not exist here yet; create it before cloning data"
            ))
        })?;
        let from = self.data_dir(app, &source);
        let to = self.data_dir(app, env);
        if let Some(command) = &settings.clone_data {
            progress(&format!("cloning {source}'s data with `{command}`"));
            fs::create_dir_all(&to)
                .map_err(|e| failed(format!("can't make `{}`: {e}", to.display())))?;
            let spec = self
                .spec(command, &to, app, env, "clone-data")
                .env("RUSHBOX_APP", app.as_str())
                .env("RUSHBOX_ENV", env.as_str())
                .env("RUSHBOX_SOURCE_ENV", source.as_str())
                .env("RUSHBOX_SOURCE_DATA_DIR", &from)
                .env("RUSHBOX_DATA_DIR", &to);
            self.run_to_end(&spec, "clone-data", app, env, progress, cancel)?;
        } else if from.is_dir() {
            progress(&format!("copying {source}'s data directory"));
            // Into a fresh directory first, so a failed copy leaves the old data whole.
            let tmp = to.with_file_name(format!(".clone-{}", env.as_str()));
            let copied = workspace::remove_dir(&tmp)
                .and_then(|()| workspace::copy_tree(&from, &tmp, &[]))
                .and_then(|()| workspace::remove_dir(&to))
                .and_then(|()| fs::rename(&tmp, &to));
            if let Err(e) = copied {
                let _ = workspace::remove_dir(&tmp);
                return Err(failed(format!(
                    "copying {source}'s data into {env} failed: {e}"
                )));
            }
        } else {
            progress(&format!(
                "{source} has no data directory here yet; {env} starts with empty data"
            ));
        }
        record.source_env = Some(source);
        self.write_record(app, env, &record).map_err(failed)?;
        Ok(Outcome::default())
    }

    /// Checks the commit out, builds it unless its artifact exists, starts
    /// the new process and waits until it is healthy, then stops the old one.
    /// The caller holds the env's `op` lock.
    fn deploy(
        &self,
        request: &Request,
        progress: &mut dyn FnMut(&str),
        cancel: &CancelToken,
    ) -> Result<Outcome, ProviderError> {
        let (app, env) = (&request.app, &request.env);
        let settings = self.app(app)?;
        let repo = self.repo(app)?;
        let asked = request
            .commit
            .as_deref()
            .ok_or_else(|| failed("deploy needs a commit, and this request has none"))?;
        let commit = workspace::resolve_commit(repo, asked)
            .map_err(|e| failed(format!("can't look up commit `{asked}`: {e}")))?
            .ok_or_else(|| {
                failed(format!(
                    "commit `{asked}` names nothing in {app}'s repository; push it first, \
                     or deploy a branch that is there"
                ))
            })?;
        let short = commit.get(..8).unwrap_or(&commit);
        let record = match self.read_record(app, env).map_err(failed)? {
            Some(record) => record,
            None => {
                // Staging and prod may be deployed to without a Create first.
                self.create(request, progress)?;
                EnvRecord {
                    source_env: request.source_env.clone(),
                    ..EnvRecord::default()
                }
            }
        };
        let key = workspace::artifact_key(&commit, settings.build.as_ref());
        let artifact = self.artifacts_dir().join(&key);
        let worktree = self.worktree_dir(app, env);
        let mut added_worktree = false;
        let result = (|| {
            if cancel.is_cancelled() {
                return Err(ProviderError::Cancelled);
            }
            progress(&format!("checking out {short} in {env}'s worktree"));
            added_worktree = workspace::checkout(repo, &worktree, &commit)
                .map_err(|e| failed(format!("checking out {short} failed: {e}")))?;
            if artifact.is_dir() {
                progress(&format!(
                    "commit {short} is already built (artifact {}); not building again",
                    key.get(..12).unwrap_or(&key)
                ));
            } else {
                self.build(
                    request, settings, &commit, &key, &worktree, progress, cancel,
                )?;
            }
            if cancel.is_cancelled() {
                return Err(ProviderError::Cancelled);
            }
            let slot = self.slot(app, env);
            let new_record = EnvRecord {
                commit: Some(commit.clone()),
                artifact: Some(key.clone()),
                running: true,
                ..record.clone()
            };
            let running = self.start(&slot, app, env, &new_record, progress, cancel)?;
            let addr = running.addr;
            let old = lock(&slot.state).running.replace(running);
            if let Some(old) = old {
                progress("stopping the previous version");
                old.supervisor.stop();
            }
            self.write_record(app, env, &new_record).map_err(failed)?;
            progress(&format!("{env} runs {short} at {addr}"));
            Ok(())
        })();
        match result {
            Ok(()) => Ok(Outcome {
                address: Some(self.address(env)),
            }),
            Err(e) => {
                if added_worktree && record.artifact.is_none() {
                    workspace::remove_worktree(repo, &worktree);
                }
                Err(e)
            }
        }
    }

    /// Builds `commit` into `artifacts/<key>` through a temporary directory
    /// renamed into place, so an artifact that exists is complete.
    #[allow(clippy::too_many_arguments)]
    fn build(
        &self,
        request: &Request,
        settings: &LocalApp,
        commit: &str,
        key: &str,
        worktree: &Path,
        progress: &mut dyn FnMut(&str),
        cancel: &CancelToken,
    ) -> Result<(), ProviderError> {
        let _one_at_a_time = lock(&self.build_lock);
        let artifact = self.artifacts_dir().join(key);
        if artifact.is_dir() {
            progress("built meanwhile by another deploy; using it");
            return Ok(());
        }
        let tmp = self
            .artifacts_dir()
            .join(format!(".build-{key}-{}", std::process::id()));
        let prepared = workspace::remove_dir(&tmp).and_then(|()| fs::create_dir_all(&tmp));
        if let Err(e) = prepared {
            return Err(failed(format!("can't make `{}`: {e}", tmp.display())));
        }
        let built = match &settings.build {
            Some(command) => {
                progress(&format!("building with `{command}`"));
                // No config variables: one artifact serves every env.
                let (app, env) = (&request.app, &request.env);
                let spec = self
                    .spec(command, worktree, app, env, "build")
                    .env("RUSHBOX_APP", app.as_str())
                    .env("RUSHBOX_COMMIT", commit)
                    .env("RUSHBOX_ARTIFACT_DIR", &tmp);
                self.run_to_end(&spec, "the build", app, env, progress, cancel)
            }
            None => {
                progress("no build command: the artifact is a copy of the worktree");
                workspace::copy_tree(worktree, &tmp, &[".git"])
                    .map_err(|e| failed(format!("copying the worktree failed: {e}")))
            }
        };
        let placed = built.and_then(|()| {
            fs::rename(&tmp, &artifact)
                .map_err(|e| failed(format!("can't move the build into place: {e}")))
        });
        if placed.is_err() {
            let _ = workspace::remove_dir(&tmp);
        } else {
            self.builds.fetch_add(1, Ordering::SeqCst);
        }
        placed
    }

    /// Starts the env's process from `record`'s artifact on a free port and
    /// waits until it answers its health path; retries once on a new port
    /// when the port was taken meanwhile. The caller holds `slot.op`.
    fn start(
        &self,
        slot: &EnvSlot,
        app: &AppName,
        env: &EnvName,
        record: &EnvRecord,
        progress: &mut dyn FnMut(&str),
        cancel: &CancelToken,
    ) -> Result<Running, ProviderError> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(failed("rushbox is shutting down; not starting anything"));
        }
        let settings = self.app(app)?;
        let key = record.artifact.as_deref().ok_or_else(|| {
            failed(format!(
                "{env} has nothing deployed yet; deploy a branch to it first"
            ))
        })?;
        let artifact = self.artifacts_dir().join(key);
        if !artifact.is_dir() {
            return Err(failed(format!(
                "{env}'s build (artifact {}) is missing; deploy it again",
                key.get(..12).unwrap_or(key)
            )));
        }
        let data = self.data_dir(app, env);
        fs::create_dir_all(&data)
            .map_err(|e| failed(format!("can't make `{}`: {e}", data.display())))?;
        let log = self.log(slot, app, env);
        let grace = Duration::from_secs(self.config.stop_grace_secs);
        let run = &settings.run;
        let mut retried = false;
        loop {
            let port =
                free_port().map_err(|e| failed(format!("no free port on 127.0.0.1: {e}")))?;
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            let mut vars = self.config_vars(settings, env, record.source_env.as_ref());
            vars.extend([
                ("PORT".to_owned(), OsString::from(port.to_string())),
                ("RUSHBOX_DATA_DIR".to_owned(), data.clone().into()),
                ("RUSHBOX_ENV".to_owned(), env.as_str().into()),
                ("RUSHBOX_APP".to_owned(), app.as_str().into()),
            ]);
            let spec = self.spec(run, &artifact, app, env, "app").envs(vars);
            progress(&format!("starting `{run}` on port {port}"));
            log.note(&format!("starting {env} on port {port}"));
            let supervisor = Supervisor::start(spec, Arc::clone(&log), grace)
                .map_err(|e| failed(format!("can't start a supervisor thread: {e}")))?;
            lock(&slot.state).starts += 1;
            let timeout = Duration::from_secs(settings.health_timeout_secs);
            let why = match wait_healthy(&supervisor, addr, &settings.health, timeout, cancel) {
                // A shutdown that came meanwhile did not see this process: stop it here.
                Ok(()) if self.closed.load(Ordering::SeqCst) => {
                    supervisor.stop();
                    return Err(failed("rushbox is shutting down; not starting anything"));
                }
                Ok(()) => {
                    progress(&format!(
                        "healthy: GET {} answered",
                        settings.health.as_str()
                    ));
                    return Ok(Running { supervisor, addr });
                }
                Err(Unhealthy::Cancelled) => {
                    supervisor.stop();
                    return Err(ProviderError::Cancelled);
                }
                Err(Unhealthy::Exited(how)) if how.starts_with("could not start") => how,
                Err(Unhealthy::Exited(how)) => {
                    format!(
                        "`{run}` {how} before it answered GET {}",
                        settings.health.as_str()
                    )
                }
                Err(Unhealthy::TimedOut) => format!(
                    "`{run}` did not answer GET {} on port {port} within {}s",
                    settings.health.as_str(),
                    timeout.as_secs()
                ),
            };
            supervisor.stop();
            let tail = Log::tail(&self.logs_dir(app, env), LOG_LINES_IN_ERRORS);
            let port_taken = tail
                .iter()
                .any(|l| l.to_ascii_lowercase().contains("in use"))
                || TcpListener::bind(addr).is_err();
            if port_taken && !retried {
                retried = true;
                progress(&format!("port {port} was taken meanwhile; trying another"));
                continue;
            }
            return Err(failed(format!(
                "{env} did not start: {why}{}",
                process::quote(tail.iter().map(String::as_str))
                    .replace("last output", "last log lines")
            )));
        }
    }

    /// Stops the env's process and records that it should stay stopped.
    fn suspend(&self, app: &AppName, env: &EnvName) -> Result<(), ProviderError> {
        let slot = self.slot(app, env);
        let _op = lock(&slot.op);
        let running = lock(&slot.state).running.take();
        if let Some(running) = running {
            running.supervisor.stop();
        }
        if let Some(record) = self.read_record(app, env).map_err(failed)? {
            let record = EnvRecord {
                running: false,
                ..record
            };
            self.write_record(app, env, &record).map_err(failed)?;
        }
        Ok(())
    }

    /// The coalescing start behind `wake_blocking` and the `Wake` action.
    fn wake(
        &self,
        app: &AppName,
        env: &EnvName,
        progress: &mut dyn FnMut(&str),
        cancel: &CancelToken,
    ) -> Result<SocketAddr, ProviderError> {
        let slot = self.slot(app, env);
        {
            let mut state = lock(&slot.state);
            loop {
                if let Some(running) = &state.running {
                    return Ok(running.addr);
                }
                if !state.starting {
                    break;
                }
                let attempt = state.wake_attempts;
                while state.starting && state.wake_attempts == attempt {
                    state = slot
                        .changed
                        .wait(state)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                if let Some(running) = &state.running {
                    return Ok(running.addr);
                }
                if let Some(failure) = &state.last_wake_failure {
                    return Err(failed(failure.clone()));
                }
            }
            state.starting = true;
            state.wake_attempts += 1;
        }
        let result = (|| {
            let _op = lock(&slot.op);
            // A deploy may have started it while we waited for `op`.
            if let Some(running) = &lock(&slot.state).running {
                return Ok(running.addr);
            }
            let record = self
                .read_record(app, env)
                .map_err(failed)?
                .ok_or_else(|| failed(format!("there is no env {env} of {app} here")))?;
            progress(&format!("waking {env}"));
            let running = self.start(&slot, app, env, &record, progress, cancel)?;
            let addr = running.addr;
            lock(&slot.state).running = Some(running);
            if !record.running {
                let record = EnvRecord {
                    running: true,
                    ..record
                };
                self.write_record(app, env, &record).map_err(failed)?;
            }
            Ok(addr)
        })();
        let mut state = lock(&slot.state);
        state.starting = false;
        state.last_wake_failure = result.as_ref().err().map(ToString::to_string);
        slot.changed.notify_all();
        result
    }

    /// Stops the env and removes its worktree, data, logs and record. The
    /// artifact stays: other envs may run it.
    fn destroy(
        &self,
        app: &AppName,
        env: &EnvName,
        progress: &mut dyn FnMut(&str),
    ) -> Result<(), ProviderError> {
        let slot = self.slot(app, env);
        let _op = lock(&slot.op);
        let running = lock(&slot.state).running.take();
        if let Some(running) = running {
            progress(&format!("stopping {env}"));
            running.supervisor.stop();
        }
        if let Some(log) = slot.log.0.get() {
            log.close();
        }
        self.remove_env_files(app, env);
        let left: Vec<PathBuf> = [
            self.worktree_dir(app, env),
            self.data_dir(app, env),
            self.record_path(app, env),
        ]
        .into_iter()
        .filter(|p| p.exists())
        .collect();
        if !left.is_empty() {
            let left: Vec<String> = left.iter().map(|p| p.display().to_string()).collect();
            return Err(failed(format!(
                "{env} is stopped, but these could not be removed: {}",
                left.join(", ")
            )));
        }
        progress(&format!("removed {env}'s worktree, data and logs"));
        Ok(())
    }

    fn remove_env_files(&self, app: &AppName, env: &EnvName) {
        let worktree = self.worktree_dir(app, env);
        match self.repos.get(app) {
            Some(repo) => workspace::remove_worktree(repo, &worktree),
            None => {
                let _ = workspace::remove_dir(&worktree);
            }
        }
        let _ = workspace::remove_dir(&self.data_dir(app, env));
        let _ = workspace::remove_dir(&self.logs_dir(app, env));
        let _ = fs::remove_file(self.record_path(app, env));
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
        if cancel.is_cancelled() {
            return Err(ProviderError::Cancelled);
        }
        request.check_commit()?;
        let (app, env) = (&request.app, &request.env);
        match request.action {
            Action::Create => {
                let slot = self.slot(app, env);
                let _op = lock(&slot.op);
                self.create(request, progress)
            }
            Action::CloneData => {
                let slot = self.slot(app, env);
                let _op = lock(&slot.op);
                self.clone_data(request, progress, cancel)
            }
            Action::Deploy => {
                // For the whole deploy: the worktree is checked out and
                // built, then the process switched, with nothing in between.
                let slot = self.slot(app, env);
                let _op = lock(&slot.op);
                self.deploy(request, progress, cancel)
            }
            Action::Suspend => {
                self.suspend(app, env)?;
                progress(&format!("{env} is suspended; its data is kept"));
                Ok(Outcome::default())
            }
            Action::Wake => {
                self.wake(app, env, progress, cancel)?;
                Ok(Outcome {
                    address: Some(self.address(env)),
                })
            }
            Action::Destroy => {
                self.destroy(app, env, progress)?;
                Ok(Outcome::default())
            }
        }
    }
}

/// A port free on 127.0.0.1 right now (the OS picks it).
fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

enum Unhealthy {
    Exited(String),
    TimedOut,
    Cancelled,
}

/// Asks `GET <path>` every [`HEALTH_POLL`] until a 2xx or 3xx answer, the
/// process exits, the time is up or the operation is cancelled (the last
/// two end the wait between two asks at once).
fn wait_healthy(
    supervisor: &Supervisor,
    addr: SocketAddr,
    path: &HealthPath,
    timeout: Duration,
    cancel: &CancelToken,
) -> Result<(), Unhealthy> {
    let deadline = Instant::now() + timeout;
    let exited = || match supervisor.exits() {
        (0, _) => None,
        (_, how) => Some(Unhealthy::Exited(
            how.unwrap_or_else(|| "exited".to_owned()),
        )),
    };
    loop {
        if let Some(exited) = exited() {
            return Err(exited);
        }
        // Asked again after the answer: a process that took the port
        // meanwhile may answer while ours is failing to bind it.
        if healthy(addr, path) {
            return exited().map_or(Ok(()), Err);
        }
        if cancel.is_cancelled() {
            return Err(Unhealthy::Cancelled);
        }
        if Instant::now() >= deadline {
            return Err(Unhealthy::TimedOut);
        }
        supervisor.wait_exit(0, HEALTH_POLL, cancel);
    }
}

/// One HTTP/1.0 GET; true for a 2xx or 3xx status.
fn healthy(addr: SocketAddr, path: &HealthPath) -> bool {
    let probe = || -> io::Result<bool> {
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500))?;
        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
        stream.set_write_timeout(Some(Duration::from_secs(2)))?;
        write!(
            stream,
            "GET {} HTTP/1.0\r\nHost: localhost\r\nUser-Agent: rushbox-health\r\n\r\n",
            path.as_str()
        )?;
        // The whole answer (HTTP/1.0: until the app closes), so closing
        // with unread bytes doesn't reset the app's connection mid-write.
        let mut answer = Vec::new();
        stream.take(MAX_HEALTH_ANSWER).read_to_end(&mut answer)?;
        // "HTTP/1.x 2xx"
        Ok(answer.starts_with(b"HTTP/") && matches!(answer.get(9), Some(b'2' | b'3')))
    };
    probe().unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_is_strict_and_has_defaults() {
        let config: LocalConfig = serde_json::from_value(serde_json::json!({
            "root": "x",
            "apps": { "api": { "run": ["./server"] } }
        }))
        .unwrap();
        let api = &config.apps[&AppName::parse("api").unwrap()];
        assert_eq!(api.health.as_str(), "/");
        assert_eq!(api.health_timeout_secs, 30);
        assert!(api.build.is_none() && api.clone_data.is_none());
        for bad in [
            serde_json::json!({ "root": "x", "port": 1 }),
            serde_json::json!({ "root": "x", "apps": { "api": { "run": [] } } }),
            serde_json::json!({ "root": "x", "apps": { "api": { "run": ["s"], "health": "healthz" } } }),
            serde_json::json!({ "root": "x", "apps": { "api": { "run": ["s"], "env": { "RUSHBOX_ENV": "x" } } } }),
            serde_json::json!({ "root": "x", "apps": { "staging": { "run": ["s"] } } }),
        ] {
            assert!(
                serde_json::from_value::<LocalConfig>(bad.clone()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn dev_envs_get_stagings_variables_then_their_own() {
        let app: LocalApp = serde_json::from_value(serde_json::json!({
            "run": ["s"],
            "env": { "A": "app", "B": "app", "C": "app" },
            "env_overrides": { "staging": { "B": "staging" }, "dev-x": { "C": "dev" } }
        }))
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let provider = LocalProvider::new(
            serde_json::from_value(serde_json::json!({ "root": dir.path() })).unwrap(),
            BTreeMap::new(),
        )
        .unwrap();
        let vars = provider.config_vars(
            &app,
            &EnvName::parse("dev-x").unwrap(),
            Some(&EnvName::staging()),
        );
        let vars: Vec<(&str, &str)> = vars
            .iter()
            .map(|(k, v)| (k.as_str(), v.to_str().unwrap()))
            .collect();
        assert_eq!(vars, [("A", "app"), ("B", "staging"), ("C", "dev")]);
    }
}
