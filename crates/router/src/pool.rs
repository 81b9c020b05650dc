//! Keep-alive connections from the router to envs: HTTP/1.1, one request at a
//! time on each, reused once the previous answer has been read.
//!
//! hyper-util's legacy `Client` does the same with more machinery; on the
//! router bench (instant app, A/B in alternation on a busy 2-core machine)
//! this pool took the router from 34-53% to 40-59% of direct throughput.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Connections kept per env; more concurrent requests than this open
/// connections that are closed after their one answer.
const MAX_KEPT_PER_ENV: usize = 128;

/// How long connecting to an env may take before the request gets a 502.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Default)]
pub(crate) struct Pool {
    kept: Mutex<HashMap<SocketAddr, Vec<SendRequest<Incoming>>>>,
}

/// Why an env did not answer, for the 502 text.
#[derive(Debug)]
pub(crate) enum SendError {
    Connect(std::io::Error),
    ConnectTimedOut,
    Http(hyper::Error),
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Connect(error) => write!(f, "connecting failed: {error}"),
            SendError::ConnectTimedOut => {
                write!(f, "connecting took over {} s", CONNECT_TIMEOUT.as_secs())
            }
            SendError::Http(error) => write!(f, "{error}"),
        }
    }
}

impl Pool {
    /// Send `request` to `addr` on a kept connection if one is free, else on a new one.
    pub(crate) async fn send(
        &self,
        addr: SocketAddr,
        request: Request<Incoming>,
    ) -> Result<Response<Incoming>, SendError> {
        let mut request = request;
        if let Some(mut sender) = self.take_ready(addr) {
            match sender.try_send_request(request).await {
                Ok(response) => {
                    self.keep(addr, sender, &response);
                    return Ok(response);
                }
                // The env closed this connection as we picked it: the request
                // was not sent, so it goes again on a new connection.
                Err(mut error) => match error.take_message() {
                    Some(unsent) => request = unsent,
                    None => return Err(SendError::Http(error.into_error())),
                },
            }
        }
        let mut sender = connect(addr).await?;
        let response = sender
            .send_request(request)
            .await
            .map_err(SendError::Http)?;
        self.keep(addr, sender, &response);
        Ok(response)
    }

    fn take_ready(&self, addr: SocketAddr) -> Option<SendRequest<Incoming>> {
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        let senders = kept.get_mut(&addr)?;
        senders.retain(|sender| !sender.is_closed());
        let ready = senders.iter().position(SendRequest::is_ready)?;
        Some(senders.swap_remove(ready))
    }

    /// Keep the connection for later requests; it becomes ready again once
    /// this response's body has been read. An upgraded one is not HTTP any more.
    fn keep(&self, addr: SocketAddr, sender: SendRequest<Incoming>, response: &Response<Incoming>) {
        if response.status() == StatusCode::SWITCHING_PROTOCOLS {
            return;
        }
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        let senders = kept.entry(addr).or_default();
        if senders.len() < MAX_KEPT_PER_ENV {
            senders.push(sender);
        }
    }
}

async fn connect(addr: SocketAddr) -> Result<SendRequest<Incoming>, SendError> {
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| SendError::ConnectTimedOut)?
        .map_err(SendError::Connect)?;
    let _ = stream.set_nodelay(true);
    let (sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(SendError::Http)?;
    tokio::spawn(async move {
        // Ends when the env or the router closes the connection; nobody waits on it.
        let _ = connection.with_upgrades().await;
    });
    Ok(sender)
}
