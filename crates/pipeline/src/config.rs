//! The pipeline's part of rushbox's configuration: apps, who is a lead or a
//! developer, limits and times. The binary loads TOML into these types; every
//! field has a default, so an empty file gives a working single-app setup.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use rushbox_command::{AppName, Span};
use serde::{Deserialize, Serialize};

use crate::model::{Actor, Role};

/// Everything the engine needs to know from config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineConfig {
    pub apps: Vec<AppConfig>,
    /// The app used when a command names none; the first app when unset.
    pub default_app: Option<AppName>,
    pub roles: RolesConfig,
    pub limits: LimitsConfig,
    pub times: TimesConfig,
}

impl Default for PipelineConfig {
    fn default() -> PipelineConfig {
        PipelineConfig {
            apps: vec![AppConfig::default()],
            default_app: None,
            roles: RolesConfig::default(),
            limits: LimitsConfig::default(),
            times: TimesConfig::default(),
        }
    }
}

impl PipelineConfig {
    /// The app a command meant: the one it named, or the default app.
    /// `None` when the named app is not configured (or no app is).
    pub fn app(&self, named: Option<&AppName>) -> Option<&AppConfig> {
        match named.or(self.default_app.as_ref()) {
            Some(name) => self.apps.iter().find(|a| &a.name == name),
            None => self.apps.first(),
        }
    }

    /// The strongest role the actor's patterns give it, if any, with
    /// `groups` saying who is in the groups that patterns name.
    pub fn role_of(&self, actor: &Actor, groups: &Groups) -> Option<Role> {
        let matches = |patterns: &[String]| {
            patterns
                .iter()
                .any(|p| actor_matches(p, actor) || groups.named_by(p, actor))
        };
        if matches(&self.roles.leads) {
            Some(Role::Lead)
        } else if matches(&self.roles.developers) {
            Some(Role::Developer)
        } else {
            None
        }
    }

    /// The first value that can't work: a limit of zero, a time of zero or
    /// of more than a year, an expiry warning as long as the time to live,
    /// a role pattern that is no actor id, prefix or group (see
    /// [`check_role_pattern`]). Says where, as keys from the top of the file.
    ///
    /// ```
    /// use rushbox_pipeline::PipelineConfig;
    /// let mut config = PipelineConfig::default();
    /// assert!(config.check().is_ok());
    /// config.times.lock_lease = 0;
    /// let problem = config.check().unwrap_err();
    /// assert_eq!(problem.path, ["times", "lock_lease"]);
    /// ```
    pub fn check(&self) -> Result<(), ConfigProblem> {
        let limits = [
            (
                "dev_envs_per_person",
                self.limits.dev_envs_per_person,
                "how many dev envs one person may have at once",
            ),
            (
                "dev_envs_total",
                self.limits.dev_envs_total,
                "how many dev envs all people together may have",
            ),
        ];
        for (key, value, what) in limits {
            if value == 0 {
                return Err(ConfigProblem::at(
                    &["limits", key],
                    format!("0 lets nobody have a dev env; give {what}, at least 1"),
                ));
            }
        }
        let times = &self.times;
        let durations = [
            ("dev_ttl", times.dev_ttl, "a dev env's time to live"),
            (
                "idle_suspend",
                times.idle_suspend,
                "how long a dev env may be idle",
            ),
            ("lock_lease", times.lock_lease, "how long a lock lasts"),
            (
                "queue_claim",
                times.queue_claim,
                "how long the next in line has to claim a lock",
            ),
            (
                "expiry_warning",
                times.expiry_warning,
                "how long before a dev env runs out its owner is told",
            ),
        ];
        for (key, secs, what) in durations {
            check_seconds(secs, what).map_err(|m| ConfigProblem::at(&["times", key], m))?;
        }
        if times.expiry_warning >= times.dev_ttl {
            return Err(ConfigProblem::at(
                &["times", "expiry_warning"],
                format!(
                    "{}s is not shorter than `dev_ttl` ({}s), so owners would be warned as soon \
                     as their env is made; make it shorter",
                    times.expiry_warning, times.dev_ttl
                ),
            ));
        }
        let roles = [
            ("leads", &self.roles.leads),
            ("developers", &self.roles.developers),
        ];
        for (key, patterns) in roles {
            for (i, pattern) in patterns.iter().enumerate() {
                check_role_pattern(pattern).map_err(|m| {
                    ConfigProblem::at(&["roles", key, &i.to_string()], format!("`{pattern}` {m}"))
                })?;
            }
        }
        Ok(())
    }

    /// The groups `[roles]` names (`group:slack:S0LEADS` → `slack:S0LEADS`),
    /// whose members a chat adapter reports through [`Groups::set`].
    pub fn group_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .roles
            .leads
            .iter()
            .chain(&self.roles.developers)
            .filter_map(|p| p.strip_prefix(GROUP_PREFIX))
            .filter(|name| !name.is_empty())
            .map(str::to_owned)
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

/// How a role pattern names a group rather than a person.
pub const GROUP_PREFIX: &str = "group:";

/// A config value that can't work: where (`path`: keys from the top of the
/// file, array positions as numbers, `["roles", "leads", "1"]`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub path: Vec<String>,
    pub message: String,
}

impl ConfigProblem {
    pub fn at(path: &[&str], message: impl Into<String>) -> ConfigProblem {
        ConfigProblem {
            path: path.iter().map(|&p| p.to_owned()).collect(),
            message: message.into(),
        }
    }
}

/// Whether `secs` works as a time in config: at least a second, at most a
/// year (longer ones are mistakes, as for times people type in chat).
pub fn check_seconds(secs: u64, what: &str) -> Result<(), String> {
    if Span::from_secs(secs).is_some() {
        Ok(())
    } else if secs == 0 {
        Err(format!(
            "0s makes no sense for {what}; give it in seconds, at least 1"
        ))
    } else {
        Err(format!(
            "{secs}s is more than a year, too long for {what}; give at most {}",
            Span::MAX_SECS
        ))
    }
}

/// Whether `pattern` can name someone in `[roles]`: `*` (everyone), an
/// actor id `platform:user-id`, a prefix of one ending in `*`
/// (`slack:T024BE7LD:*`), or a group, `group:<platform>:<id>`. The error
/// says what is wrong, after the pattern.
///
/// ```
/// use rushbox_pipeline::config::check_role_pattern;
/// assert!(check_role_pattern("shell:lena").is_ok());
/// assert!(check_role_pattern("discord:81384788765712384:lead:*").is_ok());
/// assert!(check_role_pattern("group:slack:S0LEADS").is_ok());
/// assert!(check_role_pattern("shell:lena smith").is_err());
/// assert!(check_role_pattern("lena").is_err());
/// ```
pub fn check_role_pattern(pattern: &str) -> Result<(), String> {
    const FORMS: &str = "a role names an actor id `platform:user-id` (`shell:lena`), a prefix \
                         ending in `*` (`slack:T024BE7LD:*`, or `*` for everyone), or a group \
                         (`group:slack:S0LEADS`)";
    if pattern == "*" {
        return Ok(());
    }
    if pattern.is_empty() {
        return Err(format!("is empty; {FORMS}"));
    }
    if let Some(c) = pattern.chars().find(|c| !c.is_ascii_graphic()) {
        let found = if c == ' ' {
            "a space".to_owned()
        } else {
            format!("U+{:04X}", c as u32)
        };
        return Err(format!(
            "can't be an actor id: it has {found}, and actor ids are plain ASCII without spaces; {FORMS}"
        ));
    }
    if pattern.len() > Actor::MAX_LEN {
        return Err(format!(
            "is longer than an actor id can be ({} characters)",
            Actor::MAX_LEN
        ));
    }
    if let Some(group) = pattern.strip_prefix(GROUP_PREFIX) {
        return match group.split_once(':') {
            _ if group.contains('*') => Err(format!(
                "names a group with `*`; a group is named whole, `{GROUP_PREFIX}<platform>:<id>`"
            )),
            Some((platform, id)) if !platform.is_empty() && !id.is_empty() => Ok(()),
            _ => Err(format!(
                "names no group; write `{GROUP_PREFIX}<platform>:<id>`, like `group:slack:S0LEADS`"
            )),
        };
    }
    let (body, is_prefix) = match pattern.strip_suffix('*') {
        Some(body) => (body, true),
        None => (pattern, false),
    };
    if body.contains('*') {
        return Err(format!("has a `*` before its end; {FORMS}"));
    }
    match body.split_once(':') {
        Some((platform, user)) if !platform.is_empty() && (is_prefix || !user.is_empty()) => Ok(()),
        _ => Err(format!("names no platform (the part before `:`); {FORMS}")),
    }
}

/// Who is in each group that roles name, as the platform last said (a Slack
/// user group's members). Not config and not state: adapters refresh it
/// from the platform, and an unknown group has no members.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Groups {
    members: BTreeMap<String, BTreeSet<Actor>>,
}

impl Groups {
    /// Replaces the members of `group` (a name without `group:`).
    pub fn set(&mut self, group: &str, members: impl IntoIterator<Item = Actor>) {
        self.members
            .insert(group.to_owned(), members.into_iter().collect());
    }

    pub fn members(&self, group: &str) -> impl Iterator<Item = &Actor> {
        self.members.get(group).into_iter().flatten()
    }

    /// Whether `pattern` is `group:<name>` and the actor is in that group.
    fn named_by(&self, pattern: &str, actor: &Actor) -> bool {
        pattern
            .strip_prefix(GROUP_PREFIX)
            .and_then(|group| self.members.get(group))
            .is_some_and(|members| members.contains(actor))
    }
}

/// `*` matches everyone, `slack:T1:*` everyone of that prefix, anything else
/// one actor; `group:…` patterns are matched by [`Groups`], never as a prefix.
fn actor_matches(pattern: &str, actor: &Actor) -> bool {
    if pattern.starts_with(GROUP_PREFIX) {
        return false;
    }
    match pattern.strip_suffix('*') {
        Some(prefix) => actor.as_str().starts_with(prefix),
        None => pattern == actor.as_str(),
    }
}

/// One deployable codebase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AppConfig {
    pub name: AppName,
    /// The app's git repository, relative to rushbox's working directory unless absolute.
    pub repo: PathBuf,
}

impl Default for AppConfig {
    fn default() -> AppConfig {
        AppConfig {
            name: AppName::parse("app").expect("`app` is a valid app name"),
            repo: PathBuf::from("."),
        }
    }
}

/// Actor patterns per role. Leads may do everything developers may.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RolesConfig {
    pub leads: Vec<String>,
    pub developers: Vec<String>,
}

impl Default for RolesConfig {
    /// Everyone is a developer and nobody a lead: prod stays closed until config names leads.
    fn default() -> RolesConfig {
        RolesConfig {
            leads: Vec::new(),
            developers: vec!["*".to_owned()],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Dev envs one person may own at once.
    pub dev_envs_per_person: usize,
    /// Dev envs of all people together.
    pub dev_envs_total: usize,
}

impl Default for LimitsConfig {
    fn default() -> LimitsConfig {
        LimitsConfig {
            dev_envs_per_person: 3,
            dev_envs_total: 20,
        }
    }
}

/// Durations, in seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TimesConfig {
    /// A dev env's lifetime before it is destroyed; `extend` adds this again.
    pub dev_ttl: u64,
    /// Without activity for this long a dev env is suspended.
    pub idle_suspend: u64,
    /// A lock's lease; it is released when it runs out.
    pub lock_lease: u64,
    /// How long the head of a queue has to claim a lock passed to them.
    pub queue_claim: u64,
    /// How long before a dev env's time to live runs out its owner is warned.
    pub expiry_warning: u64,
}

impl Default for TimesConfig {
    fn default() -> TimesConfig {
        TimesConfig {
            dev_ttl: 3 * 86400,
            idle_suspend: 2 * 3600,
            lock_lease: 4 * 3600,
            queue_claim: 15 * 60,
            expiry_warning: 3600,
        }
    }
}
