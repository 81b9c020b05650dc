//! A child's output, read a line at a time as it is printed and made safe
//! to show in chat and logs: one set of rules for everything rushbox runs.

use std::io::{self, BufRead, BufReader, Read};
use std::sync::Arc;
use std::sync::mpsc::SyncSender;
use std::thread;

use super::Event;

/// Bytes of one line as shown; longer lines are cut and end with ` …`.
pub const MAX_LINE_BYTES: usize = 1000;
/// Raw bytes read for one line before cleaning (escape sequences take room).
const MAX_RAW_LINE_BYTES: usize = 4 * MAX_LINE_BYTES;

/// Which of the child's outputs a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
    /// Both, through one pipe, so that their lines keep the order they were written in.
    Both,
}

/// One line of output, cleaned (see [`clean_line`]); never blank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub stream: Stream,
    pub text: String,
}

/// Where the bytes of a raw output go (an app's log), on the reading thread.
pub type Sink = Arc<dyn Fn(&[u8]) + Send + Sync>;

/// Reads `pipe` on its own thread until end of output: cleaned lines, or
/// raw chunks into `sink`; then says the stream is closed.
pub(super) fn spawn_reader(
    stream: Stream,
    pipe: impl Read + Send + 'static,
    sink: Option<Sink>,
    events: SyncSender<Event>,
) -> io::Result<()> {
    thread::Builder::new()
        .name("process-output".to_owned())
        .spawn(move || {
            match sink {
                Some(sink) => copy_raw(pipe, &*sink),
                None => send_lines(stream, pipe, &events),
            }
            // Nobody listens any more when this fails, which is fine.
            let _ = events.send(Event::Closed);
        })?;
    Ok(())
}

fn send_lines(stream: Stream, pipe: impl Read, events: &SyncSender<Event>) {
    let mut reader = BufReader::new(pipe);
    // Ends at end of output, on a read error, or when nobody listens any more.
    while let Ok(Some((raw, cut))) = read_capped_line(&mut reader, MAX_RAW_LINE_BYTES) {
        let text = clean_line(&raw, MAX_LINE_BYTES, cut);
        // Blocks while the backlog is full, so a chatty child waits on its pipe.
        if !text.trim().is_empty() && events.send(Event::Line(Line { stream, text })).is_err() {
            return;
        }
    }
}

fn copy_raw(mut pipe: impl Read, sink: &(dyn Fn(&[u8]) + Send + Sync)) {
    let mut buf = [0u8; 8192];
    loop {
        match pipe.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => sink(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// One line without its `\n`, at most `cap` bytes (the rest of the line is
/// skipped and `true` returned with it); `None` at end of output.
pub(crate) fn read_capped_line(
    reader: &mut impl BufRead,
    cap: usize,
) -> io::Result<Option<(Vec<u8>, bool)>> {
    let mut line = Vec::new();
    let mut cut = false;
    loop {
        let buf = match reader.fill_buf() {
            Ok(buf) => buf,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            return Ok((!line.is_empty() || cut).then_some((line, cut)));
        }
        let (chunk, used, end) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..i], i + 1, true),
            None => (buf, buf.len(), false),
        };
        let room = cap.saturating_sub(line.len());
        line.extend_from_slice(&chunk[..chunk.len().min(room)]);
        cut |= chunk.len() > room;
        reader.consume(used);
        if end {
            return Ok(Some((line, cut)));
        }
    }
}

/// Makes one output line safe to show in chat: valid UTF-8, no terminal
/// escape sequences, no control or bidi-override characters (tabs stay), at
/// most `max_bytes` bytes, ending in ` …` when cut (or already cut).
pub fn clean_line(raw: &[u8], max_bytes: usize, already_cut: bool) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_cleaned_for_chat() {
        for (raw, shown) in [
            (&b"plain\ttab"[..], "plain\ttab"),
            (b"\x1b[31mred\x1b[0m done", "red done"),
            (b"\x1b]0;title\x07after", "after"),
            (b"\x1b]0;title\x1b\\after", "after"),
            (b"bell\x07 cr\r", "bell cr"),
            (b"a\xe2\x80\xaeb\xe2\x80\x8bc", "abc"),
            (b"bad \xff utf8", "bad \u{fffd} utf8"),
        ] {
            assert_eq!(clean_line(raw, MAX_LINE_BYTES, false), shown, "{raw:?}");
        }
        let long = "é".repeat(MAX_LINE_BYTES);
        let shown = clean_line(long.as_bytes(), MAX_LINE_BYTES, false);
        assert!(shown.len() <= MAX_LINE_BYTES + 4 && shown.ends_with(" …"));
        assert_eq!(clean_line(b"short", MAX_LINE_BYTES, true), "short …");
    }

    #[test]
    fn long_lines_are_capped_while_reading() {
        let input = format!("{}\nnext\nlast", "x".repeat(10_000));
        let mut reader = BufReader::with_capacity(64, input.as_bytes());
        let (first, cut) = read_capped_line(&mut reader, 100).unwrap().unwrap();
        assert_eq!((first.len(), cut), (100, true));
        assert_eq!(
            read_capped_line(&mut reader, 100).unwrap(),
            Some((b"next".to_vec(), false))
        );
        assert_eq!(
            read_capped_line(&mut reader, 100).unwrap(),
            Some((b"last".to_vec(), false))
        );
        assert_eq!(read_capped_line(&mut reader, 100).unwrap(), None);
    }
}
