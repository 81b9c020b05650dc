//! The `script` provider against real processes: small `sh` scripts written
//! by each test (the test may use a shell; the provider never does).

mod processes;

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use processes::alive;
use rushbox_command::{AppName, EnvName, GitRef};
use rushbox_pipeline::provider::script::{ScriptConfig, ScriptProvider};
use rushbox_pipeline::provider::{Action, CancelToken, Outcome, Provider, ProviderError, Request};
use serde_json::{Value, json};

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

const ACTIONS: [Action; 6] = [
    Action::Create,
    Action::CloneData,
    Action::Deploy,
    Action::Suspend,
    Action::Wake,
    Action::Destroy,
];

fn request(action: Action) -> Request {
    Request {
        action,
        app: AppName::parse("api").unwrap(),
        env: EnvName::parse("dev-x").unwrap(),
        git_ref: Some(GitRef::parse("feat#1+x").unwrap()),
        commit: Some(COMMIT.to_owned()),
        release: Some("r12".to_owned()),
        source_env: Some(EnvName::staging()),
    }
}

fn bare_request(action: Action) -> Request {
    Request {
        git_ref: None,
        commit: None,
        release: None,
        source_env: None,
        ..request(action)
    }
}

/// Writes an executable `sh` script into `dir` and returns its path as text.
fn script(dir: &Path, name: &str, body: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.to_str().unwrap().to_owned()
}

fn provider(config: Value) -> ScriptProvider {
    ScriptProvider::new(serde_json::from_value::<ScriptConfig>(config).unwrap())
}

fn run(
    provider: &ScriptProvider,
    request: &Request,
) -> (Result<Outcome, ProviderError>, Vec<String>) {
    let mut lines = Vec::new();
    let result = provider.run(
        request,
        &mut |line| lines.push(line.to_owned()),
        &CancelToken::new(),
    );
    (result, lines)
}

fn failure(result: Result<Outcome, ProviderError>) -> String {
    match result {
        Err(ProviderError::Failed { message }) => message,
        other => panic!("expected Failed, got {other:?}"),
    }
}

fn read_pid(path: &Path) -> i32 {
    std::fs::read_to_string(path)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Runs `provider` on a thread; returns when the script has printed `started`.
struct Running {
    cancel: CancelToken,
    handle: thread::JoinHandle<(Result<Outcome, ProviderError>, Instant)>,
}

fn start(provider: ScriptProvider, request: Request) -> Running {
    let cancel = CancelToken::new();
    let token = cancel.clone();
    let (started, is_started) = mpsc::channel();
    let handle = thread::spawn(move || {
        let result = provider.run(
            &request,
            &mut |line| {
                if line == "started" {
                    let _ = started.send(());
                }
            },
            &token,
        );
        (result, Instant::now())
    });
    is_started
        .recv_timeout(Duration::from_secs(10))
        .expect("the script should print `started`");
    Running { cancel, handle }
}

#[test]
fn every_action_runs_its_command_with_values_as_arguments_and_variables() {
    let dir = tempfile::tempdir().unwrap();
    let echo = script(
        dir.path(),
        "echo.sh",
        r#"printf 'argc=%s\n' "$#"
for a in "$@"; do printf 'arg=%s\n' "$a"; done
printf 'env=%s|%s|%s|%s|%s|%s|%s\n' "$RUSHBOX_ACTION" "$RUSHBOX_APP" "$RUSHBOX_ENV" \
  "$RUSHBOX_REF" "$RUSHBOX_COMMIT" "$RUSHBOX_RELEASE" "$RUSHBOX_SOURCE_ENV"
printf 'region=%s\n' "$REGION""#,
    );
    let argv = json!([
        "sh",
        echo,
        "{action}",
        "--env={env}",
        "{ref}",
        "x-{app};$(id) {{ref}}"
    ]);
    let p = provider(json!({
        "create": argv, "clone_data": argv, "deploy": argv,
        "suspend": argv, "wake": argv, "destroy": argv,
        "env": { "REGION": "eu west 1" },
    }));
    for action in ACTIONS {
        let (result, lines) = run(&p, &request(action));
        assert_eq!(result, Ok(Outcome { address: None }), "{action}: {lines:?}");
        assert_eq!(
            lines,
            [
                "argc=4".to_owned(),
                format!("arg={action}"),
                "arg=--env=dev-x".to_owned(),
                "arg=feat#1+x".to_owned(),
                "arg=x-api;$(id) {ref}".to_owned(),
                format!("env={action}|api|dev-x|feat#1+x|{COMMIT}|r12|staging"),
                "region=eu west 1".to_owned(),
            ],
            "{action}"
        );
    }
}

#[test]
fn absent_values_are_empty_variables_but_refused_as_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let echo = script(
        dir.path(),
        "echo.sh",
        r#"printf '[%s][%s][%s][%s]\n' "$RUSHBOX_REF" "$RUSHBOX_COMMIT" "$RUSHBOX_RELEASE" "$RUSHBOX_SOURCE_ENV""#,
    );
    let p = provider(json!({
        "destroy": ["sh", echo, "{env}"],
        "create": ["sh", echo, "--from={source_env}"],
    }));
    let (result, lines) = run(&p, &bare_request(Action::Destroy));
    assert!(result.is_ok());
    assert_eq!(lines, ["[][][][]"]);

    let message = failure(run(&p, &bare_request(Action::Create)).0);
    assert!(message.contains("`create` needs a source env"), "{message}");
}

#[test]
fn progress_arrives_in_order_and_as_it_is_printed() {
    let dir = tempfile::tempdir().unwrap();
    let count = script(
        dir.path(),
        "count.sh",
        r#"i=1
while [ $i -le 300 ]; do echo "line $i"; i=$((i+1)); done
echo "before the pause"
sleep 1
echo "after the pause""#,
    );
    let p = provider(json!({ "deploy": ["sh", count] }));
    let mut seen = Vec::new();
    let result = p.run(
        &request(Action::Deploy),
        &mut |line| seen.push((line.to_owned(), Instant::now())),
        &CancelToken::new(),
    );
    assert!(result.is_ok());
    let lines: Vec<&str> = seen.iter().map(|(l, _)| l.as_str()).collect();
    let mut expected: Vec<String> = (1..=300).map(|i| format!("line {i}")).collect();
    expected.push("before the pause".to_owned());
    expected.push("after the pause".to_owned());
    assert_eq!(lines, expected);
    let gap = seen[301].1 - seen[300].1;
    assert!(
        gap >= Duration::from_millis(700),
        "lines were not streamed: {gap:?}"
    );
}

#[test]
fn stderr_lines_are_progress_too_and_control_characters_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let noisy = script(
        dir.path(),
        "noisy.sh",
        r#"printf 'warn\033[31m red\033[0m\n' >&2
sleep 0.2
printf 'a\tb\rc\n'
head -c 5000 /dev/zero | tr '\0' 'x'; echo"#,
    );
    let p = provider(json!({ "wake": ["sh", noisy] }));
    let (result, lines) = run(&p, &request(Action::Wake));
    assert!(result.is_ok());
    assert_eq!(lines[..2], ["warn red", "a\tbc"]);
    assert!(
        lines[2].len() <= 1004 && lines[2].ends_with(" …"),
        "{}",
        lines[2].len()
    );
}

#[test]
fn the_address_line_becomes_the_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let create = script(
        dir.path(),
        "create.sh",
        r#"echo "RUSHBOX_ADDRESS=https://evil.example.com" >&2
echo "creating $RUSHBOX_ENV"
echo "RUSHBOX_ADDRESS=http://$RUSHBOX_ENV.localhost:8080""#,
    );
    let bad = script(
        dir.path(),
        "bad.sh",
        r#"echo 'RUSHBOX_ADDRESS=http://x.localhost/<script>'"#,
    );
    let p = provider(json!({ "create": ["sh", create], "deploy": ["sh", bad] }));
    let (result, lines) = run(&p, &request(Action::Create));
    assert_eq!(
        result,
        Ok(Outcome {
            address: Some("http://dev-x.localhost:8080".to_owned())
        }),
        "{lines:?}"
    );
    let (result, lines) = run(&p, &request(Action::Deploy));
    assert_eq!(result, Ok(Outcome { address: None }));
    assert!(
        lines.iter().any(|l| l.contains("not a plain http(s) URL")),
        "{lines:?}"
    );
}

#[test]
fn a_failing_command_reports_its_exit_code_and_last_lines() {
    let dir = tempfile::tempdir().unwrap();
    let fail = script(
        dir.path(),
        "fail.sh",
        r#"i=1
while [ $i -le 10 ]; do echo "step $i"; i=$((i+1)); done
echo "migration failed: column exists" >&2
exit 3"#,
    );
    let killed = script(dir.path(), "killed.sh", "echo dying; kill -KILL $$");
    let p = provider(json!({ "deploy": ["sh", fail], "suspend": ["sh", killed] }));
    let message = failure(run(&p, &request(Action::Deploy)).0);
    assert!(
        message.starts_with("`deploy` failed: `sh` exited with code 3"),
        "{message}"
    );
    assert!(
        message.contains("migration failed: column exists"),
        "{message}"
    );
    assert!(
        message.contains("step 10") && message.contains("step 7"),
        "{message}"
    );
    assert!(!message.contains("step 2"), "{message}");

    let message = failure(run(&p, &request(Action::Suspend)).0);
    assert!(
        message.contains("was killed by signal 9 (SIGKILL)"),
        "{message}"
    );
    assert!(message.contains("dying"), "{message}");
}

#[test]
fn a_missing_program_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let p = provider(json!({
        "deploy": ["./no-such-script", "{env}"],
        "working_dir": dir.path(),
    }));
    let message = failure(run(&p, &request(Action::Deploy)).0);
    assert!(
        message.contains("could not start `./no-such-script`: No such file"),
        "{message}"
    );

    let p = provider(json!({
        "deploy": ["sh", "-c", "true"],
        "working_dir": dir.path().join("gone"),
    }));
    let message = failure(run(&p, &request(Action::Deploy)).0);
    assert!(message.contains("working directory"), "{message}");
}

#[test]
fn a_relative_program_runs_from_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    script(dir.path(), "where.sh", "pwd; echo \"$1\"");
    let p = provider(json!({
        "destroy": ["./where.sh", "{env}"],
        "working_dir": dir.path(),
    }));
    // A freshly written executable can be briefly "busy" while another test
    // thread forks; that is the test's race, not the provider's.
    let mut attempt = 0;
    let (result, lines) = loop {
        let (result, lines) = run(&p, &request(Action::Destroy));
        match &result {
            Err(ProviderError::Failed { message }) if message.contains("busy") && attempt < 5 => {
                attempt += 1;
                thread::sleep(Duration::from_millis(100));
            }
            _ => break (result, lines),
        }
    };
    assert!(result.is_ok(), "{result:?}");
    let canonical = dir.path().canonicalize().unwrap();
    assert_eq!(PathBuf::from(&lines[0]).canonicalize().unwrap(), canonical);
    assert_eq!(lines[1], "dev-x");
}

#[test]
fn an_action_without_a_command_is_not_configured() {
    let p = provider(json!({ "deploy": ["true"] }));
    for action in ACTIONS.into_iter().filter(|a| *a != Action::Deploy) {
        assert_eq!(
            run(&p, &request(action)).0,
            Err(ProviderError::NotConfigured { action })
        );
    }
    assert_eq!(p.name(), "script");
}

/// A script that starts `sleep 30` in the background, writes its own pid and
/// the sleeper's into `dir`, then runs `then`. Returns its argv for config.
fn sleeper(dir: &Path, first: &str, then: &str) -> Value {
    let body = format!(
        "{first}\nsleep 30 &\necho $! > \"$1/child.pid\"\necho $$ > \"$1/script.pid\"\n{then}"
    );
    json!(["sh", script(dir, "sleeper.sh", &body), dir])
}

/// The processes a [`sleeper`] started that are still alive.
fn survivors(dir: &Path) -> Vec<i32> {
    ["child.pid", "script.pid"]
        .map(|f| read_pid(&dir.join(f)))
        .into_iter()
        .filter(|pid| alive(*pid))
        .collect()
}

/// Cancels once the script has printed `started`; returns how long stopping took.
fn cancel_when_started(
    provider: ScriptProvider,
    action: Action,
) -> (Result<Outcome, ProviderError>, Duration) {
    let running = start(provider, request(action));
    let cancelled_at = Instant::now();
    running.cancel.cancel();
    let (result, ended_at) = running.handle.join().unwrap();
    (result, ended_at - cancelled_at)
}

#[test]
fn cancel_stops_the_script_and_everything_it_started() {
    let dir = tempfile::tempdir().unwrap();
    let argv = sleeper(dir.path(), "", "echo started\nwait");
    let (result, took) = cancel_when_started(provider(json!({ "deploy": argv })), Action::Deploy);
    assert_eq!(result, Err(ProviderError::Cancelled));
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert_eq!(
        survivors(dir.path()),
        Vec::<i32>::new(),
        "processes survived the cancel"
    );
}

#[test]
fn a_script_that_ignores_sigterm_is_killed_after_the_grace() {
    let dir = tempfile::tempdir().unwrap();
    let argv = sleeper(dir.path(), "trap '' TERM", "echo started\nwait");
    let p = provider(json!({ "deploy": argv, "kill_grace_secs": 1 }));
    let (result, took) = cancel_when_started(p, Action::Deploy);
    assert_eq!(result, Err(ProviderError::Cancelled));
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "{took:?}"
    );
    assert_eq!(survivors(dir.path()), Vec::<i32>::new());
}

#[test]
fn a_timeout_stops_the_script_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let argv = sleeper(dir.path(), "", "echo 'waiting for the database'\nwait");
    let p = provider(json!({
        "clone_data": argv,
        "timeout_secs": 3600,
        "timeouts": { "clone_data": 1 },
    }));
    let started = Instant::now();
    let message = failure(run(&p, &request(Action::CloneData)).0);
    assert!(started.elapsed() < Duration::from_secs(6));
    assert!(
        message.starts_with("`clone-data` timed out after 1s"),
        "{message}"
    );
    assert!(message.contains("waiting for the database"), "{message}");
    assert_eq!(survivors(dir.path()), Vec::<i32>::new());
}

#[test]
fn what_a_finished_script_leaves_behind_is_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let argv = sleeper(dir.path(), "", "echo done");
    // Huge limits are honoured as "a long time", not an overflow.
    let p = provider(json!({
        "suspend": argv,
        "timeout_secs": u64::MAX,
        "kill_grace_secs": u64::MAX,
    }));
    let started = Instant::now();
    let (result, lines) = run(&p, &request(Action::Suspend));
    assert!(result.is_ok());
    assert_eq!(lines, ["done"]);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(survivors(dir.path()), Vec::<i32>::new());
}

#[test]
fn a_cancelled_request_does_not_start() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let p = provider(json!({ "wake": ["touch", marker] }));
    let cancel = CancelToken::new();
    cancel.cancel();
    let result = p.run(&request(Action::Wake), &mut |_| {}, &cancel);
    assert_eq!(result, Err(ProviderError::Cancelled));
    assert!(!marker.exists());
}

#[test]
fn values_a_script_could_misread_are_refused() {
    let p = provider(json!({ "deploy": ["true", "{commit}"] }));
    for (commit, release) in [("--upload-pack=x", "r1"), (COMMIT, "-rf"), (COMMIT, "r 1")] {
        let mut r = request(Action::Deploy);
        r.commit = Some(commit.to_owned());
        r.release = Some(release.to_owned());
        failure(run(&p, &r).0);
    }
}

#[test]
fn config_mistakes_are_caught_when_it_is_read() {
    let read = |config: Value| {
        serde_json::from_value::<ScriptConfig>(config)
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    assert_eq!(read(json!({})), Ok(()));
    for (config, says) in [
        (json!({ "deploi": ["x"] }), "unknown field `deploi`"),
        (json!({ "deploy": [] }), "needs at least a program"),
        (
            json!({ "deploy": ["x", "{branch}"] }),
            "unknown placeholder `{branch}`",
        ),
        (json!({ "deploy": ["x", "{env"] }), "unmatched brace"),
        (
            json!({ "deploy": ["./{env}.sh"] }),
            "can't use placeholders",
        ),
        (json!({ "deploy": "./deploy.sh {env}" }), "a sequence"),
        (
            json!({ "env": { "RUSHBOX_ENV": "x" } }),
            "RUSHBOX_* variables",
        ),
        (
            json!({ "env": { "A B": "x" } }),
            "not a usable environment variable",
        ),
        (json!({ "timeout_secs": 0 }), "nonzero"),
        (
            json!({ "timeouts": { "deploi": 5 } }),
            "unknown field `deploi`",
        ),
    ] {
        let err = read(config.clone()).expect_err(&config.to_string());
        assert!(err.contains(says), "{config}: {err}");
    }
    let config: ScriptConfig =
        serde_json::from_value(json!({ "timeout_secs": 60, "timeouts": { "deploy": 5 } })).unwrap();
    assert_eq!(config.timeout(Action::Deploy), Duration::from_secs(5));
    assert_eq!(config.timeout(Action::Create), Duration::from_secs(60));
    assert_eq!(
        ScriptConfig::default().timeout(Action::Wake),
        Duration::from_secs(1800)
    );
}
