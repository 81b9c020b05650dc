//! The processes rushbox starts with the `local` provider, through the real
//! binary: a build cut short by a crash is stopped at the next start, a
//! second rushbox that is refused the store touches nothing of the first's,
//! and an app that keeps crashing is shown as crashing.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{PATIENCE, Transcript, has, output_within, runs};

/// Serves `hello from <env>` on `$PORT`, `/health` too, and writes its pid
/// into the env's data directory first.
const SERVER: &str = r#"
import http.server, os
env = os.environ["RUSHBOX_ENV"]
with open(os.path.join(os.environ["RUSHBOX_DATA_DIR"], "server.pid"), "w") as f:
    f.write(str(os.getpid()))

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"hello from {env}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"#;

/// Copies the server into the artifact. With `SLOW_BUILD` set (a directory)
/// it first writes its pid and its sleeper's there, says so, and hangs.
const BUILD: &str = r#"if [ -n "$SLOW_BUILD" ]; then
  echo $$ > "$SLOW_BUILD/build.pid"
  sleep 30 &
  echo $! > "$SLOW_BUILD/sleeper.pid"
  echo "build started"
  wait
fi
cp server.py run.sh "$RUSHBOX_ARTIFACT_DIR"/
"#;

/// Serves once; every later start fails at once, as an app whose database
/// went away does.
const RUN: &str = r#"if [ -e "$RUSHBOX_DATA_DIR/served" ]; then
  echo "the database is gone" >&2
  exit 3
fi
touch "$RUSHBOX_DATA_DIR/served"
exec python3 server.py
"#;

struct Setup {
    dir: tempfile::TempDir,
    router: SocketAddr,
}

impl Setup {
    /// The app repository (`foo` holds the server, build and run scripts)
    /// and a config running it with the local provider behind the router.
    fn new(run: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let repo = common::app_repo(dir.path());
        let git = |args: &[&str]| common::git(&repo, args);
        git(&["checkout", "-q", "foo"]);
        for (name, text) in [("server.py", SERVER), ("build.sh", BUILD), ("run.sh", RUN)] {
            std::fs::write(repo.join(name), text).unwrap();
        }
        git(&["add", "."]);
        git(&["commit", "-q", "-m", "the app"]);
        let router = free_addr();
        let config = format!(
            "store = \"state/db\"\n\
             [provider]\nkind = \"local\"\n\
             [provider.local]\nroot = \"envs\"\nstop_grace_secs = 2\n\
             [provider.local.apps.shop]\nbuild = [\"sh\", \"build.sh\"]\nrun = {run}\n\
             health = \"/health\"\nhealth_timeout_secs = 20\n\
             [router]\nlisten = \"{router}\"\n\
             [[apps]]\nname = \"shop\"\nrepo = \"app\"\n\
             [roles]\nleads = [\"shell:lena\"]\ndevelopers = [\"shell:alice\"]\n"
        );
        std::fs::write(dir.path().join("rushbox.toml"), config).unwrap();
        Setup { dir, router }
    }

    fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_rushbox"));
        command
            .args(["shell", "--as", "alice", "--config"])
            .arg(self.dir.path().join("rushbox.toml"))
            .env_remove("SLOW_BUILD")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    /// A shell kept open: its input, and its output read as it comes.
    fn open(&self, command: &mut Command) -> Shell {
        let mut child = command.spawn().unwrap();
        Shell {
            input: Some(child.stdin.take().unwrap()),
            output: Transcript::follow(child.stdout.take().unwrap())
                .patience(Duration::from_secs(120)),
            child,
        }
    }

    /// A shell run to the end of `script`.
    fn run(&self, script: &str) -> Output {
        common::run_to_end(self.command(), script.as_bytes())
    }

    fn data(&self, env: &str) -> PathBuf {
        self.dir.path().join("envs/data/shop").join(env)
    }

    fn log(&self, env: &str) -> String {
        let log = self
            .dir
            .path()
            .join("envs/logs/shop")
            .join(env)
            .join("current.log");
        std::fs::read_to_string(log).unwrap_or_default()
    }

    /// `GET /` through the router for `env`: the status line and body.
    fn get(&self, env: &str) -> String {
        let mut stream = TcpStream::connect(self.router).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        write!(
            stream,
            "GET / HTTP/1.1\r\nHost: {env}.localhost\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    }
}

struct Shell {
    child: Child,
    input: Option<ChildStdin>,
    output: Transcript,
}

impl Shell {
    fn type_line(&mut self, line: &str) {
        let input = self.input.as_mut().unwrap();
        input.write_all(format!("{line}\n").as_bytes()).unwrap();
    }

    /// Waits until the shell has printed `needle` `times` times.
    fn read_until(&mut self, needle: &str, times: usize) {
        self.output.until_nth(needle, times);
    }

    /// Ends the input and waits for the shell to stop its envs and exit.
    fn close(mut self) {
        drop(self.input.take());
        let status = output_within(self.child, PATIENCE).status;
        assert!(status.success(), "{status}");
    }
}

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn read_pid(path: &Path) -> i32 {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn a_build_cut_short_by_a_crash_is_stopped_at_the_next_start() {
    let setup = Setup::new("[\"python3\", \"server.py\"]");
    let scratch = tempfile::tempdir().unwrap();
    let mut shell = setup.open(setup.command().env("SLOW_BUILD", scratch.path()));
    shell.type_line("deploy branch foo to dev");
    // The build has written its pids before it says so.
    shell.read_until("build started", 1);
    let build = read_pid(&scratch.path().join("build.pid"));
    let sleeper = read_pid(&scratch.path().join("sleeper.pid"));
    // SIGKILL: rushbox stops nothing on its way out.
    shell.child.kill().unwrap();
    shell.child.wait().unwrap();
    assert!(
        runs(build) && runs(sleeper),
        "the build outlives the killed rushbox until the next start"
    );

    let after = setup.run("status dev-foo\n");
    assert!(!runs(build), "the build's shell survived the restart");
    assert!(!runs(sleeper), "the build's child survived the restart");
    let text = String::from_utf8_lossy(&after.stdout);
    has(&text, "of `dev-foo`) was running; it was stopped.");
    has(
        &text,
        "Stopped 1 process group(s) that a previous run of rushbox left running.",
    );
    has(&setup.log("dev-foo"), "left running by an earlier rushbox");
}

#[test]
fn a_refused_second_rushbox_leaves_the_first_ones_apps_running() {
    let setup = Setup::new("[\"python3\", \"server.py\"]");
    let mut first = setup.open(&mut setup.command());
    first.type_line("deploy branch foo to dev");
    first.read_until("`dev-foo` is ready", 1);
    let server = read_pid(&setup.data("dev-foo").join("server.pid"));
    has(&setup.get("dev-foo"), "hello from dev-foo");

    let second = setup.run("envs\n");
    assert!(!second.status.success());
    has(
        &String::from_utf8_lossy(&second.stderr),
        "another rushbox holds the database lock",
    );
    assert!(
        runs(server),
        "the refused rushbox stopped the first one's app"
    );
    let answer = setup.get("dev-foo");
    let status = answer.lines().next().unwrap_or_default();
    assert!(status.contains(" 200 "), "{answer}");
    has(&answer, "hello from dev-foo");
    assert!(
        !setup
            .log("dev-foo")
            .contains("left running by an earlier rushbox"),
        "{}",
        setup.log("dev-foo")
    );
    first.close();
    assert!(
        !runs(server),
        "the first rushbox stops its app when it ends"
    );
}

#[test]
fn an_app_in_a_crash_loop_is_shown_as_crashing() {
    let setup = Setup::new("[\"sh\", \"run.sh\"]");
    let mut shell = setup.open(&mut setup.command());
    shell.type_line("deploy branch foo to dev");
    shell.read_until("`dev-foo` is ready", 1);
    let server = read_pid(&setup.data("dev-foo").join("server.pid"));
    let killed = Command::new("kill")
        .args(["-KILL", &server.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    // The supervisor restarts it; every start after the first exits at once.
    let start = Instant::now();
    while setup.log("dev-foo").matches("exited with code 3").count() < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no crash loop:\n{}",
            setup.log("dev-foo")
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    shell.type_line("status dev-foo");
    shell.type_line("envs");
    shell.type_line("lunch?");
    shell.read_until("I didn't understand that", 1);
    let text = shell.output.seen.clone();
    has(&text, "crashing (restarted ");
    has(&text, "last exit: code 3");
    has(&text, "`logs dev-foo`");
    let listing = &text[text.find("1 environment(s):").unwrap()..];
    has(listing, "crashing (restarted ");
    shell.close();
}
