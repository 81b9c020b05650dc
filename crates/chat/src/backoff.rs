//! The schedule adapters wait on between attempts to reach a chat platform
//! that is down, how it reads in the log, and [`keep_trying`], the one loop
//! both adapters reconnect with. [`Backoff`] is pure (no clock, no
//! sleeping); the loop only sleeps it out and watches for shutdown.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;

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

/// What one attempt to reach a platform came to, for [`keep_trying`].
#[derive(Debug, PartialEq, Eq)]
pub enum Attempt<T, E> {
    /// The platform answered: the loop ends with this.
    Reached(T),
    /// Trying again cannot help (a refused token): the loop ends with this.
    Fatal(E),
    /// The platform can't be reached now, `why` said for a person. With
    /// `had_session`, a session was up before it was lost, so the waits
    /// start again from the first.
    Down { why: String, had_session: bool },
    /// The attempt stopped because [`Shutdown::requested`] resolved.
    Stopped,
}

/// An attempt's view of the shutdown [`keep_trying`] watches, so it can
/// stop what it is doing and close what it opened.
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    /// Resolves once shutdown is asked for (at once if it was already).
    pub async fn requested(&mut self) {
        // An error means the loop is gone, which is as good as stopping.
        let _ = self.0.wait_for(|stopping| *stopping).await;
    }
}

/// Runs an attempt at a time until one reaches the platform or fails for
/// good, waiting out a [`Backoff`] after each [`Attempt::Down`]; `Ok(None)`
/// once `shutdown` resolves. Each attempt is made by `attempt`, handed a
/// [`Shutdown`]: on shutdown the loop tells it, lets it finish (it closes
/// what it opened) and then ends. `warn` is handed the sentence for the log
/// before each wait ("can't reach …: refused; retrying in 5s, then 10s, 20s
/// … up to 5m"), so the adapter logs it under its own name.
///
/// ```
/// # use rushbox_chat::backoff::{Attempt, keep_trying};
/// # let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
/// # runtime.block_on(async {
/// let reached = keep_trying(
///     std::future::pending(),
///     |_shutdown| async { Attempt::<_, String>::Reached("a session") },
///     |line| eprintln!("{line}"),
/// )
/// .await;
/// assert_eq!(reached, Ok(Some("a session")));
/// # });
/// ```
pub async fn keep_trying<T, E, F>(
    shutdown: impl Future<Output = ()>,
    mut attempt: impl FnMut(Shutdown) -> F,
    mut warn: impl FnMut(&str),
) -> Result<Option<T>, E>
where
    F: Future<Output = Attempt<T, E>>,
{
    let mut shutdown = std::pin::pin!(shutdown);
    let (stop, stopping) = watch::channel(false);
    let mut backoff = Backoff::new();
    loop {
        let trying = attempt(Shutdown(stopping.clone()));
        let mut trying = std::pin::pin!(trying);
        let attempted = tokio::select! {
            attempted = trying.as_mut() => attempted,
            _ = shutdown.as_mut() => {
                let _ = stop.send(true);
                trying.await;
                return Ok(None);
            }
        };
        match attempted {
            Attempt::Reached(value) => return Ok(Some(value)),
            Attempt::Fatal(error) => return Err(error),
            Attempt::Stopped => return Ok(None),
            Attempt::Down { why, had_session } => {
                if had_session {
                    backoff.reset();
                }
                let wait = backoff.next_wait();
                warn(&format!("{why}; {}", Backoff::schedule(wait)));
                tokio::select! {
                    _ = shutdown.as_mut() => return Ok(None),
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        }
    }
}

/// An error and its causes, each said once ("error sending request …:
/// connection refused"): the outer message alone often hides the useful part.
pub fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let said = inner.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        cause = inner.source();
    }
    text
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
    use tokio::time::Instant;

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

    fn down(why: &str) -> Attempt<&'static str, &'static str> {
        Attempt::Down {
            why: why.to_owned(),
            had_session: false,
        }
    }

    /// What a run of [`keep_trying`] did: when each attempt began (seconds
    /// of paused time from the start), the lines it logged, how it ended.
    struct Run {
        began: Vec<u64>,
        logged: Vec<String>,
        ended: Result<Option<&'static str>, &'static str>,
    }

    /// [`keep_trying`] over `script`, one outcome an attempt (an attempt
    /// past its end fails the test), until `shutdown`.
    async fn run(
        script: Vec<Attempt<&'static str, &'static str>>,
        shutdown: impl Future<Output = ()>,
    ) -> Run {
        let start = Instant::now();
        let mut script = script.into_iter();
        let mut began = Vec::new();
        let mut logged = Vec::new();
        let ended = keep_trying(
            shutdown,
            |_shutdown| {
                began.push(start.elapsed().as_secs());
                let next = script.next();
                async move { next.expect("no attempt after the loop should stop") }
            },
            |line| logged.push(line.to_owned()),
        )
        .await;
        Run {
            began,
            logged,
            ended,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn it_keeps_trying_while_down_waiting_longer_each_time_and_from_5s_again_after_a_session()
    {
        let lost = Attempt::Down {
            why: "lost the link".to_owned(),
            had_session: true,
        };
        let script = vec![
            down("refused"),
            down("refused"),
            lost,
            down("refused"),
            Attempt::Reached("a session"),
        ];
        let run = run(script, std::future::pending()).await;
        assert_eq!(run.ended, Ok(Some("a session")));
        // Waits of 5 s, 10 s, then 5 s after the session, then 10 s.
        assert_eq!(run.began, [0, 5, 15, 20, 30]);
        assert_eq!(
            run.logged,
            [
                "refused; retrying in 5s, then 10s, 20s … up to 5m",
                "refused; retrying in 10s, then 20s, 40s … up to 5m",
                "lost the link; retrying in 5s, then 10s, 20s … up to 5m",
                "refused; retrying in 10s, then 20s, 40s … up to 5m",
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_fatal_attempt_ends_it_at_once_without_a_wait_or_a_line() {
        let script = vec![down("refused"), Attempt::Fatal("bad token")];
        let run = run(script, std::future::pending()).await;
        assert_eq!(run.ended, Err("bad token"));
        assert_eq!(run.began, [0, 5]);
        assert_eq!(run.logged.len(), 1, "{:?}", run.logged);
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_during_a_wait_ends_it_with_nothing_and_no_further_attempt() {
        // The second wait (10 s, from 5 s) is cut short at 7 s.
        let start = Instant::now();
        let shutdown = tokio::time::sleep(Duration::from_secs(7));
        let run = run(vec![down("refused"), down("refused")], shutdown).await;
        assert_eq!(run.ended, Ok(None));
        assert_eq!(run.began, [0, 5]);
        assert_eq!(start.elapsed(), Duration::from_secs(7));
    }

    /// An attempt under way is told of the shutdown and given the time it
    /// takes to close what it opened; then the loop ends, trying no more.
    #[tokio::test(start_paused = true)]
    async fn shutdown_during_an_attempt_lets_it_close_then_ends() {
        let start = Instant::now();
        let shutdown = tokio::time::sleep(Duration::from_secs(3));
        let mut attempts = 0;
        let ended = keep_trying(
            shutdown,
            |mut shutdown| {
                attempts += 1;
                async move {
                    tokio::select! {
                        _ = shutdown.requested() => {
                            // Closing the session takes a while.
                            tokio::time::sleep(Duration::from_secs(2)).await;
                            Attempt::Stopped
                        }
                        _ = tokio::time::sleep(Duration::from_secs(60)) => Attempt::<(), ()>::Reached(()),
                    }
                }
            },
            |line| panic!("no wait expected: {line}"),
        )
        .await;
        assert_eq!(ended, Ok(None));
        assert_eq!(attempts, 1);
        assert_eq!(start.elapsed(), Duration::from_secs(5));
    }

    #[test]
    fn an_error_is_said_with_its_causes_each_once() {
        #[derive(Debug)]
        struct Said(&'static str, Option<Box<Said>>);
        impl std::fmt::Display for Said {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.0)
            }
        }
        impl std::error::Error for Said {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                self.1.as_deref().map(|s| s as _)
            }
        }
        let refused = Said("connection refused", None);
        let connect = Said(
            "tcp connect error: connection refused",
            Some(Box::new(refused)),
        );
        let request = Said("error sending request", Some(Box::new(connect)));
        assert_eq!(
            with_causes(&request),
            "error sending request: tcp connect error: connection refused"
        );
    }
}
