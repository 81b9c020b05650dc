//! Held calls: group commit for one stream. While a [`Hold`] is alive on a
//! thread, the calls that thread makes are decided and written as usual,
//! but the sync, the start of their operations and their notices wait for
//! [`Hold::release`], which runs one sync covering them all. The shell
//! holds the lines it has already read, so a piped script of thousands of
//! lines costs a sync per read, not per line, and each reply is still
//! printed only once the sync covering it is done.

use std::cell::RefCell;
use std::marker::PhantomData;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::{EngineError, Inner};
use crate::model::Operation;
use crate::ops::Progress;
use crate::policy::Notice;
use crate::provider::CancelToken;
use crate::store::Written;

type Start = (Operation, CancelToken, mpsc::UnboundedSender<Progress>);

/// What held calls left to do.
struct Held {
    inner: Arc<Inner>,
    last: Option<Written>,
    start: Vec<Start>,
    notices: Vec<Notice>,
}

thread_local! {
    static HELD: RefCell<Option<Held>> = const { RefCell::new(None) };
}

/// A thread's held calls (see [`Engine::hold`](super::Engine::hold)).
/// Dropping it releases them; only [`Hold::release`] says whether the sync
/// worked. A hold taken while one is held joins it: the outer one releases.
#[must_use = "held calls are answered only once the hold is released"]
pub struct Hold {
    /// Whether this hold began the thread's held calls (and so ends them).
    outer: bool,
    /// Held calls belong to the thread that made them.
    _not_send: PhantomData<*const ()>,
}

impl Hold {
    pub(super) fn new(inner: Arc<Inner>) -> Hold {
        let outer = HELD.with(|held| {
            let mut held = held.borrow_mut();
            if held.is_some() {
                return false;
            }
            *held = Some(Held {
                inner,
                last: None,
                start: Vec::new(),
                notices: Vec::new(),
            });
            true
        });
        Hold {
            outer,
            _not_send: PhantomData,
        }
    }

    /// How many notices the held calls will send at the release, so far.
    pub fn told(&self) -> usize {
        HELD.with(|held| held.borrow().as_ref().map_or(0, |h| h.notices.len()))
    }

    /// Syncs every held call at once; then starts their operations and sends
    /// their notices. `Err` means none of them may be reported as done.
    pub fn release(mut self) -> Result<(), EngineError> {
        self.end()
    }

    /// Ends the hold on this thread without syncing: the thread's next
    /// calls are its own again, while the returned [`Unsynced`] can be
    /// released on another thread (so one stream's next lines are decided
    /// while the last ones sync). Same rule: tell no one of these calls'
    /// answers before its release returns `Ok`.
    pub fn detach(mut self) -> Unsynced {
        Unsynced(self.take())
    }

    fn end(&mut self) -> Result<(), EngineError> {
        Unsynced(self.take()).release()
    }

    fn take(&mut self) -> Option<Held> {
        if !self.outer {
            return None;
        }
        self.outer = false;
        HELD.with(|held| held.borrow_mut().take())
    }
}

/// Held calls taken off their thread by [`Hold::detach`], not yet synced.
/// Dropping it releases them, as dropping a [`Hold`] does.
#[must_use = "held calls are answered only once they are released"]
pub struct Unsynced(Option<Held>);

impl Unsynced {
    /// As [`Hold::release`]: one sync for them all, then their operations
    /// and notices.
    pub fn release(mut self) -> Result<(), EngineError> {
        self.end()
    }

    fn end(&mut self) -> Result<(), EngineError> {
        let Some(held) = self.0.take() else {
            return Ok(());
        };
        if let Some(last) = held.last {
            held.inner.store.sync(last)?;
        }
        held.inner.begin(held.start, &held.notices);
        Ok(())
    }
}

impl Drop for Unsynced {
    fn drop(&mut self) {
        let _ = self.end();
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        // A failed sync poisons the store, which says so to the next call.
        let _ = self.end();
    }
}

/// Keeps a call's sync, operations and notices for the thread's hold, if it
/// holds one for this engine; `false` (and nothing kept) otherwise.
pub(super) fn defer(
    inner: &Arc<Inner>,
    written: Written,
    start: &mut Vec<Start>,
    notices: &[Notice],
) -> bool {
    HELD.with(|held| {
        let mut held = held.borrow_mut();
        let Some(held) = held.as_mut().filter(|h| Arc::ptr_eq(&h.inner, inner)) else {
            return false;
        };
        held.last = Some(written);
        held.start.append(start);
        held.notices.extend_from_slice(notices);
        true
    })
}
