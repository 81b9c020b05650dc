//! `rushbox shell` end to end: the real binary, a real git repository, a
//! sled store on disk, scripts piped in as a person would type them.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Setup, Transcript, has, output_within, run_to_end, runs, stderr, stdout};

#[test]
fn a_morning_on_the_pipeline() {
    let setup = Setup::noop();
    let out = setup.run(
        &["--as", "alice"],
        "# alice starts a feature env\n\
         deploy branch foo to dev\n\
         deploy dev-foo to staging\n\
         /as bob\n\
         deploy main to dev\n\
         deploy dev-main to staging\n\
         queue me for staging\n\
         /as lena\n\
         promote staging to prod\n\
         /as bob\n\
         who has staging\n\
         which environments are running\n\
         deploy feat;$(id) to dev\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let t = stdout(&out);
    has(&t, "Deploying foo (");
    has(
        &t,
        "`dev-foo` is recorded (noop provider: nothing was started",
    );
    assert!(
        !t.contains("Open dev-foo"),
        "noop runs nothing to open:\n{t}"
    );
    has(&t, "`staging` is recorded");
    has(&t, "staging is locked by @alice");
    has(&t, "You are #1 in the staging queue");
    has(&t, "`prod` is recorded");
    has(&t, "→ @bob: It's your turn: the staging lock is yours.");
    has(&t, "`staging` is offered to @bob");
    has(&t, "4 environment(s):");
    has(&t, "can't contain `;`");
    // The lines were answered together, after one sync, but in order: the
    // notice that lena's promote caused comes right after its answer and
    // before the answer to the next line.
    let at = |needle: &str| {
        t.find(needle)
            .unwrap_or_else(|| panic!("no {needle:?} in:\n{t}"))
    };
    assert!(
        at("`prod` is recorded") < at("→ @bob: It's your turn"),
        "{t}"
    );
    assert!(
        at("→ @bob: It's your turn") < at("`staging` is offered to @bob"),
        "{t}"
    );
}

#[test]
fn json_prints_one_object_per_reply() {
    let setup = Setup::noop();
    let out = setup.run(&["--as", "alice", "--json"], "deploy foo\nenvs\nlunch?\n");
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(lines[0]["kind"], "reply");
    assert_eq!(lines[0]["to"], "@alice");
    assert_eq!(lines[0]["tone"], "success");
    let last_progress = lines
        .iter()
        .rfind(|l| l["kind"] == "progress")
        .expect("progress");
    assert_eq!(last_progress["final"], true);
    has(
        last_progress["text"].as_str().unwrap(),
        "`dev-foo` is recorded (noop provider",
    );
    let table = lines
        .iter()
        .find(|l| {
            l["text"]
                .as_str()
                .is_some_and(|t| t.starts_with("1 environment"))
        })
        .expect("envs");
    assert_eq!(table["reply"]["blocks"][1]["kind"], "table");
    let unknown = lines.last().unwrap();
    assert_eq!(unknown["tone"], "info");
    has(
        unknown["text"].as_str().unwrap(),
        "I didn't understand that",
    );
}

#[test]
fn state_survives_a_restart() {
    let setup = Setup::noop();
    let first = setup.run(&["--as", "alice"], "deploy foo\nlock staging for QA\n");
    assert!(first.status.success());
    let second = setup.run(&["--as", "bob"], "envs\nwho has staging\n");
    let t = stdout(&second);
    has(&t, "dev-foo");
    has(&t, "locked by @alice for \"QA\"");
}

#[test]
fn a_second_shell_on_the_same_store_is_refused() {
    let setup = Setup::noop();
    let mut first = setup.shell(&["--as", "alice"]).spawn().unwrap();
    let mut input = first.stdin.take().unwrap();
    // The first shell answers once it holds the store.
    input.write_all(b"envs\n").unwrap();
    Transcript::follow(first.stdout.take().unwrap()).until("No environments yet");
    let second = setup.run(&["--as", "bob"], "envs\n");
    assert!(!second.status.success());
    let err = stderr(&second);
    has(&err, "can't open the state store");
    has(&err, "another");
    drop(input);
    let _ = output_within(first, Duration::from_secs(30));
}

#[test]
fn config_mistakes_name_file_line_and_key() {
    let setup = Setup::noop();
    std::fs::write(
        setup.config(),
        "store = \"state\"\n[limits]\ndev_envs_per_persn = 2\n",
    )
    .unwrap();
    let out = setup.run(&[], "envs\n");
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    has(
        &err,
        "rushbox.toml:3: `dev_envs_per_persn`: unknown field `dev_envs_per_persn`",
    );

    std::fs::write(
        setup.config(),
        "[[apps]]\nname = \"shop\"\nrepo = \"nowhere\"\n",
    )
    .unwrap();
    let out = setup.run(&[], "envs\n");
    assert!(!out.status.success());
    has(&stderr(&out), "app `shop`");
}

#[test]
fn a_crash_mid_operation_is_reported_and_leaves_nothing_stuck() {
    let scratch = tempfile::tempdir().unwrap();
    let setup = Setup::new(&common::slow_provider(scratch.path()));
    let mut shell = setup
        .shell(&["--as", "alice", "--no-wait"])
        .spawn()
        .unwrap();
    let mut input = shell.stdin.take().unwrap();
    input
        .write_all(b"lock staging for QA\ndeploy branch foo to staging\n")
        .unwrap();
    // Wait until the deploy is under way, then kill rushbox without warning.
    Transcript::follow(shell.stdout.take().unwrap()).until("starting staging");
    shell.kill().unwrap();
    shell.wait().unwrap();
    drop(input);

    let script_pid: i32 = std::fs::read_to_string(scratch.path().join("pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        runs(script_pid),
        "the script outlives the killed rushbox until the next start"
    );

    let after = setup.run(
        &["--as", "alice"],
        "status staging\nwho has staging\nunlock staging\n",
    );
    let t = stdout(&after);
    has(
        &t,
        "Stopped 1 process group(s) that a previous run of rushbox left running.",
    );
    let start = Instant::now();
    while runs(script_pid) {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the orphaned script survived the restart"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    has(
        &t,
        "→ @alice: rushbox restarted while operation #1 (create of `staging`) was running",
    );
    has(&t, "interrupted by a restart");
    has(&t, "locked by @alice");
    // The lock is not stuck: its holder can release it.
    assert!(!t.contains("I can't do that"), "{t}");
}

#[test]
fn the_quick_start_runs_on_embedded_defaults() {
    // `rushbox shell` with no config, in a clone: the clone is the app, state goes to .rushbox/.
    let setup = Setup::noop();
    let repo = setup.path().join("app");
    let mut shell = Command::new(env!("CARGO_BIN_EXE_rushbox"));
    shell
        .args(["shell", "--as", "lena"])
        .current_dir(&repo)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = run_to_end(
        shell,
        b"deploy branch foo to dev\npromote dev-foo to staging\npromote staging to prod\nenvs\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let t = stdout(&out);
    has(&t, "`dev-foo` is recorded");
    has(&t, "`prod` is recorded");
    has(&t, "3 environment(s):");
    assert!(repo.join(".rushbox/state").is_dir());
}

#[test]
fn serve_says_what_is_missing() {
    let setup = Setup::noop();
    let serve_with = |config: &str, env: &[(&str, &str)]| {
        std::fs::write(setup.config(), config).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_rushbox"))
            .args(["serve", "--config"])
            .arg(setup.config())
            .env_remove("SLACK_BOT_TOKEN")
            .env_remove("SLACK_APP_TOKEN")
            .env_remove("SLACK_SIGNING_SECRET")
            .env_remove("DISCORD_TOKEN")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (out.status.success(), stderr(&out))
    };
    let serve = |config: &str| serve_with(config, &[]);
    let base = "store = \"state\"\n[[apps]]\nname = \"shop\"\nrepo = \"app\"\n";
    let (ok, err) = serve(base);
    assert!(!ok);
    has(&err, "the config names no chat platform");
    let (ok, err) = serve(&format!("{base}[slack]\n"));
    assert!(!ok);
    has(&err, "SLACK_BOT_TOKEN");
    let (ok, err) = serve(&format!("{base}[discord]\n"));
    assert!(!ok);
    has(&err, "DISCORD_TOKEN");
    let http = format!("{base}[slack]\nmode = \"http\"\n[http]\nlisten = \"127.0.0.1:0\"\n");
    let (ok, err) = serve(&http);
    assert!(!ok);
    has(&err, "SLACK_BOT_TOKEN");
    let (ok, err) = serve_with(&http, &[("SLACK_BOT_TOKEN", "xoxb-test")]);
    assert!(!ok);
    has(&err, "SLACK_SIGNING_SECRET");
    let (ok, err) = serve(&format!("{base}[slack]\nmoed = \"http\"\n"));
    assert!(!ok);
    has(&err, "rushbox.toml:6: `moed`: unknown field `moed`");
}

/// A piped stream many reads long: each read's lines are synced and
/// printed by the releaser while the next read is decided, and every
/// answer still comes out whole, once, in the order its line was read.
#[test]
fn a_long_piped_stream_is_answered_in_order_across_many_syncs() {
    let setup = Setup::noop();
    const PEOPLE: usize = 3000;
    let mut input = String::new();
    for i in 0..PEOPLE {
        input.push_str(&format!("/as u{i}\ndeploy branch nope-{i} to dev\n"));
    }
    let out = setup.run(&["--as", "alice"], input);
    assert!(out.status.success(), "{}", stderr(&out));
    let t = stdout(&out);
    let mut at = 0;
    for i in 0..PEOPLE {
        for needle in [
            format!("Now typing as @u{i}."),
            format!("• `nope-{i}` is not a commit I can find"),
        ] {
            let Some(found) = t[at..].find(&needle) else {
                panic!("`{needle}` missing or out of order after byte {at}");
            };
            at += found + needle.len();
        }
    }
    assert_eq!(
        t.matches("Now typing as @").count(),
        PEOPLE,
        "each answer once"
    );
}
