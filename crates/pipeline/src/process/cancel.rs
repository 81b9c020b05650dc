//! A cancel request that wakes whoever waits for it: the thread running a
//! child is told at once instead of finding out at its next look.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

/// Asked by an operation's owner; a running child is stopped as soon as it
/// is asked, and a provider checks it between steps.
#[derive(Clone, Default)]
pub struct CancelToken(Arc<Shared>);

#[derive(Default)]
struct Shared {
    /// `state.cancelled`, readable without the lock (it is asked for often).
    cancelled: AtomicBool,
    state: Mutex<State>,
    changed: Condvar,
}

type Wake = Box<dyn Fn() + Send>;

#[derive(Default)]
struct State {
    cancelled: bool,
    next_watch: u64,
    watches: Vec<(u64, Wake)>,
}

/// While it lives, its `wake` is called when the token is cancelled.
pub struct CancelWatch {
    shared: Weak<Shared>,
    id: u64,
}

impl Drop for CancelWatch {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.upgrade() {
            lock(&shared.state).watches.retain(|(id, _)| *id != self.id);
        }
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // The state is a flag and a list: consistent between any two statements.
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl CancelToken {
    pub fn new() -> CancelToken {
        CancelToken::default()
    }

    /// Cancels, and wakes every watch and waiter (each once).
    pub fn cancel(&self) {
        let watches = {
            let mut state = lock(&self.0.state);
            state.cancelled = true;
            self.0.cancelled.store(true, Ordering::SeqCst);
            std::mem::take(&mut state.watches)
        };
        self.0.changed.notify_all();
        for (_, wake) in watches {
            wake();
        }
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.cancelled.load(Ordering::SeqCst)
    }

    /// Waits until the token is cancelled or `timeout` has passed; true if cancelled.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let until = Instant::now().checked_add(timeout);
        let mut state = lock(&self.0.state);
        while !state.cancelled {
            let left = match until {
                Some(until) => match until.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => left,
                    _ => return false,
                },
                None => Duration::from_secs(u32::MAX.into()),
            };
            state = match self.0.changed.wait_timeout(state, left) {
                Ok((state, _)) => state,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        true
    }

    /// Calls `wake` once when the token is cancelled (now, if it already
    /// is), unless the watch has been dropped before. `wake` must not block.
    pub fn watch(&self, wake: impl Fn() + Send + 'static) -> CancelWatch {
        let mut state = lock(&self.0.state);
        let id = state.next_watch;
        state.next_watch += 1;
        if state.cancelled {
            drop(state);
            wake();
        } else {
            state.watches.push((id, Box::new(wake)));
        }
        CancelWatch {
            shared: Arc::downgrade(&self.0),
            id,
        }
    }
}

impl fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CancelToken")
            .field(&self.is_cancelled())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn watches_are_woken_once_and_only_while_they_live() {
        let token = CancelToken::new();
        let (woken, wakes) = mpsc::channel();
        let kept = {
            let woken = woken.clone();
            token.watch(move || woken.send("kept").unwrap())
        };
        let dropped = {
            let woken = woken.clone();
            token.watch(move || woken.send("dropped").unwrap())
        };
        drop(dropped);
        assert!(!token.wait_timeout(Duration::ZERO));
        token.cancel();
        token.cancel();
        assert_eq!(wakes.try_iter().collect::<Vec<_>>(), ["kept"]);
        drop(kept);
        // Watching a cancelled token wakes at once.
        let _late = token.watch(move || woken.send("late").unwrap());
        assert_eq!(wakes.try_iter().collect::<Vec<_>>(), ["late"]);
        assert!(token.is_cancelled() && token.wait_timeout(Duration::MAX));
    }

    #[test]
    fn a_waiter_wakes_when_cancelled_from_another_thread() {
        let token = CancelToken::new();
        let waiter = {
            let token = token.clone();
            std::thread::spawn(move || token.wait_timeout(Duration::from_secs(60)))
        };
        token.cancel();
        assert!(waiter.join().unwrap());
    }
}
