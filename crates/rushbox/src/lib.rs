//! The library half of the binary crate, usable from tests and benches: the
//! demo's sample app. (The env router is its own crate, `rushbox-router`.)

pub mod demo_app;
