//! Who a Discord user is to rushbox. The engine matches actor ids against
//! the patterns in `[roles]`, and Discord roles are not actor ids, so a
//! member holding a role named in `role_map` gets the role in their id:
//!
//! | who | actor id |
//! |---|---|
//! | member of guild G, no mapped role | `discord:G:U` |
//! | member of guild G with a role mapped to `lead` | `discord:G:lead:U` |
//! | member of guild G with a role mapped to `developer` | `discord:G:developer:U` |
//! | anyone in a DM (Discord sends no roles there) | `discord:dm:U` |
//!
//! So config names leads by role with `leads = ["discord:G:lead:*"]`, or by
//! user with `"discord:G:U"`. The user id is always the last part, which is
//! how notices find whom to DM. The price: the id follows the role, so a
//! lock taken before a role change is held by the old id.

use rushbox_chat::Actor;
use serenity::all::{GuildId, RoleId, User, UserId};

use crate::config::{DiscordConfig, MappedRole};

/// The actor for a user speaking in `guild` (None: a DM) with these roles.
pub fn actor(
    config: &DiscordConfig,
    guild: Option<GuildId>,
    user: &User,
    roles: &[RoleId],
) -> Actor {
    let display = user
        .global_name
        .clone()
        .unwrap_or_else(|| user.name.clone());
    let platform = match guild {
        None => "discord:dm".to_owned(),
        Some(guild) => match strongest(config, roles) {
            Some(role) => format!("discord:{guild}:{}", role.as_str()),
            None => format!("discord:{guild}"),
        },
    };
    Actor::new(&platform, &user.id.to_string(), &display)
}

/// The strongest rushbox role any of these Discord roles maps to.
pub fn strongest(config: &DiscordConfig, roles: &[RoleId]) -> Option<MappedRole> {
    roles
        .iter()
        .filter_map(|r| config.role_map.get(&r.to_string()).copied())
        .max()
}

/// The Discord user behind an engine actor id, if it is one of ours.
pub fn user_of(actor: &str) -> Option<UserId> {
    let rest = actor.strip_prefix("discord:")?;
    let id: u64 = rest.rsplit(':').next()?.parse().ok()?;
    (id != 0).then(|| UserId::new(id))
}

/// Discord mentions for the people a text names: actor ids of ours
/// (`discord:G:lead:U`) and the `@U` the Robot leaves of them become
/// `<@U>`, which Discord shows as the person's name (in embeds, without a ping).
pub fn mentions(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(['@', 'd']) {
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let word_start = out
            .chars()
            .last()
            .is_none_or(|c| !c.is_ascii_alphanumeric() && c != ':');
        let token_end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == ':' || c == '@'))
            .unwrap_or(rest.len());
        let token = &rest[..token_end];
        let user = if !word_start {
            None
        } else if let Some(id) = token.strip_prefix('@') {
            // The Robot shortens `discord:G:lead:U` to `@lead:U` for a speaker in G.
            id.rsplit(':').next().and_then(snowflake)
        } else if token.starts_with("discord:") {
            user_of(token).map(|u| u.to_string())
        } else {
            None
        };
        match user {
            Some(user) => {
                out.push_str(&format!("<@{user}>"));
                rest = &rest[token_end..];
            }
            None => {
                let first = rest.chars().next().map_or(1, char::len_utf8);
                out.push_str(&rest[..first]);
                rest = &rest[first..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// A Discord id: all digits, long enough not to be a count or a version.
fn snowflake(s: &str) -> Option<String> {
    (s.len() >= 15 && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.to_owned())
}
