//! rushbox's chat layer, below every adapter: the neutral model
//! ([`Incoming`], [`Actor`], [`Reply`]) and the [`Robot`] that turns text
//! into engine calls and replies. It knows no platform: the shell, Slack and
//! Discord adapters render [`Reply`] in their own idiom.

pub mod backoff;
mod model;
mod robot;

pub use model::{Actor, Block, Button, Incoming, PLAIN_WIDTH, Record, Reply, Table, Tone};
pub use robot::{Answer, LogSource, Notice, NoticeFeed, ProgressFeed, Robot, who};
