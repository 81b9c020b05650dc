//! rushbox's Discord adapter: gateway messages, slash commands and button
//! clicks become [`rushbox_chat::Incoming`]s for the Robot; its replies come
//! back as embeds with buttons. Knows Discord and the chat model, nothing else.

mod adapter;
pub mod addressed;
pub mod commands;
pub mod config;
pub mod connection;
pub mod groups;
pub mod identity;
mod progress;
pub mod render;

pub use adapter::{Error, intents, notify, run, run_observed, run_with_token, token_from_env};
pub use config::DiscordConfig;
pub use rushbox_chat::activity::{Activity, Counts};
