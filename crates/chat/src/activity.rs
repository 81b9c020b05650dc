//! What the adapter has finished with, for whoever needs to know that it is
//! quiet: tests, which wait on it instead of sleeping before they check
//! that nothing more was said. Counts only; it decides nothing. The Slack and
//! Discord adapters both count with it.

use std::sync::Arc;

use tokio::sync::watch;

/// Counts of the adapter's work so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Events from people (messages, slash commands, interactions, clicks,
    /// group changes) handled to the end: ignored, dropped as a
    /// redelivery, or decided and answered.
    pub handled: u64,
    /// Work under way: events being handled, answers and progress messages
    /// being posted and edited, notices being sent.
    pub busy: u64,
    /// Platform sessions given up or stopped whose runtime is gone, with
    /// everything the platform's client spawned for them (Discord's
    /// gateway sessions; always 0 for Slack).
    pub sessions_ended: u64,
}

/// A shared, awaitable view of [`Counts`]; clones share it.
#[derive(Debug, Clone, Default)]
pub struct Activity {
    counts: Arc<watch::Sender<Counts>>,
}

impl Activity {
    pub fn new() -> Activity {
        Activity::default()
    }

    pub fn counts(&self) -> Counts {
        *self.counts.borrow()
    }

    /// Waits until at least `handled` events are handled and nothing is
    /// under way; the counts then, so a caller can see that no more came.
    pub async fn settled(&self, handled: u64) -> Counts {
        self.wait_for(|c| c.handled >= handled && c.busy == 0).await
    }

    /// Waits until `done` holds for the counts, and returns them.
    pub async fn wait_for(&self, done: impl Fn(&Counts) -> bool) -> Counts {
        let mut counts = self.counts.subscribe();
        // The sender lives in `self`, so the channel can't close while we wait.
        let seen = counts.wait_for(|c| done(c)).await.map(|c| *c);
        seen.unwrap_or_else(|_| self.counts())
    }

    /// One event from a person, handled until the guard is dropped.
    pub fn event(&self) -> Busy {
        self.start(true)
    }

    /// Work that goes on after its event (progress, a notice), until the guard is dropped.
    pub fn task(&self) -> Busy {
        self.start(false)
    }

    pub fn session_ended(&self) {
        self.counts.send_modify(|c| c.sessions_ended += 1);
    }

    fn start(&self, event: bool) -> Busy {
        self.counts.send_modify(|c| c.busy += 1);
        Busy {
            counts: self.counts.clone(),
            event,
        }
    }
}

/// Work under way; dropping it (however the work ends) counts it done.
pub struct Busy {
    counts: Arc<watch::Sender<Counts>>,
    event: bool,
}

impl Drop for Busy {
    fn drop(&mut self) {
        let event = self.event;
        self.counts.send_modify(|c| {
            c.busy -= 1;
            if event {
                c.handled += 1;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn settled_waits_for_the_events_and_for_their_work() {
        let activity = Activity::new();
        let event = activity.event();
        let progress = activity.task();
        drop(event);
        assert_eq!(
            activity.counts(),
            Counts {
                handled: 1,
                busy: 1,
                sessions_ended: 0
            }
        );
        let waiting = tokio::spawn({
            let activity = activity.clone();
            async move { activity.settled(1).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "progress is still under way");
        drop(progress);
        let settled = waiting.await.unwrap();
        assert_eq!((settled.handled, settled.busy), (1, 0));
    }
}
