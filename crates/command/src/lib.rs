//! rushbox's command language: one line of chat text in, one typed
//! [`Command`] out, or a [`Rejection`] that says why not and what was meant.
//!
//! Pure: no I/O, no async, no other rushbox crate. The grammar is a table
//! (`table.rs`) from which the parser, `help` and the command reference are
//! all generated.
//!
//! ```
//! use rushbox_command::{Command, EnvName, Grammar, Rejection};
//! let grammar = Grammar::new();
//! match grammar.parse("hey rushbox, deploy staging to production please") {
//!     Ok(Command::Promote { from, to, .. }) => {
//!         assert_eq!(from.env, EnvName::staging());
//!         assert_eq!(to, EnvName::prod());
//!     }
//!     other => panic!("{other:?}"),
//! }
//! let Err(Rejection::Unknown { suggestions }) = grammar.parse("deplyo foo to stagign") else {
//!     panic!("a typo is not a command")
//! };
//! assert_eq!(suggestions[0], "deploy branch foo to staging");
//! ```

mod command;
mod grammar;
mod help;
mod intent;
mod names;
mod table;

// The README's example runs as a doctest, so it keeps compiling and running.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExample;

pub use command::{Command, EnvRef, ParseError, Rejection, Report, Target};
pub use grammar::{Grammar, MAX_LINE_BYTES, MAX_REASON_BYTES, utf8_text};
pub use help::{help, reference_markdown};
pub use intent::Intent;
pub use names::{AppName, EnvName, GitRef, NameError, ReleaseId, Span, Stage, UserRef};
