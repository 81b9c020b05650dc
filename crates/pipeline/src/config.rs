//! The pipeline's part of rushbox's configuration: apps, who is a lead or a
//! developer, limits and times. The binary loads TOML into these types; every
//! field has a default, so an empty file gives a working single-app setup.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use rushbox_command::AppName;
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
