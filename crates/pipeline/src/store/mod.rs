//! The only code that touches sled: one tree per kind of record plus an
//! append-only audit log keyed by big-endian sequence number. The `Store` API
//! (open, load, write, commit, audit) lives here; how a decision becomes
//! durable first (rushbox's write-ahead log, group commit) is in `wal`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::model::{AuditEntry, Effect, Env, EnvKey, Lock, Operation, Queue, Release, State, Time};

#[cfg(test)]
mod tests;
mod wal;

pub use wal::CHECKPOINT_BYTES;
use wal::{Durable, Write};

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
/// The tree where stores written before the write-ahead log kept their last
/// decision; a record left there is replayed once at open, then removed
/// (see `wal::replay_legacy_journal`).
const JOURNAL: usize = 6;

/// sled's page cache. Decisions are read from the in-memory state, and the
/// trees only at open and for `history`, so a small cache keeps memory flat
/// as the audit log grows (sled's default is 1 GiB).
const SLED_CACHE_BYTES: u64 = 4 << 20;

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
    /// Bytes in the log since the last checkpoint (written or waiting).
    wal_len: AtomicU64,
    /// Frames appended and not yet written: the next sync writes them.
    unwritten: Mutex<Vec<u8>>,
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
    /// How many times the write-ahead log has been synced (group commit
    /// makes this fewer than the writes).
    wal_syncs: AtomicU64,
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
            match sled::Config::new()
                .path(path)
                .cache_capacity(SLED_CACHE_BYTES)
                .open()
            {
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
        // Complete the last decision of a store from before the write-ahead
        // log, which a crash may have cut short.
        wal::replay_legacy_journal(&db, &trees).map_err(|message| StoreError::Io {
            path: path.to_owned(),
            message: format!("can't replay the last decision: {message}"),
        })?;
        let log = std::fs::File::open(path.join("db")).map_err(|e| StoreError::Io {
            path: path.to_owned(),
            message: format!("can't open sled's log file to sync it: {e}"),
        })?;
        let wal = wal::replay(path, &db, &log, &trees).map_err(|message| StoreError::Io {
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
            unwritten: Mutex::new(Vec::new()),
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
            wal_syncs: AtomicU64::new(0),
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
        self.append(writes, seq)
    }

    /// Refuses everything from now on, because of `message` (as a failed
    /// sync does; for tests of what follows one).
    #[cfg(test)]
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

    /// How many times the write-ahead log has been synced since open.
    pub fn wal_syncs(&self) -> u64 {
        self.wal_syncs.load(Ordering::SeqCst)
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
