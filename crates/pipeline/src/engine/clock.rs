//! Where the engine reads the time: the `Clock` trait, the system clock
//! production uses and a `ManualClock` tests move by hand. Nothing else.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::model::Time;

/// Where the engine reads the time.
pub trait Clock: Send + Sync {
    fn now(&self) -> Time;
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Time {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }
}

/// A clock tests move by hand.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    pub fn new(now: Time) -> ManualClock {
        ManualClock(AtomicU64::new(now))
    }

    pub fn set(&self, now: Time) {
        self.0.store(now, Ordering::SeqCst);
    }

    pub fn advance(&self, secs: u64) -> Time {
        self.0.fetch_add(secs, Ordering::SeqCst) + secs
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Time {
        self.0.load(Ordering::SeqCst)
    }
}
