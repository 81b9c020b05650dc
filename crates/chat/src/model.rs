//! The neutral chat model: who said what where ([`Incoming`]), and what the
//! bot answers ([`Reply`]): text, fields, tables, links and buttons, which
//! each adapter renders in its own platform's idiom.

use std::fmt;

use rushbox_pipeline::Actor as ActorId;
use serde::Serialize;
use unicode_width::UnicodeWidthStr;

/// The width plain text is laid out for when none is given: an 80-column
/// terminal, and output piped to a file or another program.
pub const PLAIN_WIDTH: usize = 80;

/// A person in a chat: the platform (`shell`, `slack:T024BE7LD`,
/// `discord:81384788765712384`), their id there and the name to show.
/// The display name is shown, never trusted: roles follow [`Actor::id`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Actor {
    pub platform: String,
    pub user_id: String,
    pub display_name: String,
}

impl Actor {
    pub fn new(platform: &str, user_id: &str, display_name: &str) -> Actor {
        Actor {
            platform: platform.to_owned(),
            user_id: user_id.to_owned(),
            display_name: display_name.to_owned(),
        }
    }

    /// The engine's identity for this person, `platform:user-id`, or why it
    /// can't be one (spaces, control characters, too long).
    pub fn id(&self) -> Result<ActorId, String> {
        ActorId::parse(&format!("{}:{}", self.platform, self.user_id))
    }

    /// Another person on the same platform (for `give dev-foo to @bob`).
    pub fn peer(&self, user_id: &str) -> Actor {
        Actor::new(&self.platform, user_id, user_id)
    }
}

/// One message addressed to the bot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Incoming {
    pub actor: Actor,
    /// Where it was said (a channel id, a DM, `tty`).
    pub channel: String,
    pub text: String,
    /// The message or thread to answer in, where the platform has threads.
    pub reply_to: Option<String>,
}

/// How a reply should look: adapters pick colours and icons from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tone {
    /// An answer to a question.
    Info,
    /// A change was made.
    Success,
    /// Work is under way.
    Progress,
    /// The bot would not do it (rules, roles, locks): says what blocks and how to clear it.
    Refused,
    /// Something broke.
    Error,
}

/// One part of a reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Block {
    /// A paragraph; `` `code` `` marks commands and names.
    Text { text: String },
    /// Label/value pairs (a status card).
    Fields { fields: Vec<(String, String)> },
    /// Rows under column headings (the env list), and each row as a record
    /// for narrow screens.
    Table(Table),
    /// A bulleted list (the blockers of a refusal, each with its fix).
    List { items: Vec<String> },
    /// An address to open.
    Link { label: String, url: String },
}

/// Rows under column headings, and the same rows as [`Record`]s: a wide
/// screen shows the table, a narrow one (a phone, an 80-column terminal)
/// one record per row. Both carry every fact; the JSON output has both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// One per row, in the same order.
    pub records: Vec<Record>,
}

/// One row for a narrow screen: a title, then short lines, the key facts
/// first. The first line is the headline, shown beside the title where
/// there is room (`dev-foo  running · @alice`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Record {
    pub title: String,
    pub lines: Vec<String>,
}

impl Table {
    /// A table whose records are made from its columns: the first cell is
    /// the title, every other filled cell a `column: value` line.
    ///
    /// ```
    /// use rushbox_chat::Table;
    /// let cells = |c: &[&str]| c.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    /// let table = Table::new(cells(&["env", "state", "owner"]), vec![cells(&["prod", "running", "–"])]);
    /// assert_eq!(table.records[0].title, "prod");
    /// assert_eq!(table.records[0].lines, ["state: running"]);
    /// ```
    pub fn new(columns: Vec<String>, rows: Vec<Vec<String>>) -> Table {
        let records = rows
            .iter()
            .map(|row| Record {
                title: row.first().cloned().unwrap_or_default(),
                lines: columns
                    .iter()
                    .zip(row)
                    .skip(1)
                    .filter(|(_, cell)| !cell.is_empty() && cell.as_str() != "–")
                    .map(|(column, cell)| format!("{column}: {cell}"))
                    .collect(),
            })
            .collect();
        Table {
            columns,
            rows,
            records,
        }
    }

    /// A table from rows, each with the record a narrow screen shows for it.
    pub fn with_records(
        columns: Vec<String>,
        rows: impl IntoIterator<Item = (Vec<String>, Record)>,
    ) -> Table {
        let (rows, records) = rows.into_iter().unzip();
        Table {
            columns,
            rows,
            records,
        }
    }
}

/// A button: clicking it runs `command` as the person who clicked, checked
/// exactly as if they had typed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Button {
    pub label: String,
    pub command: String,
    /// A button that changes prod or destroys something asks for a second look.
    pub danger: bool,
}

impl Button {
    pub fn new(label: &str, command: impl Into<String>) -> Button {
        Button {
            label: label.to_owned(),
            command: command.into(),
            danger: false,
        }
    }

    pub fn danger(mut self) -> Button {
        self.danger = true;
        self
    }
}

/// A whole answer, platform-neutral.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reply {
    pub tone: Tone,
    pub blocks: Vec<Block>,
    pub buttons: Vec<Button>,
}

impl Reply {
    pub fn new(tone: Tone) -> Reply {
        Reply {
            tone,
            blocks: Vec::new(),
            buttons: Vec::new(),
        }
    }

    pub fn text(tone: Tone, text: impl Into<String>) -> Reply {
        Reply::new(tone).with(Block::Text { text: text.into() })
    }

    pub fn with(mut self, block: Block) -> Reply {
        self.blocks.push(block);
        self
    }

    pub fn button(mut self, button: Button) -> Reply {
        if !self.buttons.iter().any(|b| b.command == button.command) {
            self.buttons.push(button);
        }
        self
    }

    /// The first text block, for notifications and logs.
    pub fn summary(&self) -> &str {
        self.blocks
            .iter()
            .find_map(|b| match b {
                Block::Text { text } => Some(text.as_str()),
                _ => None,
            })
            .unwrap_or("")
    }
}

impl Reply {
    /// Plain text laid out for `width` columns, as the shell prints it:
    /// tables aligned when they fit, else one record per row (lines wrapped
    /// at words to the width); buttons as the commands they run.
    pub fn plain(&self, width: usize) -> String {
        let mut parts: Vec<String> = Vec::new();
        for block in &self.blocks {
            parts.push(match block {
                Block::Text { text } => text.clone(),
                Block::Fields { fields } => {
                    let width = fields.iter().map(|(k, _)| k.width()).max().unwrap_or(0);
                    let lines: Vec<String> = fields
                        .iter()
                        .map(|(k, v)| format!("  {k}{}  {v}", pad(k, width)))
                        .collect();
                    lines.join("\n")
                }
                Block::Table(table) => {
                    let aligned = aligned(&table.columns, &table.rows);
                    if aligned.lines().all(|line| line.width() <= width) {
                        aligned
                    } else {
                        records(&table.records, width)
                    }
                }
                Block::List { items } => {
                    let lines: Vec<String> = items.iter().map(|i| format!("  • {i}")).collect();
                    lines.join("\n")
                }
                Block::Link { label, url } => format!("{label}: {url}"),
            });
        }
        if !self.buttons.is_empty() {
            let commands: Vec<String> = self
                .buttons
                .iter()
                .map(|b| format!("`{}`", b.command))
                .collect();
            parts.push(format!("Next: {}", commands.join(" · ")));
        }
        parts.join("\n")
    }
}

impl fmt::Display for Reply {
    /// [`Reply::plain`] for [`PLAIN_WIDTH`] columns.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.plain(PLAIN_WIDTH))
    }
}

/// Spaces that take `text` to `width` columns.
fn pad(text: &str, width: usize) -> String {
    " ".repeat(width.saturating_sub(text.width()))
}

fn aligned(columns: &[String], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = columns.iter().map(|c| c.width()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.width());
            }
        }
    }
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c}{}", pad(c, *w)))
            .collect();
        format!("  {}", padded.join("  ").trim_end())
    };
    let mut out = vec![line(columns)];
    out.extend(rows.iter().map(|r| line(r)));
    out.join("\n")
}

/// Indent of a record's title, and of its other lines.
const TITLE_INDENT: &str = "  ";
const LINE_INDENT: &str = "    ";

/// One record per row: the title with its headline beside it when both
/// fit, then the other lines indented, each wrapped to `width`.
fn records(records: &[Record], width: usize) -> String {
    let mut out: Vec<String> = Vec::new();
    for record in records {
        let mut lines = record.lines.iter();
        let title = format!("{TITLE_INDENT}{}", record.title);
        match record.lines.first() {
            Some(headline) if title.width() + 2 + headline.width() <= width => {
                out.push(format!("{title}  {headline}"));
                lines.next();
            }
            _ => out.extend(wrap(&record.title, TITLE_INDENT, width)),
        }
        for line in lines {
            out.extend(wrap(line, LINE_INDENT, width));
        }
    }
    out.join("\n")
}

/// `text` in lines of at most `width` columns, each starting with `indent`,
/// broken between words; a word too long for a line of its own is cut.
fn wrap(text: &str, indent: &str, width: usize) -> Vec<String> {
    let room = width.saturating_sub(indent.width()).max(1);
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let needed = if line.is_empty() { 0 } else { line.width() + 1 };
        if needed + word.width() <= room {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
            continue;
        }
        if !line.is_empty() {
            lines.push(std::mem::take(&mut line));
        }
        let mut rest = word;
        while rest.width() > room {
            let cut = cut_at_width(rest, room);
            lines.push(rest[..cut].to_owned());
            rest = &rest[cut..];
        }
        line.push_str(rest);
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines.into_iter().map(|l| format!("{indent}{l}")).collect()
}

/// The longest prefix of `text` (in bytes, at a character boundary) at most
/// `width` columns wide; at least one character, so wrapping always moves on.
fn cut_at_width(text: &str, width: usize) -> usize {
    let mut used = 0;
    for (i, c) in text.char_indices() {
        let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + w > width && i > 0 {
            return i;
        }
        used += w;
    }
    text.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_breaks_between_words_and_cuts_only_words_too_long() {
        assert_eq!(wrap("a bb ccc", "  ", 8), ["  a bb", "  ccc"]);
        assert_eq!(wrap("", "  ", 8), ["  "]);
        assert_eq!(wrap("abcdefghij", "", 4), ["abcd", "efgh", "ij"]);
        // 🔒 takes two columns.
        assert_eq!(wrap("🔒 @bob", "", 5), ["🔒", "@bob"]);
        for width in 1..30 {
            for line in wrap(
                "staging is locked by @bob for \"QA\" → `queue me for staging`",
                "    ",
                width,
            ) {
                assert!(line.width() <= width.max(5), "{width}: {line:?}");
            }
        }
    }
}
