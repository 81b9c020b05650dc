//! How `rushbox shell` reads its input, end to end with the real binary: a
//! pipe with lines that are not UTF-8 or far too long, and a real terminal
//! (tmux) where lines are typed ahead or pasted while background work prints.

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{PATIENCE, Setup, Transcript, stdout};

/// `rushbox shell <args>` on `setup`, its errors to the test's own.
fn spawn(setup: &Setup, args: &[&str]) -> Child {
    setup.shell(args).stderr(Stdio::inherit()).spawn().unwrap()
}

/// Pipes `input` in, closes it: the exit code and what was printed.
fn run(setup: &Setup, args: &[&str], input: &[u8]) -> (Option<i32>, String) {
    let output = setup.run(args, input);
    (output.status.code(), stdout(&output))
}

#[test]
fn a_line_that_is_not_utf8_is_answered_and_the_lines_after_it_run() {
    let setup = Setup::noop();
    let (code, out) = run(
        &setup,
        &["--as", "lena"],
        b"envs\nlock staging for Q\xffA\nlock staging for QA\nwho has staging\n",
    );
    assert_eq!(code, Some(0), "{out}");
    let lines: Vec<&str> = out.lines().collect();
    let skipped = lines
        .iter()
        .position(|l| *l == "line 2 is not valid UTF-8 (byte 0xff at position 18); skipped.")
        .unwrap_or_else(|| panic!("no answer for line 2:\n{out}"));
    let locked = lines
        .iter()
        .position(|l| l.contains("staging is locked for you: \"QA\""))
        .unwrap_or_else(|| panic!("line 3 did not run:\n{out}"));
    assert!(skipped < locked, "{out}");
    assert!(
        out.contains("`staging` is locked by @lena for \"QA\""),
        "{out}"
    );

    // With --json the answer is a refusal like any other.
    let (code, out) = run(&setup, &["--as", "lena", "--json"], b"\xfe\nenvs\n");
    assert_eq!(code, Some(0), "{out}");
    let replies: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(replies[0]["kind"], "reply");
    assert_eq!(replies[0]["tone"], "refused");
    assert_eq!(
        replies[0]["text"],
        "line 1 is not valid UTF-8 (byte 0xfe at position 0); skipped."
    );
    assert_eq!(replies.len(), 2, "{out}");
}

/// The most memory the process has held so far (VmHWM), in bytes.
fn peak_memory(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmHWM in:\n{status}"));
    kb * 1024
}

/// Pipes `first` and then `envs`, waits for the answer to `envs` while the
/// shell still waits for input, and returns its output and peak memory then.
fn peak_after(setup: &Setup, first: Vec<u8>) -> (String, u64) {
    let mut child = spawn(setup, &["--as", "lena"]);
    let mut stdin = child.stdin.take().unwrap();
    let mut output = Transcript::follow(child.stdout.take().unwrap());
    // A writer of its own: the shell reads (and answers) while the line goes in.
    let writer = std::thread::spawn(move || {
        stdin.write_all(&first).unwrap();
        stdin.write_all(b"\nenvs\n").unwrap();
        stdin
    });
    output.until("No environments yet");
    let peak = peak_memory(child.id());
    drop(writer.join().unwrap());
    assert!(child.wait().unwrap().success());
    (output.seen, peak)
}

#[test]
fn a_line_far_over_the_limit_is_refused_without_being_kept_in_memory() {
    let setup = Setup::noop();
    let (_, baseline) = peak_after(&setup, b"who has staging".to_vec());
    let size = 50 * 1024 * 1024;
    let (out, peak) = peak_after(&setup, vec![b'a'; size]);
    assert!(
        out.contains(&format!(
            "line 1 is {size} bytes, over the 4096 bytes a command may have; skipped."
        )),
        "{out}"
    );
    assert!(
        out.contains("No environments yet"),
        "the next line ran:\n{out}"
    );
    let grew = peak.saturating_sub(baseline);
    assert!(
        grew < size as u64 / 4,
        "peak memory {peak} bytes, {grew} over a shell that read one short line"
    );
}

/// One tmux server of our own (its own socket), running the shell in a terminal.
struct Terminal {
    tmux: PathBuf,
    _dir: tempfile::TempDir,
}

impl Terminal {
    /// `None` (the test is skipped, saying why) where tmux is not installed;
    /// in CI (`CI` set) a missing tmux is a failure.
    fn start(setup: &Setup, user: &str) -> Option<Terminal> {
        if Command::new("tmux").arg("-V").output().is_err() {
            assert!(
                std::env::var_os("CI").is_none(),
                "tmux is needed for the terminal tests: apt-get install tmux"
            );
            eprintln!("skipped: tmux is not installed (apt-get install tmux)");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let terminal = Terminal {
            tmux: dir.path().join("tmux"),
            _dir: dir,
        };
        let bin = env!("CARGO_BIN_EXE_rushbox");
        let config = setup.config();
        terminal.tmux(&[
            "new-session",
            "-d",
            "-x",
            "160",
            "-y",
            "50",
            "-s",
            "rushbox",
            bin,
            "shell",
            "--config",
            config.to_str().unwrap(),
            "--as",
            user,
        ]);
        terminal.until(&format!("{user}> "), |screen| {
            last_line(screen) == format!("{user}>")
        });
        Some(terminal)
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-f")
            .arg("/dev/null")
            .arg("-S")
            .arg(&self.tmux)
            .args(args)
            .env_remove("TMUX")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Keys, as `tmux send-keys` names them (`Enter`), all sent at once.
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "rushbox"];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    /// `text` pasted the way a terminal pastes: as one bracketed paste.
    fn paste(&self, text: &str) {
        self.tmux(&["set-buffer", "-b", "paste", text]);
        self.tmux(&["paste-buffer", "-p", "-b", "paste", "-t", "rushbox"]);
    }

    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "rushbox"])
    }

    /// Watches the screen until `done` holds; `what` says what was awaited.
    fn until(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let screen = self.screen();
            if done(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "waited for {what}; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Ctrl-D, and the shell ends (with it the session and the server).
    fn leave(self) {
        self.keys(&["C-d"]);
        let deadline = Instant::now() + PATIENCE;
        while Command::new("tmux")
            .arg("-S")
            .arg(&self.tmux)
            .args(["has-session", "-t", "rushbox"])
            .output()
            .is_ok_and(|o| o.status.success())
        {
            assert!(Instant::now() < deadline, "the shell did not end on Ctrl-D");
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        // Our own server only, by its socket.
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(&self.tmux)
            .arg("kill-server")
            .output();
    }
}

fn last_line(screen: &str) -> &str {
    screen
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim_end()
}

#[test]
fn every_line_typed_ahead_or_pasted_runs() {
    let setup = Setup::noop();
    let Some(terminal) = Terminal::start(&setup, "lena") else {
        return;
    };
    // Three lines arrive at once, before the shell has read the first.
    terminal.keys(&[
        "lock staging for QA",
        "Enter",
        "who has staging",
        "Enter",
        "staging queue",
        "Enter",
    ]);
    let screen = terminal.until("three answers", |s| {
        s.contains("Nobody is waiting") && last_line(s) == "lena>"
    });
    assert!(
        screen.contains("staging is locked for you: \"QA\""),
        "{screen}"
    );
    assert!(
        screen.contains("`staging` is locked by @lena for \"QA\""),
        "{screen}"
    );

    // A paste of several lines is several commands, each run on its own.
    terminal.paste("unlock staging\nlock staging for demo\nwho has staging\n");
    terminal.keys(&["Enter"]);
    let screen = terminal.until("the pasted lines' answers", |s| {
        s.contains("for \"demo\", 0s ago") && last_line(s) == "lena>"
    });
    assert!(screen.contains("staging is unlocked."), "{screen}");
    terminal.leave();
}

#[test]
fn background_progress_prints_above_the_prompt_and_the_prompt_is_drawn_again() {
    let scratch = tempfile::tempdir().unwrap();
    let gate = scratch.path().join("gate");
    let made = Command::new("mkfifo").arg(&gate).status().unwrap();
    assert!(made.success());
    // The deploy step says it waits, then waits until the test opens the gate.
    let script = scratch.path().join("gated.sh");
    common::executable(
        &script,
        &format!(
            "#!/bin/sh\necho waiting for the gate\nread go < {}\necho gate opened\n",
            gate.display()
        ),
    );
    let setup = Setup::new(&format!(
        "[provider]\nkind = \"script\"\n[provider.script]\ncreate = [\"true\"]\n\
         clone_data = [\"true\"]\ndeploy = [\"{}\"]\ndestroy = [\"true\"]",
        script.display()
    ));
    let Some(terminal) = Terminal::start(&setup, "alice") else {
        return;
    };
    terminal.keys(&["deploy branch foo to dev", "Enter"]);
    terminal.until("the deploy under way", |s| {
        s.contains("… waiting for the gate") && last_line(s) == "alice>"
    });
    // Half a command typed when the background work speaks again.
    terminal.keys(&["who has"]);
    terminal.until("the typed text", |s| last_line(s) == "alice> who has");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&gate)
        .and_then(|mut gate| gate.write_all(b"go\n"))
        .unwrap();
    // The news comes above, and the prompt with what was typed is drawn again below it.
    let screen = terminal.until("the deploy's end, then the prompt", |s| {
        s.contains("`dev-foo` is ready") && last_line(s) == "alice> who has"
    });
    for news in ["… gate opened", "`dev-foo` is ready"] {
        let line = screen.lines().find(|l| l.contains(news)).unwrap_or("");
        assert!(
            !line.starts_with("alice>"),
            "{news:?} was printed on the prompt's line:\n{screen}"
        );
    }
    // And the line typed so far is still the one that runs.
    terminal.keys(&[" staging", "Enter"]);
    terminal.until("the typed command's answer", |s| {
        s.contains("`staging` is free") && last_line(s) == "alice>"
    });
    terminal.leave();
}
