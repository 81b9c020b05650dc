//! The library half of the binary crate: the HTTP env router, usable from tests and benches.

pub mod router;
