//! rushbox's engine: the dev → staging → prod process as typed calls.
//! It knows nothing of chat; adapters, webhooks and the shell drive it alike.
//! It takes its validated names (`GitRef`, `EnvName`, `AppName`) from
//! `rushbox-command`, so a name is checked once, where it enters.
//!
//! ```
//! use std::sync::Arc;
//! use rushbox_command::{EnvName, GitRef, Target};
//! use rushbox_pipeline::{Actor, Engine, FixedRefs, NoopProvider, PipelineConfig, Progress};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let refs = FixedRefs::new([("foo", "f00f00f00f00f00f00f00f00f00f00f00f00f00f")]);
//! let engine = Engine::open(
//!     PipelineConfig::default(),
//!     &dir.path().join("db"),
//!     Arc::new(NoopProvider::new()),
//!     Arc::new(refs),
//! )
//! .unwrap();
//! let alice = Actor::parse("shell:alice").unwrap();
//!
//! // alice: deploy branch foo to dev
//! let reply = engine
//!     .deploy(&alice, None, GitRef::parse("foo").unwrap(), Target::Dev)
//!     .unwrap();
//! let address = Some("http://dev-foo.localhost:8080".to_owned());
//! assert_eq!(reply.operation().unwrap().wait(), Progress::Finished { address });
//!
//! // alice: lock staging (no reason) → refused, with what to type instead
//! let refusal = engine
//!     .lock(&alice, None, EnvName::staging(), None, None, false)
//!     .unwrap_err();
//! assert_eq!(refusal.blockers()[0].fix().to_string(), "`lock staging for <reason>`");
//! ```
//!
//! Layout: [`model`] (plain data), [`policy`] (the rules, pure), [`store`]
//! (sled, the only I/O on state), [`ops`] (provider work on threads),
//! [`engine`] (the API), [`provider`] (backends), [`process`] (how every
//! child process is run), [`git`], [`config`].

pub mod config;
pub mod engine;
pub mod git;
pub mod model;
pub mod ops;
pub mod policy;
pub mod process;
pub mod provider;
pub mod store;

pub use config::PipelineConfig;
pub use engine::{Engine, EngineError, EnvView, Hold, Reply, Unsynced};
pub use git::{FixedRefs, RefResolver};
pub use model::{Actor, Role};
pub use ops::{OperationHandle, Progress};
pub use policy::{Blocker, Notice, Refusal};
pub use provider::NoopProvider;
