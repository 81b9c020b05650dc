//! Help text and the command reference, both made from the grammar table.

use crate::intent::Intent;
use crate::table::{ROWS, Row};

/// The answer to `help` (no topic) or `help <topic>`. A topic is an intent
/// name (`queue_join`), or any word of a usage line (`queue`, `staging`).
///
/// ```
/// let text = rushbox_command::help(Some("lock"));
/// assert!(text.contains("lock staging for <reason>"));
/// ```
pub fn help(topic: Option<&str>) -> String {
    let Some(topic) = topic.map(|t| t.trim().to_ascii_lowercase()) else {
        let mut out = String::from("Here is what I understand (say `help <command>` for more):\n");
        for row in ROWS {
            out.push_str(&format!("• `{}`: {}\n", row.usage[0], row.summary));
        }
        return out;
    };
    let rows: Vec<&Row> = ROWS.iter().filter(|row| row_matches(row, &topic)).collect();
    if rows.is_empty() {
        let topics: Vec<&str> = Intent::COMMANDS.iter().map(|i| i.as_str()).collect();
        return format!(
            "I have no help on `{topic}`. Topics: {}.",
            topics.join(", ")
        );
    }
    let mut out = String::new();
    for row in rows {
        out.push_str(&describe(row, "• "));
    }
    out
}

fn row_matches(row: &Row, topic: &str) -> bool {
    let first_word = topic.split(' ').find(|w| w.len() > 2).unwrap_or(topic);
    row.intent.as_str() == topic
        || row
            .usage
            .iter()
            .any(|u| u.split(' ').next() == Some(first_word) || u == &topic)
}

fn describe(row: &Row, bullet: &str) -> String {
    let usage: Vec<String> = row.usage.iter().map(|u| format!("`{u}`")).collect();
    let examples: Vec<String> = row.examples.iter().map(|e| format!("`{e}`")).collect();
    format!(
        "{bullet}{}: {}.\n  Also: {}\n",
        usage.join(" · "),
        row.summary,
        examples.join(", ")
    )
}

/// The command reference as Markdown: docs/commands.md is this text, and a
/// test keeps the file equal to it.
pub fn reference_markdown() -> String {
    let mut out = String::from(
        "# rushbox command reference\n\n\
         Generated from the grammar table in `crates/command/src/table.rs` by \
         `rushbox help --markdown`; do not edit by hand.\n\n\
         Commands may start with the bot's name or a mention, `!` or `/rushbox`, \
         and may carry greetings, `please` and `thanks`. Keywords are case-insensitive; \
         branch names keep their case. Environments: `prod` (also `production`, `prd`), \
         `staging` (also `stage`, `stg`), and dev envs written `dev-foo`, `foo.dev` or \
         `dev/foo`. An app prefix (`api/foo`, `api/staging`) picks an app; without one \
         the default app is used.\n\n\
         | intent | say | what it does | also understood |\n|---|---|---|---|\n",
    );
    for row in ROWS {
        let usage: Vec<String> = row.usage.iter().map(|u| format!("`{u}`")).collect();
        let examples: Vec<String> = row.examples.iter().map(|e| format!("`{e}`")).collect();
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            row.intent,
            usage.join("<br>"),
            row.summary.replace('|', "\\|"),
            examples.join(", ")
        ));
    }
    out
}
