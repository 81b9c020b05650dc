//! What the binary's end-to-end tests share: an app repository to deploy,
//! and a provider whose operations never finish, to crash rushbox under.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// `dir/app`: a git repository with `main` and `foo`, checked out at `main`.
pub fn app_repo(dir: &Path) -> PathBuf {
    let repo = dir.join("app");
    std::fs::create_dir(&repo).unwrap();
    let git = |args: &[&str]| {
        let status = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
            .args(args)
            .current_dir(&repo)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "git {args:?}");
    };
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

/// A `[provider]` section whose create, clone and deploy never end: the
/// script writes its pid to `dir/pid`, says `starting <env>` and sleeps.
pub fn slow_provider(dir: &Path) -> String {
    let script = dir.join("slow.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho $$ > {}/pid\necho starting \"$RUSHBOX_ENV\"\nsleep 30\n",
            dir.display()
        ),
    )
    .unwrap();
    let mut perms = std::fs::metadata(&script).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&script, perms).unwrap();
    format!(
        "[provider]\nkind = \"script\"\n[provider.script]\ncreate = [\"{0}\"]\nclone_data = [\"{0}\"]\ndeploy = [\"{0}\"]\ndestroy = [\"true\"]\n",
        script.display()
    )
}
