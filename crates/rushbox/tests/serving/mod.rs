//! What the `rushbox serve` tests share: the real binary as a child
//! process, its standard error collected as it comes, waited on line by
//! line (each line wakes the waiter), and stopped the way a service manager
//! stops it; and the kinds of unreachable server a platform can be.

// Each test binary uses the part it needs.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, mpsc};
use std::time::{Duration, Instant};

pub use crate::common::PATIENCE;
/// Seconds are enough to stop, whatever the platforms do (rushbox allows
/// them 5 s, then goes); this is the failure guard, not a wait.
pub const STOPS_WITHIN: Duration = Duration::from_secs(10);

/// A loopback address nothing listens on: connecting is refused.
pub fn refused_address() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// A server that accepts TCP connections and then says nothing; each
/// accepted connection is reported on the channel and kept open.
pub fn silent_server() -> (SocketAddr, mpsc::Receiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let (accepted, accepts) = mpsc::channel();
    std::thread::spawn(move || {
        let mut held: Vec<TcpStream> = Vec::new();
        for stream in listener.incoming().map_while(Result::ok) {
            held.push(stream);
            if accepted.send(()).is_err() {
                return;
            }
        }
    });
    (address, accepts)
}

/// `app` served on a loopback port by a runtime of its own, which serves
/// as long as the runtime returned is kept: a platform's fake API.
pub fn on_loopback(app: axum::Router) -> (SocketAddr, tokio::runtime::Runtime) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let address = listener.local_addr().unwrap();
    runtime.spawn(async move { axum::serve(listener, app).await });
    (address, runtime)
}

/// `rushbox serve` with `args`, its standard output discarded and no input.
pub fn serve_command(args: &[&std::ffi::OsStr]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rushbox"));
    command
        .arg("serve")
        .args(args)
        .env_remove("SLACK_APP_TOKEN")
        .env_remove("SLACK_BOT_TOKEN")
        .env_remove("SLACK_SIGNING_SECRET")
        .env_remove("SLACK_API_URL")
        .env_remove("DISCORD_TOKEN")
        .env_remove("DISCORD_API_PROXY")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

/// Standard error as read so far, and whether it has ended (the process
/// closed it, by exiting); the reader thread signals each change.
#[derive(Default)]
struct Said {
    text: String,
    ended: bool,
}

/// A running `rushbox serve`; killed when dropped, so a failed test leaves nothing behind.
pub struct Running {
    pub child: Child,
    stderr: Arc<(Mutex<Said>, Condvar)>,
}

impl Running {
    pub fn spawn(command: &mut Command) -> Running {
        let mut child = command.stderr(Stdio::piped()).spawn().unwrap();
        let stderr = Arc::new((Mutex::new(Said::default()), Condvar::new()));
        let pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let (said, changed) = &*sink;
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut said = said.lock().unwrap();
                said.text.push_str(&line);
                said.text.push('\n');
                changed.notify_all();
            }
            said.lock().unwrap().ended = true;
            changed.notify_all();
        });
        Running { child, stderr }
    }

    fn said(&self) -> MutexGuard<'_, Said> {
        self.stderr.0.lock().unwrap()
    }

    pub fn stderr(&self) -> String {
        self.said().text.clone()
    }

    /// The first line of standard error containing `needle`, waiting for it
    /// (or for rushbox to end without saying it, which fails the test).
    pub fn wait_for_line(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        let (said, changed) = &*self.stderr;
        let mut said = said.lock().unwrap();
        loop {
            if let Some(line) = said.text.lines().find(|l| l.contains(needle)) {
                return line.to_owned();
            }
            if said.ended {
                drop(said);
                let status = self.child.wait().unwrap();
                panic!(
                    "rushbox serve ended ({status}) before {needle:?}:\n{}",
                    self.stderr()
                );
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "never saw {needle:?}:\n{}", said.text);
            said = changed.wait_timeout(said, left).unwrap().0;
        }
    }

    /// SIGTERM, as a service manager stops it: the exit status and how long
    /// the exit took. Fails if rushbox is still running after `limit`.
    pub fn terminate_within(mut self, limit: Duration) -> (ExitStatus, Duration) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, start.elapsed());
            }
            assert!(
                start.elapsed() < limit,
                "rushbox serve still running {limit:?} after SIGTERM:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Running {
    /// SIGTERM: exit status 0, within [`STOPS_WITHIN`].
    pub fn stops_cleanly_on_sigterm(self) {
        let (status, took) = self.terminate_within(STOPS_WITHIN);
        assert!(status.success(), "{status}");
        assert!(took < STOPS_WITHIN, "{took:?}");
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
