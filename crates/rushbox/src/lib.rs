//! The library half of the binary crate, usable from tests and benches: the
//! HTTP env router and the demo's sample app.

pub mod demo_app;
pub mod router;
