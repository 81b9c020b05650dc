//! The neutral chat model: who said what where ([`Incoming`]), and what the
//! bot answers ([`Reply`]): text, fields, tables, links and buttons, which
//! each adapter renders in its own platform's idiom.

use std::fmt;

use rushbox_pipeline::Actor as ActorId;
use serde::Serialize;

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
    /// Rows under column headings (the env list).
    Table {
        columns: Vec<String>,
        rows: Vec<Vec<String>>,
    },
    /// A bulleted list (the blockers of a refusal, each with its fix).
    List { items: Vec<String> },
    /// An address to open.
    Link { label: String, url: String },
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

impl fmt::Display for Reply {
    /// Plain text, as the shell prints it: tables aligned, buttons as the commands they run.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for block in &self.blocks {
            if !first {
                writeln!(f)?;
            }
            first = false;
            match block {
                Block::Text { text } => write!(f, "{text}")?,
                Block::Fields { fields } => {
                    let width = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
                    let lines: Vec<String> = fields
                        .iter()
                        .map(|(k, v)| format!("  {k:<width$}  {v}"))
                        .collect();
                    write!(f, "{}", lines.join("\n"))?;
                }
                Block::Table { columns, rows } => write!(f, "{}", aligned(columns, rows))?,
                Block::List { items } => {
                    let lines: Vec<String> = items.iter().map(|i| format!("  • {i}")).collect();
                    write!(f, "{}", lines.join("\n"))?;
                }
                Block::Link { label, url } => write!(f, "{label}: {url}")?,
            }
        }
        if !self.buttons.is_empty() {
            let commands: Vec<String> = self
                .buttons
                .iter()
                .map(|b| format!("`{}`", b.command))
                .collect();
            if !first {
                writeln!(f)?;
            }
            write!(f, "Next: {}", commands.join(" · "))?;
        }
        Ok(())
    }
}

fn aligned(columns: &[String], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = columns.iter().map(|c| c.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w.saturating_sub(c.chars().count()))))
            .collect();
        format!("  {}", padded.join("  ").trim_end())
    };
    let mut out = vec![line(columns)];
    out.extend(rows.iter().map(|r| line(r)));
    out.join("\n")
}
