//! `Reply` → Discord message: one embed coloured by tone, buttons as action
//! rows. Pure: the JSON it makes is what the snapshot tests pin down; the
//! adapter only chooses where to send it (new message, edit, followup).
//! People named in texts become Discord mentions.

use std::collections::HashMap;
use std::sync::Mutex;

use rushbox_chat::{Block, Reply, Tone};

use crate::identity::mentions;
use serenity::all::{
    ButtonStyle, CreateActionRow, CreateButton, CreateEmbed, CreateEmbedFooter,
    CreateInteractionResponseFollowup, CreateMessage, EditInteractionResponse, EditMessage,
};

/// Discord's limits (embed fields, buttons per row, rows per message, lengths).
const MAX_FIELDS: usize = 25;
const BUTTONS_PER_ROW: usize = 5;
const MAX_ROWS: usize = 5;
const MAX_CUSTOM_ID: usize = 100;
const MAX_DESCRIPTION: usize = 4096;
const MAX_FIELD_NAME: usize = 256;
const MAX_FIELD_VALUE: usize = 1024;
const MAX_LABEL: usize = 80;
/// A field value this short sits beside its neighbours (inline).
const INLINE_UNDER: usize = 24;

/// Prefix of a button's `custom_id` that carries the command itself.
const COMMAND_PREFIX: &str = "run:";
/// Prefix of a `custom_id` that names a remembered command too long to carry.
const STORED_PREFIX: &str = "cmd#";

/// The flag Discord reads as "only the person who asked sees this".
pub const EPHEMERAL: u64 = 64;

/// Colours by tone (Discord's palette).
pub fn colour(tone: Tone) -> u32 {
    match tone {
        Tone::Info => 0x5865F2,
        Tone::Success => 0x57F287,
        Tone::Progress => 0xFEE75C,
        Tone::Refused => 0xE67E22,
        Tone::Error => 0xED4245,
    }
}

/// Button commands too long for a `custom_id` (100 characters), kept by a
/// short id for as long as the process lives.
#[derive(Debug, Default)]
pub struct ButtonCommands {
    stored: Mutex<HashMap<String, String>>,
}

impl ButtonCommands {
    pub fn new() -> ButtonCommands {
        ButtonCommands::default()
    }

    /// The `custom_id` that runs `command` when clicked.
    pub fn custom_id(&self, command: &str) -> String {
        let direct = format!("{COMMAND_PREFIX}{command}");
        if direct.len() <= MAX_CUSTOM_ID {
            return direct;
        }
        let mut stored = self.stored.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((id, _)) = stored.iter().find(|(_, c)| c.as_str() == command) {
            return id.clone();
        }
        let id = format!("{STORED_PREFIX}{}", stored.len() + 1);
        stored.insert(id.clone(), command.to_owned());
        id
    }

    /// The command a clicked button runs, if the id is one of ours.
    pub fn command(&self, custom_id: &str) -> Option<String> {
        if let Some(command) = custom_id.strip_prefix(COMMAND_PREFIX) {
            return Some(command.to_owned());
        }
        let stored = self.stored.lock().unwrap_or_else(|e| e.into_inner());
        stored.get(custom_id).cloned()
    }
}

/// A reply ready for Discord: the embed, the button rows, and whether only
/// the person who asked should see it (refusals and errors, in interactions).
#[derive(Debug, Clone)]
pub struct Rendered {
    pub embed: CreateEmbed,
    pub components: Vec<CreateActionRow>,
    pub ephemeral: bool,
}

impl Rendered {
    /// A new channel message (answer to a typed message, or a DM).
    pub fn message(&self) -> CreateMessage {
        CreateMessage::new()
            .embed(self.embed.clone())
            .components(self.components.clone())
    }

    /// An edit of a message we sent: components are always sent so stale buttons go away.
    pub fn edit_message(&self) -> EditMessage {
        EditMessage::new()
            .embed(self.embed.clone())
            .components(self.components.clone())
    }

    /// An edit of an interaction's original (deferred) response.
    pub fn edit_response(&self) -> EditInteractionResponse {
        EditInteractionResponse::new()
            .embed(self.embed.clone())
            .components(self.components.clone())
    }

    /// A followup to an interaction, ephemeral for refusals and errors.
    pub fn followup(&self) -> CreateInteractionResponseFollowup {
        CreateInteractionResponseFollowup::new()
            .embed(self.embed.clone())
            .components(self.components.clone())
            .ephemeral(self.ephemeral)
    }
}

/// Whether a reply of this tone is for the asker's eyes only in an interaction.
pub fn is_private(tone: Tone) -> bool {
    matches!(tone, Tone::Refused | Tone::Error)
}

/// Renders a reply: text and list blocks make the description, fields and
/// table records make embed fields (one per env, so the list reads on a phone),
/// links and buttons make button rows.
pub fn render(reply: &Reply, commands: &ButtonCommands) -> Rendered {
    let mut description: Vec<String> = Vec::new();
    let mut fields: Vec<(String, String, bool)> = Vec::new();
    let mut links: Vec<CreateButton> = Vec::new();
    for block in &reply.blocks {
        match block {
            Block::Text { text } => description.push(mentions(text)),
            Block::List { items } => description.push(
                items
                    .iter()
                    .map(|i| format!("• {}", mentions(i)))
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
            Block::Fields { fields: pairs } => {
                for (name, value) in pairs {
                    let inline = value.chars().count() <= INLINE_UNDER;
                    fields.push((name.clone(), mentions(value), inline));
                }
            }
            // One field per row (an env), from its record: reads on a phone.
            Block::Table(table) => {
                for record in &table.records {
                    let lines: Vec<String> = record.lines.iter().map(|l| mentions(l)).collect();
                    fields.push((record.title.clone(), lines.join("\n"), false));
                }
            }
            Block::Link { label, url } => {
                links.push(
                    CreateButton::new_link(url.as_str()).label(clip(label, MAX_LABEL).as_str()),
                );
            }
        }
    }

    let mut embed = CreateEmbed::new().colour(colour(reply.tone));
    let description = description.join("\n\n");
    if !description.is_empty() {
        embed = embed.description(clip(&description, MAX_DESCRIPTION));
    }
    let hidden = fields.len().saturating_sub(MAX_FIELDS);
    for (name, value, inline) in fields.into_iter().take(MAX_FIELDS) {
        embed = embed.field(
            clip(or_dash(&name), MAX_FIELD_NAME),
            clip(or_dash(&value), MAX_FIELD_VALUE),
            inline,
        );
    }
    if hidden > 0 {
        embed = embed.footer(CreateEmbedFooter::new(format!(
            "…and {hidden} more not shown"
        )));
    }

    let mut buttons = links;
    buttons.extend(reply.buttons.iter().map(|b| {
        let style = if b.danger {
            ButtonStyle::Danger
        } else if buttons_primary(reply.tone) {
            ButtonStyle::Primary
        } else {
            ButtonStyle::Secondary
        };
        CreateButton::new(commands.custom_id(&b.command))
            .label(clip(&b.label, MAX_LABEL))
            .style(style)
    }));
    let components = buttons
        .chunks(BUTTONS_PER_ROW)
        .take(MAX_ROWS)
        .map(|row| CreateActionRow::Buttons(row.to_vec()))
        .collect();

    Rendered {
        embed,
        components,
        ephemeral: is_private(reply.tone),
    }
}

/// The next step after a success or a question is the obvious one (Primary);
/// after a refusal the buttons are ways out, shown quieter (Secondary).
fn buttons_primary(tone: Tone) -> bool {
    matches!(tone, Tone::Info | Tone::Success | Tone::Progress)
}

/// Discord rejects empty field names and values.
fn or_dash(s: &str) -> &str {
    if s.trim().is_empty() { "—" } else { s }
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}
