//! The schedule adapters wait on between attempts to reach a chat platform
//! that is down, and how it reads in the log. Pure: no clock, no sleeping.

use std::time::Duration;

/// The waits between attempts: 5 s, doubling, at most 5 minutes; back to
/// the start once a session connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    next: Duration,
}

impl Backoff {
    pub const FIRST: Duration = Duration::from_secs(5);
    pub const MAX: Duration = Duration::from_secs(5 * 60);

    pub fn new() -> Backoff {
        Backoff { next: Self::FIRST }
    }

    /// The wait before the next attempt; the one after it is longer.
    pub fn next_wait(&mut self) -> Duration {
        let wait = self.next;
        self.next = Self::after(wait);
        wait
    }

    pub fn reset(&mut self) {
        self.next = Self::FIRST;
    }

    fn after(wait: Duration) -> Duration {
        (wait * 2).min(Self::MAX)
    }

    /// The schedule from `wait` on, for a person reading the log:
    /// "retrying in 5s, then 10s, 20s … up to 5m".
    pub fn schedule(wait: Duration) -> String {
        let then = Self::after(wait);
        let after_that = Self::after(then);
        let max = short(Self::MAX);
        if wait >= Self::MAX {
            format!("retrying in {max}, and every {max} after that")
        } else if then >= Self::MAX {
            format!("retrying in {}, then every {max}", short(wait))
        } else if after_that >= Self::MAX {
            format!(
                "retrying in {}, then {}, then every {max}",
                short(wait),
                short(then)
            )
        } else {
            format!(
                "retrying in {}, then {}, {} … up to {max}",
                short(wait),
                short(then),
                short(after_that)
            )
        }
    }
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff::new()
    }
}

/// `5s`, `1m20s`, `5m`: a duration as the log says it.
pub fn short(duration: Duration) -> String {
    let secs = duration.as_secs();
    match (secs / 60, secs % 60) {
        (0, s) => format!("{s}s"),
        (m, 0) => format!("{m}m"),
        (m, s) => format!("{m}m{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_doubles_from_5s_to_at_most_5m_and_starts_again_after_a_session() {
        let mut backoff = Backoff::new();
        let waits: Vec<u64> = (0..9).map(|_| backoff.next_wait().as_secs()).collect();
        assert_eq!(waits, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
        backoff.reset();
        assert_eq!(backoff.next_wait(), Backoff::FIRST);
    }

    #[test]
    fn the_schedule_reads_as_it_is() {
        let table = [
            (5, "retrying in 5s, then 10s, 20s … up to 5m"),
            (40, "retrying in 40s, then 1m20s, 2m40s … up to 5m"),
            (80, "retrying in 1m20s, then 2m40s, then every 5m"),
            (160, "retrying in 2m40s, then every 5m"),
            (300, "retrying in 5m, and every 5m after that"),
        ];
        for (wait, said) in table {
            assert_eq!(Backoff::schedule(Duration::from_secs(wait)), said, "{wait}");
        }
    }
}
