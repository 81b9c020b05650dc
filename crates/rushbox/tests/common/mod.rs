//! What the binary's end-to-end tests share: an app repository to deploy
//! and a config for it, `rushbox shell` run on them, a child's output
//! followed as it comes, waits that give up on time, and a provider whose
//! operations never finish, to crash rushbox under.

// Each test binary uses the part it needs.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long anything rushbox does may take on a busy 2-core machine: a
/// guard against a rushbox that never answers, not a wait for it.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// The `[provider]` section of a config that records and does nothing.
pub const NOOP: &str = "[provider]\nkind = \"noop\"";

/// git with a throwaway identity, in `repo`; fails the test if git does.
pub fn git(repo: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
        .args(args)
        .current_dir(repo)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

/// `dir/app`: a git repository with `main` and `foo`, checked out at `main`.
pub fn app_repo(dir: &Path) -> PathBuf {
    let repo = dir.join("app");
    std::fs::create_dir(&repo).unwrap();
    let git = |args: &[&str]| git(&repo, args);
    git(&["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("README"), "hello\n").unwrap();
    git(&["add", "README"]);
    git(&["commit", "-q", "-m", "first"]);
    git(&["checkout", "-q", "-b", "foo"]);
    std::fs::write(repo.join("README"), "hello foo\n").unwrap();
    git(&["commit", "-q", "-am", "foo"]);
    git(&["checkout", "-q", "main"]);
    repo
}

/// [`app_repo`] and `dir/rushbox.toml`, which deploys it as the app `shop`
/// with `provider` (a `[provider]` section), then whatever `tail` adds
/// (`[roles]`, a platform); the config's path.
pub fn shop_config(dir: &Path, provider: &str, tail: &str) -> PathBuf {
    app_repo(dir);
    let config = dir.join("rushbox.toml");
    std::fs::write(
        &config,
        format!("store = \"state\"\n{provider}\n[[apps]]\nname = \"shop\"\nrepo = \"app\"\n{tail}"),
    )
    .unwrap();
    config
}

/// Writes `text` to `path` as a script anyone may run.
pub fn executable(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    let mut perms = std::fs::metadata(path).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(path, perms).unwrap();
}

/// A `[provider]` section whose create, clone and deploy never end: the
/// script writes its pid to `dir/pid`, says `starting <env>` and sleeps.
pub fn slow_provider(dir: &Path) -> String {
    let script = dir.join("slow.sh");
    executable(
        &script,
        &format!(
            "#!/bin/sh\necho $$ > {}/pid\necho starting \"$RUSHBOX_ENV\"\nsleep 30\n",
            dir.display()
        ),
    );
    format!(
        "[provider]\nkind = \"script\"\n[provider.script]\ncreate = [\"{0}\"]\nclone_data = [\"{0}\"]\ndeploy = [\"{0}\"]\ndestroy = [\"true\"]\n",
        script.display()
    )
}

/// A temporary directory with the app repository and a config deploying it
/// with a given provider, for `rushbox shell`: lena leads, alice and bob
/// develop.
pub struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    pub fn new(provider: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        shop_config(
            dir.path(),
            provider,
            "[roles]\nleads = [\"shell:lena\"]\ndevelopers = [\"shell:alice\", \"shell:bob\"]\n",
        );
        Setup { dir }
    }

    /// With the `noop` provider.
    pub fn noop() -> Setup {
        Setup::new(NOOP)
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn config(&self) -> PathBuf {
        self.path().join("rushbox.toml")
    }

    /// `rushbox shell --config <config> <args>`, every stream piped.
    pub fn shell(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_rushbox"));
        command
            .arg("shell")
            .arg("--config")
            .arg(self.config())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    /// A shell fed `input` to its end; all it printed, once it exits.
    pub fn run(&self, args: &[&str], input: impl AsRef<[u8]>) -> Output {
        run_to_end(self.shell(args), input.as_ref())
    }
}

/// `command` (its streams piped) fed `input`, then waited for; fails the
/// test if it runs past [`PATIENCE`].
pub fn run_to_end(mut command: Command, input: &[u8]) -> Output {
    let mut child = command.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    // A writer of its own, so a long input can't block on unread output; a
    // rushbox that refuses to start may exit before reading it.
    std::thread::spawn(move || stdin.write_all(&input));
    output_within(child, PATIENCE)
}

/// The child's exit and all it printed (what is piped), woken by its exit;
/// killed and the test failed if it runs past `limit`.
pub fn output_within(child: Child, limit: Duration) -> Output {
    let pid = child.id();
    let (done, output) = mpsc::channel();
    std::thread::spawn(move || done.send(child.wait_with_output()));
    match output.recv_timeout(limit) {
        Ok(output) => output.unwrap(),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("rushbox did not finish within {limit:?}");
        }
    }
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn has(haystack: &str, needle: &str) {
    assert!(
        haystack.contains(needle),
        "expected {needle:?} in:\n{haystack}"
    );
}

/// True while `pid` is a process that runs: /proc has it and it is not a
/// zombie waiting for its new parent to reap it.
pub fn runs(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

/// A child's standard output as it comes, read on a thread of its own, so
/// that a wait for some text wakes as it arrives and gives up on time.
pub struct Transcript {
    chunks: mpsc::Receiver<Vec<u8>>,
    /// All that was printed so far.
    pub seen: String,
    patience: Duration,
}

impl Transcript {
    /// Follows `stdout`; a wait gives up after [`PATIENCE`].
    pub fn follow(mut stdout: ChildStdout) -> Transcript {
        let (send, chunks) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = stdout.read(&mut buf) {
                if send.send(buf[..n].to_vec()).is_err() {
                    return;
                }
            }
        });
        Transcript {
            chunks,
            seen: String::new(),
            patience: PATIENCE,
        }
    }

    /// Waits give up after `patience` instead.
    pub fn patience(mut self, patience: Duration) -> Transcript {
        self.patience = patience;
        self
    }

    /// Waits until `needle` has been printed.
    pub fn until(&mut self, needle: &str) {
        self.until_nth(needle, 1);
    }

    /// Waits until `needle` has been printed `times` times in all.
    pub fn until_nth(&mut self, needle: &str, times: usize) {
        let deadline = Instant::now() + self.patience;
        while self.seen.matches(needle).count() < times {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.chunks.recv_timeout(left) {
                Ok(chunk) => self.seen.push_str(&String::from_utf8_lossy(&chunk)),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!("never saw {needle:?} in:\n{}", self.seen)
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    panic!("rushbox ended before {needle:?}:\n{}", self.seen)
                }
            }
        }
    }

    /// All that was printed, once the output has ended (the child gone).
    pub fn all(mut self) -> String {
        while let Ok(chunk) = self.chunks.recv_timeout(self.patience) {
            self.seen.push_str(&String::from_utf8_lossy(&chunk));
        }
        self.seen
    }
}
