//! rushbox's write-ahead log: record framing, appends, group-commit sync,
//! replay at open and checkpoints into sled. The `Store` API and sled's trees
//! are in the parent module; this file owns only the log and its durability.
//!
//! # Where a decision becomes durable: rushbox's own write-ahead log
//!
//! [`Store::write`] frames each decision whole (its puts and removes, the
//! audit entry among them) as one record (length, CRC-32, bytes) for
//! `rushbox.wal` beside sled's files, and queues it. [`Store::sync`] makes
//! it durable: one caller at a time (the leader) writes every frame waiting
//! in one write and runs a single `fdatasync` of the log, which covers
//! every record appended before it (group commit),
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

use std::io::{Read, Write as _};
use std::path::Path;
use std::sync::atomic::Ordering;

use super::{JOURNAL, Store, StoreError, Written, lock};

/// The key of the one record in the legacy `journal` tree.
pub(super) const JOURNAL_KEY: &[u8] = b"last";
/// rushbox's write-ahead log, in the store's directory.
pub(super) const WAL_FILE: &str = "rushbox.wal";
/// Past this size the log is folded into sled and emptied.
pub const CHECKPOINT_BYTES: u64 = 4 << 20;
/// The first byte of a journal record: its format.
pub(super) const JOURNAL_V1: u8 = 1;

/// What the flushes have achieved so far.
pub(super) struct Durable {
    /// Every decision with a ticket up to this one is on disk.
    pub(super) through: u64,
    /// A caller is flushing now; the others wait for it to end.
    pub(super) flushing: bool,
    /// Why the store is poisoned, once it is.
    pub(super) failure: Option<String>,
}

/// One put or remove in one tree, serialized before anything is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Write {
    pub(super) tree: usize,
    pub(super) key: Vec<u8>,
    pub(super) value: Option<Vec<u8>>,
}

impl Store {
    /// Appends `writes` to the log as one frame and queues them for sled;
    /// `seq` is the audit number among them. Returns the ticket to sync.
    pub(super) fn append(
        &self,
        writes: Vec<Write>,
        seq: Option<u64>,
    ) -> Result<Written, StoreError> {
        let frame =
            frame(&encode_journal(&writes).map_err(|e| self.io(e))?).map_err(|e| self.io(e))?;
        // The frame waits in memory for the sync that covers it, which
        // writes every waiting frame in one go before its `fdatasync`
        // (callers hold the write lock, so frames are in ticket order).
        lock(&self.unwritten).extend_from_slice(&frame);
        self.wal_len.fetch_add(frame.len() as u64, Ordering::SeqCst);
        if let Some(seq) = seq {
            self.last_seq.store(seq, Ordering::SeqCst);
        }
        // The append has returned, so any `fdatasync` that starts after this covers it.
        let ticket = self.written.fetch_add(1, Ordering::SeqCst) + 1;
        lock(&self.pending).push_back((ticket, writes));
        Ok(Written { ticket, seq })
    }

    /// What a sync that dies between its write and its `fdatasync` leaves:
    /// the waiting frames in the file, nothing synced or applied.
    #[cfg(test)]
    pub(super) fn write_frames_without_sync(&self) {
        let frames = std::mem::take(&mut *lock(&self.unwritten));
        (&self.wal)
            .write_all(&frames)
            .expect("writing the waiting frames");
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
        // Everything appended before this point is in `frames` (or written
        // by an earlier sync) and so covered by the sync below.
        let (mut target, frames) = {
            let _no_appends = lock(&self.write_lock);
            let frames = std::mem::take(&mut *lock(&self.unwritten));
            (self.written.load(Ordering::SeqCst), frames)
        };
        self.wal_syncs.fetch_add(1, Ordering::SeqCst);
        // A failure from here on may leave part of a record in the log
        // (replay stops at a torn frame) with its caller unanswered: the
        // store refuses everything after it rather than guess.
        let result = (&self.wal)
            .write_all(&frames)
            .map_err(|e| format!("can't append to the write-ahead log: {e}"))
            .and_then(|()| {
                self.wal
                    .sync_data()
                    .map_err(|e| format!("can't sync the write-ahead log: {e}"))
            })
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
        // Frames not written yet are of records now in sled: not needed.
        lock(&self.unwritten).clear();
        self.db.flush().map_err(|e| e.to_string())?;
        self.log.sync_data().map_err(|e| e.to_string())?;
        self.wal.set_len(0).map_err(|e| e.to_string())?;
        self.wal.sync_all().map_err(|e| e.to_string())?;
        self.wal_len.store(0, Ordering::SeqCst);
        Ok(through)
    }
}

/// A log frame: the record's length and CRC-32 (4 bytes each, big endian), then the record.
pub(super) fn frame(record: &[u8]) -> Result<Vec<u8>, String> {
    let len = u32::try_from(record.len()).map_err(|_| "a record over 4 GiB".to_owned())?;
    let mut out = Vec::with_capacity(8 + record.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&crc32fast::hash(record).to_be_bytes());
    out.extend_from_slice(record);
    Ok(out)
}

/// The records of a log, in order, up to the first torn or corrupt frame.
pub(super) fn frames(log: &[u8]) -> Vec<&[u8]> {
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
pub(super) fn replay(
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
pub(super) fn encode_journal(writes: &[Write]) -> Result<Vec<u8>, String> {
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

pub(super) fn decode_journal(record: &[u8]) -> Result<Vec<Write>, String> {
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

/// A store from before the write-ahead log kept its last decision in sled's
/// `journal` tree (nothing writes it any more): replay it so a decision a
/// crash cut short is completed. [`replay`] then removes it.
pub(super) fn replay_legacy_journal(db: &sled::Db, trees: &[sled::Tree; 7]) -> Result<(), String> {
    let Some(record) = trees[JOURNAL].get(JOURNAL_KEY).map_err(|e| e.to_string())? else {
        return Ok(());
    };
    for w in decode_journal(&record)? {
        apply(&trees[w.tree], &w).map_err(|e| e.to_string())?;
    }
    db.flush().map_err(|e| e.to_string())?;
    Ok(())
}
