//! rushbox's config file: TOML into typed sections, with every mistake
//! reported as `file:line: key: what is wrong`. The example in
//! `config/rushbox.toml` is also the embedded default.

use std::fmt;
use std::path::{Path, PathBuf};

use rushbox_command::{AppName, Span};
use rushbox_discord::DiscordConfig;
use rushbox_pipeline::PipelineConfig;
use rushbox_pipeline::config::{AppConfig, LimitsConfig, RolesConfig, TimesConfig, check_seconds};
use rushbox_pipeline::provider::local::LocalConfig;
use rushbox_pipeline::provider::script::ScriptConfig;
use rushbox_slack::SlackConfig;
use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

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

/// The chat platforms whose actor ids roles may name (`shell:lena`, …).
const PLATFORMS: [&str; 3] = ["shell", "slack", "discord"];
/// The platforms whose groups rushbox reads (`group:slack:S0LEADS`, a
/// Slack user group; `group:discord:<role id>`, a Discord role).
const GROUP_PLATFORMS: [&str; 2] = ["slack", "discord"];

impl Config {
    /// Reads and checks a config file. Relative paths in it are taken from
    /// the file's own directory, however the file was named.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let name = path.display().to_string();
        let whole = |message: String| ConfigError {
            file: name.clone(),
            line: None,
            key: None,
            message,
        };
        let text =
            std::fs::read_to_string(path).map_err(|e| whole(format!("can't read it: {e}")))?;
        // Not `path.parent()`: that is "" for `rushbox.toml`, which made every
        // relative path in the file empty.
        let dir = std::fs::canonicalize(path)
            .map_err(|e| whole(format!("can't tell its directory: {e}")))?
            .parent()
            .map(Path::to_path_buf)
            .ok_or_else(|| whole("it has no directory".to_owned()))?;
        let config = Config::parse(&text, &name, &dir)?;
        config.check_repositories(
            &Located::new(&text, &name),
            &format!(
                "set `repo` to a clone of the app: absolute, or relative to {}",
                dir.display()
            ),
        )?;
        Ok(config)
    }

    /// The embedded default, as if it were `config/rushbox.toml` under `cwd`.
    pub fn embedded(cwd: &Path) -> Result<Config, ConfigError> {
        let config = Config::parse(EMBEDDED, EMBEDDED_NAME, &cwd.join("config"))?;
        config.check_repositories(
            &Located::new(EMBEDDED, EMBEDDED_NAME),
            "without --config, the directory rushbox runs in is the app: run it in a clone, \
             or give `--config FILE`",
        )?;
        Ok(config)
    }

    /// Parses `text` (named `file` in errors) and checks its values;
    /// relative paths are taken from `base`. Touches no file.
    pub fn parse(text: &str, file: &str, base: &Path) -> Result<Config, ConfigError> {
        let at = Located::new(text, file);
        if let Some(retired) = retired_role_map(&at) {
            return Err(retired);
        }
        let parsed: FileConfig = toml::from_str(text).map_err(|e| locate(&e, text, file))?;
        parsed.check(&at)?;
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

    /// Every app's `repo` is a git repository (the engine reads its branches).
    fn check_repositories(&self, at: &Located, hint: &str) -> Result<(), ConfigError> {
        for (i, app) in self.pipeline.apps.iter().enumerate() {
            let problem = if !app.repo.exists() {
                "does not exist".to_owned()
            } else {
                match rushbox_pipeline::git::GitRepo::open(&app.repo) {
                    Ok(_) => continue,
                    Err(rushbox_pipeline::git::GitError::NotARepository { .. }) => {
                        "is not a git repository".to_owned()
                    }
                    Err(e) => format!("can't be read: {e}"),
                }
            };
            return Err(at.error(
                &["apps", &i.to_string(), "repo"],
                format!(
                    "app `{}`'s repository `{}` {problem}; {hint}",
                    app.name,
                    app.repo.display()
                ),
            ));
        }
        Ok(())
    }
}

impl FileConfig {
    /// Values that parse but can't work, each with where it is written.
    fn check(&self, at: &Located) -> Result<(), ConfigError> {
        if self.apps.is_empty() {
            return Err(at.error(
                &["apps"],
                "name at least one app (`[[apps]]` with `name` and `repo`)",
            ));
        }
        if let Some(default) = &self.default_app
            && !self.apps.iter().any(|a| &a.name == default)
        {
            return Err(at.error(
                &["default_app"],
                format!(
                    "`{default}` is not one of the apps: {}",
                    self.app_names().join(", ")
                ),
            ));
        }
        for (i, app) in self.apps.iter().enumerate() {
            if self.apps[..i].iter().any(|a| a.name == app.name) {
                return Err(at.error(
                    &["apps", &i.to_string(), "name"],
                    format!("app `{}` is configured twice", app.name),
                ));
            }
        }
        if self.store.as_os_str().is_empty() {
            return Err(at.error(
                &["store"],
                "is empty; give the directory for rushbox's state, like \".rushbox/state\"",
            ));
        }
        self.check_provider(at)?;
        if self.router.listen.port() == 0 {
            return Err(at.error(
                &["router", "listen"],
                "port 0 makes no sense: every env's address names the router's port; \
                 pick one, like \"127.0.0.1:8080\"",
            ));
        }
        check_seconds(
            self.router.wake_timeout_secs,
            "a request's wait for its env to wake",
        )
        .map_err(|m| at.error(&["router", "wake_timeout_secs"], m))?;
        let pipeline = PipelineConfig {
            apps: Vec::new(),
            default_app: None,
            roles: self.roles.clone(),
            limits: self.limits.clone(),
            times: self.times.clone(),
        };
        pipeline.check().map_err(|p| {
            let path: Vec<&str> = p.path.iter().map(String::as_str).collect();
            at.error(&path, p.message)
        })?;
        self.check_role_platforms(at)?;
        self.check_chat(at)
    }

    fn app_names(&self) -> Vec<String> {
        self.apps.iter().map(|a| a.name.to_string()).collect()
    }

    fn check_provider(&self, at: &Located) -> Result<(), ConfigError> {
        let kind = &self.provider.kind;
        if *kind == ProviderKind::Script && self.provider.script.is_none() {
            return Err(at.error(
                &["provider", "kind"],
                "`kind = \"script\"` needs a `[provider.script]` table with the commands",
            ));
        }
        let Some(local) = &self.provider.local else {
            if *kind == ProviderKind::Local {
                return Err(at.error(
                    &["provider", "kind"],
                    "`kind = \"local\"` needs a `[provider.local]` table (root and the apps' build and run commands)",
                ));
            }
            return Ok(());
        };
        let path = |key: &str| ["provider", "local", key].map(str::to_owned);
        let at_local = |key: &str, message: String| {
            let path = path(key);
            let path: Vec<&str> = path.iter().map(String::as_str).collect();
            at.error(&path, message)
        };
        check_seconds(local.command_timeout_secs, "a build or clone-data command")
            .map_err(|m| at_local("command_timeout_secs", m))?;
        if local.stop_grace_secs > Span::MAX_SECS {
            return Err(at_local(
                "stop_grace_secs",
                format!(
                    "{}s is more than a year; give at most {}",
                    local.stop_grace_secs,
                    Span::MAX_SECS
                ),
            ));
        }
        for (name, app) in &local.apps {
            let app_path = ["provider", "local", "apps", name.as_str()];
            if !self.apps.iter().any(|a| &a.name == name) {
                return Err(at.error(
                    &app_path,
                    format!(
                        "there is no app `{name}` in `[[apps]]` (apps: {})",
                        self.app_names().join(", ")
                    ),
                ));
            }
            check_seconds(
                app.health_timeout_secs,
                "an app's wait to answer its health path",
            )
            .map_err(|m| at.error(&[&app_path[..], &["health_timeout_secs"]].concat(), m))?;
        }
        if *kind == ProviderKind::Local
            && let Some((i, app)) = self
                .apps
                .iter()
                .enumerate()
                .find(|(_, a)| !local.apps.contains_key(&a.name))
        {
            return Err(at.error(
                &["apps", &i.to_string(), "name"],
                format!(
                    "app `{0}` has no `[provider.local.apps.{0}]` saying how to build and run it",
                    app.name
                ),
            ));
        }
        Ok(())
    }

    /// Roles name the platforms rushbox has adapters for: a typo such as
    /// `slak:…` would match nobody, silently.
    fn check_role_platforms(&self, at: &Located) -> Result<(), ConfigError> {
        let roles = [
            ("leads", &self.roles.leads),
            ("developers", &self.roles.developers),
        ];
        for (key, patterns) in roles {
            for (i, pattern) in patterns.iter().enumerate() {
                let (platforms, rest, what): (&[&str], &str, &str) =
                    match pattern.strip_prefix(rushbox_pipeline::config::GROUP_PREFIX) {
                        Some(group) => (&GROUP_PLATFORMS, group, "groups are read from"),
                        None => (&PLATFORMS, pattern, "the platforms are"),
                    };
                let Some((platform, id)) = rest.split_once(':') else {
                    continue; // `*`: everyone
                };
                if let Some(problem) = discord_pattern_problem(pattern, platform, id) {
                    return Err(at.error(
                        &["roles", key, &i.to_string()],
                        format!("`{pattern}` {problem}"),
                    ));
                }
                if !platforms.contains(&platform) {
                    return Err(at.error(
                        &["roles", key, &i.to_string()],
                        format!(
                            "`{pattern}` names the platform `{platform}`; {what} {}",
                            platforms
                                .iter()
                                .map(|p| format!("`{p}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The chat sections: token variables that can be looked up, Discord ids that can be ids.
    fn check_chat(&self, at: &Located) -> Result<(), ConfigError> {
        let mut token_vars = Vec::new();
        if let Some(slack) = &self.slack {
            token_vars.extend([
                ("slack", "app_token_env", &slack.app_token_env),
                ("slack", "bot_token_env", &slack.bot_token_env),
                ("slack", "signing_secret_env", &slack.signing_secret_env),
            ]);
        }
        if let Some(discord) = &self.discord {
            token_vars.push(("discord", "token_env", &discord.token_env));
            if discord.guild_id == Some(0) {
                return Err(at.error(
                    &["discord", "guild_id"],
                    "0 is no guild; give the server's id (Developer Mode → right-click the \
                     server → Copy Server ID), or leave `guild_id` out to register commands globally",
                ));
            }
        }
        for (section, key, var) in token_vars {
            if var.is_empty() || var.contains(['=', '\0']) {
                return Err(at.error(
                    &[section, key],
                    format!("{var:?} can't be the name of an environment variable"),
                ));
            }
        }
        Ok(())
    }
}

/// How to find a Discord role's id, for messages that need one.
const ROLE_ID_HINT: &str = "Server Settings → Roles → ⋯ → Copy Role ID";

/// What is wrong with a Discord pattern in `[roles]`, if anything: a group
/// must name a role by its id, and a role is no longer part of an actor id
/// (`discord:<guild>:lead:*` matched `role_map`'s ids, which are gone).
fn discord_pattern_problem(pattern: &str, platform: &str, id: &str) -> Option<String> {
    if platform != "discord" {
        return None;
    }
    if pattern.starts_with(rushbox_pipeline::config::GROUP_PREFIX) {
        let is_role_id = id.parse::<u64>().is_ok_and(|id| id != 0);
        return (!is_role_id).then(|| {
            format!(
                "names no Discord role: name one by its id, `group:discord:<role id>` ({ROLE_ID_HINT})"
            )
        });
    }
    let mut parts = id.split(':');
    let (_guild, role) = (parts.next(), parts.next());
    matches!(role, Some("lead" | "developer")).then(|| {
        "names a Discord role the old way: actor ids no longer carry a role, so it matches \
         nobody. Name the Discord role itself as a group, `group:discord:<role id>`"
            .to_owned()
    })
}

/// `[discord.role_map]` is gone (Discord roles are groups in `[roles]` now):
/// refused with the lines that replace it, rather than as an unknown key.
fn retired_role_map(at: &Located) -> Option<ConfigError> {
    let document = at.document.as_ref()?;
    let role_map = document
        .get_ref()
        .get("discord")?
        .get_ref()
        .get("role_map")?;
    let mut leads = Vec::new();
    let mut developers = Vec::new();
    for (role, rushbox_role) in role_map.get_ref().as_table().into_iter().flatten() {
        let group = format!("\"group:discord:{}\"", role.get_ref());
        match rushbox_role.get_ref().as_str() {
            Some("developer") => developers.push(group),
            _ => leads.push(group),
        }
    }
    let mut replacement = Vec::new();
    if !leads.is_empty() {
        replacement.push(format!("leads = [{}]", leads.join(", ")));
    }
    if !developers.is_empty() {
        replacement.push(format!("developers = [{}]", developers.join(", ")));
    }
    let replacement = match replacement.is_empty() {
        true => "`leads = [\"group:discord:<role id>\"]`".to_owned(),
        false => format!("`{}`", replacement.join("` and `")),
    };
    Some(at.error(
        &["discord", "role_map"],
        format!(
            "is gone: a Discord role is now a group in `[roles]`, and actor ids stay \
             `discord:<guild>:<user>` whatever roles people hold. Remove `[discord.role_map]` \
             and add to `[roles]` {replacement} (their ids: {ROLE_ID_HINT})"
        ),
    ))
}

/// The file's text with the place of every value, so a problem found after
/// parsing still names its line.
struct Located<'t> {
    text: &'t str,
    file: &'t str,
    document: Option<Spanned<DeValue<'t>>>,
}

impl<'t> Located<'t> {
    fn new(text: &'t str, file: &'t str) -> Located<'t> {
        let document = DeTable::parse(text).ok().map(|table| {
            let span = table.span();
            Spanned::new(span, DeValue::Table(table.into_inner()))
        });
        Located {
            text,
            file,
            document,
        }
    }

    /// The line of the value at `path` (keys, and array positions as
    /// numbers), or of the nearest enclosing one that is written.
    fn line(&self, path: &[&str]) -> Option<usize> {
        let mut node = self.document.as_ref()?;
        let mut written = false;
        for step in path {
            let value = node.get_ref();
            let next = match step.parse::<usize>() {
                Ok(i) if value.as_array().is_some() => value.get(i),
                _ => value.get(*step),
            };
            match next {
                Some(next) => {
                    node = next;
                    written = true;
                }
                None => break,
            }
        }
        written.then(|| line_of_offset(self.text, node.span().start))
    }

    /// A located error; the key shown is the last name in `path`.
    fn error(&self, path: &[&str], message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.to_owned(),
            line: self.line(path),
            key: path
                .iter()
                .rev()
                .find(|step| step.parse::<usize>().is_err())
                .map(|&key| key.to_owned()),
            message: message.into(),
        }
    }
}

fn line_of_offset(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
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
    let line = error.span().map(|span| line_of_offset(text, span.start));
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

    /// Values that parse but make no sense, each refused where it is written.
    #[test]
    fn nonsense_values_are_refused_with_file_line_and_key() {
        let app = "[[apps]]\nname = \"shop\"\nrepo = \".\"\n";
        let local = "[provider]\nkind = \"local\"\n[provider.local]\nroot = \"envs\"\n\
                     [provider.local.apps.shop]\nrun = [\"./shop\"]\n";
        let cases: &[(&str, &str)] = &[
            // limits
            (
                "[limits]\ndev_envs_per_person = 0",
                "2: `dev_envs_per_person`: 0 lets nobody have a dev env",
            ),
            (
                "[limits]\ndev_envs_total = 0",
                "2: `dev_envs_total`: 0 lets nobody have a dev env",
            ),
            // times
            (
                "[times]\ndev_ttl = 0",
                "2: `dev_ttl`: 0s makes no sense for a dev env's time to live",
            ),
            (
                "[times]\nidle_suspend = 0",
                "2: `idle_suspend`: 0s makes no sense",
            ),
            (
                "[times]\nlock_lease = 0",
                "2: `lock_lease`: 0s makes no sense for how long a lock lasts",
            ),
            (
                "[times]\nqueue_claim = 0",
                "2: `queue_claim`: 0s makes no sense",
            ),
            (
                "[times]\nexpiry_warning = 0",
                "2: `expiry_warning`: 0s makes no sense",
            ),
            (
                "[times]\nlock_lease = 40000000",
                "2: `lock_lease`: 40000000s is more than a year",
            ),
            (
                "[times]\ndev_ttl = 3600\nexpiry_warning = 3600",
                "3: `expiry_warning`: 3600s is not shorter than `dev_ttl` (3600s)",
            ),
            (
                "[router]\nwake_timeout_secs = 0",
                "2: `wake_timeout_secs`: 0s makes no sense",
            ),
            (
                "[router]\nlisten = \"127.0.0.1:0\"",
                "2: `listen`: port 0 makes no sense",
            ),
            // role patterns
            (
                "[roles]\nleads = [\"shell:lena smith\"]",
                "2: `leads`: `shell:lena smith` can't be an actor id: it has a space",
            ),
            (
                "[roles]\nleads = [\"shell:lena\",\n  \"lena\"]",
                "3: `leads`: `lena` names no platform",
            ),
            (
                "[roles]\ndevelopers = [\"\"]",
                "2: `developers`: `` is empty",
            ),
            (
                "[roles]\ndevelopers = [\"shell:\"]",
                "2: `developers`: `shell:` names no platform",
            ),
            (
                "[roles]\ndevelopers = [\"sh*\"]",
                "2: `developers`: `sh*` names no platform",
            ),
            (
                "[roles]\ndevelopers = [\"*:lena\"]",
                "2: `developers`: `*:lena` has a `*` before its end",
            ),
            (
                "[roles]\nleads = [\"group:slack\"]",
                "2: `leads`: `group:slack` names no group",
            ),
            (
                "[roles]\nleads = [\"group:slack:S*\"]",
                "2: `leads`: `group:slack:S*` names a group with `*`",
            ),
            (
                "[roles]\nleads = [\"slak:T1:U1\"]",
                "2: `leads`: `slak:T1:U1` names the platform `slak`; the platforms are `shell`, `slack`, `discord`",
            ),
            (
                "[roles]\nleads = [\"group:teams:1\"]",
                "2: `leads`: `group:teams:1` names the platform `teams`; groups are read from `slack`, `discord`",
            ),
            (
                "[roles]\nleads = [\"group:discord:leads\"]",
                "2: `leads`: `group:discord:leads` names no Discord role: name one by its id, `group:discord:<role id>`",
            ),
            (
                "[roles]\nleads = [\"group:discord:0\"]",
                "2: `leads`: `group:discord:0` names no Discord role",
            ),
            (
                "[roles]\nleads = [\"discord:1:lead:*\"]",
                "2: `leads`: `discord:1:lead:*` names a Discord role the old way: actor ids no longer carry a role, so it matches nobody. Name the Discord role itself as a group, `group:discord:<role id>`",
            ),
            (
                "[roles]\ndevelopers = [\"discord:1:developer:*\"]",
                "2: `developers`: `discord:1:developer:*` names a Discord role the old way",
            ),
            // the local provider
            (
                "[provider]\nkind = \"noop\"\n[provider.local]\ncommand_timeout_secs = 0\nroot = \"envs\"",
                "4: `command_timeout_secs`: 0s makes no sense",
            ),
            (
                "[provider]\nkind = \"local\"\n[provider.local]\nroot = \"envs\"\n\
                 [provider.local.apps.shop]\nrun = [\"x\"]\nhealth_timeout_secs = 0",
                "7: `health_timeout_secs`: 0s makes no sense",
            ),
            (
                "[provider]\nkind = \"noop\"\n[provider.local]\nroot = \"envs\"\n[provider.local.apps.shoop]\nrun = [\"x\"]",
                "5: `shoop`: there is no app `shoop` in `[[apps]]` (apps: shop)",
            ),
            // chat sections
            ("[discord]\nguild_id = 0", "2: `guild_id`: 0 is no guild"),
            (
                "[discord]\nmembers_intent = \"yes\"",
                "2: `members_intent`: invalid type: string \"yes\", expected a boolean",
            ),
            (
                "[slack]\nbot_token_env = \"\"",
                "2: `bot_token_env`: \"\" can't be the name of an environment variable",
            ),
            ("store = \"\"", "1: `store`: is empty"),
        ];
        for (section, expected) in cases {
            // Sections go first, so their line numbers are the ones written above.
            let e = error(&format!("{section}\n{app}"));
            let expected = format!("rushbox.toml:{expected}");
            assert!(
                e.starts_with(&expected),
                "{section:?}\n  got: {e}\n want: {expected}"
            );
        }
        let e = error(&format!(
            "{app}{local}\n[[apps]]\nname = \"web\"\nrepo = \".\"\n"
        ));
        assert_eq!(
            e,
            "rushbox.toml:12: `name`: app `web` has no `[provider.local.apps.web]` saying how to build and run it"
        );
        // Sensible values pass: the example's, and the smallest ones.
        let small = "[limits]\ndev_envs_per_person = 1\ndev_envs_total = 1\n[times]\ndev_ttl = 2\n\
                     idle_suspend = 1\nlock_lease = 1\nqueue_claim = 1\nexpiry_warning = 1\n\
                     [roles]\nleads = [\"shell:lena\", \"group:slack:S0LEADS\", \"group:discord:900\", \"discord:1:10\"]\n\
                     developers = [\"*\", \"slack:T1:*\", \"shell:*\", \"discord:1:*\"]\n";
        Config::parse(&format!("{small}{app}"), "x", Path::new("/")).unwrap();
    }

    /// `role_map` put a Discord role into actor ids; it is refused with the
    /// `[roles]` lines that replace it.
    #[test]
    fn the_retired_role_map_is_refused_with_what_replaces_it() {
        let text = "[[apps]]\nname = \"shop\"\nrepo = \".\"\n[discord]\nguild_id = 1\n\
                    [discord.role_map]\n\"1100000000000000001\" = \"lead\"\n\
                    \"1100000000000000002\" = \"developer\"\n\"1100000000000000003\" = \"lead\"\n";
        assert_eq!(
            error(text),
            "rushbox.toml:6: `role_map`: is gone: a Discord role is now a group in `[roles]`, \
             and actor ids stay `discord:<guild>:<user>` whatever roles people hold. Remove \
             `[discord.role_map]` and add to `[roles]` \
             `leads = [\"group:discord:1100000000000000001\", \"group:discord:1100000000000000003\"]` \
             and `developers = [\"group:discord:1100000000000000002\"]` \
             (their ids: Server Settings → Roles → ⋯ → Copy Role ID)"
        );
        let e = error("[discord]\nrole_map = {}\n[[apps]]\nname = \"shop\"\nrepo = \".\"\n");
        assert!(
            e.starts_with("rushbox.toml:2: `role_map`: is gone")
                && e.contains("group:discord:<role id>"),
            "{e}"
        );
    }

    #[test]
    fn a_second_apps_mistake_names_its_own_line() {
        let text =
            "[[apps]]\nname = \"api\"\nrepo = \".\"\n\n[[apps]]\nname = \"api\"\nrepo = \".\"\n";
        assert_eq!(
            error(text),
            "rushbox.toml:6: `name`: app `api` is configured twice"
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
                let key = l.split_once(" = ").map_or("", |(key, _)| key).trim();
                let bare = key.trim_matches('"');
                l.starts_with('[')
                    || (!bare.is_empty()
                        && bare.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
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
        let slack = config.slack.expect("the example shows [slack]");
        assert_eq!(slack.api_url(), "https://slack.com/api");
        assert_eq!(slack.app_token_env, "SLACK_APP_TOKEN");
        assert_eq!(slack.bot_token_env, "SLACK_BOT_TOKEN");
        assert_eq!(slack.signing_secret_env, "SLACK_SIGNING_SECRET");
        // Every key the Discord adapter reads is shown.
        let discord = config.discord.expect("the example shows [discord]");
        assert_eq!(discord.token_env, "DISCORD_TOKEN");
        assert_eq!(discord.prefix, "!rushbox");
        assert_eq!(discord.guild_id, Some(81384788765712384));
        assert_eq!(discord.api_proxy.as_deref(), Some("http://127.0.0.1:8081"));
        assert!(discord.members_intent);
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
