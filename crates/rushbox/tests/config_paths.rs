//! Relative paths in a config file are taken from the file's directory,
//! however `--config` names the file and wherever rushbox runs; a `repo`
//! that is no git repository is refused at load, naming file, line and key.
//! The real binary, a real git repository, sled on disk.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{stderr, stdout};

/// `rushbox shell --config <config>` run in `cwd`, fed `script`; its output once it exits.
fn shell(cwd: &Path, config: &str, script: &str) -> Output {
    let mut shell = Command::new(env!("CARGO_BIN_EXE_rushbox"));
    shell
        .args(["shell", "--as", "lena", "--config", config])
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    common::run_to_end(shell, script.as_bytes())
}

/// A repository `app` holding two configs: `app/rushbox.toml` (`repo = "."`)
/// and `app/config/rushbox.toml` (`repo = ".."`, as in this repository), each
/// with its own store, so every form of `--config` can be tried on it.
fn project() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let app = common::app_repo(dir.path());
    let config = |repo: &str, store: &str| {
        format!(
            "store = \"{store}\"\n[provider]\nkind = \"noop\"\n[[apps]]\nname = \"shop\"\nrepo = \"{repo}\"\n\
             [roles]\nleads = [\"shell:lena\"]\n"
        )
    };
    std::fs::write(app.join("rushbox.toml"), config(".", "state-top")).unwrap();
    std::fs::create_dir(app.join("config")).unwrap();
    std::fs::write(
        app.join("config/rushbox.toml"),
        config("..", "../state-nested"),
    )
    .unwrap();
    (dir, app)
}

#[test]
fn every_form_of_a_config_path_finds_the_repository_and_the_store() {
    let (_dir, app) = project();
    let nested = app.join("config");
    // (where rushbox runs, --config, the store it must use)
    let forms = [
        (&app, "config/rushbox.toml", "state-nested"),
        (&app, "./rushbox.toml", "state-top"),
        (&app, "rushbox.toml", "state-top"),
        (&nested, "../rushbox.toml", "state-top"),
        (&nested, "../config/rushbox.toml", "state-nested"),
        (&nested, "rushbox.toml", "state-nested"),
    ];
    for (cwd, config, store) in forms {
        let out = shell(cwd, config, "deploy branch foo to dev\nenvs\n");
        let (text, err) = (stdout(&out), stderr(&out));
        assert!(
            out.status.success(),
            "--config {config} in {}:\n{err}{text}",
            cwd.display()
        );
        assert!(
            text.contains("`dev-foo` is recorded"),
            "--config {config}: {text}"
        );
        assert!(
            app.join(store).is_dir(),
            "--config {config} keeps its state in app/{store}"
        );
    }
    assert!(
        !nested.join("state-top").exists() && !nested.join("state-nested").exists(),
        "no store follows the working directory"
    );
}

#[test]
fn a_script_provider_without_working_dir_runs_in_the_config_directory() {
    let (_dir, app) = project();
    let script = app.join("deploy.sh");
    std::fs::write(&script, "#!/bin/sh\necho \"$RUSHBOX_ENV\" >> deployed\n").unwrap();
    let mut perms = std::fs::metadata(&script).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&script, perms).unwrap();
    std::fs::write(
        app.join("rushbox.toml"),
        "store = \"state\"\n[provider]\nkind = \"script\"\n[provider.script]\n\
         create = [\"true\"]\nclone_data = [\"true\"]\ndeploy = [\"./deploy.sh\"]\n[[apps]]\nname = \"shop\"\nrepo = \".\"\n",
    )
    .unwrap();
    let out = shell(&app, "rushbox.toml", "deploy branch foo to dev\n");
    assert!(
        stdout(&out).contains("`dev-foo` is ready"),
        "{}{}",
        stderr(&out),
        stdout(&out)
    );
    assert_eq!(
        std::fs::read_to_string(app.join("deployed")).unwrap(),
        "dev-foo\n"
    );
}

#[test]
fn a_repo_that_is_no_repository_is_refused_with_file_line_and_key() {
    let (_dir, app) = project();
    std::fs::create_dir(app.join("plain")).unwrap();
    let cases = [
        ("nowhere", "does not exist"),
        ("plain", "is not a git repository"),
    ];
    for (repo, problem) in cases {
        std::fs::write(
            app.join("config/rushbox.toml"),
            format!(
                "store = \"state\"\n\n[[apps]]\nname = \"web\"\nrepo = \"..\"\n\n\
                 [[apps]]\nname = \"shop\"\nrepo = \"../{repo}\"\n"
            ),
        )
        .unwrap();
        let out = shell(&app, "config/rushbox.toml", "envs\n");
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        let expected = format!(
            "rushbox: config/rushbox.toml:9: `repo`: app `shop`'s repository `{}` {problem}; \
             set `repo` to a clone of the app: absolute, or relative to {}\n",
            app.canonicalize().unwrap().join(repo).display(),
            app.canonicalize().unwrap().join("config").display(),
        );
        assert_eq!(stderr(&out), expected);
        assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    }
}

#[test]
fn nonsense_limits_stop_the_binary_with_file_line_and_key() {
    let (_dir, app) = project();
    let cases = [
        (
            "[limits]\ndev_envs_per_person = 0\n",
            "rushbox.toml:9: `dev_envs_per_person`: 0 lets nobody have a dev env",
        ),
        (
            "[times]\nlock_lease = 0\n",
            "rushbox.toml:9: `lock_lease`: 0s makes no sense for how long a lock lasts",
        ),
        (
            "[roles]\nleads = [\"shell:lena smith\"]\n",
            "rushbox.toml:9: `leads`: `shell:lena smith` can't be an actor id: it has a space",
        ),
    ];
    for (section, expected) in cases {
        std::fs::write(
            app.join("rushbox.toml"),
            format!("store = \"state\"\n[provider]\nkind = \"noop\"\n[[apps]]\nname = \"shop\"\nrepo = \".\"\n\n{section}"),
        )
        .unwrap();
        let out = shell(&app, "rushbox.toml", "envs\n");
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(
            stderr(&out).starts_with(&format!("rushbox: {expected}")),
            "{}",
            stderr(&out)
        );
    }
}
