//! The `script` provider: runs the team's own command for each action, as
//! config gives it. Values from the request reach the command as whole
//! argument-list elements and `RUSHBOX_*` environment variables, never
//! through a shell; each output line is progress; cancel and timeout stop
//! the command's whole process group.
//!
//! An action is over when its command exits: whatever it leaves running in
//! its process group is stopped too, as CI runners do. A service meant to
//! outlive the action must start its own session (`setsid`) and write its
//! output elsewhere. Commands inherit rushbox's own environment plus
//! `env` from config, so keep secrets the scripts must not see out of it.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::io::{self, BufRead, BufReader, Read};
use std::num::NonZeroU64;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::thread;
use std::time::{Duration, Instant};

use rushbox_command::{ReleaseId, Span};
use serde::Deserialize;

use super::groups::GroupLedger;
use super::output::clean_line;
use super::{Action, CancelToken, Outcome, Provider, ProviderError, Request};

/// How often the cancel token, the deadline and the child are checked.
const POLL: Duration = Duration::from_millis(50);
/// After the command exits, how long to wait for the rest of its output.
const DRAIN_LIMIT: Duration = Duration::from_secs(2);
/// Longest timeout or grace honoured; larger config values are cut to it
/// (a deadline past it would overflow `Instant`, and means "never" anyway).
const MAX_WAIT_SECS: u64 = Span::MAX_SECS;
/// Output lines read but not yet passed to progress.
const OUTPUT_BACKLOG: usize = 1024;
/// After SIGKILL, how long to wait for the group to be gone.
const KILL_SETTLE: Duration = Duration::from_secs(1);
/// Bytes of one progress line; longer lines are cut and end with ` …`.
const MAX_LINE_BYTES: usize = 1000;
/// Raw bytes read for one line before cleaning (escape sequences take room).
const MAX_RAW_LINE_BYTES: usize = 4 * MAX_LINE_BYTES;
/// Output lines quoted when a command fails, and how many of the last
/// stderr lines are quoted even if stdout came after them.
const LAST_LINES: usize = 5;
const LAST_STDERR_LINES: usize = 3;
/// The stdout line that tells rushbox where people reach the env.
const ADDRESS_PREFIX: &str = "RUSHBOX_ADDRESS=";

/// The `script` provider's config: one command per action, as an argument
/// list, with `{placeholders}` for the request's values.
///
/// ```
/// use rushbox_pipeline::provider::script::ScriptConfig;
/// let config: ScriptConfig = serde_json::from_value(serde_json::json!({
///     "create": ["./scripts/create-env.sh", "{env}", "--from={source_env}"],
///     "deploy": ["./scripts/deploy.sh", "{env}", "{commit}"],
///     "working_dir": "deploy",
///     "timeout_secs": 1800,
///     "timeouts": { "clone_data": 7200 },
///     "env": { "REGION": "eu-west-1" }
/// })).unwrap();
/// assert!(config.destroy.is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptConfig {
    pub create: Option<CommandLine>,
    #[serde(alias = "clone-data")]
    pub clone_data: Option<CommandLine>,
    pub deploy: Option<CommandLine>,
    pub suspend: Option<CommandLine>,
    pub wake: Option<CommandLine>,
    pub destroy: Option<CommandLine>,
    /// Where commands run, relative to rushbox's working directory unless
    /// absolute; a relative program with a `/` (`./scripts/x.sh`) is found
    /// from here too.
    #[serde(default)]
    pub working_dir: Option<PathBuf>,
    /// How long an action may run before it is stopped (default 30 minutes).
    #[serde(default = "default_timeout")]
    pub timeout_secs: NonZeroU64,
    /// Per-action overrides of `timeout_secs`.
    #[serde(default)]
    pub timeouts: ActionTimeouts,
    /// After SIGTERM on cancel or timeout, how long the command has to clean
    /// up before SIGKILL (default 5 seconds).
    #[serde(default = "default_kill_grace")]
    pub kill_grace_secs: u64,
    /// Extra environment variables for every command (not `RUSHBOX_*`).
    #[serde(default)]
    pub env: StaticEnv,
}

fn default_timeout() -> NonZeroU64 {
    NonZeroU64::new(30 * 60).unwrap_or(NonZeroU64::MIN)
}

fn default_kill_grace() -> u64 {
    5
}

impl Default for ScriptConfig {
    fn default() -> ScriptConfig {
        ScriptConfig {
            create: None,
            clone_data: None,
            deploy: None,
            suspend: None,
            wake: None,
            destroy: None,
            working_dir: None,
            timeout_secs: default_timeout(),
            timeouts: ActionTimeouts::default(),
            kill_grace_secs: default_kill_grace(),
            env: StaticEnv::default(),
        }
    }
}

impl ScriptConfig {
    /// The command configured for `action`, if any.
    pub fn command(&self, action: Action) -> Option<&CommandLine> {
        match action {
            Action::Create => self.create.as_ref(),
            Action::CloneData => self.clone_data.as_ref(),
            Action::Deploy => self.deploy.as_ref(),
            Action::Suspend => self.suspend.as_ref(),
            Action::Wake => self.wake.as_ref(),
            Action::Destroy => self.destroy.as_ref(),
        }
    }

    /// How long `action` may run (at most a year).
    pub fn timeout(&self, action: Action) -> Duration {
        let t = &self.timeouts;
        let secs = match action {
            Action::Create => t.create,
            Action::CloneData => t.clone_data,
            Action::Deploy => t.deploy,
            Action::Suspend => t.suspend,
            Action::Wake => t.wake,
            Action::Destroy => t.destroy,
        };
        Duration::from_secs(secs.unwrap_or(self.timeout_secs).get().min(MAX_WAIT_SECS))
    }

    /// How long a stopped command has to clean up (at most a year).
    pub fn kill_grace(&self) -> Duration {
        Duration::from_secs(self.kill_grace_secs.min(MAX_WAIT_SECS))
    }
}

/// Per-action timeouts in seconds; an unset one uses `timeout_secs`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionTimeouts {
    pub create: Option<NonZeroU64>,
    #[serde(alias = "clone-data")]
    pub clone_data: Option<NonZeroU64>,
    pub deploy: Option<NonZeroU64>,
    pub suspend: Option<NonZeroU64>,
    pub wake: Option<NonZeroU64>,
    pub destroy: Option<NonZeroU64>,
}

/// A config value the script provider refuses, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptConfigError(String);

impl fmt::Display for ScriptConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ScriptConfigError {}

/// A request value a command can name, as `{name}` in an argument and as
/// `RUSHBOX_<NAME>` in its environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Action,
    App,
    Env,
    Ref,
    Commit,
    Release,
    SourceEnv,
}

impl Field {
    const ALL: [Field; 7] = [
        Field::Action,
        Field::App,
        Field::Env,
        Field::Ref,
        Field::Commit,
        Field::Release,
        Field::SourceEnv,
    ];

    fn placeholder(self) -> &'static str {
        match self {
            Field::Action => "action",
            Field::App => "app",
            Field::Env => "env",
            Field::Ref => "ref",
            Field::Commit => "commit",
            Field::Release => "release",
            Field::SourceEnv => "source_env",
        }
    }

    fn env_var(self) -> &'static str {
        match self {
            Field::Action => "RUSHBOX_ACTION",
            Field::App => "RUSHBOX_APP",
            Field::Env => "RUSHBOX_ENV",
            Field::Ref => "RUSHBOX_REF",
            Field::Commit => "RUSHBOX_COMMIT",
            Field::Release => "RUSHBOX_RELEASE",
            Field::SourceEnv => "RUSHBOX_SOURCE_ENV",
        }
    }

    fn value(self, request: &Request) -> Option<&str> {
        match self {
            Field::Action => Some(request.action.as_str()),
            Field::App => Some(request.app.as_str()),
            Field::Env => Some(request.env.as_str()),
            Field::Ref => request.git_ref.as_ref().map(|r| r.as_str()),
            Field::Commit => request.commit.as_deref(),
            Field::Release => request.release.as_deref(),
            Field::SourceEnv => request.source_env.as_ref().map(|e| e.as_str()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Field(Field),
}

/// A program and its arguments. Arguments may hold `{env}`, `{ref}`,
/// `{commit}`, `{app}`, `{source_env}`, `{release}` and `{action}`, alone or
/// inside text (`--env={env}`); each argument stays one argument whatever
/// the value. `{{` and `}}` are literal braces. The program is run as
/// written: it can't hold placeholders.
///
/// ```
/// use rushbox_pipeline::provider::script::CommandLine;
/// assert!(CommandLine::parse(["./deploy.sh", "--env={env}", "{commit}"]).is_ok());
/// assert!(CommandLine::parse(["./deploy.sh", "{branch}"]).is_err());
/// assert!(CommandLine::parse(Vec::<String>::new()).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "Vec<String>")]
pub struct CommandLine {
    program: String,
    args: Vec<Vec<Piece>>,
}

impl CommandLine {
    pub fn parse<I, S>(argv: I) -> Result<CommandLine, ScriptConfigError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut argv = argv.into_iter().map(Into::into);
        let Some(program) = argv.next() else {
            return Err(ScriptConfigError(
                "a command needs at least a program, like [\"./scripts/deploy.sh\", \"{env}\"]"
                    .to_owned(),
            ));
        };
        if program.is_empty() {
            return Err(ScriptConfigError("the program is empty".to_owned()));
        }
        if program.contains(['{', '}']) {
            return Err(ScriptConfigError(format!(
                "the program `{program}` is run as written and can't use placeholders; \
                 pass values as arguments"
            )));
        }
        if program.contains('\0') {
            return Err(ScriptConfigError(
                "the program contains a NUL byte".to_owned(),
            ));
        }
        let args = argv
            .map(|arg| parse_pieces(&arg))
            .collect::<Result<_, _>>()?;
        Ok(CommandLine { program, args })
    }

    pub fn program(&self) -> &str {
        &self.program
    }

    /// The fields the arguments name, so a request missing one is refused
    /// instead of passing an empty string where a value was meant.
    fn fields(&self) -> impl Iterator<Item = Field> + '_ {
        self.args.iter().flatten().filter_map(|piece| match piece {
            Piece::Field(field) => Some(*field),
            Piece::Text(_) => None,
        })
    }

    /// The arguments with the request's values in place.
    fn render(&self, request: &Request) -> Result<Vec<String>, ProviderError> {
        if let Some(missing) = self.fields().find(|f| f.value(request).is_none()) {
            return Err(ProviderError::Failed {
                message: format!(
                    "`{}` needs a {} for its command (`{{{}}}`), but this request has none",
                    request.action,
                    missing.placeholder().replace('_', " "),
                    missing.placeholder()
                ),
            });
        }
        Ok(self
            .args
            .iter()
            .map(|pieces| {
                pieces
                    .iter()
                    .map(|piece| match piece {
                        Piece::Text(text) => text.as_str(),
                        Piece::Field(field) => field.value(request).unwrap_or_default(),
                    })
                    .collect()
            })
            .collect())
    }
}

impl TryFrom<Vec<String>> for CommandLine {
    type Error = ScriptConfigError;
    fn try_from(argv: Vec<String>) -> Result<CommandLine, ScriptConfigError> {
        CommandLine::parse(argv)
    }
}

impl fmt::Display for CommandLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.program)?;
        for pieces in &self.args {
            f.write_str(" ")?;
            for piece in pieces {
                match piece {
                    Piece::Text(text) => {
                        f.write_str(&text.replace('{', "{{").replace('}', "}}"))?
                    }
                    Piece::Field(field) => write!(f, "{{{}}}", field.placeholder())?,
                }
            }
        }
        Ok(())
    }
}

/// Splits one argument into text and `{field}`s, format-string style.
fn parse_pieces(arg: &str) -> Result<Vec<Piece>, ScriptConfigError> {
    if arg.contains('\0') {
        return Err(ScriptConfigError(format!(
            "the argument {arg:?} contains a NUL byte"
        )));
    }
    let known = || {
        Field::ALL
            .iter()
            .map(|f| format!("{{{}}}", f.placeholder()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut rest = arg;
    while let Some(i) = rest.find(['{', '}']) {
        text.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("{{").or_else(|| tail.strip_prefix("}}")) {
            text.push_str(&tail[..1]);
            rest = after;
            continue;
        }
        let close = match tail.strip_prefix('{').and_then(|t| t.find('}')) {
            Some(close) => close,
            None => {
                return Err(ScriptConfigError(format!(
                    "the argument `{arg}` has an unmatched brace; write `{{{{` or `}}}}` \
                     for a literal one"
                )));
            }
        };
        let name = &tail[1..=close];
        let Some(field) = Field::ALL.iter().find(|f| f.placeholder() == name) else {
            return Err(ScriptConfigError(format!(
                "the argument `{arg}` names an unknown placeholder `{{{name}}}`; known: {}",
                known()
            )));
        };
        if !text.is_empty() {
            pieces.push(Piece::Text(std::mem::take(&mut text)));
        }
        pieces.push(Piece::Field(*field));
        rest = &tail[close + 2..];
    }
    text.push_str(rest);
    if !text.is_empty() || pieces.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(pieces)
}

/// Extra environment variables for every command. Names are shell-style
/// (`A-Z a-z 0-9 _`, not starting with a digit) and not `RUSHBOX_*`, which
/// rushbox sets itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "BTreeMap<String, String>")]
pub struct StaticEnv(BTreeMap<String, String>);

impl StaticEnv {
    pub fn vars(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

impl TryFrom<BTreeMap<String, String>> for StaticEnv {
    type Error = ScriptConfigError;
    fn try_from(vars: BTreeMap<String, String>) -> Result<StaticEnv, ScriptConfigError> {
        for (name, value) in &vars {
            let shell_name = name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                && name.bytes().next().is_some_and(|b| !b.is_ascii_digit());
            if !shell_name {
                return Err(ScriptConfigError(format!(
                    "`{name}` is not a usable environment variable name \
                     (letters, digits and `_`, not starting with a digit)"
                )));
            }
            if name.starts_with("RUSHBOX_") {
                return Err(ScriptConfigError(format!(
                    "`{name}`: rushbox sets the RUSHBOX_* variables itself"
                )));
            }
            if value.contains('\0') {
                return Err(ScriptConfigError(format!(
                    "the value of `{name}` contains a NUL byte"
                )));
            }
        }
        Ok(StaticEnv(vars))
    }
}

/// Runs the configured command for each action.
///
/// ```no_run
/// use rushbox_command::{AppName, EnvName};
/// use rushbox_pipeline::provider::{Action, CancelToken, Provider, Request};
/// use rushbox_pipeline::provider::script::{CommandLine, ScriptConfig, ScriptProvider};
/// let provider = ScriptProvider::new(ScriptConfig {
///     destroy: Some(CommandLine::parse(["./scripts/destroy.sh", "{env}"]).unwrap()),
///     ..ScriptConfig::default()
/// });
/// let request = Request {
///     action: Action::Destroy,
///     app: AppName::parse("api").unwrap(),
///     env: EnvName::parse("dev-foo").unwrap(),
///     git_ref: None,
///     commit: None,
///     release: None,
///     source_env: None,
/// };
/// provider.run(&request, &mut |line| println!("{line}"), &CancelToken::new())?;
/// # Ok::<(), rushbox_pipeline::provider::ProviderError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ScriptProvider {
    config: ScriptConfig,
    ledger: Option<Arc<GroupLedger>>,
}

impl ScriptProvider {
    pub fn new(config: ScriptConfig) -> ScriptProvider {
        ScriptProvider {
            config,
            ledger: None,
        }
    }

    /// Records each command's process group in `ledger`, so that if rushbox
    /// dies mid-command the next start can stop what it left running.
    pub fn with_ledger(mut self, ledger: Arc<GroupLedger>) -> ScriptProvider {
        self.ledger = Some(ledger);
        self
    }

    pub fn config(&self) -> &ScriptConfig {
        &self.config
    }

    /// The program to start: a relative path with a `/` is taken from the
    /// working directory, so it does not depend on how the OS resolves it.
    fn program_path(&self, program: &str) -> PathBuf {
        let path = Path::new(program);
        match &self.config.working_dir {
            Some(dir) if program.contains('/') && path.is_relative() => dir.join(path),
            _ => path.to_path_buf(),
        }
    }

    /// The process for `request`: argv from config with the request's
    /// values in place, `RUSHBOX_*` variables, stdin closed, its own group.
    fn command(&self, line: &CommandLine, request: &Request) -> Result<Command, ProviderError> {
        let mut command = Command::new(self.program_path(line.program()));
        command
            .args(line.render(request)?)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        if let Some(dir) = &self.config.working_dir {
            if !dir.is_dir() {
                return Err(ProviderError::Failed {
                    message: format!(
                        "`{}` can't run: the working directory `{}` does not exist",
                        request.action,
                        dir.display()
                    ),
                });
            }
            command.current_dir(dir);
        }
        command.envs(self.config.env.vars());
        for field in Field::ALL {
            command.env(field.env_var(), field.value(request).unwrap_or_default());
        }
        Ok(command)
    }
}

impl Provider for ScriptProvider {
    fn name(&self) -> &str {
        "script"
    }

    fn run(
        &self,
        request: &Request,
        progress: &mut dyn FnMut(&str),
        cancel: &CancelToken,
    ) -> Result<Outcome, ProviderError> {
        let action = request.action;
        let line = self
            .config
            .command(action)
            .ok_or(ProviderError::NotConfigured { action })?;
        check_request(request)?;
        let mut command = self.command(line, request)?;
        let program = line.program();
        let failed = |message: String| ProviderError::Failed { message };

        if cancel.is_cancelled() {
            return Err(ProviderError::Cancelled);
        }
        let child = command
            .spawn()
            .map_err(|e| failed(format!("`{action}` could not start `{program}`: {e}")))?;
        let mut group = ProcessGroup::new(child).map_err(failed)?;
        // Dropped after `terminate` below: only a crash leaves it for the next start to reap.
        let _recorded = self.ledger.as_ref().map(|ledger| ledger.record(group.pgid));
        let lines = read_output(&mut group).map_err(|e| {
            group.terminate(Duration::ZERO);
            failed(format!(
                "`{action}` could not read `{program}`'s output: {e}"
            ))
        })?;
        let mut output = Output::default();
        let timeout = self.config.timeout(action);
        let grace = self.config.kill_grace();
        let ended = supervise(&mut group, &lines, &mut output, progress, cancel, timeout);
        // Whatever ended it, stop what is left of the group before answering.
        group.terminate(grace);
        output.drain(&lines, progress);

        match ended {
            Ended::Cancelled => Err(ProviderError::Cancelled),
            Ended::TimedOut => Err(failed(format!(
                "`{action}` timed out after {}; `{program}` and its processes were stopped{}",
                human_duration(timeout),
                output.last_lines()
            ))),
            Ended::Exited(status) if status.success() => Ok(Outcome {
                address: output.address,
            }),
            Ended::Exited(status) => Err(failed(format!(
                "`{action}` failed: `{program}` {}{}",
                describe_exit(status),
                output.last_lines()
            ))),
            Ended::Unwaitable(e) => Err(failed(format!(
                "`{action}`: could not wait for `{program}`: {e}"
            ))),
        }
    }
}

/// Passes output on as it arrives until the command exits, is cancelled or
/// runs out of time, checking all three every [`POLL`].
fn supervise(
    group: &mut ProcessGroup,
    lines: &Receiver<Line>,
    output: &mut Output,
    progress: &mut dyn FnMut(&str),
    cancel: &CancelToken,
    timeout: Duration,
) -> Ended {
    let deadline = Instant::now() + timeout;
    loop {
        match lines.recv_timeout(POLL) {
            Ok(line) => {
                output.take(line, progress);
                for line in lines.try_iter() {
                    output.take(line, progress);
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            // Both pipes closed; the command may still be running.
            Err(RecvTimeoutError::Disconnected) => thread::sleep(POLL),
        }
        match group.try_wait() {
            Ok(Some(status)) => return Ended::Exited(status),
            Ok(None) => {}
            Err(e) => return Ended::Unwaitable(e),
        }
        if cancel.is_cancelled() {
            return Ended::Cancelled;
        }
        if Instant::now() >= deadline {
            return Ended::TimedOut;
        }
    }
}

enum Ended {
    Exited(ExitStatus),
    Cancelled,
    TimedOut,
    Unwaitable(io::Error),
}

/// Refuses request values a script could misread: the engine sends full
/// commit ids and release ids, nothing that starts like an option.
fn check_request(request: &Request) -> Result<(), ProviderError> {
    request.check_commit()?;
    if let Some(release) = &request.release
        && let Err(e) = ReleaseId::parse(release)
    {
        return Err(ProviderError::Failed {
            message: format!("`{}` was given a bad release id: {e}", request.action),
        });
    }
    Ok(())
}

fn human_duration(d: Duration) -> String {
    Span::from_secs(d.as_secs())
        .map(|span| span.to_string())
        .unwrap_or_else(|| format!("{}s", d.as_secs()))
}

fn describe_exit(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exited with code {code}");
    }
    match status.signal() {
        Some(signal) => {
            let name = match signal {
                libc::SIGHUP => " (SIGHUP)",
                libc::SIGINT => " (SIGINT)",
                libc::SIGABRT => " (SIGABRT)",
                libc::SIGKILL => " (SIGKILL)",
                libc::SIGSEGV => " (SIGSEGV)",
                libc::SIGTERM => " (SIGTERM)",
                _ => "",
            };
            format!("was killed by signal {signal}{name}")
        }
        None => format!("ended with {status}"),
    }
}

/// The child and the process group it leads (`process_group(0)` makes its
/// pid the group id), so a signal reaches everything it started.
struct ProcessGroup {
    child: Child,
    pgid: libc::pid_t,
    status: Option<ExitStatus>,
    /// Set once `terminate` has finished: the group id may be reused after.
    stopped: bool,
}

impl ProcessGroup {
    fn new(mut child: Child) -> Result<ProcessGroup, String> {
        match libc::pid_t::try_from(child.id()) {
            // Never 0 or 1: kill(0) and kill(-1) would reach far more than the child.
            Ok(pgid) if pgid > 1 => Ok(ProcessGroup {
                child,
                pgid,
                status: None,
                stopped: false,
            }),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                Err(format!("unexpected process id {}", child.id()))
            }
        }
    }

    fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if self.status.is_none() {
            self.status = self.child.try_wait()?;
        }
        Ok(self.status)
    }

    fn signal(&self, signal: libc::c_int) -> bool {
        // SAFETY: kill(2) has no memory effects; `pgid > 1` so `-pgid`
        // names exactly the child's process group.
        unsafe { libc::kill(-self.pgid, signal) == 0 }
    }

    /// True while any process of the group exists (zombies included).
    fn any_alive(&self) -> bool {
        self.signal(0)
    }

    /// SIGTERM to the group, SIGKILL after `grace`; returns once the leader
    /// is reaped and the group is empty (or SIGKILL has been sent).
    fn terminate(&mut self, grace: Duration) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        if self.status.is_some() && !self.any_alive() {
            return;
        }
        self.signal(libc::SIGTERM);
        let until = Instant::now() + grace;
        loop {
            // An error here means the child is gone or unwaitable; SIGKILL covers both.
            let reaped = self.try_wait().map(|s| s.is_some()).unwrap_or(true);
            if reaped && !self.any_alive() {
                return;
            }
            if Instant::now() >= until {
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
        self.signal(libc::SIGKILL);
        if self.status.is_none() {
            self.status = self.child.wait().ok();
        }
        // SIGKILL is delivered at once but a process takes a moment to die.
        let until = Instant::now() + KILL_SETTLE;
        while self.any_alive() && Instant::now() < until {
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for ProcessGroup {
    /// However `run` ends (a panic in `progress` included), no process of
    /// the group outlives it.
    fn drop(&mut self) {
        if !self.stopped {
            self.stopped = true;
            self.signal(libc::SIGKILL);
            if self.status.is_none() {
                let _ = self.child.wait();
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    Stdout,
    Stderr,
}

struct Line {
    stream: Stream,
    text: String,
}

/// Reads stdout and stderr on one thread each, a cleaned line at a time.
fn read_output(group: &mut ProcessGroup) -> io::Result<Receiver<Line>> {
    // Bounded, so a command that prints faster than progress is shown
    // waits on its pipe instead of filling memory.
    let (sender, receiver) = mpsc::sync_channel(OUTPUT_BACKLOG);
    if let Some(stdout) = group.child.stdout.take() {
        spawn_reader(Stream::Stdout, stdout, sender.clone())?;
    }
    if let Some(stderr) = group.child.stderr.take() {
        spawn_reader(Stream::Stderr, stderr, sender)?;
    }
    Ok(receiver)
}

fn spawn_reader(
    stream: Stream,
    pipe: impl Read + Send + 'static,
    sender: SyncSender<Line>,
) -> io::Result<()> {
    let name = match stream {
        Stream::Stdout => "script-stdout",
        Stream::Stderr => "script-stderr",
    };
    thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            let mut reader = BufReader::new(pipe);
            // Ends at end of output, on a read error, or when nobody listens any more.
            while let Ok(Some((raw, cut))) = read_capped_line(&mut reader, MAX_RAW_LINE_BYTES) {
                let text = clean_line(&raw, MAX_LINE_BYTES, cut);
                if !text.trim().is_empty() && sender.send(Line { stream, text }).is_err() {
                    break;
                }
            }
        })?;
    Ok(())
}

/// One line without its `\n`, at most `cap` bytes (the rest of the line is
/// skipped and `true` returned with it); `None` at end of output.
fn read_capped_line(reader: &mut impl BufRead, cap: usize) -> io::Result<Option<(Vec<u8>, bool)>> {
    let mut line = Vec::new();
    let mut cut = false;
    loop {
        let buf = match reader.fill_buf() {
            Ok(buf) => buf,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            return Ok((!line.is_empty() || cut).then_some((line, cut)));
        }
        let (chunk, used, end) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..i], i + 1, true),
            None => (buf, buf.len(), false),
        };
        let room = cap.saturating_sub(line.len());
        line.extend_from_slice(&chunk[..chunk.len().min(room)]);
        cut |= chunk.len() > room;
        reader.consume(used);
        if end {
            return Ok(Some((line, cut)));
        }
    }
}

/// What the command said: its last lines (for a failure message) and the
/// address it announced.
#[derive(Default)]
struct Output {
    /// Lines counted as they arrive, so the two streams can be merged back in order.
    count: u64,
    last: VecDeque<(u64, String)>,
    last_stderr: VecDeque<(u64, String)>,
    address: Option<String>,
}

impl Output {
    fn take(&mut self, line: Line, progress: &mut dyn FnMut(&str)) {
        // The address line is for rushbox, not a step to show people.
        match line.text.strip_prefix(ADDRESS_PREFIX) {
            Some(address) if line.stream == Stream::Stdout => {
                if is_plain_http_url(address) {
                    self.address = Some(address.to_owned());
                } else {
                    progress("ignored RUSHBOX_ADDRESS: not a plain http(s) URL");
                }
            }
            _ => progress(&line.text),
        }
        self.count += 1;
        if line.stream == Stream::Stderr {
            push_capped(
                &mut self.last_stderr,
                LAST_STDERR_LINES,
                (self.count, line.text.clone()),
            );
        }
        push_capped(&mut self.last, LAST_LINES, (self.count, line.text));
    }

    /// Passes on what is left of the output, for at most [`DRAIN_LIMIT`]: a
    /// process outside the group may hold the pipes open for good.
    fn drain(&mut self, lines: &Receiver<Line>, progress: &mut dyn FnMut(&str)) {
        let until = Instant::now() + DRAIN_LIMIT;
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            match lines.recv_timeout(left) {
                Ok(line) => self.take(line, progress),
                Err(_) => break,
            }
        }
    }

    /// The last lines, with the last stderr lines kept even when stdout
    /// arrived after them: the error is usually there.
    fn last_lines(&self) -> String {
        let mut quoted: Vec<&(u64, String)> = self.last.iter().chain(&self.last_stderr).collect();
        quoted.sort_by_key(|(n, _)| *n);
        quoted.dedup_by_key(|(n, _)| *n);
        if quoted.is_empty() {
            return " (no output)".to_owned();
        }
        let mut text = String::from("; last output:");
        for (_, line) in quoted {
            text.push_str("\n    ");
            text.push_str(line);
        }
        text
    }
}

fn push_capped<T>(lines: &mut VecDeque<T>, cap: usize, line: T) {
    if lines.len() == cap {
        lines.pop_front();
    }
    lines.push_back(line);
}

/// `http://` or `https://`, a host, and only printable ASCII that chat
/// markup can't misread: no spaces, quotes, angle brackets, `|` or
/// backticks, and no `user@` part that could disguise the host.
fn is_plain_http_url(s: &str) -> bool {
    let Some(rest) = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
    else {
        return false;
    };
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let host = &rest[..host_end];
    let safe = |c: char| c.is_ascii_graphic() && !"<>\"'`|\\{}^".contains(c);
    s.len() <= 2048
        && !host.is_empty()
        && !host.contains('@')
        && !host.starts_with(':')
        && s.chars().all(safe)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_whole_fields_inside_one_argument() {
        let pieces = parse_pieces("--env={env}.{app}").unwrap();
        assert_eq!(
            pieces,
            vec![
                Piece::Text("--env=".to_owned()),
                Piece::Field(Field::Env),
                Piece::Text(".".to_owned()),
                Piece::Field(Field::App),
            ]
        );
        assert_eq!(
            parse_pieces("{{literal}}").unwrap(),
            vec![Piece::Text("{literal}".to_owned())]
        );
        assert_eq!(parse_pieces("").unwrap(), vec![Piece::Text(String::new())]);
        for bad in ["{", "}x{", "{branch}", "{ env }", "{env"] {
            assert!(parse_pieces(bad).is_err(), "{bad:?}");
        }
        let e = parse_pieces("{branch}").unwrap_err().to_string();
        assert!(
            e.contains("unknown placeholder `{branch}`; known: {action}"),
            "{e}"
        );
    }

    #[test]
    fn command_lines_print_as_configured() {
        let line = CommandLine::parse(["./d.sh", "--env={env}", "{{x}}", "{commit}"]).unwrap();
        assert_eq!(line.to_string(), "./d.sh --env={env} {{x}} {commit}");
    }

    #[test]
    fn lines_are_cleaned_for_chat() {
        for (raw, shown) in [
            (&b"plain\ttab"[..], "plain\ttab"),
            (b"\x1b[31mred\x1b[0m done", "red done"),
            (b"\x1b]0;title\x07after", "after"),
            (b"bell\x07 cr\r", "bell cr"),
            (b"a\xe2\x80\xaeb\xe2\x80\x8bc", "abc"),
            (b"bad \xff utf8", "bad \u{fffd} utf8"),
        ] {
            assert_eq!(clean_line(raw, MAX_LINE_BYTES, false), shown, "{raw:?}");
        }
        let long = "é".repeat(MAX_LINE_BYTES);
        let shown = clean_line(long.as_bytes(), MAX_LINE_BYTES, false);
        assert!(shown.len() <= MAX_LINE_BYTES + 4 && shown.ends_with(" …"));
        assert_eq!(clean_line(b"short", MAX_LINE_BYTES, true), "short …");
    }

    #[test]
    fn long_lines_are_capped_while_reading() {
        let input = format!("{}\nnext\nlast", "x".repeat(10_000));
        let mut reader = BufReader::with_capacity(64, input.as_bytes());
        let (first, cut) = read_capped_line(&mut reader, 100).unwrap().unwrap();
        assert_eq!((first.len(), cut), (100, true));
        assert_eq!(
            read_capped_line(&mut reader, 100).unwrap(),
            Some((b"next".to_vec(), false))
        );
        assert_eq!(
            read_capped_line(&mut reader, 100).unwrap(),
            Some((b"last".to_vec(), false))
        );
        assert_eq!(read_capped_line(&mut reader, 100).unwrap(), None);
    }

    #[test]
    fn only_plain_http_urls_are_addresses() {
        for good in [
            "http://dev-foo.localhost:8080",
            "https://dev-foo.example.com/",
            "https://x.example.com/a?b=c#d",
        ] {
            assert!(is_plain_http_url(good), "{good}");
        }
        for bad in [
            "",
            "ftp://x",
            "javascript:alert(1)",
            "http://",
            "http:///path",
            "https://evil@good.example.com",
            "http://a b",
            "http://a\tb",
            "http://<x|y>",
            "http://x/`y`",
            "http://ex\u{0430}mple.com",
        ] {
            assert!(!is_plain_http_url(bad), "{bad}");
        }
    }
}
