//! A long-lived child spoken to over its stdin and stdout, a request and an
//! answer at a time (git's `cat-file --batch-command`): started once, in its
//! own process group like every child, and asked many times, so a question
//! costs a pipe round trip instead of a fork and exec. Answers are read as
//! they arrive, each read bounded by a deadline (`poll`, not a sleep).
//! Dropping it kills the group and reaps the leader.

use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::process::{Child, ChildStdin, ChildStdout, Stdio};
use std::time::Instant;

use super::{Spec, locate};

/// Bytes read from the child and not yet taken.
const READ_CHUNK: usize = 64 * 1024;

/// One child and its two pipes.
pub struct Piped {
    child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
    pgid: libc::pid_t,
    buf: Vec<u8>,
    /// Where the bytes not yet taken start in `buf`.
    at: usize,
}

impl Piped {
    /// Starts `spec` with its stdin and stdout piped to us and its stderr
    /// dropped (its answers say what went wrong).
    pub fn spawn(spec: &Spec) -> io::Result<Piped> {
        let path = locate(spec, false)?;
        let (mut command, _) = spec.command(&path, &super::Output::Lines)?;
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = command.spawn()?;
        let pgid = match libc::pid_t::try_from(child.id()) {
            Ok(pgid) if pgid > 1 => pgid,
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(io::Error::other("unexpected process id"));
            }
        };
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::other("the child's pipes were not made"));
        };
        Ok(Piped {
            child,
            stdin,
            stdout,
            pgid,
            buf: Vec::with_capacity(READ_CHUNK),
            at: 0,
        })
    }

    /// Writes `request` whole.
    pub fn send(&mut self, request: &[u8]) -> io::Result<()> {
        self.stdin.write_all(request)?;
        self.stdin.flush()
    }

    /// The next line the child prints, without its newline.
    pub fn read_line(&mut self, deadline: Instant) -> io::Result<Vec<u8>> {
        loop {
            if let Some(end) = self.buf[self.at..].iter().position(|&b| b == b'\n') {
                let line = self.buf[self.at..self.at + end].to_vec();
                self.at += end + 1;
                return Ok(line);
            }
            self.fill(deadline)?;
        }
    }

    /// Exactly `n` bytes the child prints.
    pub fn read_exact(&mut self, n: usize, deadline: Instant) -> io::Result<Vec<u8>> {
        while self.buf.len() - self.at < n {
            self.fill(deadline)?;
        }
        let bytes = self.buf[self.at..self.at + n].to_vec();
        self.at += n;
        Ok(bytes)
    }

    /// Waits (until `deadline`) for the child's next output and appends it.
    fn fill(&mut self, deadline: Instant) -> io::Result<()> {
        if self.at == self.buf.len() {
            self.buf.clear();
            self.at = 0;
        } else if self.at > READ_CHUNK {
            self.buf.drain(..self.at);
            self.at = 0;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let millis = libc::c_int::try_from(left.as_millis()).unwrap_or(libc::c_int::MAX);
        let mut poll = libc::pollfd {
            fd: self.stdout.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, for the pipe we own, for the call's length.
        let ready = unsafe { libc::poll(&mut poll, 1, millis) };
        match ready {
            -1 => {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    return Ok(());
                }
                return Err(e);
            }
            0 => return Err(io::Error::from(io::ErrorKind::TimedOut)),
            _ => {}
        }
        let start = self.buf.len();
        self.buf.resize(start + READ_CHUNK, 0);
        let read = self.stdout.read(&mut self.buf[start..]);
        let n = match read {
            Ok(n) => n,
            Err(e) => {
                self.buf.truncate(start);
                return Err(e);
            }
        };
        self.buf.truncate(start + n);
        if n == 0 {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
        }
        Ok(())
    }
}

impl Drop for Piped {
    fn drop(&mut self) {
        // SAFETY: pgid is the child's own group (checked > 1 at spawn), and
        // the leader is not reaped yet, so the id can't be anyone else's.
        unsafe { libc::kill(-self.pgid, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn asks_and_reads_answers_as_they_come() {
        let mut cat = Piped::spawn(&Spec::new("cat")).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        cat.send(b"one\ntwo\n").unwrap();
        assert_eq!(cat.read_line(deadline).unwrap(), b"one");
        assert_eq!(cat.read_exact(3, deadline).unwrap(), b"two");
        assert_eq!(cat.read_line(deadline).unwrap(), b"");
        cat.send(b"three\n").unwrap();
        assert_eq!(cat.read_line(deadline).unwrap(), b"three");
    }

    #[test]
    fn a_silent_child_times_out_and_an_ended_one_is_eof() {
        let mut cat = Piped::spawn(&Spec::new("cat")).unwrap();
        let soon = Instant::now() + Duration::from_millis(20);
        let err = cat.read_line(soon).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);

        let mut done = Piped::spawn(&Spec::new("true")).unwrap();
        let later = Instant::now() + Duration::from_secs(10);
        let err = done.read_line(later).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}
