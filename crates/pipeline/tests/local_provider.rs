//! The `local` provider against real git, real processes and real HTTP on
//! 127.0.0.1. The test app is a small Python server; its build copies it
//! into the artifact and counts builds in a file (tests may use `sh`; the
//! provider never does).

mod processes;

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use processes::alive;
use rushbox_command::{AppName, EnvName};
use rushbox_pipeline::provider::local::{LocalConfig, LocalProvider};
use rushbox_pipeline::provider::{Action, CancelToken, Outcome, Provider, ProviderError, Request};
use serde_json::{Value, json};

const SERVER: &str = r#"
import http.server, os, subprocess
port = int(os.environ["PORT"])
data = os.environ["RUSHBOX_DATA_DIR"]
env = os.environ["RUSHBOX_ENV"]
content = open("content.txt").read().strip()
with open(os.path.join(data, "starts"), "a") as f:
    f.write(f"{os.getpid()}\n")
helper = subprocess.Popen(["sleep", "300"])
with open(os.path.join(data, "helper.pid"), "w") as f:
    f.write(str(helper.pid))
with open(os.path.join(data, "server.pid"), "w") as f:
    f.write(str(os.getpid()))

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        status = 200
        if self.path == "/health":
            body = b"ok\n"
        elif self.path != "/":
            status, body = 404, b"not found\n"
        else:
            path = os.path.join(data, "visits")
            n = int(open(path).read()) + 1 if os.path.exists(path) else 1
            with open(path, "w") as f:
                f.write(str(n))
            greeting = os.environ.get("GREETING", "")
            body = f"{env} {content} visits={n} greeting={greeting}\n".encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

server = http.server.HTTPServer(("127.0.0.1", port), Handler)
print(f"serving {env} on {port}", flush=True)
server.serve_forever()
"#;

/// A repository with `main` and `feature`, a provider rooted in a temp dir,
/// and a file the build appends a line to each time it runs.
struct World {
    // Dropped first: the provider stops its processes before the directory goes.
    provider: LocalProvider,
    config: LocalConfig,
    repos: BTreeMap<AppName, PathBuf>,
    main: String,
    feature: String,
    dir: tempfile::TempDir,
}

fn git(repo: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn api() -> AppName {
    AppName::parse("api").unwrap()
}

fn env(name: &str) -> EnvName {
    EnvName::parse(name).unwrap()
}

/// The provider's config for a world in `dir`; `app` is merged over the
/// default app settings (build, run, health).
fn config_json(dir: &Path, app: Value) -> Value {
    let counter = dir.join("builds");
    let mut settings = json!({
        "build": [
            "sh", "-c",
            "cp server.py content.txt \"$RUSHBOX_ARTIFACT_DIR\"/ && echo built >> \"$1\"",
            "sh", counter,
        ],
        "run": ["python3", "server.py"],
        "health": "/health",
        "health_timeout_secs": 10,
    });
    if let (Some(settings), Value::Object(extra)) = (settings.as_object_mut(), app) {
        settings.extend(extra);
    }
    json!({
        "root": dir.join("root"),
        "stop_grace_secs": 2,
        "apps": { "api": settings },
    })
}

impl World {
    fn new(app: Value) -> World {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        std::fs::create_dir(&repo).unwrap();
        git(&repo, &["init", "--quiet", "--initial-branch=main"]);
        std::fs::write(repo.join("server.py"), SERVER).unwrap();
        std::fs::write(repo.join("content.txt"), "main content\n").unwrap();
        git(&repo, &["add", "."]);
        git(&repo, &["commit", "--quiet", "-m", "server"]);
        let main = git(&repo, &["rev-parse", "HEAD"]);
        git(&repo, &["checkout", "--quiet", "-b", "feature"]);
        std::fs::write(repo.join("content.txt"), "feature content\n").unwrap();
        git(&repo, &["commit", "--quiet", "-am", "feature"]);
        let feature = git(&repo, &["rev-parse", "HEAD"]);
        git(&repo, &["checkout", "--quiet", "main"]);

        let config: LocalConfig = serde_json::from_value(config_json(dir.path(), app)).unwrap();
        let repos = BTreeMap::from([(api(), repo)]);
        let provider = LocalProvider::new(config.clone(), repos.clone()).unwrap();
        World {
            dir,
            config,
            repos,
            provider,
            main,
            feature,
        }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    fn builds_counted(&self) -> usize {
        std::fs::read_to_string(self.dir.path().join("builds"))
            .map(|s| s.lines().count())
            .unwrap_or(0)
    }

    fn data(&self, env: &str) -> PathBuf {
        self.root().join("data/api").join(env)
    }

    fn run(
        &self,
        action: Action,
        name: &str,
        commit: Option<&str>,
    ) -> Result<Outcome, ProviderError> {
        let dev = name.starts_with("dev-");
        let request = Request {
            action,
            app: api(),
            env: env(name),
            git_ref: None,
            commit: commit.map(str::to_owned),
            release: None,
            source_env: dev.then(EnvName::staging),
        };
        self.provider
            .run(&request, &mut |_| {}, &CancelToken::new())
    }

    /// What the engine asks for a new env: create (and clone data, for a dev env), then deploy.
    fn make(&self, name: &str, commit: &str) -> Outcome {
        self.run(Action::Create, name, None).unwrap();
        if name.starts_with("dev-") {
            self.run(Action::CloneData, name, None).unwrap();
        }
        self.run(Action::Deploy, name, Some(commit)).unwrap()
    }

    fn backend(&self, name: &str) -> Option<SocketAddr> {
        self.provider.backend(&api(), &env(name))
    }

    fn get(&self, name: &str) -> String {
        get(self.backend(name).expect("running"), "/").unwrap()
    }

    fn starts(&self, name: &str) -> usize {
        std::fs::read_to_string(self.data(name).join("starts"))
            .map(|s| s.lines().count())
            .unwrap_or(0)
    }

    fn pid(&self, name: &str, file: &str) -> i32 {
        std::fs::read_to_string(self.data(name).join(file))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }
}

fn failure(result: Result<Outcome, ProviderError>) -> String {
    match result {
        Err(ProviderError::Failed { message }) => message,
        other => panic!("expected Failed, got {other:?}"),
    }
}

/// The body of `GET path` (HTTP/1.0, so the server closes when done).
fn get(addr: SocketAddr, path: &str) -> io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: test\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.trim().to_owned())
        .unwrap_or_default())
}

fn eventually(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let until = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < until, "timed out waiting until {what}");
        thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn builds_once_per_commit_promotes_the_artifact_and_clones_stagings_data() {
    let world = World::new(json!({
        "env": { "GREETING": "hi" },
        "env_overrides": { "staging": { "GREETING": "hello-from-staging" } },
    }));
    let outcome = world.make("staging", &world.main);
    assert_eq!(
        outcome.address.as_deref(),
        Some("http://staging.localhost:8080")
    );
    assert_eq!(
        world.get("staging"),
        "staging main content visits=1 greeting=hello-from-staging"
    );
    assert_eq!(
        world.get("staging"),
        "staging main content visits=2 greeting=hello-from-staging"
    );
    assert_eq!(world.builds_counted(), 1);

    // A dev env of another branch: its own build, staging's data and config.
    world.make("dev-feature", &world.feature);
    assert_eq!(
        world.get("dev-feature"),
        "dev-feature feature content visits=3 greeting=hello-from-staging"
    );
    assert_eq!(world.builds_counted(), 2);
    assert_eq!(world.get("staging").split(' ').nth(3), Some("visits=3"));

    // Promotion: prod runs main's artifact as built for staging.
    world.make("prod", &world.main);
    assert_eq!(world.get("prod"), "prod main content visits=1 greeting=hi");
    assert_eq!(world.builds_counted(), 2, "promotion must not build");
    assert_eq!(world.provider.builds(), 2);
    // Redeploying the same commit doesn't build either.
    world
        .run(Action::Deploy, "staging", Some(&world.main))
        .unwrap();
    assert_eq!(world.builds_counted(), 2);
    assert_eq!(world.get("staging").split(' ').nth(3), Some("visits=4"));

    let worktree = world.root().join("worktrees/api/dev-feature");
    assert_eq!(
        std::fs::read_to_string(worktree.join("content.txt")).unwrap(),
        "feature content\n"
    );
    // The log is copied on its own thread: give it a moment.
    let logs = || world.provider.logs_tail(&api(), &env("dev-feature"), 20);
    let serving = |logs: &[String]| {
        logs.iter()
            .any(|l| l.starts_with("serving dev-feature on "))
    };
    let until = Instant::now() + Duration::from_secs(5);
    while !serving(&logs()) && Instant::now() < until {
        thread::sleep(Duration::from_millis(50));
    }
    assert!(serving(&logs()), "{:?}", logs());
    // Health checks read their whole answer: no connection reset in the app's log.
    assert!(
        !logs().iter().any(|l| l.contains("Traceback")),
        "{:?}",
        logs()
    );
}

#[test]
fn suspend_wake_crash_restart_and_destroy() {
    // No build command: the artifact is a copy of the worktree.
    let world = World::new(json!({ "build": null }));
    world.make("staging", &world.main);
    assert_eq!(
        world.get("staging"),
        "staging main content visits=1 greeting="
    );
    assert_eq!(world.provider.builds(), 1);
    let addr = world.backend("staging").unwrap();

    // SIGKILL: the supervisor starts it again on the same port.
    let pid = world.pid("staging", "server.pid");
    // SAFETY: sending a signal to a process this test started.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    eventually("restarted", Duration::from_secs(10), || {
        world.starts("staging") == 2 && get(addr, "/health").is_ok()
    });
    assert_eq!(
        world.get("staging"),
        "staging main content visits=2 greeting="
    );
    let logs = world.provider.logs_tail(&api(), &env("staging"), 50);
    assert!(
        logs.iter()
            .any(|l| l.contains("was killed by signal 9 (SIGKILL); restarting in 0.5s")),
        "{logs:?}"
    );

    // Suspend: nothing listens any more; wake: same data, serving again.
    let (server, helper) = (
        world.pid("staging", "server.pid"),
        world.pid("staging", "helper.pid"),
    );
    world.run(Action::Suspend, "staging", None).unwrap();
    assert_eq!(world.backend("staging"), None);
    assert_eq!(
        TcpStream::connect(addr).map_err(|e| e.kind()).err(),
        Some(io::ErrorKind::ConnectionRefused)
    );
    assert!(
        !alive(server) && !alive(helper),
        "suspend stops the whole group"
    );
    let woken = world.run(Action::Wake, "staging", None).unwrap();
    assert_eq!(
        woken.address.as_deref(),
        Some("http://staging.localhost:8080")
    );
    assert_eq!(
        world.get("staging"),
        "staging main content visits=3 greeting="
    );

    // Destroy: no process of the group left, worktree and data gone.
    let (server, helper) = (
        world.pid("staging", "server.pid"),
        world.pid("staging", "helper.pid"),
    );
    assert!(alive(server) && alive(helper));
    world.run(Action::Destroy, "staging", None).unwrap();
    assert!(!alive(server) && !alive(helper));
    assert_eq!(world.backend("staging"), None);
    for gone in [
        "worktrees/api/staging",
        "data/api/staging",
        "envs/api/staging.json",
    ] {
        assert!(!world.root().join(gone).exists(), "{gone} is left");
    }
    let worktrees = git(&world.repos[&api()], &["worktree", "list"]);
    assert_eq!(worktrees.lines().count(), 1, "{worktrees}");
    assert!(
        world
            .provider
            .wake_blocking(&api(), &env("staging"))
            .is_err()
    );
}

#[test]
fn hostile_input_is_refused_and_leaves_nothing_half_made() {
    let world = World::new(json!({}));

    // A commit that names nothing.
    world.run(Action::Create, "dev-x", None).unwrap();
    world.run(Action::CloneData, "dev-x", None).unwrap();
    let message = failure(world.run(Action::Deploy, "dev-x", Some(&"dead".repeat(10))));
    assert!(
        message.contains("names nothing in api's repository; push it first"),
        "{message}"
    );
    // Something that is not a commit id at all never reaches git.
    let message = failure(world.run(Action::Deploy, "dev-x", Some("--output=/tmp/x")));
    assert!(message.contains("not a hex commit id"), "{message}");
    assert!(!world.root().join("worktrees/api/dev-x").exists());
    assert_eq!(world.builds_counted(), 0);
    let artifacts = world.root().join("artifacts");
    assert!(!artifacts.exists() || std::fs::read_dir(&artifacts).unwrap().count() == 0);

    // An app the provider has no settings for: nothing made.
    let request = Request {
        action: Action::Create,
        app: AppName::parse("web").unwrap(),
        env: env("dev-y"),
        git_ref: None,
        commit: None,
        release: None,
        source_env: None,
    };
    let message = failure(
        world
            .provider
            .run(&request, &mut |_| {}, &CancelToken::new()),
    );
    assert!(
        message.contains("no settings for app `web` (configured: api)"),
        "{message}"
    );
    assert!(!world.root().join("data/web").exists());
    assert!(!world.root().join("envs/web").exists());
}

#[test]
fn a_run_command_that_exits_at_once_fails_quoting_its_log() {
    let world = World::new(json!({
        "run": ["sh", "-c", "echo cannot open the database >&2; exit 3"],
    }));
    world.run(Action::Create, "staging", None).unwrap();
    let message = failure(world.run(Action::Deploy, "staging", Some(&world.main)));
    assert!(message.contains("staging did not start"), "{message}");
    assert!(message.contains("exited with code 3"), "{message}");
    assert!(message.contains("cannot open the database"), "{message}");
    assert_eq!(world.backend("staging"), None);
    // The failed first deploy takes its worktree with it; nothing restarts it.
    assert!(!world.root().join("worktrees/api/staging").exists());
    let starts = world.provider.starts(&api(), &env("staging"));
    thread::sleep(Duration::from_millis(800));
    assert_eq!(world.provider.starts(&api(), &env("staging")), starts);

    // A program that isn't there, and an app that never answers its health path.
    for (settings, expected) in [
        (
            json!({ "run": ["./no-such-server"] }),
            "staging did not start: could not start `./no-such-server`: No such file",
        ),
        (
            json!({ "health": "/ready", "health_timeout_secs": 1 }),
            "`python3 server.py` did not answer GET /ready on port",
        ),
    ] {
        let world = World::new(settings);
        world.run(Action::Create, "staging", None).unwrap();
        let message = failure(world.run(Action::Deploy, "staging", Some(&world.main)));
        assert!(message.contains(expected), "{message}");
        assert_eq!(world.backend("staging"), None);
    }
}

#[test]
fn twenty_concurrent_wakes_start_a_suspended_env_once() {
    let world = World::new(json!({}));
    world.make("staging", &world.main);
    world.run(Action::Suspend, "staging", None).unwrap();
    assert_eq!(world.starts("staging"), 1);

    let barrier = Arc::new(Barrier::new(20));
    let addrs: Vec<SocketAddr> = thread::scope(|scope| {
        let handles: Vec<_> = (0..20)
            .map(|_| {
                let barrier = Arc::clone(&barrier);
                let provider = &world.provider;
                scope.spawn(move || {
                    barrier.wait();
                    provider.wake_blocking(&api(), &env("staging")).unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(addrs.iter().all(|a| *a == addrs[0]), "{addrs:?}");
    assert_eq!(world.starts("staging"), 2, "exactly one start for 20 wakes");
    assert_eq!(
        get(addrs[0], "/").unwrap(),
        "staging main content visits=1 greeting="
    );
}

#[test]
fn restore_after_a_restart_runs_what_should_run_and_nothing_else() {
    let world = World::new(json!({}));
    world.make("staging", &world.main);
    world.make("dev-a", &world.feature);
    world.make("dev-b", &world.feature);
    world.run(Action::Suspend, "dev-b", None).unwrap();
    let staging = world.backend("staging").unwrap();
    let server = world.pid("staging", "server.pid");
    let dev_b_starts = world.starts("dev-b");

    // rushbox stops: everything it ran stops with it.
    world.provider.shutdown();
    assert!(!alive(server));
    assert!(get(staging, "/").is_err());

    let restarted = LocalProvider::new(world.config.clone(), world.repos.clone()).unwrap();
    let results = restarted.restore(&[
        (api(), env("staging"), true),
        (api(), env("dev-a"), true),
        (api(), env("dev-b"), false),
    ]);
    assert_eq!(results.len(), 2);
    for (app, name, result) in &results {
        let addr = result.as_ref().unwrap();
        assert_eq!(restarted.backend(app, name), Some(*addr));
    }
    let body = |name: &str| get(restarted.backend(&api(), &env(name)).unwrap(), "/").unwrap();
    assert_eq!(body("staging"), "staging main content visits=1 greeting=");
    // dev-a's data was cloned from staging before anyone visited staging.
    assert_eq!(body("dev-a"), "dev-a feature content visits=1 greeting=");
    assert_eq!(restarted.backend(&api(), &env("dev-b")), None);
    assert_eq!(world.starts("dev-b"), dev_b_starts, "dev-b stays suspended");
    assert_eq!(world.builds_counted(), 2);
}

#[test]
fn a_port_taken_meanwhile_is_retried_once_on_another_port() {
    // The first start finds its port taken (as a server says it), the second works.
    let world = World::new(json!({
        "run": ["sh", "-c",
            "if [ ! -e \"$RUSHBOX_DATA_DIR/claimed\" ]; then touch \"$RUSHBOX_DATA_DIR/claimed\"; \
             echo 'OSError: [Errno 98] Address already in use' >&2; exit 1; fi; \
             exec python3 server.py"],
    }));
    world.run(Action::Create, "staging", None).unwrap();
    let mut lines = Vec::new();
    let request = Request {
        action: Action::Deploy,
        app: api(),
        env: env("staging"),
        git_ref: None,
        commit: Some(world.main.clone()),
        release: None,
        source_env: None,
    };
    world
        .provider
        .run(
            &request,
            &mut |l| lines.push(l.to_owned()),
            &CancelToken::new(),
        )
        .unwrap();
    assert!(
        lines
            .iter()
            .any(|l| l.ends_with("was taken meanwhile; trying another")),
        "{lines:?}"
    );
    assert_eq!(
        world.get("staging"),
        "staging main content visits=1 greeting="
    );
    assert_eq!(world.provider.starts(&api(), &env("staging")), 2);

    // Taken every time: one retry, then a clear error.
    let world = World::new(json!({
        "run": ["sh", "-c", "echo 'OSError: [Errno 98] Address already in use' >&2; exit 1"],
    }));
    world.run(Action::Create, "staging", None).unwrap();
    let message = failure(world.run(Action::Deploy, "staging", Some(&world.main)));
    assert!(message.contains("Address already in use"), "{message}");
    assert_eq!(world.provider.starts(&api(), &env("staging")), 2);
}

const CRASH_DIR_VAR: &str = "RUSHBOX_LOCAL_CRASH_DIR";
/// Set for a crashing rushbox whose build hangs (see [`SLOW_BUILD`]).
const CRASH_IN_BUILD_VAR: &str = "RUSHBOX_LOCAL_CRASH_IN_BUILD";

/// A build that writes its pid and its sleeper's into `$1`, says
/// `build started` and hangs.
fn slow_build(dir: &Path) -> Value {
    json!([
        "sh",
        "-c",
        "echo $$ > \"$1/build.pid\"; sleep 30 & echo $! > \"$1/sleeper.pid\"; \
         echo 'build started'; wait",
        "sh",
        dir,
    ])
}

/// A rushbox that deploys staging and hangs until killed, once staging
/// runs (or, with [`CRASH_IN_BUILD_VAR`], once its build has started).
/// Only runs as the child of [`crash_a_rushbox`].
#[test]
fn crashing_rushbox() {
    let Ok(dir) = std::env::var(CRASH_DIR_VAR) else {
        return;
    };
    let dir = Path::new(&dir);
    let app = match std::env::var_os(CRASH_IN_BUILD_VAR) {
        Some(_) => json!({ "build": slow_build(dir) }),
        None => json!({}),
    };
    let config = serde_json::from_value(config_json(dir, app)).unwrap();
    let repo = dir.join("repo");
    let main = git(&repo, &["rev-parse", "main"]);
    let provider = LocalProvider::new(config, BTreeMap::from([(api(), repo)])).unwrap();
    // Straight to stdout (the harness captures `println!`), after its
    // "test crashing_rushbox ... " on the same line.
    let ready = || {
        let mut out = io::stdout().lock();
        writeln!(out, "ready").unwrap();
        out.flush().unwrap();
    };
    for (action, commit) in [(Action::Create, None), (Action::Deploy, Some(main))] {
        let request = Request {
            action,
            app: api(),
            env: env("staging"),
            git_ref: None,
            commit,
            release: None,
            source_env: None,
        };
        let mut progress = |line: &str| {
            if line == "build started" {
                ready();
            }
        };
        provider
            .run(&request, &mut progress, &CancelToken::new())
            .unwrap();
    }
    ready();
    loop {
        thread::sleep(Duration::from_secs(60));
    }
}

/// Runs [`crashing_rushbox`] on `world` until it is ready, then SIGKILLs it:
/// no destructors, nothing stopped.
fn crash_a_rushbox(world: &World, in_build: bool) {
    use std::io::BufRead;
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--exact",
            "crashing_rushbox",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CRASH_DIR_VAR, world.dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    if in_build {
        command.env(CRASH_IN_BUILD_VAR, "1");
    }
    let mut child = command.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let ready = io::BufReader::new(stdout)
        .lines()
        .any(|l| l.unwrap().ends_with("ready"));
    assert!(ready, "the child rushbox got as far as it should");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn apps_left_by_a_crashed_rushbox_are_stopped_at_start_up() {
    let world = World::new(json!({}));
    crash_a_rushbox(&world, false);
    let (server, helper) = (
        world.pid("staging", "server.pid"),
        world.pid("staging", "helper.pid"),
    );
    assert!(
        alive(server) && alive(helper),
        "the app outlived its rushbox"
    );

    // The next rushbox touches nothing until it is told the store is its own;
    // then it stops what the last one left, and restores as told.
    let restarted = LocalProvider::new(world.config.clone(), world.repos.clone()).unwrap();
    assert!(alive(server) && alive(helper));
    assert_eq!(restarted.stop_leftovers(), 1);
    assert!(!alive(server) && !alive(helper));
    let logs = restarted.logs_tail(&api(), &env("staging"), 5);
    assert!(
        logs.iter()
            .any(|l| l.contains("(app), left running by an earlier rushbox")),
        "{logs:?}"
    );
    let results = restarted.restore(&[(api(), env("staging"), true)]);
    let addr = *results[0].2.as_ref().unwrap();
    assert_eq!(
        get(addr, "/").unwrap(),
        "staging main content visits=1 greeting="
    );
    assert_eq!(world.starts("staging"), 2);
}

#[test]
fn a_build_left_by_a_crashed_rushbox_is_stopped_at_start_up() {
    let world = World::new(json!({}));
    crash_a_rushbox(&world, true);
    let pid = |file: &str| -> i32 {
        let text = std::fs::read_to_string(world.dir.path().join(file)).unwrap();
        text.trim().parse().unwrap()
    };
    let (build, sleeper) = (pid("build.pid"), pid("sleeper.pid"));
    assert!(
        alive(build) && alive(sleeper),
        "the build outlived its rushbox"
    );

    let restarted = LocalProvider::new(world.config.clone(), world.repos.clone()).unwrap();
    assert_eq!(restarted.stop_leftovers(), 1);
    assert!(!alive(build) && !alive(sleeper));
    let logs = restarted.logs_tail(&api(), &env("staging"), 5);
    assert!(
        logs.iter()
            .any(|l| l.contains("(build), left running by an earlier rushbox")),
        "{logs:?}"
    );
    // The half-made artifact went with it; the next deploy builds afresh.
    let artifacts: Vec<_> = std::fs::read_dir(world.root().join("artifacts"))
        .unwrap()
        .collect();
    assert!(artifacts.is_empty(), "{artifacts:?}");
}

#[test]
fn an_app_that_keeps_exiting_is_in_a_crash_loop_until_it_runs_again() {
    // Serves once; every later start fails at once.
    let world = World::new(json!({
        "run": ["sh", "-c",
            "if [ -e \"$RUSHBOX_DATA_DIR/served\" ]; then echo 'the database is gone' >&2; exit 3; fi; \
             touch \"$RUSHBOX_DATA_DIR/served\"; exec python3 server.py"],
    }));
    world.make("staging", &world.main);
    let staging = env("staging");
    assert_eq!(world.provider.crash_loop(&api(), &staging), None);

    // SAFETY: a signal to the app this test's provider started.
    unsafe { libc::kill(world.pid("staging", "server.pid"), libc::SIGKILL) };
    eventually("two restarts", Duration::from_secs(20), || {
        world
            .provider
            .crash_loop(&api(), &staging)
            .is_some_and(|c| c.restarts >= 2)
    });
    let crashing = world.provider.crash_loop(&api(), &staging).unwrap();
    assert_eq!(crashing.last_exit, "code 3");
    assert_eq!(
        crashing.to_string(),
        format!(
            "crashing (restarted {} times, last exit: code 3)",
            crashing.restarts
        )
    );
    let logs = world.provider.logs_tail(&api(), &staging, 20);
    assert!(logs.iter().any(|l| l == "the database is gone"), "{logs:?}");

    // A new deploy runs steadily again: no crash loop. Suspended: nothing to say.
    std::fs::remove_file(world.data("staging").join("served")).unwrap();
    world
        .run(Action::Deploy, "staging", Some(&world.main))
        .unwrap();
    assert_eq!(world.provider.crash_loop(&api(), &staging), None);
    world.run(Action::Suspend, "staging", None).unwrap();
    assert_eq!(world.provider.crash_loop(&api(), &staging), None);
}

#[test]
fn a_configured_clone_data_command_replaces_the_copy() {
    let world = World::new(json!({
        "clone_data": ["sh", "-c",
            "cp \"$RUSHBOX_SOURCE_DATA_DIR/visits\" . && echo \"from $RUSHBOX_SOURCE_ENV\" > how"],
    }));
    world.make("staging", &world.main);
    world.get("staging");
    world.make("dev-feature", &world.feature);
    assert_eq!(
        world.get("dev-feature"),
        "dev-feature feature content visits=2 greeting="
    );
    assert_eq!(
        std::fs::read_to_string(world.data("dev-feature").join("how")).unwrap(),
        "from staging\n"
    );
    // Only what the command copied: staging's start log stayed behind.
    assert_eq!(world.starts("dev-feature"), 1);
}

#[test]
fn a_cancelled_build_stops_at_once_and_leaves_no_half_artifact() {
    let world = World::new(json!({ "build": ["sh", "-c", "echo compiling; sleep 30"] }));
    world.run(Action::Create, "staging", None).unwrap();
    let cancel = CancelToken::new();
    let request = Request {
        action: Action::Deploy,
        app: api(),
        env: env("staging"),
        git_ref: None,
        commit: Some(world.main.clone()),
        release: None,
        source_env: None,
    };
    let started = Instant::now();
    let result = thread::scope(|scope| {
        let deploy = scope.spawn(|| world.provider.run(&request, &mut |_| {}, &cancel));
        eventually("the build runs", Duration::from_secs(10), || {
            let logs = world.provider.logs_tail(&api(), &env("staging"), 5);
            logs.iter().any(|l| l == "compiling")
        });
        cancel.cancel();
        deploy.join().unwrap()
    });
    assert_eq!(result, Err(ProviderError::Cancelled));
    assert!(started.elapsed() < Duration::from_secs(10));
    let artifacts: Vec<_> = std::fs::read_dir(world.root().join("artifacts"))
        .unwrap()
        .collect();
    assert!(artifacts.is_empty(), "{artifacts:?}");
    assert!(!world.root().join("worktrees/api/staging").exists());
    assert_eq!(world.backend("staging"), None);
}
