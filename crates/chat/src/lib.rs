//! rushbox's chat layer, below every adapter: the neutral model
//! ([`Incoming`], [`Actor`], [`Reply`]) and the [`Robot`] that turns text
//! into engine calls and replies.
//!
//! **Its job:** parse what a person typed, call the pipeline [`Engine`] as
//! that person, and say what came of it as a platform-neutral [`Reply`]
//! (text, fields, tables with narrow-screen records, lists, links, buttons
//! that run commands), with a [`ProgressFeed`] per operation it started
//! and a [`NoticeFeed`] for what others must be told.
//!
//! **Its boundary:** it knows no platform and does no I/O of its own. The
//! rules, the store and the provider live in `rushbox-pipeline`; the shell,
//! Slack and Discord adapters deliver messages to [`Robot::handle`] and
//! render its [`Reply`]s in their own idiom.
//!
//! Inside, `robot/mod.rs` dispatches commands, `robot/answers.rs` renders
//! engine views, `robot/progress.rs` follows running work and
//! `robot/notices.rs` carries messages for other people.
//!
//! ```
//! use std::sync::Arc;
//! use rushbox_chat::{Actor, Incoming, Robot, Tone};
//! use rushbox_pipeline::{Engine, FixedRefs, NoopProvider, PipelineConfig};
//!
//! let dir = tempfile::tempdir()?;
//! let refs = FixedRefs::new([("main", "1111111111111111111111111111111111111111")]);
//! let engine = Engine::open(
//!     PipelineConfig::default(),
//!     dir.path(),
//!     Arc::new(NoopProvider::new()),
//!     Arc::new(refs),
//! )?;
//! let robot = Robot::new(engine);
//! let answer = robot.handle(&Incoming {
//!     actor: Actor::new("shell", "alice", "alice"),
//!     channel: "tty".to_owned(),
//!     text: "which environments are running".to_owned(),
//!     reply_to: None,
//! });
//! assert_eq!(answer.reply.tone, Tone::Info);
//! assert_eq!(
//!     answer.reply.summary(),
//!     "No environments yet. Start one with `deploy branch <ref> to dev`."
//! );
//! assert!(answer.progress.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`Engine`]: rushbox_pipeline::Engine

pub mod activity;
pub mod backoff;
mod model;
mod robot;

pub use model::{Actor, Block, Button, Incoming, PLAIN_WIDTH, Record, Reply, Table, Tone};
pub use robot::{Answer, LogSource, Notice, NoticeFeed, ProgressFeed, Robot, who};
