//! Where the shell's lines come from. A terminal gets line editing, history,
//! background output printed above the prompt (which is then drawn again)
//! and every line of a paste run; a pipe is read with a bound, so one
//! endless line never fills memory, and a line that is too long or not
//! UTF-8 is answered and skipped while the lines after it still run.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, ErrorKind, Read};
use std::path::PathBuf;

use rushbox_command::{MAX_LINE_BYTES, ParseError, utf8_text};
use rustyline::error::ReadlineError;

/// How much of a pipe is read at once: the lines of one read are answered
/// together, under one sync (see `Engine::hold`).
const PIPE_READ: usize = 64 * 1024;

/// One line of input, before it is a command.
#[derive(Debug, PartialEq, Eq)]
pub enum Input {
    /// Text to run (blank lines and comments included; the shell skips them).
    Line(String),
    /// A line that can't be a command: what to tell the person. The next line is read as usual.
    Skipped(String),
}

/// Lines from a terminal (with editing and history) or from a pipe.
pub enum Lines {
    Terminal {
        editor: Box<rustyline::DefaultEditor>,
        history: Option<PathBuf>,
        /// The lines of a paste after the first, still to run.
        pasted: VecDeque<String>,
    },
    Piped(BoundedLines<BufReader<std::io::Stdin>>),
}

/// Prints a line of output above the prompt and then draws the prompt and
/// what is typed so far again, so background work never garbles the line
/// being edited.
pub type AbovePrompt = Box<dyn rustyline::ExternalPrinter + Send>;

impl Lines {
    /// A line editor when stdin is a terminal (and not `--json`), otherwise the pipe.
    pub fn open(json: bool, history: Option<PathBuf>) -> Lines {
        use std::io::IsTerminal;
        if std::io::stdin().is_terminal()
            && !json
            && let Ok(mut editor) = rustyline::DefaultEditor::new()
        {
            if let Some(path) = &history {
                let _ = editor.load_history(path);
            }
            return Lines::Terminal {
                editor: Box::new(editor),
                history,
                pasted: VecDeque::new(),
            };
        }
        Lines::Piped(BoundedLines::new(
            BufReader::with_capacity(PIPE_READ, std::io::stdin()),
            MAX_LINE_BYTES,
        ))
    }

    /// Where output goes so that it appears above the prompt: `None` for a
    /// pipe, or when stdout is not the terminal.
    pub fn above_prompt(&mut self) -> Option<AbovePrompt> {
        match self {
            Lines::Terminal { editor, .. } => editor
                .create_external_printer()
                .ok()
                .map(|printer| Box::new(printer) as AbovePrompt),
            Lines::Piped(_) => None,
        }
    }

    /// Whether the next line is already read (a pipe's lines come in
    /// blocks), so asking for it won't wait.
    pub fn ready(&self) -> bool {
        match self {
            Lines::Terminal { pasted, .. } => !pasted.is_empty(),
            Lines::Piped(lines) => lines.ready(),
        }
    }

    /// The next line, or `None` at the end of input.
    pub fn next(&mut self, prompt: &str) -> Option<Input> {
        match self {
            Lines::Terminal {
                editor,
                history,
                pasted,
            } => loop {
                if let Some(line) = pasted.pop_front() {
                    return Some(Input::Line(line));
                }
                match editor.readline(prompt) {
                    Ok(text) => {
                        // A bracketed paste of several lines arrives as one
                        // text with newlines: each of its lines is a command.
                        for line in text.lines() {
                            if !line.trim().is_empty() {
                                let _ = editor.add_history_entry(line);
                            }
                            pasted.push_back(line.to_owned());
                        }
                        if let Some(path) = history {
                            let _ = editor.save_history(path);
                        }
                        if pasted.is_empty() {
                            return Some(Input::Line(String::new()));
                        }
                    }
                    Err(ReadlineError::Interrupted) => return Some(Input::Line(String::new())),
                    Err(ReadlineError::Io(e)) if e.kind() == ErrorKind::InvalidData => {
                        return Some(Input::Skipped(
                            "That input is not valid UTF-8 (check the terminal's encoding); skipped."
                                .to_owned(),
                        ));
                    }
                    Err(ReadlineError::Eof) => return None,
                    Err(e) => {
                        eprintln!("rushbox: can't read the terminal: {e}");
                        return None;
                    }
                }
            },
            Lines::Piped(lines) => lines.next(),
        }
    }
}

/// Lines from a reader, each kept only up to a bound: the rest of a longer
/// line is read and dropped up to its newline, so memory stays small
/// whatever comes in.
pub struct BoundedLines<R> {
    reader: R,
    /// The most bytes a line may have, its line ending not counted.
    limit: usize,
    /// Lines read so far: the number of the current one.
    number: usize,
    line: Vec<u8>,
}

impl<R: Read> BoundedLines<BufReader<R>> {
    /// Whether a whole line is in the buffer already.
    pub fn ready(&self) -> bool {
        self.reader.buffer().contains(&b'\n')
    }
}

impl<R: BufRead> BoundedLines<R> {
    pub fn new(reader: R, limit: usize) -> BoundedLines<R> {
        BoundedLines {
            reader,
            limit,
            number: 0,
            line: Vec::new(),
        }
    }

    /// The next line, or `None` at the end of input (or when it can't be read).
    pub fn next(&mut self) -> Option<Input> {
        let len = match self.read_line() {
            Ok(Some(len)) => len,
            Ok(None) => return None,
            Err(e) => {
                eprintln!("rushbox: can't read the input: {e}");
                return None;
            }
        };
        self.number += 1;
        let number = self.number;
        if len > self.limit {
            return Some(Input::Skipped(format!(
                "line {number} is {len} bytes, over the {} bytes a command may have; skipped.",
                self.limit
            )));
        }
        Some(match utf8_text(&self.line) {
            Ok(text) => Input::Line(text.to_owned()),
            Err(ParseError::NotUtf8 { byte, position }) => Input::Skipped(format!(
                "line {number} is not valid UTF-8 (byte {byte:#04x} at position {position}); skipped."
            )),
            Err(other) => Input::Skipped(format!("line {number}: {other}; skipped.")),
        })
    }

    /// Reads one line into `self.line`, keeping at most `limit + 1` bytes
    /// of it; returns its whole length without the line ending (`\n` or
    /// `\r\n`), or `None` at the end of input.
    fn read_line(&mut self) -> std::io::Result<Option<usize>> {
        self.line.clear();
        let keep = self.limit + 1;
        let mut len = 0usize;
        let mut read_any = false;
        // The line's last byte, kept or not: a `\r` there is part of the line ending.
        let mut last = None;
        loop {
            let available = match self.reader.fill_buf() {
                Ok(available) => available,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                break;
            }
            read_any = true;
            let (part, used, ended) = match available.iter().position(|&b| b == b'\n') {
                Some(at) => (&available[..at], at + 1, true),
                None => (available, available.len(), false),
            };
            let room = keep.saturating_sub(self.line.len());
            self.line.extend_from_slice(&part[..part.len().min(room)]);
            len = len.saturating_add(part.len());
            last = part.last().copied().or(last);
            self.reader.consume(used);
            if ended {
                break;
            }
        }
        if !read_any {
            return Ok(None);
        }
        if last == Some(b'\r') {
            if len <= keep {
                self.line.pop();
            }
            len -= 1;
        }
        Ok(Some(len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufReader, Read};

    /// A reader that hands out at most `step` bytes a call, so lines cross buffer edges.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn all(data: &[u8], limit: usize, step: usize) -> Vec<Input> {
        let reader = BufReader::with_capacity(7, Trickle { data, step });
        let mut lines = BoundedLines::new(reader, limit);
        std::iter::from_fn(|| lines.next()).collect()
    }

    fn line(text: &str) -> Input {
        Input::Line(text.to_owned())
    }

    #[test]
    fn lines_are_split_at_newlines_with_or_without_a_carriage_return() {
        for step in [1, 3, 64] {
            assert_eq!(
                all(b"envs\r\n\nwho has staging\nlast", 20, step),
                vec![
                    line("envs"),
                    line(""),
                    line("who has staging"),
                    line("last")
                ],
                "step {step}"
            );
        }
        assert_eq!(all(b"", 20, 1), vec![]);
    }

    #[test]
    fn an_overlong_line_is_skipped_with_its_length_and_the_next_one_read() {
        let mut data = vec![b'a'; 100];
        data.extend_from_slice(b"\nenvs\n");
        data.extend_from_slice(&[b'b'; 21]);
        data.extend_from_slice(b"\r\n");
        data.extend_from_slice(&[b'c'; 20]);
        data.extend_from_slice(b"\r\n");
        for step in [1, 5, 1000] {
            assert_eq!(
                all(&data, 20, step),
                vec![
                    Input::Skipped(
                        "line 1 is 100 bytes, over the 20 bytes a command may have; skipped."
                            .to_owned()
                    ),
                    line("envs"),
                    Input::Skipped(
                        "line 3 is 21 bytes, over the 20 bytes a command may have; skipped."
                            .to_owned()
                    ),
                    line(&"c".repeat(20)),
                ],
                "step {step}"
            );
        }
    }

    #[test]
    fn an_overlong_line_is_never_kept_whole() {
        let mut data = vec![b'x'; 1 << 20];
        data.push(b'\n');
        let mut lines = BoundedLines::new(&data[..], 4096);
        assert!(matches!(lines.next(), Some(Input::Skipped(_))));
        assert!(
            lines.line.capacity() < 2 * 4096,
            "{}",
            lines.line.capacity()
        );
        assert_eq!(lines.next(), None);
    }

    #[test]
    fn a_line_that_is_not_utf8_is_skipped_naming_the_byte() {
        assert_eq!(
            all(b"envs\nq\xffueue\n\xc3\nstatus staging\n", 20, 2),
            vec![
                line("envs"),
                Input::Skipped(
                    "line 2 is not valid UTF-8 (byte 0xff at position 1); skipped.".to_owned()
                ),
                Input::Skipped(
                    "line 3 is not valid UTF-8 (byte 0xc3 at position 0); skipped.".to_owned()
                ),
                line("status staging"),
            ]
        );
    }
}
