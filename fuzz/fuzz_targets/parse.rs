//! Any bytes, as chat text: the parser must never panic, and whatever it
//! accepts must render to canonical text that parses back to the same command.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rushbox_command::Grammar;
use std::sync::LazyLock;

static GRAMMAR: LazyLock<Grammar> = LazyLock::new(Grammar::new);

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(command) = GRAMMAR.parse(text) {
        let canonical = command.to_string();
        assert_eq!(GRAMMAR.parse(&canonical), Ok(command), "{canonical:?}");
    }
});
