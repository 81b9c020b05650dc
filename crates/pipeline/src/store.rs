//! The only code that touches sled. One tree per kind of record plus an
//! append-only audit log keyed by big-endian sequence number.
//!
//! # Where a decision becomes durable: rushbox's own write-ahead log
//!
//! [`Store::write`] appends each decision whole (its puts and removes, the
//! audit entry among them) as one framed record (length, CRC-32, bytes) to
//! `rushbox.wal` beside sled's files, and queues it. [`Store::sync`] makes
//! it durable: one caller at a time (the leader) runs a single `fdatasync`
//! of the log, which covers every record appended before it (group commit),
//! then applies the covered records to sled's trees in order, and only then
//! is anyone answered. So sled never holds a write that is not already
//! durable in the log, and one sync per group is all a decision costs.
//!
//! Why not sled alone: a sled 0.34 flush is a pwrite plus `sync_file_range`
//! (which neither commits file metadata nor flushes the drive's cache, so an
//! `fdatasync` must follow for power loss), and a transaction adds a second
//! pwrite + `sync_file_range` for its batch manifest: measured, a single
//! stream reached only about 0.5× the disk's raw append+fsync rate.
//!
//! Checkpoints keep the log short: past [`CHECKPOINT_BYTES`], under the
//! write lock, every queued record is applied, sled is flushed and its log
//! `fdatasync`ed, and the log is emptied. [`Store::open`] replays the log's
//! records in order up to the first torn or corrupt frame (puts and removes
//! of whole values, so replaying what sled already has is harmless), then
//! checkpoints. A torn last frame was never acknowledged: its caller was
//! still waiting for the sync.

use std::fmt;
use std::io::{Read, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::model::{AuditEntry, Effect, Env, EnvKey, Lock, Operation, Queue, Release, State, Time};

/// How long [`Store::open`] waits for a lock that a closing handle still holds.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

/// Why the store could not do its job. `Display` is for an operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// Another process (or another `Engine` in this one) has the database open.
    Locked {
        path: PathBuf,
    },
    Io {
        path: PathBuf,
        message: String,
    },
    /// A record that does not read back; the database was written by something else.
    Corrupt {
        tree: &'static str,
        message: String,
    },
    /// A flush failed. What was written since the last good flush may or
    /// may not be on disk, and retrying an `fdatasync` after a failure can
    /// report success for pages the kernel already dropped, so the store
    /// refuses everything until it is reopened (rushbox restarted).
    Poisoned {
        path: PathBuf,
        message: String,
    },
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Locked { path } => write!(
                f,
                "another rushbox holds the database lock at {}; stop it or point this one at another directory",
                path.display()
            ),
            StoreError::Io { path, message } => {
                write!(f, "the database at {} failed: {message}", path.display())
            }
            StoreError::Corrupt { tree, message } => {
                write!(f, "a record in the `{tree}` tree does not read: {message}")
            }
            StoreError::Poisoned { path, message } => write!(
                f,
                "storage error, nothing more will be accepted until restart: saving to {} failed: {message}",
                path.display()
            ),
        }
    }
}

impl std::error::Error for StoreError {}

const TREES: [&str; 7] = [
    "envs",
    "locks",
    "queues",
    "releases",
    "operations",
    "audit",
    "journal",
];
const ENVS: usize = 0;
const LOCKS: usize = 1;
const QUEUES: usize = 2;
const RELEASES: usize = 3;
const OPERATIONS: usize = 4;
const AUDIT: usize = 5;
/// Holds one record: the last decision written, whole (see the module doc).
/// The tree where stores written before the write-ahead log kept their last
/// decision; a record left there is replayed once at open, then removed.
const JOURNAL: usize = 6;
const JOURNAL_KEY: &[u8] = b"last";
/// rushbox's write-ahead log, in the store's directory.
const WAL_FILE: &str = "rushbox.wal";
/// Past this size the log is folded into sled and emptied.
pub const CHECKPOINT_BYTES: u64 = 4 << 20;
/// The first byte of a journal record: its format.
const JOURNAL_V1: u8 = 1;

pub struct Store {
    path: PathBuf,
    db: sled::Db,
    /// sled's log file. sled 0.34 makes a flush stable with
    /// `sync_file_range` on Linux, which neither syncs file metadata nor
    /// flushes the drive's cache; an `fdatasync` on this handle after each
    /// flush makes a commit survive power loss, not only a crash.
    log: std::fs::File,
    trees: [sled::Tree; 7],
    /// The write-ahead log, opened for appending.
    wal: std::fs::File,
    /// Bytes in the log since the last checkpoint.
    wal_len: AtomicU64,
    /// Records appended to the log but not yet applied to sled, by ticket.
    pending: Mutex<std::collections::VecDeque<(u64, Vec<Write>)>>,
    /// The last audit sequence number written.
    last_seq: AtomicU64,
    /// The ticket of the last transaction written (see [`Written`]).
    written: AtomicU64,
    /// Set for good when a flush fails; checked before every write.
    poisoned: AtomicBool,
    /// Makes writes one after the other, journal record first (see the module doc).
    write_lock: Mutex<()>,
    /// What the flushes have achieved; never held during I/O.
    durable: Mutex<Durable>,
    /// Signalled when a flush ends (or fails).
    flushed: Condvar,
}

/// What the flushes have achieved so far.
struct Durable {
    /// Every decision with a ticket up to this one is on disk.
    through: u64,
    /// A caller is flushing now; the others wait for it to end.
    flushing: bool,
    /// Why the store is poisoned, once it is.
    failure: Option<String>,
}

/// A transaction written to sled but not yet known to be on disk: pass it
/// to [`Store::sync`] before telling anyone it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a written transaction is not durable until `Store::sync` returns"]
pub struct Written {
    ticket: u64,
    /// The audit entry's number, when there was one.
    pub seq: Option<u64>,
}

/// One put or remove in one tree, serialized before anything is written.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Write {
    tree: usize,
    key: Vec<u8>,
    value: Option<Vec<u8>>,
}

fn env_key(key: &EnvKey) -> Vec<u8> {
    format!("{}/{}", key.app, key.env).into_bytes()
}

impl Store {
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        // A handle dropped a moment ago may still be closing on sled's own
        // threads (a restart in the same process, a test reopening): wait a
        // little for its file lock before calling the store taken.
        let deadline = std::time::Instant::now() + LOCK_WAIT;
        let db = loop {
            match sled::Config::new().path(path).open() {
                Ok(db) => break db,
                Err(e) => {
                    let message = e.to_string();
                    if !message.contains("could not acquire lock") {
                        return Err(StoreError::Io {
                            path: path.to_owned(),
                            message,
                        });
                    }
                    if std::time::Instant::now() >= deadline {
                        return Err(StoreError::Locked {
                            path: path.to_owned(),
                        });
                    }
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
            }
        };
        let open = |name: &str| {
            db.open_tree(name).map_err(|e| StoreError::Io {
                path: path.to_owned(),
                message: e.to_string(),
            })
        };
        let trees = [
            open(TREES[0])?,
            open(TREES[1])?,
            open(TREES[2])?,
            open(TREES[3])?,
            open(TREES[4])?,
            open(TREES[5])?,
            open(TREES[6])?,
        ];
        // Complete the last decision, which a crash may have cut short.
        let replay = |trees: &[sled::Tree; 7]| -> Result<(), String> {
            let Some(record) = trees[JOURNAL].get(JOURNAL_KEY).map_err(|e| e.to_string())? else {
                return Ok(());
            };
            for w in decode_journal(&record)? {
                apply(&trees[w.tree], &w).map_err(|e| e.to_string())?;
            }
            db.flush().map_err(|e| e.to_string())?;
            Ok(())
        };
        replay(&trees).map_err(|message| StoreError::Io {
            path: path.to_owned(),
            message: format!("can't replay the last decision: {message}"),
        })?;
        let log = std::fs::File::open(path.join("db")).map_err(|e| StoreError::Io {
            path: path.to_owned(),
            message: format!("can't open sled's log file to sync it: {e}"),
        })?;
        let wal = replay_wal(path, &db, &log, &trees).map_err(|message| StoreError::Io {
            path: path.to_owned(),
            message: format!("can't replay the write-ahead log: {message}"),
        })?;
        let last_seq = match trees[AUDIT].last() {
            Ok(Some((k, _))) => seq_of(&k),
            Ok(None) => 0,
            Err(e) => {
                return Err(StoreError::Io {
                    path: path.to_owned(),
                    message: e.to_string(),
                });
            }
        };
        Ok(Store {
            path: path.to_owned(),
            db,
            log,
            trees,
            wal,
            wal_len: AtomicU64::new(0),
            pending: Mutex::new(std::collections::VecDeque::new()),
            last_seq: AtomicU64::new(last_seq),
            written: AtomicU64::new(0),
            write_lock: Mutex::new(()),
            poisoned: AtomicBool::new(false),
            durable: Mutex::new(Durable {
                through: 0,
                flushing: false,
                failure: None,
            }),
            flushed: Condvar::new(),
        })
    }

    fn io(&self, e: impl fmt::Display) -> StoreError {
        StoreError::Io {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }

    fn read_tree<T: DeserializeOwned>(&self, tree: usize) -> Result<Vec<T>, StoreError> {
        self.trees[tree]
            .iter()
            .map(|item| {
                let (_, v) = item.map_err(|e| self.io(e))?;
                serde_json::from_slice(&v).map_err(|e| StoreError::Corrupt {
                    tree: TREES[tree],
                    message: e.to_string(),
                })
            })
            .collect()
    }

    /// Everything the policy decides on.
    pub fn load(&self) -> Result<State, StoreError> {
        let mut state = State::default();
        for env in self.read_tree::<Env>(ENVS)? {
            state.envs.insert(env.key(), env);
        }
        for (key, lock) in self.read_tree::<(EnvKey, Lock)>(LOCKS)? {
            state.locks.insert(key, lock);
        }
        for (key, queue) in self.read_tree::<(EnvKey, Queue)>(QUEUES)? {
            state.queues.insert(key, queue);
        }
        for release in self.read_tree::<Release>(RELEASES)? {
            state
                .releases
                .insert((release.app.clone(), release.id.clone()), release);
        }
        for op in self.read_tree::<Operation>(OPERATIONS)? {
            state.operations.insert(op.id, op);
        }
        Ok(state)
    }

    fn audit_newest_first(&self) -> impl Iterator<Item = Result<AuditEntry, StoreError>> + '_ {
        self.trees[AUDIT].iter().rev().map(|item| {
            let (_, v) = item.map_err(|e| self.io(e))?;
            serde_json::from_slice(&v).map_err(|e| StoreError::Corrupt {
                tree: TREES[AUDIT],
                message: e.to_string(),
            })
        })
    }

    /// The deliveries (chat message ids) of decisions made at or after
    /// `since`, newest first, read back from the audit log.
    pub fn deliveries_since(&self, since: Time) -> Result<Vec<(String, Time)>, StoreError> {
        let mut found = Vec::new();
        for entry in self.audit_newest_first() {
            let entry = entry?;
            if entry.at < since {
                break;
            }
            if let Some(delivery) = entry.delivery {
                found.push((delivery, entry.at));
            }
        }
        Ok(found)
    }

    fn encode<T: Serialize>(&self, value: &T) -> Result<Vec<u8>, StoreError> {
        serde_json::to_vec(value).map_err(|e| self.io(e))
    }

    fn write_of(&self, effect: &Effect) -> Result<Write, StoreError> {
        let put = |tree, key, value| Write {
            tree,
            key,
            value: Some(value),
        };
        let remove = |tree, key| Write {
            tree,
            key,
            value: None,
        };
        Ok(match effect {
            Effect::PutEnv(env) => put(ENVS, env_key(&env.key()), self.encode(env)?),
            Effect::RemoveEnv(key) => remove(ENVS, env_key(key)),
            Effect::PutLock(key, lock) => put(LOCKS, env_key(key), self.encode(&(key, lock))?),
            Effect::RemoveLock(key) => remove(LOCKS, env_key(key)),
            Effect::PutQueue(key, queue) if queue.waiting.is_empty() => {
                remove(QUEUES, env_key(key))
            }
            Effect::PutQueue(key, queue) => put(QUEUES, env_key(key), self.encode(&(key, queue))?),
            Effect::PutRelease(r) => put(
                RELEASES,
                format!("{}/{}", r.app, r.id).into_bytes(),
                self.encode(r)?,
            ),
            Effect::PutOperation(op) => {
                put(OPERATIONS, op.id.to_be_bytes().to_vec(), self.encode(op)?)
            }
        })
    }

    /// Writes a decision's effects and its audit entry (numbered here)
    /// atomically and makes them durable. Returns the audit entry's number.
    pub fn commit(
        &self,
        effects: &[Effect],
        audit: Option<AuditEntry>,
    ) -> Result<Option<u64>, StoreError> {
        let written = self.write(effects, audit)?;
        self.sync(written)?;
        Ok(written.seq)
    }

    /// Writes a decision's effects and its audit entry (numbered here),
    /// atomically (see the module doc) but not yet flushed. Writes are made
    /// one at a time, so tickets and audit numbers follow the order of
    /// decisions (the engine also holds its own lock around decide + write).
    /// A failure after the journal record was written poisons the store:
    /// the decision may be half applied in sled and must not be built on.
    pub fn write(
        &self,
        effects: &[Effect],
        audit: Option<AuditEntry>,
    ) -> Result<Written, StoreError> {
        let _one_at_a_time = lock(&self.write_lock);
        self.check_poisoned()?;
        let mut writes = effects
            .iter()
            .map(|e| self.write_of(e))
            .collect::<Result<Vec<_>, _>>()?;
        let seq = match audit {
            Some(mut entry) => {
                let seq = self.last_seq.load(Ordering::SeqCst) + 1;
                entry.seq = seq;
                writes.push(Write {
                    tree: AUDIT,
                    key: seq.to_be_bytes().to_vec(),
                    value: Some(self.encode(&entry)?),
                });
                Some(seq)
            }
            None => None,
        };
        let frame =
            frame(&encode_journal(&writes).map_err(|e| self.io(e))?).map_err(|e| self.io(e))?;
        // From here on a failure may leave part of the record in the log
        // (replay stops at a torn frame) or the record whole with its caller
        // unanswered: refuse everything after it rather than guess.
        (&self.wal)
            .write_all(&frame)
            .map_err(|e| self.poison(&format!("can't append to the write-ahead log: {e}")))?;
        self.wal_len.fetch_add(frame.len() as u64, Ordering::SeqCst);
        if let Some(seq) = seq {
            self.last_seq.store(seq, Ordering::SeqCst);
        }
        // The append has returned, so any `fdatasync` that starts after this covers it.
        let ticket = self.written.fetch_add(1, Ordering::SeqCst) + 1;
        lock(&self.pending).push_back((ticket, writes));
        Ok(Written { ticket, seq })
    }

    /// Returns once `written` is on disk, safe against a process crash and
    /// power loss. Group commit: when no flush is running, the caller starts
    /// one (the leader) covering everything written so far; the others wait
    /// for it to end, return if it covered them and otherwise one of them
    /// leads the next. The flush itself runs without the mutex, so waiters
    /// all wake at once when it ends rather than one after another, and the
    /// next flush starts at once. After a failed flush every call fails.
    pub fn sync(&self, written: Written) -> Result<(), StoreError> {
        let mut durable = lock(&self.durable);
        loop {
            if let Some(message) = &durable.failure {
                return Err(self.poisoned_error(message));
            }
            if durable.through >= written.ticket {
                return Ok(());
            }
            if !durable.flushing {
                break;
            }
            durable = self
                .flushed
                .wait(durable)
                .unwrap_or_else(|p| p.into_inner());
        }
        durable.flushing = true;
        drop(durable);
        // Everything appended before this load is covered by the sync below.
        let mut target = self.written.load(Ordering::SeqCst);
        let result = self
            .wal
            .sync_data()
            .map_err(|e| format!("can't sync the write-ahead log: {e}"))
            .and_then(|()| self.apply_pending(target))
            .and_then(
                |()| match self.wal_len.load(Ordering::SeqCst) >= CHECKPOINT_BYTES {
                    true => self.checkpoint().map(|through| target = through),
                    false => Ok(()),
                },
            );
        let mut durable = lock(&self.durable);
        durable.flushing = false;
        let outcome = match result {
            Ok(()) => {
                durable.through = durable.through.max(target);
                Ok(())
            }
            Err(message) => {
                self.poisoned.store(true, Ordering::SeqCst);
                let first = durable.failure.get_or_insert(message);
                Err(self.poisoned_error(first))
            }
        };
        drop(durable);
        self.flushed.notify_all();
        outcome
    }

    /// Applies the queued records with tickets up to `through` to sled, in
    /// order. Runs only in the leader, after the log sync that covers them.
    fn apply_pending(&self, through: u64) -> Result<(), String> {
        loop {
            let next = {
                let mut pending = lock(&self.pending);
                match pending.front() {
                    Some((ticket, _)) if *ticket <= through => pending.pop_front(),
                    _ => None,
                }
            };
            let Some((_, writes)) = next else {
                return Ok(());
            };
            for w in &writes {
                apply(&self.trees[w.tree], w).map_err(|e| e.to_string())?;
            }
        }
    }

    /// Folds the log into sled and empties it: with appends held off, apply
    /// every queued record, flush sled and `fdatasync` its log, then truncate
    /// ours. Returns the ticket everything up to which is now durable.
    fn checkpoint(&self) -> Result<u64, String> {
        let _no_appends = lock(&self.write_lock);
        let through = self.written.load(Ordering::SeqCst);
        self.apply_pending(through)?;
        self.db.flush().map_err(|e| e.to_string())?;
        self.log.sync_data().map_err(|e| e.to_string())?;
        self.wal.set_len(0).map_err(|e| e.to_string())?;
        self.wal.sync_all().map_err(|e| e.to_string())?;
        self.wal_len.store(0, Ordering::SeqCst);
        Ok(through)
    }

    /// Refuses everything from now on, because of `message`.
    fn poison(&self, message: &str) -> StoreError {
        let mut durable = lock(&self.durable);
        self.poisoned.store(true, Ordering::SeqCst);
        let error = self.poisoned_error(durable.failure.get_or_insert_with(|| message.to_owned()));
        drop(durable);
        self.flushed.notify_all();
        error
    }

    /// Fails once a flush has failed.
    pub fn check_poisoned(&self) -> Result<(), StoreError> {
        if !self.poisoned.load(Ordering::SeqCst) {
            return Ok(());
        }
        let durable = lock(&self.durable);
        let message = durable
            .failure
            .as_deref()
            .unwrap_or("an earlier flush failed");
        Err(self.poisoned_error(message))
    }

    fn poisoned_error(&self, message: &str) -> StoreError {
        StoreError::Poisoned {
            path: self.path.clone(),
            message: message.to_owned(),
        }
    }

    /// The audit log, oldest first, of the entries `keep` accepts, at most the last `limit`.
    pub fn audit(
        &self,
        keep: impl Fn(&AuditEntry) -> bool,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let mut out = Vec::new();
        for entry in self.audit_newest_first() {
            let entry = entry?;
            if keep(&entry) {
                out.push(entry);
                if out.len() >= limit {
                    break;
                }
            }
        }
        out.reverse();
        Ok(out)
    }

    /// How many audit entries there are.
    pub fn audit_len(&self) -> u64 {
        self.last_seq.load(Ordering::SeqCst)
    }
}

fn seq_of(key: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    let n = key.len().min(8);
    bytes[8 - n..].copy_from_slice(&key[key.len() - n..]);
    u64::from_be_bytes(bytes)
}

/// A mutex's guard; a panic elsewhere while it was held changes nothing
/// here (the guarded values are only ever replaced whole).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// A log frame: the record's length and CRC-32 (4 bytes each, big endian), then the record.
fn frame(record: &[u8]) -> Result<Vec<u8>, String> {
    let len = u32::try_from(record.len()).map_err(|_| "a record over 4 GiB".to_owned())?;
    let mut out = Vec::with_capacity(8 + record.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&crc32fast::hash(record).to_be_bytes());
    out.extend_from_slice(record);
    Ok(out)
}

/// The records of a log, in order, up to the first torn or corrupt frame.
fn frames(log: &[u8]) -> Vec<&[u8]> {
    let mut records = Vec::new();
    let mut rest = log;
    while let Some((len, tail)) = rest.split_first_chunk::<4>()
        && let Some((crc, tail)) = tail.split_first_chunk::<4>()
        && let Ok(len) = usize::try_from(u32::from_be_bytes(*len))
        && tail.len() >= len
    {
        let (record, tail) = tail.split_at(len);
        if crc32fast::hash(record) != u32::from_be_bytes(*crc) {
            break;
        }
        records.push(record);
        rest = tail;
    }
    records
}

/// Opens the write-ahead log, applies what it holds to sled, makes that
/// durable in sled and empties the log (see the module doc).
fn replay_wal(
    dir: &Path,
    db: &sled::Db,
    sled_log: &std::fs::File,
    trees: &[sled::Tree; 7],
) -> Result<std::fs::File, String> {
    let path = dir.join(WAL_FILE);
    let mut wal = std::fs::OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    wal.read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    for record in frames(&bytes) {
        for w in decode_journal(record)? {
            apply(&trees[w.tree], &w).map_err(|e| e.to_string())?;
        }
    }
    // A store from before the log kept its last decision in sled; it was
    // replayed above, and the log now does that job.
    trees[JOURNAL]
        .remove(JOURNAL_KEY)
        .map_err(|e| e.to_string())?;
    db.flush().map_err(|e| e.to_string())?;
    sled_log.sync_data().map_err(|e| e.to_string())?;
    if !bytes.is_empty() {
        wal.set_len(0).map_err(|e| e.to_string())?;
    }
    wal.sync_all().map_err(|e| e.to_string())?;
    // The log's own name must survive power loss too, not only its bytes.
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(wal)
}

fn apply(tree: &sled::Tree, w: &Write) -> sled::Result<()> {
    match &w.value {
        Some(v) => tree.insert(w.key.as_slice(), v.as_slice()).map(|_| ()),
        None => tree.remove(w.key.as_slice()).map(|_| ()),
    }
}

/// `JOURNAL_V1`, the number of writes (4 bytes, big endian), then per
/// write, each field preceded by its length (4 bytes): the tree (1 byte),
/// the key, 0 for a remove or 1 then the value.
fn encode_journal(writes: &[Write]) -> Result<Vec<u8>, String> {
    let size = writes
        .iter()
        .map(|w| 10 + w.key.len() + w.value.as_ref().map_or(0, Vec::len))
        .sum::<usize>();
    let mut out = Vec::with_capacity(5 + size);
    out.push(JOURNAL_V1);
    let count = u32::try_from(writes.len()).map_err(|_| "too many writes".to_owned())?;
    out.extend_from_slice(&count.to_be_bytes());
    let mut bytes = |b: &[u8]| -> Result<(), String> {
        let len = u32::try_from(b.len()).map_err(|_| "a record over 4 GiB".to_owned())?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(b);
        Ok(())
    };
    for w in writes {
        // `tree` is one of the consts above, all below 7.
        bytes(&[w.tree as u8])?;
        bytes(&w.key)?;
        match &w.value {
            Some(v) => {
                bytes(&[1])?;
                bytes(v)?;
            }
            None => bytes(&[0])?,
        }
    }
    Ok(out)
}

fn decode_journal(record: &[u8]) -> Result<Vec<Write>, String> {
    let Some((&JOURNAL_V1, rest)) = record.split_first() else {
        return Err("the journal record has an unknown format".to_owned());
    };
    let Some((count, mut rest)) = rest.split_first_chunk::<4>() else {
        return Err("the journal record is cut short".to_owned());
    };
    let count = u32::from_be_bytes(*count);
    let mut writes = Vec::new();
    for _ in 0..count {
        let tree = match take(&mut rest)? {
            &[tree] if usize::from(tree) < JOURNAL => usize::from(tree),
            _ => return Err("the journal record names no tree".to_owned()),
        };
        let key = take(&mut rest)?.to_vec();
        let value = match take(&mut rest)? {
            [0] => None,
            [1] => Some(take(&mut rest)?.to_vec()),
            _ => return Err("the journal record is garbled".to_owned()),
        };
        writes.push(Write { tree, key, value });
    }
    if !rest.is_empty() {
        return Err("the journal record has bytes after its last write".to_owned());
    }
    Ok(writes)
}

/// The next length-prefixed field of a journal record.
fn take<'a>(rest: &mut &'a [u8]) -> Result<&'a [u8], String> {
    let short = || "the journal record is cut short".to_owned();
    let (len, tail) = rest.split_first_chunk::<4>().ok_or_else(short)?;
    let len = usize::try_from(u32::from_be_bytes(*len)).map_err(|e| e.to_string())?;
    if tail.len() < len {
        return Err(short());
    }
    let (field, tail) = tail.split_at(len);
    *rest = tail;
    Ok(field)
}

#[cfg(test)]
mod tests {
    use rushbox_command::{AppName, EnvName};

    use super::*;
    use crate::model::{Actor, AuditOutcome};

    fn staging() -> EnvKey {
        EnvKey::new(
            &AppName::parse("web").unwrap(),
            &EnvName::parse("staging").unwrap(),
        )
    }

    fn lock_by(who: &str) -> Lock {
        Lock {
            holder: Actor::parse(&format!("shell:{who}")).unwrap(),
            reason: "qa".into(),
            since: 1,
            expires_at: 2,
            claim_by: None,
        }
    }

    fn entry(call: &str) -> AuditEntry {
        AuditEntry {
            seq: 0,
            at: 1,
            actor: Actor::parse("shell:alice").unwrap(),
            app: None,
            env: None,
            call: call.into(),
            outcome: AuditOutcome::Done {
                message: String::new(),
            },
            delivery: None,
        }
    }

    #[test]
    fn a_journal_record_reads_back_as_written() {
        let writes = vec![
            Write {
                tree: LOCKS,
                key: b"web/staging".to_vec(),
                value: Some(b"{\"x\":1}".to_vec()),
            },
            Write {
                tree: QUEUES,
                key: b"web/staging".to_vec(),
                value: None,
            },
            Write {
                tree: AUDIT,
                key: 7u64.to_be_bytes().to_vec(),
                value: Some(Vec::new()),
            },
        ];
        let record = encode_journal(&writes).unwrap();
        assert_eq!(decode_journal(&record).unwrap(), writes);
        assert_eq!(encode_journal(&[]).unwrap(), [JOURNAL_V1, 0, 0, 0, 0]);
        assert_eq!(
            decode_journal(&[JOURNAL_V1, 0, 0, 0, 0]).unwrap(),
            Vec::new()
        );
        for cut in 0..record.len() {
            assert!(decode_journal(&record[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = record.clone();
        longer.push(0);
        assert!(decode_journal(&longer).is_err());
        let mut other_format = record;
        other_format[0] = 9;
        assert!(decode_journal(&other_format).is_err());
    }

    /// A store written before the write-ahead log, by a run that crashed
    /// after a decision's journal record reached sled's log but before all of
    /// its writes did: opening the store completes the decision.
    #[test]
    fn opening_replays_a_decision_cut_short() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        {
            let store = Store::open(&path).unwrap();
            store
                .commit(
                    &[Effect::PutLock(staging(), lock_by("alice"))],
                    Some(entry("lock staging")),
                )
                .unwrap();
            // The next decision, as far as the crash let it get: the journal
            // record, and none of its writes.
            let mut writes = vec![store.write_of(&Effect::RemoveLock(staging())).unwrap()];
            let mut audit = entry("unlock staging");
            audit.seq = 2;
            writes.push(Write {
                tree: AUDIT,
                key: 2u64.to_be_bytes().to_vec(),
                value: Some(store.encode(&audit).unwrap()),
            });
            store.trees[JOURNAL]
                .insert(JOURNAL_KEY, encode_journal(&writes).unwrap())
                .unwrap();
            store.db.flush().unwrap();
            assert!(store.load().unwrap().locks.contains_key(&staging()));
        }
        // Stores from before the write-ahead log had none: this one is such a store.
        std::fs::remove_file(path.join(WAL_FILE)).unwrap();
        let store = Store::open(&path).unwrap();
        assert!(
            store.load().unwrap().locks.is_empty(),
            "the unlock was replayed"
        );
        assert_eq!(store.audit_len(), 2);
        let calls: Vec<String> = store
            .audit(|_| true, 10)
            .unwrap()
            .into_iter()
            .map(|e| e.call)
            .collect();
        assert_eq!(calls, ["lock staging", "unlock staging"]);
        // Replaying again (another restart) changes nothing.
        drop(store);
        let store = Store::open(&path).unwrap();
        assert!(store.load().unwrap().locks.is_empty());
        assert_eq!(store.audit_len(), 2);
    }

    /// A crash after a decision reached the write-ahead log but before it
    /// reached sled, with a torn frame after it: opening applies the whole
    /// record and ignores the torn one, then empties the log.
    #[test]
    fn opening_replays_the_log_up_to_a_torn_frame() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        {
            let store = Store::open(&path).unwrap();
            store
                .commit(
                    &[Effect::PutLock(staging(), lock_by("alice"))],
                    Some(entry("lock staging")),
                )
                .unwrap();
            // Written to the log, never synced or applied: the process dies here.
            let _unanswered = store
                .write(
                    &[Effect::RemoveLock(staging())],
                    Some(entry("unlock staging")),
                )
                .unwrap();
            assert!(
                store.load().unwrap().locks.contains_key(&staging()),
                "not in sled yet"
            );
        }
        let wal = path.join(WAL_FILE);
        let mut torn = frame(b"\x01\x00\x00\x00\x01garbage").unwrap();
        torn.truncate(torn.len() - 3);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&wal)
            .unwrap()
            .write_all(&torn)
            .unwrap();

        let store = Store::open(&path).unwrap();
        assert!(
            store.load().unwrap().locks.is_empty(),
            "the whole record was replayed"
        );
        let calls: Vec<String> = store
            .audit(|_| true, 10)
            .unwrap()
            .into_iter()
            .map(|e| e.call)
            .collect();
        assert_eq!(calls, ["lock staging", "unlock staging"]);
        assert_eq!(
            std::fs::metadata(&wal).unwrap().len(),
            0,
            "the log is folded into sled and emptied"
        );
    }

    #[test]
    fn frames_stop_at_the_first_corrupt_one() {
        let mut log = frame(b"one").unwrap();
        log.extend(frame(b"two").unwrap());
        let mut bad = frame(b"three").unwrap();
        let last = bad.len() - 1;
        bad[last] ^= 0xff;
        log.extend(bad);
        log.extend(frame(b"four").unwrap());
        assert_eq!(frames(&log), [b"one".as_slice(), b"two".as_slice()]);
    }

    #[test]
    fn a_checkpoint_empties_the_log_and_keeps_everything() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let store = Store::open(&path).unwrap();
        let mut count = 0;
        while store.wal_len.load(Ordering::SeqCst) < CHECKPOINT_BYTES {
            let mut big = entry(&"x".repeat(64 * 1024));
            big.call.push_str(&count.to_string());
            let _synced_below = store.write(&[], Some(big)).unwrap();
            count += 1;
        }
        let last = store.write(&[], Some(entry("last"))).unwrap();
        store.sync(last).unwrap();
        assert_eq!(store.wal_len.load(Ordering::SeqCst), 0);
        assert_eq!(std::fs::metadata(path.join(WAL_FILE)).unwrap().len(), 0);
        assert_eq!(store.audit_len(), count + 1);
        drop(store);
        let store = Store::open(&path).unwrap();
        assert_eq!(store.audit_len(), count + 1);
    }

    #[test]
    fn one_flush_covers_every_decision_written_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        let first = store.write(&[], Some(entry("a"))).unwrap();
        let second = store.write(&[], Some(entry("b"))).unwrap();
        store.sync(second).unwrap();
        assert!(lock(&store.durable).through >= first.ticket);
        // Covered already: returns without flushing again.
        store.sync(first).unwrap();
        assert_eq!((first.seq, second.seq), (Some(1), Some(2)));
    }

    #[test]
    fn a_failed_flush_refuses_everything_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        let written = store.write(&[], Some(entry("a"))).unwrap();
        let error = store.poison("disk on fire");
        assert!(matches!(error, StoreError::Poisoned { .. }));
        assert!(
            error
                .to_string()
                .starts_with("storage error, nothing more will be accepted until restart"),
            "{error}"
        );
        assert!(store.sync(written).is_err());
        assert!(store.write(&[], Some(entry("b"))).is_err());
        assert!(
            store
                .check_poisoned()
                .unwrap_err()
                .to_string()
                .contains("disk on fire")
        );
    }

    const GROUP_DIR_VAR: &str = "RUSHBOX_GROUP_COMMIT_DIR";
    const WRITERS: usize = 8;
    const GROUP_ACKS: usize = 400;

    fn person(writer: usize, i: usize) -> Actor {
        Actor::parse(&format!("shell:w{writer}p{i:05}")).unwrap()
    }

    /// The child of `acknowledged_concurrent_changes_survive_sigkill`: lena
    /// holds staging, and eight threads each queue people one by one,
    /// acknowledging each join once the engine has returned. Runs until killed.
    #[test]
    fn group_commit_writer() {
        let Ok(dir) = std::env::var(GROUP_DIR_VAR) else {
            return;
        };
        let engine = crate::Engine::open(
            crate::PipelineConfig::default(),
            Path::new(&dir),
            std::sync::Arc::new(crate::NoopProvider::new()),
            std::sync::Arc::new(crate::FixedRefs::default()),
        )
        .unwrap();
        let lena = Actor::parse("shell:lena").unwrap();
        let staging = EnvName::parse("staging").unwrap();
        engine
            .lock(
                &lena,
                None,
                staging.clone(),
                Some("durability".into()),
                None,
                false,
            )
            .unwrap();
        let threads: Vec<_> = (0..WRITERS)
            .map(|w| {
                let engine = engine.clone();
                let staging = staging.clone();
                std::thread::spawn(move || {
                    for i in 0.. {
                        engine
                            .queue_join(&person(w, i), None, staging.clone(), None)
                            .unwrap();
                        let mut out = std::io::stdout().lock();
                        std::io::Write::write_all(&mut out, format!("ack {w} {i}\n").as_bytes())
                            .unwrap();
                        std::io::Write::flush(&mut out).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }

    /// Group commit loses nothing: every join acknowledged to any of eight
    /// concurrent writers is there after a SIGKILL, in each writer's order.
    #[test]
    fn acknowledged_concurrent_changes_survive_sigkill() {
        use std::io::BufRead;
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("db");
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "store::tests::group_commit_writer",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(GROUP_DIR_VAR, &db)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut acked = [0usize; WRITERS];
        let mut total = 0;
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line.unwrap();
            // The first ack shares its line with the harness's "test … ".
            let Some((_, rest)) = line.split_once("ack ") else {
                continue;
            };
            let (w, i) = rest.split_once(' ').unwrap();
            let (w, i): (usize, usize) = (w.parse().unwrap(), i.parse().unwrap());
            assert_eq!(acked[w], i, "writer {w} acknowledges in order");
            acked[w] = i + 1;
            total += 1;
            if total >= GROUP_ACKS {
                break;
            }
        }
        // SIGKILL: no destructors, no final flush.
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(total >= GROUP_ACKS, "the writer stopped early");

        let store = Store::open(&db).unwrap();
        let state = store.load().unwrap();
        let queue = state.queues.values().next().expect("the queue was stored");
        for (w, &n) in acked.iter().enumerate() {
            let mine: Vec<&Actor> = queue
                .waiting
                .iter()
                .map(|e| &e.actor)
                .filter(|a| a.as_str().starts_with(&format!("shell:w{w}p")))
                .collect();
            assert!(
                mine.len() >= n,
                "writer {w}: {} of {n} acknowledged joins kept",
                mine.len()
            );
            for (i, who) in mine.iter().take(n).enumerate() {
                assert_eq!(
                    *who,
                    &person(w, i),
                    "writer {w}: join {i} lost or out of order"
                );
            }
        }
    }
}
