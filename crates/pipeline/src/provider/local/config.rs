//! The `local` provider's config: [`LocalConfig`] and each app's
//! [`LocalApp`] settings, the values they hold ([`Argv`], [`HealthPath`])
//! and their checks. Only what the config says; nothing here touches disk.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

use rushbox_command::{AppName, EnvName};
use serde::Deserialize;

use super::failed;
use crate::provider::script::StaticEnv;
use crate::provider::{ProviderConfigError, ProviderError};

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
    pub fn parse<I, S>(argv: I) -> Result<Argv, ProviderConfigError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let argv: Vec<String> = argv.into_iter().map(Into::into).collect();
        match argv.first() {
            None => Err(ProviderConfigError(
                "a command needs at least a program, like [\"python3\", \"server.py\"]".to_owned(),
            )),
            Some(program) if program.is_empty() => {
                Err(ProviderConfigError("the program is empty".to_owned()))
            }
            _ if argv.iter().any(|a| a.contains('\0')) => Err(ProviderConfigError(
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
    type Error = ProviderConfigError;
    fn try_from(argv: Vec<String>) -> Result<Argv, ProviderConfigError> {
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
    pub fn parse(path: &str) -> Result<HealthPath, ProviderConfigError> {
        if path.starts_with('/') && path.len() <= 1024 && path.bytes().all(|b| b.is_ascii_graphic())
        {
            Ok(HealthPath(path.to_owned()))
        } else {
            Err(ProviderConfigError(format!(
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
    type Error = ProviderConfigError;
    fn try_from(path: String) -> Result<HealthPath, ProviderConfigError> {
        HealthPath::parse(&path)
    }
}

impl LocalConfig {
    /// Refuses a domain that can't be a host name and makes `root`
    /// absolute (apps run elsewhere and get paths under it).
    pub(super) fn checked(mut self) -> Result<LocalConfig, ProviderConfigError> {
        let domain_ok = !self.domain.is_empty()
            && self
                .domain
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
        if !domain_ok {
            return Err(ProviderConfigError(format!(
                "the domain {:?} must be a host name (lowercase letters, digits, `.`, `-`)",
                self.domain
            )));
        }
        self.root = std::path::absolute(&self.root).map_err(|e| {
            ProviderConfigError(format!(
                "the root `{}` can't be made absolute: {e}",
                self.root.display()
            ))
        })?;
        Ok(self)
    }

    pub(super) fn app(&self, app: &AppName) -> Result<&LocalApp, ProviderError> {
        self.apps.get(app).ok_or_else(|| {
            let known: Vec<&str> = self.apps.keys().map(AppName::as_str).collect();
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

    pub(super) fn address(&self, env: &EnvName) -> String {
        format!(
            "http://{}.{}:{}",
            env.as_str(),
            self.domain,
            self.router_port
        )
    }
}

impl LocalApp {
    /// The env's config variables: the app's, then the source env's
    /// overrides (staging's, for a dev env), then its own.
    pub(super) fn config_vars(
        &self,
        env: &EnvName,
        source: Option<&EnvName>,
    ) -> Vec<(String, OsString)> {
        let mut vars: BTreeMap<&str, &str> = self.env.vars().collect();
        for name in source.into_iter().chain([env]) {
            if let Some(overrides) = self.env_overrides.get(name) {
                vars.extend(overrides.vars());
            }
        }
        vars.into_iter()
            .map(|(k, v)| (k.to_owned(), OsString::from(v)))
            .collect()
    }
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
        let vars = app.config_vars(&EnvName::parse("dev-x").unwrap(), Some(&EnvName::staging()));
        let vars: Vec<(&str, &str)> = vars
            .iter()
            .map(|(k, v)| (k.as_str(), v.to_str().unwrap()))
            .collect();
        assert_eq!(vars, [("A", "app"), ("B", "staging"), ("C", "dev")]);
    }
}
