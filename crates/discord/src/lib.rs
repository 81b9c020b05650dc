//! rushbox's Discord adapter: gateway messages, slash commands and button
//! clicks become [`rushbox_chat::Incoming`]s for the Robot; its replies come
//! back as embeds with buttons. Knows Discord and the chat model, nothing else.

pub mod render;
