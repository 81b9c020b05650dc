//! Progress edits, paced: Discord rate-limits message edits, and people
//! read no faster than once a second, so versions that arrive in between
//! are folded into the next edit. The final version always goes out.

use std::future::Future;
use std::time::Duration;

use rushbox_chat::{ProgressFeed, Reply};
use tokio::time::Instant;

/// Successive versions of one message ([`ProgressFeed`], or a test's script).
pub trait Versions: Send {
    /// The next version; `None` after the final one.
    fn next(&mut self) -> impl Future<Output = Option<Reply>> + Send;
    /// True once the final version has been returned.
    fn is_done(&self) -> bool;
}

impl Versions for ProgressFeed {
    async fn next(&mut self) -> Option<Reply> {
        ProgressFeed::next(self).await
    }

    fn is_done(&self) -> bool {
        ProgressFeed::is_done(self)
    }
}

/// Calls `edit` with the newest version at most once per `interval`, and
/// always with the final one. `versions.next()` must be cancel-safe (a
/// channel receive is): it is raced against the interval.
pub async fn coalesce<V, E, F>(mut versions: V, interval: Duration, mut edit: E)
where
    V: Versions,
    E: FnMut(Reply) -> F,
    F: Future<Output = ()>,
{
    let mut pending: Option<Reply> = None;
    let mut last_edit: Option<Instant> = None;
    loop {
        let due = last_edit.map(|t| t + interval);
        let next = match (&pending, due) {
            (Some(_), Some(due)) => tokio::time::timeout_at(due, versions.next()).await.ok(),
            _ => Some(versions.next().await),
        };
        match next {
            // The interval is over: show what is pending.
            None => {}
            Some(Some(reply)) => {
                pending = Some(reply);
                if let Some(due) = due.filter(|due| Instant::now() < *due) {
                    if !versions.is_done() {
                        continue;
                    }
                    // Nothing can come after the final version: wait out the interval for it.
                    tokio::time::sleep_until(due).await;
                }
            }
            Some(None) if pending.is_none() => return,
            Some(None) => {}
        }
        if let Some(reply) = pending.take() {
            edit(reply).await;
            last_edit = Some(Instant::now());
        }
        if versions.is_done() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use rushbox_chat::Tone;
    use tokio::sync::mpsc;

    use super::*;

    /// Versions a test sends by hand: (text, final?).
    struct Script {
        receiver: mpsc::UnboundedReceiver<(String, bool)>,
        done: bool,
    }

    impl Versions for Script {
        async fn next(&mut self) -> Option<Reply> {
            if self.done {
                return None;
            }
            let (text, last) = self.receiver.recv().await?;
            self.done = last;
            Some(Reply::text(Tone::Progress, text))
        }

        fn is_done(&self) -> bool {
            self.done
        }
    }

    /// Runs the coalescer on a script of (milliseconds from start, text, final?)
    /// and returns (milliseconds from start, text) for each edit.
    async fn edits(script: &[(u64, &str, bool)]) -> Vec<(u64, String)> {
        let start = Instant::now();
        let (sender, receiver) = mpsc::unbounded_channel();
        let script: Vec<(u64, String, bool)> = script
            .iter()
            .map(|(t, s, f)| (*t, (*s).to_owned(), *f))
            .collect();
        tokio::spawn(async move {
            for (at, text, last) in script {
                tokio::time::sleep_until(start + Duration::from_millis(at)).await;
                let _ = sender.send((text, last));
            }
        });
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let versions = Script {
            receiver,
            done: false,
        };
        coalesce(versions, Duration::from_secs(1), move |reply| {
            let at = start.elapsed().as_millis() as u64;
            log.lock().unwrap().push((at, reply.summary().to_owned()));
            async {}
        })
        .await;
        seen.lock().unwrap().clone()
    }

    fn at(ms: u64, text: &str) -> (u64, String) {
        (ms, text.to_owned())
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_becomes_one_edit_a_second_and_the_final_one_is_never_lost() {
        let got = edits(&[
            (0, "step 1", false),
            (100, "step 2", false),
            (200, "step 3", false),
            (1500, "step 4", false),
            (1600, "done", true),
        ])
        .await;
        assert_eq!(got, [at(0, "step 1"), at(1000, "step 3"), at(2000, "done")]);
    }

    #[tokio::test(start_paused = true)]
    async fn slow_progress_is_shown_as_it_comes() {
        let got = edits(&[(0, "a", false), (3000, "b", false), (6000, "done", true)]).await;
        assert_eq!(got, [at(0, "a"), at(3000, "b"), at(6000, "done")]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_final_version_right_after_another_waits_its_turn_but_comes() {
        let got = edits(&[(0, "a", false), (10, "done", true)]).await;
        assert_eq!(got, [at(0, "a"), at(1000, "done")]);
    }
}
