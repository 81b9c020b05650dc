//! Bringing an env's app up to ready: a free port, the supervised start,
//! the readiness probe (`GET` of its health path, 2xx or 3xx) and one retry
//! when the port was taken meanwhile. Crash loops are the supervisor's.

use std::ffi::OsString;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rushbox_command::{AppName, EnvName};

use super::config::HealthPath;
use super::layout::EnvRecord;
use super::log::Log;
use super::supervisor::Supervisor;
use super::{EnvSlot, LocalProvider, Running, failed, lock};
use crate::process;
use crate::provider::{CancelToken, ProviderError};

/// Log lines quoted when an app fails to start.
const LOG_LINES_IN_ERRORS: usize = 10;
/// Bytes of a health check's answer read (the rest is not waited for).
const MAX_HEALTH_ANSWER: u64 = 64 * 1024;
/// How often a starting app is asked for its health path.
const HEALTH_POLL: Duration = Duration::from_millis(50);

impl LocalProvider {
    /// Starts the env's process from `record`'s artifact on a free port and
    /// waits until it answers its health path; retries once on a new port
    /// when the port was taken meanwhile. The caller holds `slot.op`.
    pub(super) fn start(
        &self,
        slot: &EnvSlot,
        app: &AppName,
        env: &EnvName,
        record: &EnvRecord,
        progress: &mut dyn FnMut(&str),
        cancel: &CancelToken,
    ) -> Result<Running, ProviderError> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(failed("rushbox is shutting down; not starting anything"));
        }
        let settings = self.config.app(app)?;
        let key = record.artifact.as_deref().ok_or_else(|| {
            failed(format!(
                "{env} has nothing deployed yet; deploy a branch to it first"
            ))
        })?;
        let artifact = self.artifacts_dir().join(key);
        if !artifact.is_dir() {
            return Err(failed(format!(
                "{env}'s build (artifact {}) is missing; deploy it again",
                key.get(..12).unwrap_or(key)
            )));
        }
        let data = self.data_dir(app, env);
        fs::create_dir_all(&data)
            .map_err(|e| failed(format!("can't make `{}`: {e}", data.display())))?;
        let log = self.log(slot, app, env);
        let grace = Duration::from_secs(self.config.stop_grace_secs);
        let run = &settings.run;
        let mut retried = false;
        loop {
            let port =
                free_port().map_err(|e| failed(format!("no free port on 127.0.0.1: {e}")))?;
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            let mut vars = settings.config_vars(env, record.source_env.as_ref());
            vars.extend([
                ("PORT".to_owned(), OsString::from(port.to_string())),
                ("RUSHBOX_DATA_DIR".to_owned(), data.clone().into()),
                ("RUSHBOX_ENV".to_owned(), env.as_str().into()),
                ("RUSHBOX_APP".to_owned(), app.as_str().into()),
            ]);
            let spec = self.spec(run, &artifact, app, env, "app").envs(vars);
            progress(&format!("starting `{run}` on port {port}"));
            log.note(&format!("starting {env} on port {port}"));
            let supervisor = Supervisor::start(spec, Arc::clone(&log), grace)
                .map_err(|e| failed(format!("can't start a supervisor thread: {e}")))?;
            lock(&slot.state).starts += 1;
            let timeout = Duration::from_secs(settings.health_timeout_secs);
            let why = match wait_healthy(&supervisor, addr, &settings.health, timeout, cancel) {
                // A shutdown that came meanwhile did not see this process: stop it here.
                Ok(()) if self.closed.load(Ordering::SeqCst) => {
                    supervisor.stop();
                    return Err(failed("rushbox is shutting down; not starting anything"));
                }
                Ok(()) => {
                    progress(&format!(
                        "healthy: GET {} answered",
                        settings.health.as_str()
                    ));
                    return Ok(Running { supervisor, addr });
                }
                Err(Unhealthy::Cancelled) => {
                    supervisor.stop();
                    return Err(ProviderError::Cancelled);
                }
                Err(Unhealthy::Exited(how)) if how.starts_with("could not start") => how,
                Err(Unhealthy::Exited(how)) => {
                    format!(
                        "`{run}` {how} before it answered GET {}",
                        settings.health.as_str()
                    )
                }
                Err(Unhealthy::TimedOut) => format!(
                    "`{run}` did not answer GET {} on port {port} within {}s",
                    settings.health.as_str(),
                    timeout.as_secs()
                ),
            };
            supervisor.stop();
            let tail = Log::tail(&self.logs_dir(app, env), LOG_LINES_IN_ERRORS);
            let port_taken = tail
                .iter()
                .any(|l| l.to_ascii_lowercase().contains("in use"))
                || TcpListener::bind(addr).is_err();
            if port_taken && !retried {
                retried = true;
                progress(&format!("port {port} was taken meanwhile; trying another"));
                continue;
            }
            return Err(failed(format!(
                "{env} did not start: {why}{}",
                process::quote(tail.iter().map(String::as_str))
                    .replace("last output", "last log lines")
            )));
        }
    }
}

/// A port free on 127.0.0.1 right now (the OS picks it).
fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

enum Unhealthy {
    Exited(String),
    TimedOut,
    Cancelled,
}

/// Asks `GET <path>` every [`HEALTH_POLL`] until a 2xx or 3xx answer, the
/// process exits, the time is up or the operation is cancelled (the last
/// two end the wait between two asks at once).
fn wait_healthy(
    supervisor: &Supervisor,
    addr: SocketAddr,
    path: &HealthPath,
    timeout: Duration,
    cancel: &CancelToken,
) -> Result<(), Unhealthy> {
    let deadline = Instant::now() + timeout;
    let exited = || match supervisor.exits() {
        (0, _) => None,
        (_, how) => Some(Unhealthy::Exited(
            how.unwrap_or_else(|| "exited".to_owned()),
        )),
    };
    loop {
        if let Some(exited) = exited() {
            return Err(exited);
        }
        // Asked again after the answer: a process that took the port
        // meanwhile may answer while ours is failing to bind it.
        if healthy(addr, path) {
            return exited().map_or(Ok(()), Err);
        }
        if cancel.is_cancelled() {
            return Err(Unhealthy::Cancelled);
        }
        if Instant::now() >= deadline {
            return Err(Unhealthy::TimedOut);
        }
        supervisor.wait_exit(0, HEALTH_POLL, cancel);
    }
}

/// One HTTP/1.0 GET; true for a 2xx or 3xx status.
fn healthy(addr: SocketAddr, path: &HealthPath) -> bool {
    let probe = || -> io::Result<bool> {
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500))?;
        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
        stream.set_write_timeout(Some(Duration::from_secs(2)))?;
        write!(
            stream,
            "GET {} HTTP/1.0\r\nHost: localhost\r\nUser-Agent: rushbox-health\r\n\r\n",
            path.as_str()
        )?;
        // The whole answer (HTTP/1.0: until the app closes), so closing
        // with unread bytes doesn't reset the app's connection mid-write.
        let mut answer = Vec::new();
        stream.take(MAX_HEALTH_ANSWER).read_to_end(&mut answer)?;
        // "HTTP/1.x 2xx"
        Ok(answer.starts_with(b"HTTP/") && matches!(answer.get(9), Some(b'2' | b'3')))
    };
    probe().unwrap_or(false)
}
