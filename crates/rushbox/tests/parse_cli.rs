//! The `rushbox parse` contract that scripts rely on: one JSON object with
//! fixed keys, exit 0 for a parse (unknown included) and 2 for invalid.

use std::process::Command;

const KEYS: [&str; 14] = [
    "intent",
    "app",
    "ref",
    "source",
    "target",
    "force",
    "reason",
    "duration_secs",
    "user",
    "release",
    "hosts",
    "topic",
    "suggestions",
    "error",
];

fn parse_json<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> (i32, serde_json::Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_rushbox"))
        .arg("parse")
        .arg("--json")
        .args(args)
        .output()
        .expect("run rushbox");
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    assert_eq!(stdout.lines().count(), 1, "exactly one line: {stdout:?}");
    let value: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    (out.status.code().unwrap_or(-1), value)
}

#[test]
fn every_key_is_present_and_null_where_absent() {
    let (code, v) = parse_json(&["deploy", "api/feature/Login", "to", "staging/web-1"]);
    assert_eq!(code, 0);
    let object = v.as_object().expect("an object");
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut expected = KEYS.to_vec();
    expected.sort_unstable();
    assert_eq!(keys, expected);
    assert_eq!(v["intent"], "deploy");
    assert_eq!(v["app"], "api");
    assert_eq!(v["ref"], "feature/Login");
    assert_eq!(v["target"], "staging");
    assert_eq!(v["hosts"], "web-1");
    assert_eq!(v["force"], false);
    assert_eq!(v["source"], serde_json::Value::Null);
    assert_eq!(v["suggestions"], serde_json::json!([]));
    assert_eq!(v["error"], serde_json::Value::Null);
}

#[test]
fn each_field_lands_in_its_key() {
    let cases: &[(&[&str], serde_json::Value)] = &[
        (
            &["promote staging to production"],
            serde_json::json!({"intent": "promote", "source": "staging", "target": "prod"}),
        ),
        (
            &["lock staging for 2h, QA on checkout"],
            serde_json::json!({"intent": "lock", "target": "staging", "duration_secs": 7200, "reason": "QA on checkout"}),
        ),
        (
            &["steal", "the", "staging", "lock"],
            serde_json::json!({"intent": "lock", "force": true}),
        ),
        (
            &["give dev-foo to @alice"],
            serde_json::json!({"intent": "transfer", "target": "dev-foo", "user": "alice"}),
        ),
        (
            &["roll back production to v141"],
            serde_json::json!({"intent": "rollback", "target": "prod", "release": "v141"}),
        ),
        (
            &["help deploy"],
            serde_json::json!({"intent": "help", "topic": "deploy"}),
        ),
        (
            &["which environments are running"],
            serde_json::json!({"intent": "list_envs", "target": null}),
        ),
        (
            &["reset staging"],
            serde_json::json!({"intent": "reset", "target": "staging", "source": "prod"}),
        ),
    ];
    for (args, expected) in cases {
        let (code, v) = parse_json(args);
        assert_eq!(code, 0, "{args:?}");
        for (key, want) in expected.as_object().expect("object") {
            assert_eq!(&v[key], want, "{args:?}: {key}");
        }
    }
}

#[test]
fn unknown_exits_0_with_suggestions_and_invalid_exits_2_with_error() {
    let (code, v) = parse_json(&["deploy foo to stagign"]);
    assert_eq!((code, v["intent"].as_str()), (0, Some("unknown")));
    assert_eq!(v["suggestions"][0], "deploy branch foo to staging");

    let (code, v) = parse_json(&["deploy", "feat;$(id)", "to", "dev"]);
    assert_eq!((code, v["intent"].as_str()), (2, Some("invalid")));
    assert!(
        v["error"]
            .as_str()
            .unwrap_or("")
            .contains("can't contain `;`"),
        "{v}"
    );

    let (code, v) = parse_json(&["deploy", "--upload-pack=x"]);
    assert_eq!((code, v["intent"].as_str()), (2, Some("invalid")));
}

#[test]
fn hostile_names_in_short_forms_are_invalid_and_name_the_rule() {
    for (args, error) in [
        (
            &["deploy --upload-pack=x to dev"][..],
            "bad branch: a branch name can't start with `-`",
        ),
        (
            &["deploy", "$(touch", "/tmp/x)", "to", "dev"][..],
            "bad branch: a branch name can't contain `$`",
        ),
        (
            &["status ../../etc"][..],
            "bad env: an env name can't contain `.`",
        ),
    ] {
        let (code, v) = parse_json(args);
        assert_eq!(
            (code, v["intent"].as_str()),
            (2, Some("invalid")),
            "{args:?}"
        );
        let said = v["error"].as_str().unwrap_or("");
        assert!(said.contains(error), "{args:?}: {v}");
    }
    // git's own ref names are refs, not apps.
    let (code, v) = parse_json(&["deploy", "refs/heads/foo"]);
    assert_eq!(code, 0);
    assert_eq!(
        (&v["app"], &v["ref"]),
        (&serde_json::Value::Null, &serde_json::json!("foo"))
    );
    let (_, v) = parse_json(&["deploy", "origin/main"]);
    assert_eq!(
        (&v["app"], &v["ref"]),
        (&serde_json::Value::Null, &serde_json::json!("origin/main"))
    );
}

#[cfg(unix)]
#[test]
fn text_that_is_not_utf8_is_invalid_in_the_contract_not_a_usage_error() {
    use std::os::unix::ffi::OsStrExt;
    let not_utf8 = std::ffi::OsStr::from_bytes(b"\xff");
    let (code, v) = parse_json(&[not_utf8]);
    assert_eq!(code, 2);
    let mut keys: Vec<&str> = v
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    let mut expected = KEYS.to_vec();
    expected.sort_unstable();
    assert_eq!(keys, expected);
    assert_eq!(v["intent"], "invalid");
    assert_eq!(
        v["error"],
        "that text is not valid UTF-8 (byte 0xff at position 0)"
    );

    let deploy = std::ffi::OsStr::from_bytes(b"deploy fo\xffo");
    let out = Command::new(env!("CARGO_BIN_EXE_rushbox"))
        .arg("parse")
        .arg(deploy)
        .output()
        .expect("run rushbox");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "invalid: Can't do that: that text is not valid UTF-8 (byte 0xff at position 9).\n"
    );
}

#[test]
fn plain_output_reads_like_a_sentence() {
    let out = Command::new(env!("CARGO_BIN_EXE_rushbox"))
        .args(["parse", "hey", "rushbox,", "deploy", "foo", "please"])
        .output()
        .expect("run rushbox");
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "deploy: deploy branch foo to dev\n"
    );
}
