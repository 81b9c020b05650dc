//! rushbox's engine: the dev → staging → prod process as typed calls.
//! It knows nothing of chat; adapters, webhooks and the shell drive it alike.
//! It takes its validated names (`GitRef`, `EnvName`, `AppName`) from
//! `rushbox-command`, so a name is checked once, where it enters.

pub mod config;
pub mod engine;
pub mod git;
pub mod model;
pub mod ops;
pub mod policy;
pub mod provider;
pub mod store;

pub use config::PipelineConfig;
pub use engine::{Engine, EngineError, EnvView, FixedRefs, RefResolver, Reply};
pub use model::{Actor, Role};
pub use ops::{OperationHandle, Progress};
pub use policy::{Blocker, Notice, Refusal};
pub use provider::NoopProvider;
