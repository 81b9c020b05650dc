//! A repository's one long-lived `git cat-file --batch-command`: started on
//! first use, asked every candidate name of a ref in one write, and for a
//! commit's raw text (its subject). A failed or confused batch is dropped
//! (its group killed) and started again once; when it can't run, the
//! caller falls back to one `git` process per question.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use super::{Commit, GIT_TIMEOUT, GitRepo};
use crate::process::Piped;

/// What the batch says of a typed ref.
pub(super) enum Lookup {
    Commit(Commit),
    /// No candidate names anything in the repository.
    Absent,
    /// Some candidate names something that is not a commit, or is
    /// ambiguous: `rev-parse` says what in git's words.
    AskGit,
}

/// Commit subjects remembered (a commit never changes); past this many
/// the memory starts again.
const SUBJECTS_KEPT: usize = 4096;

/// A repository's `git cat-file --batch-command`, started on first use and
/// again after it fails; none while it can't be started (then every
/// question takes the one-process-per-question path).
#[derive(Default)]
pub(super) struct Batch {
    inner: Mutex<BatchState>,
}

#[derive(Default)]
struct BatchState {
    child: Option<Piped>,
    subjects: HashMap<Commit, String>,
    /// Object ids and the commit each peels to (an id never changes).
    peeled: HashMap<String, Commit>,
}

impl fmt::Debug for Batch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Batch")
    }
}

impl Batch {
    fn state(&self) -> MutexGuard<'_, BatchState> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Asks for every candidate as a commit and as any object, in one
    /// write; `None` when the batch could not answer.
    pub(super) fn lookup(&self, repo: &GitRepo, candidates: &[String; 4]) -> Option<Lookup> {
        let mut request = String::new();
        for candidate in candidates {
            request.push_str(&format!("info {candidate}^{{commit}}\ninfo {candidate}\n"));
        }
        let mut state = self.state();
        let answers = state.ask(repo, request.as_bytes(), candidates.len() * 2, |_, _| {
            Ok(Vec::new())
        })?;
        let mut found = None;
        let mut something_else = false;
        for pair in answers.chunks(2) {
            let [as_commit, as_any] = pair else {
                return None;
            };
            match (&as_commit.found, &as_any.found) {
                (Found::Object { id, .. }, _) => {
                    if found.is_none() {
                        found = Some(Commit::parse(id)?);
                    }
                }
                (Found::Missing, Found::Missing) => {}
                // A tree or blob of that name, or an ambiguous short id.
                _ => something_else = true,
            }
        }
        Some(match found {
            Some(commit) => Lookup::Commit(commit),
            None if something_else => Lookup::AskGit,
            None => Lookup::Absent,
        })
    }

    /// The commit the object `id` is or (a tag) points to; `None` when it
    /// is not one, or the batch could not say.
    pub(super) fn peel(&self, repo: &GitRepo, id: &str) -> Option<Commit> {
        let mut state = self.state();
        if let Some(commit) = state.peeled.get(id) {
            return Some(commit.clone());
        }
        let request = format!("info {id}^{{commit}}\n");
        let answers = state.ask(repo, request.as_bytes(), 1, |_, _| Ok(Vec::new()))?;
        let Found::Object { id: peeled, .. } = &answers.first()?.found else {
            return None;
        };
        let commit = Commit::parse(peeled)?;
        if state.peeled.len() >= SUBJECTS_KEPT {
            state.peeled.clear();
        }
        state.peeled.insert(id.to_owned(), commit.clone());
        Some(commit)
    }

    /// The subject of a commit, from its raw text; `None` when the batch
    /// could not say.
    pub(super) fn subject(&self, repo: &GitRepo, commit: &Commit) -> Option<String> {
        let mut state = self.state();
        if let Some(subject) = state.subjects.get(commit) {
            return Some(subject.clone());
        }
        let request = format!("contents {commit}\n");
        let answers = state.ask(repo, request.as_bytes(), 1, |child, size| {
            let deadline = Instant::now() + GIT_TIMEOUT;
            let body = child.read_exact(size, deadline)?;
            // The object is followed by a newline of the batch's own.
            child.read_line(deadline)?;
            Ok(body)
        })?;
        let answer = answers.first()?;
        if !matches!(&answer.found, Found::Object { kind, .. } if kind == "commit") {
            return None;
        }
        let subject = subject_of(&answer.body);
        if state.subjects.len() >= SUBJECTS_KEPT {
            state.subjects.clear();
        }
        state.subjects.insert(commit.clone(), subject.clone());
        Some(subject)
    }
}

/// One answer of the batch: its header, and the object's bytes if asked.
struct Answer {
    found: Found,
    body: Vec<u8>,
}

enum Found {
    Object { id: String, kind: String },
    Missing,
    Ambiguous,
}

impl BatchState {
    /// Sends `request` (`answers` commands) and reads their answers; for an
    /// object found, `body` reads its bytes (given its size). On any
    /// trouble the child is dropped (killed) and `None` returned; the next
    /// question starts a new one, once.
    fn ask(
        &mut self,
        repo: &GitRepo,
        request: &[u8],
        answers: usize,
        mut body: impl FnMut(&mut Piped, usize) -> std::io::Result<Vec<u8>>,
    ) -> Option<Vec<Answer>> {
        for _attempt in 0..2 {
            if self.child.is_none() {
                self.child = Piped::spawn(&repo.spec(&["cat-file", "--batch-command"])).ok();
            }
            let child = self.child.as_mut()?;
            match read_answers(child, request, answers, &mut body) {
                Some(read) => return Some(read),
                // A batch that died (or says what we can't read) is not asked again.
                None => self.child = None,
            }
        }
        None
    }
}

fn read_answers(
    child: &mut Piped,
    request: &[u8],
    answers: usize,
    body: &mut impl FnMut(&mut Piped, usize) -> std::io::Result<Vec<u8>>,
) -> Option<Vec<Answer>> {
    child.send(request).ok()?;
    let deadline = Instant::now() + GIT_TIMEOUT;
    let mut read = Vec::with_capacity(answers);
    for _ in 0..answers {
        let line = child.read_line(deadline).ok()?;
        let line = std::str::from_utf8(&line).ok()?;
        let fields: Vec<&str> = line.split(' ').collect();
        let answer = match fields.as_slice() {
            [_, "missing"] => Answer {
                found: Found::Missing,
                body: Vec::new(),
            },
            [_, "ambiguous"] => Answer {
                found: Found::Ambiguous,
                body: Vec::new(),
            },
            [id, kind, size] => {
                let size: usize = size.parse().ok()?;
                Answer {
                    body: body(child, size).ok()?,
                    found: Found::Object {
                        id: (*id).to_owned(),
                        kind: (*kind).to_owned(),
                    },
                }
            }
            _ => return None,
        };
        read.push(answer);
    }
    Some(read)
}

/// What `git log --format=%s` prints for a raw commit: the first paragraph
/// of its message, lines joined by spaces, without control characters.
fn subject_of(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let message = text.split_once("\n\n").map_or("", |(_, message)| message);
    let mut subject = String::new();
    for line in message.lines() {
        if line.trim().is_empty() {
            if subject.is_empty() {
                continue;
            }
            break;
        }
        if !subject.is_empty() {
            subject.push(' ');
        }
        subject.push_str(line.trim_end());
    }
    subject.chars().filter(|c| !c.is_control()).collect()
}
