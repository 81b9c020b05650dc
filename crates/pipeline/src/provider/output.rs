//! Output of the commands providers run, made safe to show in chat and logs.
//! One set of rules for every provider.

/// Makes one output line safe to show in chat: valid UTF-8, no terminal
/// escape sequences, no control or bidi-override characters (tabs stay), at
/// most `max_bytes` bytes, ending in ` …` when cut (or already cut).
pub(crate) fn clean_line(raw: &[u8], max_bytes: usize, already_cut: bool) -> String {
    let text = String::from_utf8_lossy(raw);
    let mut clean = String::with_capacity(text.len().min(max_bytes.saturating_add(4)));
    let mut cut = already_cut;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            skip_escape_sequence(&mut chars);
            continue;
        }
        if (c.is_control() && c != '\t') || is_invisible_format(c) {
            continue;
        }
        if clean.len() + c.len_utf8() > max_bytes {
            cut = true;
            break;
        }
        clean.push(c);
    }
    let mut clean = clean.trim_end().to_owned();
    if cut {
        clean.push_str(" …");
    }
    clean
}

/// Skips the rest of an ANSI escape: CSI (`ESC [ … final`), OSC
/// (`ESC ] … BEL` or `ESC ] … ESC \`), or one character after a lone ESC.
fn skip_escape_sequence(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    match chars.next() {
        Some('[') => {
            for c in chars.by_ref() {
                if ('\u{40}'..='\u{7e}').contains(&c) {
                    break;
                }
            }
        }
        Some(']') => {
            while let Some(c) = chars.next() {
                if c == '\u{7}' {
                    break;
                }
                if c == '\u{1b}' && chars.peek() == Some(&'\\') {
                    chars.next();
                    break;
                }
            }
        }
        _ => {}
    }
}

/// Zero-width and direction-changing characters that could disguise a line.
fn is_invisible_format(c: char) -> bool {
    matches!(c,
        '\u{200b}'..='\u{200f}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{2069}'
        | '\u{feff}')
}
