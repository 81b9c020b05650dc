//! Who a Discord user is to rushbox: the same actor id whatever roles they
//! hold, so a role change never orphans their locks and envs.
//!
//! | who | actor id |
//! |---|---|
//! | member of guild G | `discord:G:U` |
//! | anyone in a DM (Discord sends no guild there) | `discord:dm:U` |
//!
//! Config names people by id (`"discord:G:U"`), everyone in a guild by
//! prefix (`"discord:G:*"`), or the holders of a Discord role as a group
//! (`"group:discord:<role id>"`, kept by [`crate::groups`]). The user id is
//! always the last part, which is how notices find whom to DM.

use rushbox_chat::Actor;
use serenity::all::{GuildId, User, UserId};

/// The actor for a user speaking in `guild` (None: a DM).
pub fn actor(guild: Option<GuildId>, user: &User) -> Actor {
    let display = user
        .global_name
        .clone()
        .unwrap_or_else(|| user.name.clone());
    let platform = match guild {
        None => "discord:dm".to_owned(),
        Some(guild) => format!("discord:{guild}"),
    };
    Actor::new(&platform, &user.id.to_string(), &display)
}

/// A guild member as the Robot's groups list them (no display name is known).
pub fn member(guild: GuildId, user: UserId) -> Actor {
    let id = user.to_string();
    Actor::new(&format!("discord:{guild}"), &id, &id)
}

/// The Discord user behind an engine actor id, if it is one of ours.
pub fn user_of(actor: &str) -> Option<UserId> {
    let rest = actor.strip_prefix("discord:")?;
    let id: u64 = rest.rsplit(':').next()?.parse().ok()?;
    (id != 0).then(|| UserId::new(id))
}

/// Discord mentions for the people a text names: actor ids of ours
/// (`discord:G:U`, and `discord:G:lead:U` from before roles were groups,
/// still in old locks and envs) and the `@U` the Robot leaves of them become
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
            // The Robot shortens an old `discord:G:lead:U` to `@lead:U` for a speaker in G.
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
