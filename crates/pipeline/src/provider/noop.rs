//! `noop`: does nothing, records every request and answers with the
//! address the `local` provider would give. For dry runs, tests and benchmarks.

use std::sync::Mutex;

use super::{CancelToken, Outcome, Provider, ProviderError, Request};

#[derive(Debug, Default)]
pub struct NoopProvider {
    requests: Mutex<Vec<Request>>,
}

impl NoopProvider {
    pub fn new() -> NoopProvider {
        NoopProvider::default()
    }

    /// Every request run so far, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.requests
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

impl Provider for NoopProvider {
    fn name(&self) -> &str {
        "noop"
    }

    fn effect_free(&self) -> bool {
        true
    }

    fn run(
        &self,
        request: &Request,
        progress: &mut dyn FnMut(&str),
        cancel: &CancelToken,
    ) -> Result<Outcome, ProviderError> {
        request.ready(cancel)?;
        progress(&format!("noop: {} {}", request.action, request.env));
        self.requests
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(request.clone());
        Ok(Outcome {
            address: Some(format!("http://{}.localhost:8080", request.env)),
        })
    }
}
