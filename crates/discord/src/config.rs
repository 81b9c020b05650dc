//! What the binary loads from its config file for Discord. The token never
//! lives here: only the name of the environment variable that holds it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The `[discord]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiscordConfig {
    /// Send REST calls (and so the gateway lookup) to this base URL instead
    /// of `https://discord.com`: tests, or teams behind a proxy. Serenity
    /// honours it only with its rate limiter off, so setting it turns the
    /// rate limiter off.
    pub api_proxy: Option<String>,
    /// The environment variable that holds the bot token.
    pub token_env: String,
    /// Messages starting with this are for the bot, as are mentions and DMs.
    pub prefix: String,
    /// Register slash commands in this guild only (instant; for one team);
    /// without it they are registered globally.
    pub guild_id: Option<u64>,
    /// Discord role id → the rushbox role its members act as. See
    /// [`crate::identity`] for the actor ids this produces.
    pub role_map: BTreeMap<String, MappedRole>,
}

impl Default for DiscordConfig {
    fn default() -> DiscordConfig {
        DiscordConfig {
            api_proxy: None,
            token_env: "DISCORD_TOKEN".to_owned(),
            prefix: "!rushbox".to_owned(),
            guild_id: None,
            role_map: BTreeMap::new(),
        }
    }
}

/// A rushbox role a Discord role grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MappedRole {
    Developer,
    Lead,
}

impl MappedRole {
    pub fn as_str(self) -> &'static str {
        match self {
            MappedRole::Developer => "developer",
            MappedRole::Lead => "lead",
        }
    }
}
