//! An env's log: what its app printed (copied as it comes) and rushbox's
//! own notes, in `current.log`, rotated at a size so it never fills the disk.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::lock;
use crate::process::{MAX_LINE_BYTES, clean_line};

/// A log is rotated when it reaches this size; `LOG_FILES` files are kept.
pub(super) const LOG_ROTATE_BYTES: u64 = 1024 * 1024;
const LOG_FILES: usize = 3;
const LOG_NAME: &str = "current.log";

/// An env's log: `current.log` plus rotated `current.log.1`, `.2`, …
pub(super) struct Log {
    dir: PathBuf,
    file: Mutex<Option<(File, u64)>>,
}

impl Log {
    pub fn new(dir: PathBuf) -> Log {
        Log {
            dir,
            file: Mutex::new(None),
        }
    }

    /// Forgets the open file (the directory is being removed).
    pub fn close(&self) {
        *lock(&self.file) = None;
    }

    /// A line from rushbox itself, marked as such.
    pub fn note(&self, text: &str) {
        self.append_line(&format!("[rushbox] {text}"));
    }

    pub fn append_line(&self, line: &str) {
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        self.append(&bytes);
    }

    /// Appends, rotating first when the file is full. A log that can't be
    /// written loses the bytes; the app keeps running.
    pub fn append(&self, bytes: &[u8]) {
        let full = |file: &Option<(File, u64)>| {
            file.as_ref()
                .is_some_and(|(_, size)| *size >= LOG_ROTATE_BYTES)
        };
        let mut file = lock(&self.file);
        if full(&file) {
            *file = None;
            self.rotate();
        }
        if file.is_none() {
            *file = self.open();
            // Full from an earlier run: rotate once (if that fails, it grows).
            if full(&file) {
                self.rotate();
                *file = self.open();
            }
        }
        if let Some((f, size)) = file.as_mut()
            && f.write_all(bytes).is_ok()
        {
            *size += bytes.len() as u64;
        }
    }

    fn open(&self) -> Option<(File, u64)> {
        let _ = fs::create_dir_all(&self.dir);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(LOG_NAME))
            .ok()?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Some((file, size))
    }

    fn rotate(&self) {
        let name = |n: usize| match n {
            0 => self.dir.join(LOG_NAME),
            n => self.dir.join(format!("{LOG_NAME}.{n}")),
        };
        let _ = fs::remove_file(name(LOG_FILES - 1));
        for n in (0..LOG_FILES - 1).rev() {
            let _ = fs::rename(name(n), name(n + 1));
        }
    }

    /// The last `lines` lines of the log, oldest first.
    pub fn tail(dir: &Path, lines: usize) -> Vec<String> {
        let mut all = Vec::new();
        for name in [format!("{LOG_NAME}.1"), LOG_NAME.to_owned()] {
            if let Ok(bytes) = fs::read(dir.join(name)) {
                all.extend(
                    bytes
                        .split(|b| *b == b'\n')
                        .map(|line| clean_line(line, MAX_LINE_BYTES, false)),
                );
            }
        }
        while all.last().is_some_and(String::is_empty) {
            all.pop();
        }
        let skip = all.len().saturating_sub(lines);
        all.split_off(skip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_rotate_and_keep_three_files() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::new(dir.path().to_path_buf());
        let line = "x".repeat(999);
        for _ in 0..(LOG_ROTATE_BYTES / 1000) * 4 + 10 {
            log.append_line(&line);
        }
        let mut names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["current.log", "current.log.1", "current.log.2"]);
        for name in &names {
            let size = fs::metadata(dir.path().join(name)).unwrap().len();
            assert!(size <= LOG_ROTATE_BYTES + 1000, "{name}: {size}");
        }
        log.append_line("last \x1b[31mred\x1b[0m");
        let tail = Log::tail(dir.path(), 2);
        assert_eq!(tail, [line.as_str(), "last red"]);

        // A full log from an earlier run is rotated before the first line.
        let current = dir.path().join(LOG_NAME);
        fs::write(&current, vec![b'x'; LOG_ROTATE_BYTES as usize]).unwrap();
        Log::new(dir.path().to_path_buf()).append_line("after a restart");
        assert_eq!(fs::read_to_string(&current).unwrap(), "after a restart\n");
        let rotated = fs::metadata(dir.path().join(format!("{LOG_NAME}.1"))).unwrap();
        assert_eq!(rotated.len(), LOG_ROTATE_BYTES);
    }
}
