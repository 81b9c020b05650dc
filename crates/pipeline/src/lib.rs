//! rushbox's engine: the dev → staging → prod process as typed calls.
//! It knows nothing of chat; adapters, webhooks and the shell drive it alike.
//! It takes its validated names (`GitRef`, `EnvName`, `AppName`) from
//! `rushbox-command`, so a name is checked once, where it enters.

pub mod config;
pub mod model;
pub mod policy;
pub mod provider;
