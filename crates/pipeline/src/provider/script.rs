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

use std::collections::BTreeMap;
use std::fmt;
use std::num::NonZeroU64;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rushbox_command::Span;
use serde::Deserialize;

use super::{Action, CancelToken, Outcome, Provider, ProviderConfigError, ProviderError, Request};
use crate::process::{self, Ended, GroupLedger, Limits, Line, Spec, Stream, Tail};

/// Longest timeout or grace honoured; larger config values are cut to it
/// (a deadline past it would overflow `Instant`, and means "never" anyway).
const MAX_WAIT_SECS: u64 = Span::MAX_SECS;
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
    pub fn parse<I, S>(argv: I) -> Result<CommandLine, ProviderConfigError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut argv = argv.into_iter().map(Into::into);
        let Some(program) = argv.next() else {
            return Err(ProviderConfigError(
                "a command needs at least a program, like [\"./scripts/deploy.sh\", \"{env}\"]"
                    .to_owned(),
            ));
        };
        if program.is_empty() {
            return Err(ProviderConfigError("the program is empty".to_owned()));
        }
        if program.contains(['{', '}']) {
            return Err(ProviderConfigError(format!(
                "the program `{program}` is run as written and can't use placeholders; \
                 pass values as arguments"
            )));
        }
        if program.contains('\0') {
            return Err(ProviderConfigError(
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
    type Error = ProviderConfigError;
    fn try_from(argv: Vec<String>) -> Result<CommandLine, ProviderConfigError> {
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
fn parse_pieces(arg: &str) -> Result<Vec<Piece>, ProviderConfigError> {
    if arg.contains('\0') {
        return Err(ProviderConfigError(format!(
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
                return Err(ProviderConfigError(format!(
                    "the argument `{arg}` has an unmatched brace; write `{{{{` or `}}}}` \
                     for a literal one"
                )));
            }
        };
        let name = &tail[1..=close];
        let Some(field) = Field::ALL.iter().find(|f| f.placeholder() == name) else {
            return Err(ProviderConfigError(format!(
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
    type Error = ProviderConfigError;
    fn try_from(vars: BTreeMap<String, String>) -> Result<StaticEnv, ProviderConfigError> {
        for (name, value) in &vars {
            let shell_name = name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                && name.bytes().next().is_some_and(|b| !b.is_ascii_digit());
            if !shell_name {
                return Err(ProviderConfigError(format!(
                    "`{name}` is not a usable environment variable name \
                     (letters, digits and `_`, not starting with a digit)"
                )));
            }
            if name.starts_with("RUSHBOX_") {
                return Err(ProviderConfigError(format!(
                    "`{name}`: rushbox sets the RUSHBOX_* variables itself"
                )));
            }
            if value.contains('\0') {
                return Err(ProviderConfigError(format!(
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

    /// Records each command's process group in `ledger` before it runs, so
    /// that if rushbox dies mid-command the next start can stop it.
    pub fn with_ledger(mut self, ledger: Arc<GroupLedger>) -> ScriptProvider {
        self.ledger = Some(ledger);
        self
    }

    pub fn config(&self) -> &ScriptConfig {
        &self.config
    }

    /// The process for `request`: argv from config with the request's
    /// values in place, `RUSHBOX_*` variables, in the working directory.
    fn spec(&self, line: &CommandLine, request: &Request) -> Result<Spec, ProviderError> {
        let mut spec = Spec::new(line.program()).args(line.render(request)?);
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
            spec = spec.cwd(dir);
        }
        spec = spec.envs(self.config.env.vars());
        for field in Field::ALL {
            spec = spec.env(field.env_var(), field.value(request).unwrap_or_default());
        }
        if let Some(ledger) = &self.ledger {
            spec = spec.recorded_in(
                ledger,
                format!("{}/{} {}", request.app, request.env, request.action),
            );
        }
        Ok(spec)
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
        request.ready(cancel)?;
        let action = request.action;
        let line = self
            .config
            .command(action)
            .ok_or(ProviderError::NotConfigured { action })?;
        let spec = self.spec(line, request)?;
        let program = line.program();
        let failed = |message: String| ProviderError::Failed { message };

        let mut output = Output::default();
        let timeout = self.config.timeout(action);
        let limits = Limits::new(timeout, self.config.kill_grace()).cancel(cancel);
        let ended = process::run(&spec, process::Output::Lines, limits, &mut |line| {
            output.take(line, progress)
        })
        .map_err(|e| failed(format!("`{action}` could not start `{program}`: {e}")))?;
        match ended {
            Ended::Cancelled => Err(ProviderError::Cancelled),
            Ended::TimedOut => Err(failed(format!(
                "`{action}` timed out after {}; `{program}` and its processes were stopped{}",
                human_duration(timeout),
                output.tail.quote()
            ))),
            Ended::Exited(exit) if exit.success() => Ok(Outcome {
                address: output.address,
            }),
            Ended::Exited(exit) => Err(failed(format!(
                "`{action}` failed: `{program}` {exit}{}",
                output.tail.quote()
            ))),
        }
    }
}

fn human_duration(d: Duration) -> String {
    Span::from_secs(d.as_secs())
        .map(|span| span.to_string())
        .unwrap_or_else(|| format!("{}s", d.as_secs()))
}

/// What the command said: its last lines (for a failure message) and the
/// address it announced.
struct Output {
    tail: Tail,
    address: Option<String>,
}

impl Default for Output {
    fn default() -> Output {
        Output {
            tail: Tail::new(LAST_LINES, LAST_STDERR_LINES),
            address: None,
        }
    }
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
        self.tail.push(&line);
    }
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
