//! The only code that touches sled. One tree per kind of record plus an
//! append-only audit log keyed by big-endian sequence number. Each decision
//! is one transaction across the trees ([`Store::write`]); [`Store::sync`]
//! makes it durable, one flush covering every transaction written before it
//! (group commit), and nobody is answered before that.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde::Serialize;
use serde::de::DeserializeOwned;
use sled::Transactional;
use sled::transaction::ConflictableTransactionError;

use crate::model::{AuditEntry, Effect, Env, EnvKey, Lock, Operation, Queue, Release, State};

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

const TREES: [&str; 6] = ["envs", "locks", "queues", "releases", "operations", "audit"];
const ENVS: usize = 0;
const LOCKS: usize = 1;
const QUEUES: usize = 2;
const RELEASES: usize = 3;
const OPERATIONS: usize = 4;
const AUDIT: usize = 5;

pub struct Store {
    path: PathBuf,
    db: sled::Db,
    /// sled's log file. sled 0.34 makes a flush stable with
    /// `sync_file_range` on Linux, which neither syncs file metadata nor
    /// flushes the drive's cache; an `fdatasync` on this handle after each
    /// flush makes a commit survive power loss, not only a crash.
    log: std::fs::File,
    trees: [sled::Tree; 6],
    /// The last audit sequence number written.
    last_seq: AtomicU64,
    /// The ticket of the last transaction written (see [`Written`]).
    written: AtomicU64,
    /// Set for good when a flush fails; checked before every write.
    poisoned: AtomicBool,
    /// Held by the one caller flushing; the others queue on it and most
    /// find their transaction covered when they get it.
    durable: Mutex<Durable>,
}

/// What the flushes have achieved so far.
struct Durable {
    /// Every transaction with a ticket up to this one is on disk.
    through: u64,
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

/// One write, serialized before the transaction so the transaction cannot fail on data.
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
        ];
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
        let log = std::fs::File::open(path.join("db")).map_err(|e| StoreError::Io {
            path: path.to_owned(),
            message: format!("can't open sled's log file to sync it: {e}"),
        })?;
        Ok(Store {
            path: path.to_owned(),
            db,
            log,
            trees,
            last_seq: AtomicU64::new(last_seq),
            written: AtomicU64::new(0),
            poisoned: AtomicBool::new(false),
            durable: Mutex::new(Durable {
                through: 0,
                failure: None,
            }),
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

    /// Writes a decision's effects and its audit entry (numbered here) in one
    /// transaction and makes it durable. Returns the audit entry's number.
    pub fn commit(
        &self,
        effects: &[Effect],
        audit: Option<AuditEntry>,
    ) -> Result<Option<u64>, StoreError> {
        let written = self.write(effects, audit)?;
        self.sync(written)?;
        Ok(written.seq)
    }

    /// Writes a decision's effects and its audit entry (numbered here) in one
    /// sled transaction, not yet flushed. Callers serialize their writes (the
    /// engine holds one lock around decide + write), so tickets and audit
    /// numbers follow the order of decisions.
    pub fn write(
        &self,
        effects: &[Effect],
        audit: Option<AuditEntry>,
    ) -> Result<Written, StoreError> {
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
        let [t0, t1, t2, t3, t4, t5] = &self.trees;
        (t0, t1, t2, t3, t4, t5)
            .transaction(|(a, b, c, d, e, f)| {
                let trees = [a, b, c, d, e, f];
                for w in &writes {
                    let tree = trees[w.tree];
                    match &w.value {
                        Some(v) => tree.insert(w.key.as_slice(), v.as_slice())?,
                        None => tree.remove(w.key.as_slice())?,
                    };
                }
                Ok::<(), ConflictableTransactionError<()>>(())
            })
            .map_err(|e| self.io(format!("{e:?}")))?;
        if let Some(seq) = seq {
            self.last_seq.store(seq, Ordering::SeqCst);
        }
        // The transaction has returned, so its log reservation is below
        // sled's `max_reserved_lsn`: any flush that starts after this store
        // covers it.
        let ticket = self.written.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(Written { ticket, seq })
    }

    /// Returns once `written` is on disk, safe against a process crash and
    /// power loss. Group commit: one caller at a time flushes everything
    /// written so far; callers whose transaction that flush covered return
    /// without flushing again. After a failed flush every call fails.
    pub fn sync(&self, written: Written) -> Result<(), StoreError> {
        let mut durable = self.durable.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(message) = &durable.failure {
            return Err(self.poisoned_error(message));
        }
        if durable.through >= written.ticket {
            return Ok(());
        }
        // Everything written before this load is covered by the flush below.
        let target = self.written.load(Ordering::SeqCst);
        // Two steps, both needed:
        // - `sled::Db::flush` is what puts the bytes in the file at all: a
        //   transaction only fills sled's in-memory IO buffer, which is
        //   written (pwrite) when it is sealed, by a flush, by a full buffer
        //   or by sled's background flusher every 500 ms (sled 0.34.7,
        //   `pagecache/iobuf.rs`: `make_stable` → `write_to_log`). The same
        //   `write_to_log` follows each pwrite with `sync_file_range`
        //   (WAIT_BEFORE | WRITE | WAIT_AFTER) unless the database is
        //   `temporary` (deleted on drop), so sled's own sync can't be
        //   turned off separately.
        // - `sync_file_range` writes the pages but commits no metadata (a
        //   grown file's size) and does not flush the drive's cache, so it
        //   survives a process crash but not power loss; the `fdatasync`
        //   after it does both.
        let result = self
            .db
            .flush()
            .map_err(|e| e.to_string())
            .and_then(|_| self.log.sync_data().map_err(|e| e.to_string()));
        match result {
            Ok(()) => {
                durable.through = target;
                Ok(())
            }
            Err(message) => {
                self.poisoned.store(true, Ordering::SeqCst);
                let error = self.poisoned_error(&message);
                durable.failure = Some(message);
                Err(error)
            }
        }
    }

    /// Fails once a flush has failed.
    pub fn check_poisoned(&self) -> Result<(), StoreError> {
        if !self.poisoned.load(Ordering::SeqCst) {
            return Ok(());
        }
        let durable = self.durable.lock().unwrap_or_else(|p| p.into_inner());
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
        for item in self.trees[AUDIT].iter().rev() {
            let (_, v) = item.map_err(|e| self.io(e))?;
            let entry: AuditEntry =
                serde_json::from_slice(&v).map_err(|e| StoreError::Corrupt {
                    tree: TREES[AUDIT],
                    message: e.to_string(),
                })?;
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
