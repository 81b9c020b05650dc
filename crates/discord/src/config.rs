//! What the binary loads from its config file for Discord. The token never
//! lives here: only the name of the environment variable that holds it.

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
    /// Ask for the privileged GUILD_MEMBERS intent (Server Members Intent in
    /// the Developer Portal), so role changes named in `[roles]` count at
    /// once. Without it they count from the person's next message or
    /// interaction, which always says what roles they hold.
    pub members_intent: bool,
}

impl Default for DiscordConfig {
    fn default() -> DiscordConfig {
        DiscordConfig {
            api_proxy: None,
            token_env: "DISCORD_TOKEN".to_owned(),
            prefix: "!rushbox".to_owned(),
            guild_id: None,
            members_intent: false,
        }
    }
}
