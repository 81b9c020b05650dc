//! A repository's refs read straight from its files (git's `files` ref
//! backend: one file per loose ref under `refs/`, the rest in
//! `packed-refs`), so that the common question, "is there a branch of that
//! name?", costs a few `stat`s instead of a round trip to git. It looks
//! where git's own rules look (gitrevisions: `refs/<r>`, `refs/tags/<r>`,
//! `refs/heads/<r>`, `refs/remotes/<r>`, `refs/remotes/<r>/HEAD`, for each
//! name the resolver tries), loose refs before packed ones, and reads
//! every file at every question, so a push is seen at once. Anything it
//! can't answer exactly (an object id or `describe` name, a root ref like
//! `FETCH_HEAD`, per-worktree refs, a ref file it can't read, a repository
//! whose refs are not files) it leaves to git.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use super::Commit;

/// How a name becomes a ref name, in git's order (`%s` is the name).
const RULES: [(&str, &str); 6] = [
    ("", ""),
    ("refs/", ""),
    ("refs/tags/", ""),
    ("refs/heads/", ""),
    ("refs/remotes/", ""),
    ("refs/remotes/", "/HEAD"),
];

/// How many symbolic refs are followed before giving up (git: 5).
const MAX_SYMREF_DEPTH: usize = 5;

/// What the ref files say of a name.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum RefAnswer {
    /// The object id the first matching ref holds (not yet peeled to a commit).
    Id(String),
    /// No candidate names a ref.
    Absent,
    /// Only git can say.
    AskGit,
}

/// The ref files of one repository.
#[derive(Debug)]
pub(super) struct RefFiles {
    /// The common git directory, where `refs/` and `packed-refs` live.
    /// `None` when the refs are not plain files (then git answers all).
    dir: Option<PathBuf>,
    packed: Mutex<Packed>,
}

/// `packed-refs` as last read, and the stat it was read at.
#[derive(Debug, Default)]
struct Packed {
    stamp: Option<Stamp>,
    refs: HashMap<String, String>,
    /// Which of [`ODD_DIRS`] some packed ref is under.
    odd: Vec<String>,
}

/// Where git's rules put a full name given again (`refs/tags/refs/heads/x`
/// for `refs/heads/x`): almost never there, so checked as directories first.
const ODD_DIRS: [&str; 4] = [
    "refs/refs",
    "refs/tags/refs",
    "refs/heads/refs",
    "refs/remotes/refs",
];

/// Enough of a file's stat to tell it was replaced or changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: i64,
    mtime_nsec: i64,
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Stamp {
        Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: meta.mtime(),
            mtime_nsec: meta.mtime_nsec(),
        }
    }
}

impl RefFiles {
    /// Reads refs under `common` (the repository's common directory, as
    /// `git rev-parse --git-common-dir` says) when `format` (its
    /// `--show-ref-format`) is `files`; otherwise git answers every question.
    pub(super) fn new(common: Option<PathBuf>, format: &str) -> RefFiles {
        RefFiles {
            dir: common.filter(|_| format == "files"),
            packed: Mutex::default(),
        }
    }

    /// The ref that the first of `candidates`, expanded by git's rules, names.
    pub(super) fn find(&self, candidates: &[String]) -> RefAnswer {
        let Some(dir) = &self.dir else {
            return RefAnswer::AskGit;
        };
        let Some(typed) = candidates.first() else {
            return RefAnswer::Absent;
        };
        if only_git_knows(typed) {
            return RefAnswer::AskGit;
        }
        let mut packed = self.packed.lock().unwrap_or_else(PoisonError::into_inner);
        if packed.refresh(dir).is_err() {
            return RefAnswer::AskGit;
        }
        // Names and paths are built in two reused buffers: this runs for
        // every deploy, and most names it tries are not there.
        let mut tried = Tried::with_capacity(candidates.len() * RULES.len());
        // Directories such as `refs/tags/refs` (the rules applied to a full
        // name): seen to be absent once, nothing under them is opened.
        let mut absent_dirs = Tried::with_capacity(ODD_DIRS.len());
        let mut name = String::with_capacity(96);
        let mut path = Scratch::new(dir);
        for candidate in candidates {
            for (prefix, suffix) in RULES {
                // As given, a name is read only if it is a full ref name.
                if prefix.is_empty() && !candidate.starts_with("refs/") {
                    continue;
                }
                name.clear();
                name.push_str(prefix);
                name.push_str(candidate);
                name.push_str(suffix);
                if per_worktree(&name) {
                    return RefAnswer::AskGit;
                }
                if tried.contains(&name) {
                    continue;
                }
                if !prefix.is_empty() && candidate.starts_with("refs/") {
                    // `prefix` then `refs`: the name's first directory below the rule's.
                    let under = &name[..prefix.len() + "refs".len()];
                    if absent_dirs.contains(under) {
                        continue;
                    }
                    if !packed.odd.iter().any(|odd| odd == under) && !path.of(under).exists() {
                        absent_dirs.add(under);
                        continue;
                    }
                }
                match read_ref(&mut path, &packed.refs, &name, 0) {
                    Ok(Some(id)) => return RefAnswer::Id(id),
                    Ok(None) => tried.add(&name),
                    Err(_) => return RefAnswer::AskGit,
                }
            }
        }
        RefAnswer::Absent
    }
}

impl Packed {
    /// Reads `packed-refs` again if it changed since last time.
    fn refresh(&mut self, dir: &Path) -> io::Result<()> {
        let path = dir.join("packed-refs");
        let meta = match std::fs::metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.stamp = None;
                self.refs.clear();
                self.odd.clear();
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let stamp = Stamp::of(&meta);
        if self.stamp == Some(stamp) {
            return Ok(());
        }
        let text = std::fs::read_to_string(&path)?;
        self.refs = parse_packed(&text)?;
        self.odd = ODD_DIRS
            .iter()
            .filter(|dir| {
                let dir = format!("{dir}/");
                self.refs.keys().any(|name| name.starts_with(&dir))
            })
            .map(|dir| (*dir).to_owned())
            .collect();
        self.stamp = Some(stamp);
        Ok(())
    }
}

/// `<id> <name>` lines; `#` is the header and `^<id>` a peeled tag, both skipped.
fn parse_packed(text: &str) -> io::Result<HashMap<String, String>> {
    let mut refs = HashMap::new();
    for line in text.lines() {
        if line.starts_with('#') || line.starts_with('^') || line.is_empty() {
            continue;
        }
        let Some((id, name)) = line.split_once(' ') else {
            return Err(io::Error::other("a packed-refs line without a name"));
        };
        if Commit::parse(id).is_none() {
            return Err(io::Error::other("a packed-refs line without an object id"));
        }
        refs.insert(name.to_owned(), id.to_owned());
    }
    Ok(refs)
}

/// The id `name` holds: its loose file first, else its packed line;
/// `None` when it is neither (or a directory, or a symbolic ref to nothing).
fn read_ref(
    path: &mut Scratch,
    packed: &HashMap<String, String>,
    name: &str,
    depth: usize,
) -> io::Result<Option<String>> {
    let text = match std::fs::read(path.of(name)) {
        Ok(bytes) => bytes,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            return Ok(packed.get(name).cloned());
        }
        // `refs/heads/feature` when `feature/x` exists: a directory, no ref.
        Err(e) if e.kind() == io::ErrorKind::IsADirectory => {
            return Ok(packed.get(name).cloned());
        }
        Err(e) => return Err(e),
    };
    let text = std::str::from_utf8(&text)
        .map_err(|_| io::Error::other("a ref file that is not text"))?
        .trim_end();
    if let Some(target) = text.strip_prefix("ref:") {
        if depth >= MAX_SYMREF_DEPTH {
            return Err(io::Error::other("symbolic refs nested too deep"));
        }
        let target = target.trim();
        // Only a plain ref name under refs/ is read here; git follows the rest.
        if !target.starts_with("refs/") || target.contains("..") || per_worktree(target) {
            return Err(io::Error::other("a symbolic ref git must follow"));
        }
        return read_ref(path, packed, target, depth + 1);
    }
    match Commit::parse(text) {
        Some(_) => Ok(Some(text.to_owned())),
        None => Err(io::Error::other("a ref file without an object id")),
    }
}

/// The names one question has already tried, one after another in one
/// string (a question tries at most `candidates × RULES` names).
struct Tried {
    text: String,
    ends: Vec<usize>,
}

impl Tried {
    fn with_capacity(names: usize) -> Tried {
        Tried {
            text: String::with_capacity(names * 48),
            ends: Vec::with_capacity(names),
        }
    }

    fn contains(&self, name: &str) -> bool {
        let mut start = 0;
        self.ends.iter().any(|&end| {
            let hit = &self.text[start..end] == name;
            start = end;
            hit
        })
    }

    fn add(&mut self, name: &str) {
        self.text.push_str(name);
        self.ends.push(self.text.len());
    }
}

/// A path under the git directory, built again in the same buffer for each name.
struct Scratch {
    buf: Vec<u8>,
    /// The directory and its `/`.
    dir_len: usize,
}

impl Scratch {
    fn new(dir: &Path) -> Scratch {
        let mut buf = Vec::with_capacity(dir.as_os_str().len() + 96);
        buf.extend_from_slice(dir.as_os_str().as_bytes());
        buf.push(b'/');
        let dir_len = buf.len();
        Scratch { buf, dir_len }
    }

    /// `<dir>/<name>`.
    fn of(&mut self, name: &str) -> &Path {
        self.buf.truncate(self.dir_len);
        self.buf.extend_from_slice(name.as_bytes());
        Path::new(OsStr::from_bytes(&self.buf))
    }
}

/// Names git resolves by other means than ref files: object ids (full or
/// short), `describe` output (`v1.2-3-g1a2b3c4`), and root refs
/// (`FETCH_HEAD`, `ORIG_HEAD`: capitals and `_`, in the git directory).
fn only_git_knows(name: &str) -> bool {
    let hex = |s: &str| s.len() >= 4 && s.bytes().all(|b| b.is_ascii_hexdigit());
    if hex(name) {
        return true;
    }
    if let Some((_, tail)) = name.rsplit_once("-g")
        && hex(tail)
    {
        return true;
    }
    !name.starts_with("refs/") && name.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
}

/// Refs kept per worktree rather than in the common directory.
fn per_worktree(name: &str) -> bool {
    ["refs/bisect/", "refs/worktree/", "refs/rewritten/"]
        .iter()
        .any(|prefix| name.starts_with(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "0123456789abcdef0123456789abcdef01234567";
    const B: &str = "89abcdef0123456789abcdef0123456789abcdef";

    fn files(dir: &Path) -> RefFiles {
        RefFiles::new(Some(dir.to_path_buf()), "files")
    }

    fn candidates(r: &str) -> Vec<String> {
        vec![
            r.to_owned(),
            format!("refs/heads/{r}"),
            format!("refs/remotes/origin/{r}"),
            format!("refs/tags/{r}"),
        ]
    }

    fn write(dir: &Path, name: &str, text: &str) {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn loose_refs_come_before_packed_ones_and_changes_are_seen() {
        let dir = tempfile::tempdir().unwrap();
        let refs = files(dir.path());
        assert_eq!(refs.find(&candidates("topic")), RefAnswer::Absent);
        write(
            dir.path(),
            "packed-refs",
            &format!("# pack-refs with: peeled fully-peeled sorted\n{A} refs/heads/topic\n^{B}\n"),
        );
        assert_eq!(refs.find(&candidates("topic")), RefAnswer::Id(A.to_owned()));
        write(dir.path(), "refs/heads/topic", &format!("{B}\n"));
        assert_eq!(refs.find(&candidates("topic")), RefAnswer::Id(B.to_owned()));
        std::fs::remove_file(dir.path().join("refs/heads/topic")).unwrap();
        std::fs::remove_file(dir.path().join("packed-refs")).unwrap();
        assert_eq!(refs.find(&candidates("topic")), RefAnswer::Absent);
    }

    #[test]
    fn git_rule_order_a_tag_before_a_branch_of_the_same_name() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "refs/heads/v1", &format!("{A}\n"));
        write(dir.path(), "refs/tags/v1", &format!("{B}\n"));
        assert_eq!(
            files(dir.path()).find(&candidates("v1")),
            RefAnswer::Id(B.to_owned())
        );
        // Only on origin: found through the resolver's own candidate.
        write(dir.path(), "refs/remotes/origin/far", &format!("{A}\n"));
        assert_eq!(
            files(dir.path()).find(&candidates("far")),
            RefAnswer::Id(A.to_owned())
        );
    }

    #[test]
    fn symbolic_refs_are_followed_and_a_directory_is_no_ref() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "refs/heads/feature/x", &format!("{A}\n"));
        assert_eq!(
            files(dir.path()).find(&candidates("feature")),
            RefAnswer::Absent
        );
        write(
            dir.path(),
            "refs/remotes/origin/HEAD",
            "ref: refs/remotes/origin/main\n",
        );
        write(dir.path(), "refs/remotes/origin/main", &format!("{B}\n"));
        assert_eq!(
            files(dir.path()).find(&candidates("origin")),
            RefAnswer::Id(B.to_owned())
        );
    }

    #[test]
    fn what_only_git_can_say_is_left_to_git() {
        let dir = tempfile::tempdir().unwrap();
        let refs = files(dir.path());
        for name in [
            "cafe",
            "3f2a9c1",
            "v1.2-3-g1a2b3c4",
            "FETCH_HEAD",
            "ORIG_HEAD",
        ] {
            assert_eq!(refs.find(&candidates(name)), RefAnswer::AskGit, "{name}");
        }
        write(dir.path(), "refs/heads/odd", "not an id\n");
        assert_eq!(refs.find(&candidates("odd")), RefAnswer::AskGit);
        // A symbolic ref that climbs out of refs/ is never read here.
        write(dir.path(), "refs/heads/out", "ref: refs/../../outside\n");
        assert_eq!(refs.find(&candidates("out")), RefAnswer::AskGit);
        let reftable = RefFiles::new(Some(dir.path().to_path_buf()), "reftable");
        assert_eq!(reftable.find(&candidates("main")), RefAnswer::AskGit);
        // A plain word that happens to be hex-free is answered here.
        assert_eq!(refs.find(&candidates("main")), RefAnswer::Absent);
    }
}
