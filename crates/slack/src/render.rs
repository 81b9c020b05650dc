//! `Reply` → Slack message: a fallback `text` for notifications and Block
//! Kit `blocks` for the message itself. Pure: no I/O, so the snapshot tests
//! pin the exact JSON Slack receives.

use rushbox_chat::{Block, Button, Record, Reply, Tone};
use slack_morphism::prelude::*;

/// Slack's limit on one text object in a section.
const MAX_TEXT: usize = 3000;
/// Slack's limit on one field's text.
const MAX_FIELD: usize = 2000;
/// Slack's limit on fields per section.
const MAX_FIELDS: usize = 10;
/// Slack's limit on blocks per message.
const MAX_BLOCKS: usize = 50;
/// Slack's limit on elements per actions block.
const MAX_BUTTONS: usize = 25;
/// Slack's limits on a button's label and value.
const MAX_LABEL: usize = 75;
const MAX_VALUE: usize = 2000;
/// Rows of a table shown before "and N more": a phone screen's worth.
const MAX_ROWS: usize = 15;

/// The prefix of every button's `action_id`; the rest is its position.
pub const ACTION_PREFIX: &str = "rushbox:cmd:";

/// The whole message for a reply.
///
/// ```
/// use rushbox_chat::{Button, Reply, Tone};
///
/// let reply = Reply::text(Tone::Success, "`dev-foo` is ready.")
///     .button(Button::new("Deploy to staging", "deploy dev-foo to staging"));
/// let message = rushbox_slack::render::render(&reply);
/// assert_eq!(message.text.as_deref(), Some(":white_check_mark: `dev-foo` is ready."));
/// let json = serde_json::to_value(&message).unwrap();
/// assert_eq!(json["blocks"][1]["elements"][0]["value"], "deploy dev-foo to staging");
/// ```
pub fn render(reply: &Reply) -> SlackMessageContent {
    SlackMessageContent::new()
        .with_text(fallback(reply))
        .with_blocks(blocks(reply))
}

/// One line for notifications and clients without blocks.
pub fn fallback(reply: &Reply) -> String {
    let summary = mrkdwn(reply.summary());
    let text = match icon(reply.tone) {
        Some(icon) => format!("{icon} {summary}"),
        None => summary,
    };
    truncate(&text, MAX_TEXT)
}

/// The Block Kit blocks for a reply, within Slack's limits.
pub fn blocks(reply: &Reply) -> Vec<SlackBlock> {
    let mut out: Vec<SlackBlock> = Vec::new();
    let mut first_text = true;
    for block in &reply.blocks {
        match block {
            Block::Text { text } => {
                let mut text = mrkdwn(text);
                if first_text {
                    if let Some(icon) = icon(reply.tone) {
                        text = format!("{icon} {text}");
                    }
                    first_text = false;
                }
                out.extend(chunks(&text, MAX_TEXT).into_iter().map(section));
            }
            Block::Fields { fields } => {
                for group in fields.chunks(MAX_FIELDS) {
                    let fields = group
                        .iter()
                        .map(|(label, value)| {
                            let text = truncate(
                                &format!("*{}*\n{}", escape(label), mrkdwn(value)),
                                MAX_FIELD,
                            );
                            SlackBlockText::from(SlackBlockMarkDownText::new(text))
                        })
                        .collect();
                    out.push(SlackSectionBlock::new().with_fields(fields).into());
                }
            }
            Block::Table(table) => out.extend(records(&table.records)),
            Block::List { items } => {
                let lines: Vec<String> = items.iter().map(|i| format!("• {}", mrkdwn(i))).collect();
                out.extend(lines_in_sections(&lines));
            }
            Block::Link { label, url } => {
                out.push(section(format!(
                    "<{}|{}>",
                    escape(url),
                    escape(label).replace('|', "¦")
                )));
            }
        }
    }
    let actions = actions(&reply.buttons);
    let room = MAX_BLOCKS - actions.len();
    if out.len() > room {
        let cut = out.len() - (room - 1);
        out.truncate(room - 1);
        out.push(section(format!("_…and {cut} more block(s) not shown._")));
    }
    out.extend(actions);
    out
}

fn icon(tone: Tone) -> Option<&'static str> {
    match tone {
        Tone::Info => None,
        Tone::Success => Some(":white_check_mark:"),
        Tone::Progress => Some(":hourglass_flowing_sand:"),
        Tone::Refused => Some(":no_entry:"),
        Tone::Error => Some(":x:"),
    }
}

/// Slack's three control characters in mrkdwn; everything else passes.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Escaped text in which the chat layer's `@U024BE7LH` (a Slack user id, as
/// it names people) becomes a real mention, which Slack shows as the name.
pub fn mrkdwn(text: &str) -> String {
    let escaped = escape(text);
    let mut out = String::with_capacity(escaped.len());
    let chars: Vec<char> = escaped.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let starts_word = i == 0 || !chars[i - 1].is_alphanumeric();
        if chars[i] == '@' && starts_word {
            let id: String = chars[i + 1..]
                .iter()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
                .collect();
            let ends_word = chars
                .get(i + 1 + id.len())
                .is_none_or(|c| !c.is_alphanumeric());
            if id.len() >= 3 && (id.starts_with('U') || id.starts_with('W')) && ends_word {
                out.push_str(&format!("<@{id}>"));
                i += 1 + id.chars().count();
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

fn section(text: String) -> SlackBlock {
    SlackSectionBlock::new()
        .with_text(SlackBlockMarkDownText::new(text).into())
        .into()
}

/// A table readable on a phone: one compact section per row, from its
/// record: the title in bold with the headline beside it, then the other
/// short lines, key facts first.
fn records(records: &[Record]) -> Vec<SlackBlock> {
    let mut out: Vec<SlackBlock> = records
        .iter()
        .take(MAX_ROWS)
        .map(|record| {
            let mut lines = record.lines.iter().map(|l| mrkdwn(l));
            let mut text = format!("*{}*", escape(&record.title));
            if let Some(headline) = lines.next() {
                text.push_str(&format!(" · {headline}"));
            }
            for line in lines {
                text.push('\n');
                text.push_str(&line);
            }
            section(truncate(&text, MAX_TEXT))
        })
        .collect();
    if records.len() > MAX_ROWS {
        out.push(section(format!("_…and {} more_", records.len() - MAX_ROWS)));
    }
    out
}

/// Lines packed into as few sections as fit Slack's text limit.
fn lines_in_sections(lines: &[String]) -> Vec<SlackBlock> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in lines {
        let line = truncate(line, MAX_TEXT);
        if !current.is_empty() && current.chars().count() + 1 + line.chars().count() > MAX_TEXT {
            out.push(section(std::mem::take(&mut current)));
        }
        if !current.is_empty() {
            current.push('\n');
        }
        current.push_str(&line);
    }
    if !current.is_empty() {
        out.push(section(current));
    }
    out
}

fn actions(buttons: &[Button]) -> Vec<SlackBlock> {
    let elements: Vec<SlackActionBlockElement> = buttons
        .iter()
        .enumerate()
        .take(MAX_BUTTONS)
        .filter(|(_, b)| b.command.chars().count() <= MAX_VALUE)
        .map(|(n, b)| button(n, b).into())
        .collect();
    if elements.is_empty() {
        Vec::new()
    } else {
        vec![SlackActionsBlock::new(elements).into()]
    }
}

fn button(n: usize, b: &Button) -> SlackBlockButtonElement {
    let element = SlackBlockButtonElement::new(truncate(&b.label, MAX_LABEL).into())
        .with_action_id(SlackActionId(format!("{ACTION_PREFIX}{n}")))
        .with_value(b.command.clone());
    if !b.danger {
        return element;
    }
    element
        .with_style(SlackBlockButtonStyle::Danger)
        .with_confirm(SlackBlockConfirmItem::new(
            "Are you sure?".into(),
            SlackBlockMarkDownText::new(truncate(
                &format!("This runs `{}` as you.", escape(&b.command)),
                300,
            ))
            .into(),
            "Run it".into(),
            "Cancel".into(),
        ))
}

/// Cuts at a character boundary, marking the cut with `…`.
fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// Splits a long text into pieces of at most `max` characters, at line ends where possible.
fn chunks(text: &str, max: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest: Vec<char> = text.chars().collect();
    while rest.len() > max {
        let cut = rest[..max]
            .iter()
            .rposition(|c| *c == '\n')
            .filter(|&i| i > 0)
            .unwrap_or(max);
        out.push(rest[..cut].iter().collect());
        let skip = if rest.get(cut) == Some(&'\n') {
            cut + 1
        } else {
            cut
        };
        rest.drain(..skip);
    }
    out.push(rest.into_iter().collect());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_split_within_the_limit() {
        let text = "a".repeat(7000);
        let parts = chunks(&text, MAX_TEXT);
        assert_eq!(parts.len(), 3);
        assert!(parts.iter().all(|p| p.chars().count() <= MAX_TEXT));
        assert_eq!(parts.concat(), text);
    }

    #[test]
    fn never_more_than_fifty_blocks() {
        let mut reply = Reply::new(Tone::Info);
        for i in 0..80 {
            reply = reply.with(Block::Text {
                text: format!("line {i}"),
            });
        }
        let reply = reply.button(Button::new("Go", "envs"));
        let blocks = blocks(&reply);
        assert_eq!(blocks.len(), MAX_BLOCKS);
        assert!(matches!(blocks.last(), Some(SlackBlock::Actions(_))));
    }

    #[test]
    fn escapes_slack_control_characters() {
        assert_eq!(escape("a<b>&c"), "a&lt;b&gt;&amp;c");
    }

    #[test]
    fn slack_user_ids_become_mentions() {
        let cases = [
            (
                "staging is locked by @U024BE7LH",
                "staging is locked by <@U024BE7LH>",
            ),
            ("1. @W12AB, 2. @U9Z9", "1. <@W12AB>, 2. <@U9Z9>"),
            ("@alice and @UX and a@U123", "@alice and @UX and a@U123"),
            ("@U123abc <b>", "@U123abc &lt;b&gt;"),
        ];
        for (text, expected) in cases {
            assert_eq!(mrkdwn(text), expected, "{text}");
        }
    }
}
