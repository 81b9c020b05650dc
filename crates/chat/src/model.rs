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
        // Written into one string, as the shell prints every reply.
        let mut out = String::new();
        let mut parts = 0;
        let mut next = |out: &mut String| {
            if parts > 0 {
                out.push('\n');
            }
            parts += 1;
        };
        for block in &self.blocks {
            next(&mut out);
            let mut lines = Lines::new(&mut out);
            match block {
                Block::Text { text } => lines.out.push_str(text),
                Block::Fields { fields } => {
                    let width = fields.iter().map(|(k, _)| k.width()).max().unwrap_or(0);
                    for (k, v) in fields {
                        lines.start();
                        lines.out.push_str("  ");
                        lines.out.push_str(k);
                        pad(lines.out, k, width);
                        lines.out.push_str("  ");
                        lines.out.push_str(v);
                    }
                }
                Block::Table(table) => {
                    if !aligned(&mut lines, &table.columns, &table.rows, width) {
                        records(&mut lines, &table.records, width);
                    }
                }
                Block::List { items } => {
                    for item in items {
                        lines.start();
                        lines.out.push_str("  • ");
                        lines.out.push_str(item);
                    }
                }
                Block::Link { label, url } => {
                    lines.out.push_str(label);
                    lines.out.push_str(": ");
                    lines.out.push_str(url);
                }
            }
        }
        if !self.buttons.is_empty() {
            next(&mut out);
            out.push_str("Next: ");
            for (i, b) in self.buttons.iter().enumerate() {
                if i > 0 {
                    out.push_str(" · ");
                }
                out.push('`');
                out.push_str(&b.command);
                out.push('`');
            }
        }
        out
    }
}

impl fmt::Display for Reply {
    /// [`Reply::plain`] for [`PLAIN_WIDTH`] columns.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.plain(PLAIN_WIDTH))
    }
}

/// Lines written into one string, a newline between them.
struct Lines<'a> {
    out: &'a mut String,
    started: bool,
}

impl Lines<'_> {
    fn new(out: &mut String) -> Lines<'_> {
        Lines {
            out,
            started: false,
        }
    }

    /// Begins a line.
    fn start(&mut self) {
        if self.started {
            self.out.push('\n');
        }
        self.started = true;
    }
}

/// Spaces that take `text` to `width` columns.
fn pad(out: &mut String, text: &str, width: usize) {
    for _ in text.width()..width {
        out.push(' ');
    }
}

/// The table with its columns aligned, if every line fits in `room`
/// columns; `false` (and nothing written) if one does not.
fn aligned(lines: &mut Lines, columns: &[String], rows: &[Vec<String>], room: usize) -> bool {
    let mut widths: Vec<usize> = columns.iter().map(|c| c.width()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.width());
            }
        }
    }
    let all = || std::iter::once(columns).chain(rows.iter().map(Vec::as_slice));
    // Measured before anything is written: a wide table (the env list has
    // eleven columns) is shown as records, and its lines are never built.
    if all().any(|cells| aligned_width(cells, &widths) > room) {
        return false;
    }
    for cells in all() {
        lines.start();
        let start = lines.out.len();
        lines.out.push_str("  ");
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i > 0 {
                lines.out.push_str("  ");
            }
            lines.out.push_str(cell);
            pad(lines.out, cell, *w);
        }
        let kept = lines.out[start..].trim_end().len();
        lines.out.truncate(start + kept);
    }
    true
}

/// The columns a line of an aligned table takes: its indent, each cell
/// padded to its column and two spaces apart, up to the end of the last
/// cell with something in it (the line is trimmed at its end).
fn aligned_width(cells: &[String], widths: &[usize]) -> usize {
    // Cells past the header's columns are not shown.
    let cells = &cells[..cells.len().min(widths.len())];
    let Some(last) = cells.iter().rposition(|c| !c.trim_end().is_empty()) else {
        return 0;
    };
    let before: usize = widths.iter().take(last).map(|w| w + 2).sum();
    2 + before + cells[last].trim_end().width()
}

/// Indent of a record's title, and of its other lines.
const TITLE_INDENT: &str = "  ";
const LINE_INDENT: &str = "    ";

/// One record per row: the title with its headline beside it when both
/// fit, then the other lines indented, each wrapped to `width`.
fn records(out: &mut Lines, records: &[Record], width: usize) {
    for record in records {
        let mut lines = record.lines.iter();
        match record.lines.first() {
            Some(headline)
                if TITLE_INDENT.width() + record.title.width() + 2 + headline.width() <= width =>
            {
                out.start();
                out.out.push_str(TITLE_INDENT);
                out.out.push_str(&record.title);
                out.out.push_str("  ");
                out.out.push_str(headline);
                lines.next();
            }
            _ => wrap(out, &record.title, TITLE_INDENT, width),
        }
        for line in lines {
            wrap(out, line, LINE_INDENT, width);
        }
    }
}

/// `text` in lines of at most `width` columns, each starting with `indent`,
/// broken between words; a word too long for a line of its own is cut.
fn wrap(out: &mut Lines, text: &str, indent: &str, width: usize) {
    let room = width.saturating_sub(indent.width()).max(1);
    // The line being written: its width, and whether it holds a word.
    let mut line_width = 0;
    let mut open = false;
    let mut wrote = false;
    let begin = |out: &mut Lines| {
        out.start();
        out.out.push_str(indent);
    };
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let word_width = word.width();
        let needed = if open { line_width + 1 } else { 0 };
        if needed + word_width <= room {
            if open {
                out.out.push(' ');
            } else {
                begin(out);
                open = true;
            }
            out.out.push_str(word);
            line_width = needed + word_width;
            wrote = true;
            continue;
        }
        let mut rest = word;
        while rest.width() > room {
            let cut = cut_at_width(rest, room);
            begin(out);
            out.out.push_str(&rest[..cut]);
            rest = &rest[cut..];
        }
        begin(out);
        out.out.push_str(rest);
        open = true;
        wrote = true;
        line_width = rest.width();
    }
    if !wrote {
        begin(out);
    }
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

    fn wrap(text: &str, indent: &str, width: usize) -> Vec<String> {
        let mut out = String::new();
        super::wrap(&mut Lines::new(&mut out), text, indent, width);
        out.split('\n').map(str::to_owned).collect()
    }

    /// The widest line of `rows` under `columns` when aligned, measured on
    /// the lines themselves, built the plain way.
    fn widest_built(columns: &[String], rows: &[Vec<String>]) -> usize {
        let mut widths: Vec<usize> = columns.iter().map(|c| c.width()).collect();
        for row in rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.width());
            }
        }
        std::iter::once(columns)
            .chain(rows.iter().map(Vec::as_slice))
            .map(|cells| {
                let padded: Vec<String> = cells
                    .iter()
                    .zip(&widths)
                    .map(|(c, w)| format!("{c}{}", " ".repeat(w - c.width())))
                    .collect();
                format!("  {}", padded.join("  ")).trim_end().width()
            })
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn a_table_is_aligned_exactly_when_its_widest_line_fits() {
        let cells = |row: &[&str]| row.iter().map(|c| (*c).to_owned()).collect::<Vec<_>>();
        let tables = [
            (
                cells(&["env", "state"]),
                vec![cells(&["dev-foo", "running"])],
            ),
            // A last cell with nothing in it, or only spaces, is trimmed away.
            (
                cells(&["env", "note"]),
                vec![cells(&["staging", ""]), cells(&["dev-a-long-name", "  "])],
            ),
            (cells(&["a", "b", "c"]), vec![cells(&["🔒", "", "x  "])]),
            // A row longer than the header shows only the header's columns.
            (
                cells(&["env"]),
                vec![cells(&["prod", "extra-cell-not-shown"])],
            ),
            (cells(&["", ""]), vec![]),
        ];
        for (columns, rows) in &tables {
            let widest = widest_built(columns, rows);
            for room in 0..40 {
                let mut out = String::new();
                let fits = aligned(&mut Lines::new(&mut out), columns, rows, room);
                assert_eq!(fits, widest <= room, "{columns:?} {rows:?} in {room}");
                if fits {
                    assert!(out.lines().all(|l| l.width() <= room), "{out:?}");
                } else {
                    assert!(out.is_empty(), "nothing written when it does not fit");
                }
            }
        }
    }

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
