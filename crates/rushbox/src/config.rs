//! rushbox's config file: TOML into typed sections, with every mistake
//! reported as `file:line: key: what is wrong`. The example in
//! `config/rushbox.toml` is also the embedded default.

use std::fmt;
use std::path::{Path, PathBuf};

use rushbox_command::AppName;
use rushbox_discord::DiscordConfig;
use rushbox_pipeline::PipelineConfig;
use rushbox_pipeline::config::{AppConfig, LimitsConfig, RolesConfig, TimesConfig};
use rushbox_pipeline::provider::local::LocalConfig;
use rushbox_pipeline::provider::script::ScriptConfig;
use rushbox_slack::SlackConfig;
use serde::Deserialize;

/// The example config, used when no `--config` is given.
pub const EMBEDDED: &str = include_str!("../../../config/rushbox.toml");
/// Where the embedded default pretends to live, so its relative paths work from the directory rushbox runs in.
pub const EMBEDDED_NAME: &str = "config/rushbox.toml (embedded default)";

/// Which provider makes envs real.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    Noop,
    Script,
    Local,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSection {
    pub kind: ProviderKind,
    pub script: Option<ScriptConfig>,
    pub local: Option<LocalConfig>,
}

impl Default for ProviderSection {
    fn default() -> ProviderSection {
        ProviderSection {
            kind: ProviderKind::Noop,
            script: None,
            local: None,
        }
    }
}

/// The env router: one listener that sends `<env>.<domain>` to the env.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RouterSection {
    pub listen: std::net::SocketAddr,
    pub domain: String,
    /// How long a request waits for its suspended env to wake.
    pub wake_timeout_secs: u64,
}

impl Default for RouterSection {
    fn default() -> RouterSection {
        RouterSection {
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 8080)),
            domain: "localhost".to_owned(),
            wake_timeout_secs: 60,
        }
    }
}

/// rushbox's own webhook server: where Slack's Events API reaches it
/// (`[slack] mode = "http"`). Separate from the router, which serves envs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSection {
    pub listen: std::net::SocketAddr,
}

impl Default for HttpSection {
    /// Loopback: Slack needs HTTPS, so a TLS proxy or tunnel sits in front.
    fn default() -> HttpSection {
        HttpSection {
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 3000)),
        }
    }
}

/// The whole file, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FileConfig {
    store: PathBuf,
    provider: ProviderSection,
    router: RouterSection,
    http: Option<HttpSection>,
    slack: Option<SlackConfig>,
    discord: Option<DiscordConfig>,
    apps: Vec<AppConfig>,
    default_app: Option<AppName>,
    roles: RolesConfig,
    limits: LimitsConfig,
    times: TimesConfig,
}

impl Default for FileConfig {
    fn default() -> FileConfig {
        let pipeline = PipelineConfig::default();
        FileConfig {
            store: PathBuf::from(".rushbox/state"),
            provider: ProviderSection::default(),
            router: RouterSection::default(),
            http: None,
            slack: None,
            discord: None,
            apps: pipeline.apps,
            default_app: pipeline.default_app,
            roles: pipeline.roles,
            limits: pipeline.limits,
            times: pipeline.times,
        }
    }
}

/// Config ready to use: paths made absolute against the file's directory.
#[derive(Debug, Clone)]
pub struct Config {
    pub store: PathBuf,
    pub provider: ProviderSection,
    pub router: RouterSection,
    /// The webhook server, when `[http]` is present (else its default is used when needed).
    pub http: Option<HttpSection>,
    /// The Slack app, when `[slack]` is present (tokens from environment variables).
    pub slack: Option<SlackConfig>,
    /// The Discord bot, when `[discord]` is present (token from an environment variable).
    pub discord: Option<DiscordConfig>,
    pub pipeline: PipelineConfig,
}

/// A config mistake, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub line: Option<usize>,
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": `{key}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: name.clone(),
            line: None,
            key: None,
            message: format!("can't read it: {e}"),
        })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Config::parse(&text, &name, &base)
    }

    /// The embedded default, as if it were `config/rushbox.toml` under `cwd`.
    pub fn embedded(cwd: &Path) -> Result<Config, ConfigError> {
        Config::parse(EMBEDDED, EMBEDDED_NAME, &cwd.join("config"))
    }

    /// Parses `text` (named `file` in errors); relative paths are taken from `base`.
    pub fn parse(text: &str, file: &str, base: &Path) -> Result<Config, ConfigError> {
        let parsed: FileConfig = toml::from_str(text).map_err(|e| locate(&e, text, file))?;
        let at = |key: &str, message: String| ConfigError {
            file: file.to_owned(),
            line: line_of_key(text, key),
            key: Some(key.to_owned()),
            message,
        };
        if parsed.apps.is_empty() {
            return Err(at(
                "apps",
                "name at least one app (`[[apps]]` with `name` and `repo`)".to_owned(),
            ));
        }
        if let Some(default) = &parsed.default_app
            && !parsed.apps.iter().any(|a| &a.name == default)
        {
            let known: Vec<String> = parsed.apps.iter().map(|a| a.name.to_string()).collect();
            return Err(at(
                "default_app",
                format!("`{default}` is not one of the apps: {}", known.join(", ")),
            ));
        }
        for (i, app) in parsed.apps.iter().enumerate() {
            if parsed.apps[..i].iter().any(|a| a.name == app.name) {
                return Err(at(
                    "name",
                    format!("app `{}` is configured twice", app.name),
                ));
            }
        }
        if parsed.provider.kind == ProviderKind::Script && parsed.provider.script.is_none() {
            return Err(at(
                "kind",
                "`kind = \"script\"` needs a `[provider.script]` table with the commands"
                    .to_owned(),
            ));
        }
        if parsed.provider.kind == ProviderKind::Local && parsed.provider.local.is_none() {
            return Err(at(
                "kind",
                "`kind = \"local\"` needs a `[provider.local]` table (root and the apps' build and run commands)"
                    .to_owned(),
            ));
        }
        let mut provider = parsed.provider;
        if let Some(local) = &mut provider.local {
            local.root = resolve(base, &local.root);
            // The router decides where envs are reached; the provider only writes addresses.
            local.router_port = parsed.router.listen.port();
            local.domain = parsed.router.domain.clone();
        }
        if let Some(script) = &mut provider.script {
            script.working_dir = Some(resolve(
                base,
                &script.working_dir.take().unwrap_or_default(),
            ));
        }
        let apps = parsed
            .apps
            .into_iter()
            .map(|app| AppConfig {
                repo: resolve(base, &app.repo),
                ..app
            })
            .collect();
        Ok(Config {
            store: resolve(base, &parsed.store),
            provider,
            router: parsed.router,
            http: parsed.http,
            slack: parsed.slack,
            discord: parsed.discord,
            pipeline: PipelineConfig {
                apps,
                default_app: parsed.default_app,
                roles: parsed.roles,
                limits: parsed.limits,
                times: parsed.times,
            },
        })
    }
}

/// `path` taken from `base`, with `.` and `..` worked out on the text, so
/// `config/../state` means `state` even when `config/` does not exist (the
/// embedded default pretends to live there).
fn resolve(base: &Path, path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in base.join(path).components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// Turns a TOML error into file, line and key.
fn locate(error: &toml::de::Error, text: &str, file: &str) -> ConfigError {
    let line = error
        .span()
        .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
    let message = error.message().trim().to_owned();
    // The key is named in "unknown field `x`" messages; otherwise it is the
    // left side of the line the error points at.
    let key = message
        .split('`')
        .nth(1)
        .filter(|_| message.starts_with("unknown field"))
        .map(str::to_owned)
        .or_else(|| {
            let line_text = text.lines().nth(line?.checked_sub(1)?)?;
            let (key, _) = line_text.split_once('=')?;
            Some(key.trim().to_owned())
        });
    ConfigError {
        file: file.to_owned(),
        line,
        key,
        message,
    }
}

/// The first line where `key = …` (or `[key]`, `[[key]]`) is written.
fn line_of_key(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            let l = l.trim();
            l.split('=').next().is_some_and(|k| k.trim() == key)
                || l.trim_matches(|c| c == '[' || c == ']') == key
        })
        .map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> String {
        match Config::parse(text, "rushbox.toml", Path::new("/srv/rushbox")) {
            Ok(_) => panic!("accepted: {text}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn the_example_is_valid_and_paths_follow_the_file() {
        let config = Config::parse(EMBEDDED, "example", Path::new("/srv/rushbox/config")).unwrap();
        assert_eq!(config.store, Path::new("/srv/rushbox/.rushbox/state"));
        assert_eq!(config.pipeline.apps[0].repo, Path::new("/srv/rushbox"));
        assert_eq!(config.pipeline.roles.leads, vec!["shell:lena".to_owned()]);
        assert_eq!(config.provider.kind, ProviderKind::Noop);
    }

    #[test]
    fn mistakes_name_the_file_line_and_key() {
        assert_eq!(
            error("store = \"s\"\n[roles]\nleeds = [\"shell:a\"]\n"),
            "rushbox.toml:3: `leeds`: unknown field `leeds`, expected `leads` or `developers`"
        );
        let e = error("[limits]\ndev_envs_total = \"many\"\n");
        assert!(
            e.starts_with("rushbox.toml:2: `dev_envs_total`: invalid type: string \"many\""),
            "{e}"
        );
        let e = error("[[apps]]\nname = \"Bad_App\"\nrepo = \".\"\n");
        assert!(e.starts_with("rushbox.toml:2: `name`: "), "{e}");
        assert!(e.contains("can't contain `_`"), "{e}");
        let e = error("default_app = \"web\"\n[[apps]]\nname = \"api\"\n");
        assert_eq!(
            e,
            "rushbox.toml:1: `default_app`: `web` is not one of the apps: api"
        );
        let e = error("[provider]\nkind = \"script\"\n");
        assert_eq!(
            e,
            "rushbox.toml:2: `kind`: `kind = \"script\"` needs a `[provider.script]` table with the commands"
        );
        let e = error("[provider]\nkind = \"kubernetes\"\n");
        assert!(
            e.starts_with("rushbox.toml:2: `kind`: unknown variant `kubernetes`"),
            "{e}"
        );
        let e = error(
            "[provider]\nkind = \"script\"\n[provider.script]\ndeploy = [\"./d.sh\", \"{nope}\"]\n",
        );
        assert!(e.starts_with("rushbox.toml:4: `deploy`: "), "{e}");
        let e = error("stor = \"x\"\n");
        assert!(
            e.starts_with("rushbox.toml:1: `stor`: unknown field `stor`"),
            "{e}"
        );
    }

    #[test]
    fn the_commented_out_serve_sections_are_valid_once_uncommented() {
        let start = EMBEDDED
            .find("# [slack]")
            .expect("the example shows [slack]");
        let serve_sections: String = EMBEDDED[start..]
            .lines()
            .filter_map(|l| l.strip_prefix("# "))
            .filter(|l| {
                let key = l.split_once(" = ").map_or("", |(key, _)| key);
                l.starts_with('[')
                    || (!key.is_empty()
                        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            })
            .map(|l| format!("{l}\n"))
            .collect();
        let text = format!("{}{serve_sections}", &EMBEDDED[..start]);
        let config = Config::parse(&text, "example", Path::new("/srv/rushbox/config")).unwrap();
        assert_eq!(
            config.http,
            Some(HttpSection {
                listen: "127.0.0.1:3000".parse().unwrap()
            })
        );
        assert_eq!(config.http, Some(HttpSection::default()));
        assert!(config.slack.is_some());
        assert_eq!(
            Config::parse(EMBEDDED, "x", Path::new("/")).unwrap().http,
            None
        );
    }

    #[test]
    fn the_webhook_server_address_is_checked() {
        let e = error("[http]\nlisten = \"localhost\"\n");
        assert!(
            e.starts_with("rushbox.toml:2: `listen`: invalid socket address syntax"),
            "{e}"
        );
        let e = error("[http]\nport = 3000\n");
        assert_eq!(
            e,
            "rushbox.toml:2: `port`: unknown field `port`, expected `listen`"
        );
    }

    #[test]
    fn a_script_provider_runs_from_the_config_directory() {
        let text = "[provider]\nkind = \"script\"\n[provider.script]\ndeploy = [\"./deploy.sh\", \"{env}\"]\nworking_dir = \"deploy\"\n";
        let config = Config::parse(text, "x", Path::new("/srv/rushbox")).unwrap();
        let script = config.provider.script.unwrap();
        assert_eq!(
            script.working_dir.as_deref(),
            Some(Path::new("/srv/rushbox/deploy"))
        );
    }
}
