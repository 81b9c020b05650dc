//! Waking suspended envs, one wake per env however many requests wait for it
//! (PROXY-2; coalescing like Knative's activator).
//!
//! The first request for a suspended env starts the wake in a task of its own,
//! so that a client that gives up does not cancel it for the others; later
//! requests subscribe to the same outcome until the wake has ended.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;

use crate::{Backends, Lookup};

type Outcome = Result<SocketAddr, String>;

/// Where a wake left the request.
#[derive(Debug)]
pub(crate) enum Woken {
    /// The env is healthy and listens here.
    Ready(SocketAddr),
    /// The env was destroyed while the request looked for it.
    Gone,
}

/// Why a request could not be served after all.
#[derive(Debug)]
pub(crate) enum WakeError {
    /// The backend said the wake failed, and why.
    Failed(String),
    /// The env was not healthy within the wake timeout (the wake goes on).
    TimedOut(Duration),
}

#[derive(Default)]
pub(crate) struct Wakes {
    in_flight: Arc<Mutex<HashMap<String, watch::Receiver<Option<Outcome>>>>>,
}

impl Wakes {
    /// Wait until `env` runs, starting its wake unless one is in flight already.
    pub(crate) async fn wake(
        &self,
        backends: &Arc<dyn Backends>,
        env: &str,
        timeout: Duration,
    ) -> Result<Woken, WakeError> {
        let mut outcome = {
            let mut in_flight = self
                .in_flight
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match in_flight.get(env) {
                Some(outcome) => outcome.clone(),
                // Look again under the lock: a wake that ended since the
                // caller's lookup has removed its entry, and must not be repeated.
                None => match backends.lookup(env) {
                    Lookup::Running(addr) => return Ok(Woken::Ready(addr)),
                    Lookup::Unknown => return Ok(Woken::Gone),
                    Lookup::Suspended => {
                        let (sender, outcome) = watch::channel(None);
                        in_flight.insert(env.to_owned(), outcome.clone());
                        self.start(backends.clone(), env.to_owned(), sender);
                        outcome
                    }
                },
            }
        };
        match tokio::time::timeout(timeout, outcome.wait_for(Option::is_some)).await {
            Ok(Ok(done)) => match done.as_ref() {
                Some(Ok(addr)) => Ok(Woken::Ready(*addr)),
                Some(Err(why)) => Err(WakeError::Failed(why.clone())),
                None => Err(WakeError::Failed("the wake ended without an answer".into())),
            },
            Ok(Err(_)) => Err(WakeError::Failed("the wake ended without an answer".into())),
            Err(_) => Err(WakeError::TimedOut(timeout)),
        }
    }

    fn start(
        &self,
        backends: Arc<dyn Backends>,
        env: String,
        sender: watch::Sender<Option<Outcome>>,
    ) {
        let in_flight = self.in_flight.clone();
        tokio::spawn(async move {
            let waking = env.clone();
            let outcome = tokio::task::spawn_blocking(move || backends.wake(&waking))
                .await
                .unwrap_or_else(|_| Err("the wake panicked".to_string()));
            // Remove the entry and publish under one lock, so that no request
            // sees neither the entry nor the env running.
            let mut in_flight = in_flight.lock().unwrap_or_else(PoisonError::into_inner);
            in_flight.remove(&env);
            let _ = sender.send(Some(outcome));
        });
    }
}
