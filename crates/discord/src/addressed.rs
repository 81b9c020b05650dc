//! Whether a channel message is for the bot, and the command in it.

use serenity::all::UserId;

/// The command in `content` if the message is for us: it mentions the bot
/// (`<@id>` or `<@!id>`) or starts with `prefix`; in a DM every message is.
pub fn command_in(content: &str, bot: Option<UserId>, prefix: &str, dm: bool) -> Option<String> {
    let mut text = content.trim().to_owned();
    let mut for_us = dm;
    if let Some(bot) = bot {
        for mention in [format!("<@{bot}>"), format!("<@!{bot}>")] {
            if text.contains(&mention) {
                text = text.replace(&mention, " ");
                for_us = true;
            }
        }
    }
    // A mention mid-sentence leaves a double space behind.
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let trimmed = text.as_str();
    let text = match trimmed.strip_prefix(prefix) {
        Some(rest)
            if !prefix.is_empty() && (rest.is_empty() || rest.starts_with(char::is_whitespace)) =>
        {
            for_us = true;
            rest
        }
        _ => trimmed,
    };
    let text = text.trim().trim_start_matches([',', ':']).trim();
    (for_us && !text.is_empty()).then(|| text.to_owned())
}
