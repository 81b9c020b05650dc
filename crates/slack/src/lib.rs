//! rushbox's Slack adapter: Slack events in (Socket Mode or the Events API),
//! the chat layer's [`rushbox_chat::Robot`] in the middle, Block Kit out.
//! It knows Slack and the chat model, nothing of the pipeline's store.

pub mod render;
