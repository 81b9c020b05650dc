//! `rushbox demo` end to end: the real binary builds and runs the sample app
//! with the local provider behind the router, on loopback, with real git,
//! cargo and sled. Each test drives it as a person would: lines typed into
//! the shell, pages fetched through the router.

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::Transcript;

/// How long one step (a build, a deploy, shutting down) may take before the test fails.
const STEP: Duration = Duration::from_secs(180);

/// A running `rushbox demo`: its input, and its output as it arrives.
struct Demo {
    child: Child,
    input: Option<ChildStdin>,
    output: Option<Transcript>,
}

impl Demo {
    /// `rushbox demo --as lena --dir <dir> --listen <router>`, with `env` added.
    fn start(dir: &Path, router: SocketAddr, env: &[(&str, &Path)]) -> Demo {
        let mut command = Command::new(env!("CARGO_BIN_EXE_rushbox"));
        command
            .args(["demo", "--as", "lena", "--dir"])
            .arg(dir)
            .args(["--listen", &router.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().unwrap();
        let input = child.stdin.take();
        let output = Transcript::follow(child.stdout.take().unwrap()).patience(STEP);
        Demo {
            child,
            input,
            output: Some(output),
        }
    }

    fn output(&mut self) -> &mut Transcript {
        self.output
            .as_mut()
            .expect("the output is followed until the demo is left")
    }

    /// Waits until `needle` has appeared `times` times in all of the output.
    fn wait_for_nth(&mut self, needle: &str, times: usize) {
        self.output().until_nth(needle, times);
    }

    fn wait_for(&mut self, needle: &str) {
        self.output().until(needle);
    }

    fn type_line(&mut self, line: &str) {
        let input = self.input.as_mut().expect("input is open");
        writeln!(input, "{line}").unwrap();
    }

    /// Ends the input, as Ctrl-D does; the exit status and all it printed.
    fn leave(mut self) -> (ExitStatus, String) {
        self.input.take();
        let status = wait(&mut self.child);
        // The output ends when rushbox (and its reader) is gone.
        let seen = self.output.take().map(Transcript::all).unwrap_or_default();
        (status, seen)
    }
}

impl Drop for Demo {
    /// A failed test still stops its demo, which stops the envs it runs.
    fn drop(&mut self) {
        self.input.take();
        if matches!(self.child.try_wait(), Ok(None)) {
            let deadline = Instant::now() + Duration::from_secs(30);
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The child's exit, or a failed test after [`STEP`].
fn wait(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + STEP;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "rushbox did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One HTTP GET through the router, by Host; the whole answer, or the error.
fn get(router: SocketAddr, host: &str) -> Result<String, String> {
    let mut stream = std::net::TcpStream::connect(router).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .map_err(|e| e.to_string())?;
    Ok(answer)
}

/// A router address on a port that was free a moment ago.
fn free_router() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

#[test]
fn the_demo_serves_a_branch_and_promotes_the_same_build() {
    let dir = tempfile::tempdir().unwrap();
    let router = free_router();
    let port = router.port();
    let mut demo = Demo::start(&dir.path().join("demo"), router, &[]);
    // The demo puts main on staging and prod by itself.
    demo.wait_for("`prod` is ready");
    let prod = get(router, &format!("prod.localhost:{port}")).unwrap();
    assert!(prod.contains("branch <code>main</code>"), "{prod}");

    // Staging starts from 41 visits and is visited twice more; a dev env
    // cloned from it starts from its count.
    get(router, "staging.localhost").unwrap();
    get(router, "staging.localhost").unwrap();
    demo.type_line("deploy branch foo to dev");
    demo.wait_for("`dev-foo` is ready");
    let page = get(router, &format!("dev-foo.localhost:{port}")).unwrap();
    assert!(page.contains("branch <code>foo</code>"), "{page}");
    assert!(
        page.contains("visited <strong>44</strong>"),
        "staging's data was cloned: {page}"
    );

    // Suspended, then woken by a request through the router.
    demo.type_line("suspend dev-foo");
    demo.wait_for("`dev-foo` is suspended");
    let page = get(router, "dev-foo.localhost").unwrap();
    assert!(
        page.contains("visited <strong>45</strong>"),
        "woken by the request: {page}"
    );

    // The same build goes to staging and prod: built once.
    demo.type_line("deploy dev-foo to staging");
    demo.type_line("promote staging to prod");
    demo.wait_for_nth("`prod` is ready", 2);
    let prod = get(router, "prod.localhost").unwrap();
    assert!(prod.contains("branch <code>foo</code>"), "{prod}");
    let (status, seen) = demo.leave();
    assert!(status.success());
    assert_eq!(
        seen.matches("building with").count(),
        2,
        "main once, foo once:\n{seen}"
    );
    assert!(get(router, "prod.localhost").is_err(), "the router is gone");

    // rushbox comes back: the envs that were running run again, with their data.
    let again = Demo::start(&dir.path().join("demo"), router, &[]);
    let start = Instant::now();
    let page = loop {
        match get(router, "dev-foo.localhost") {
            Ok(page) if page.starts_with("HTTP/1.1 200") => break page,
            _ if start.elapsed() > STEP => panic!("dev-foo did not come back"),
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    assert!(page.contains("visited <strong>46</strong>"), "{page}");
    let (status, seen) = again.leave();
    assert!(status.success());
    assert!(
        !seen.contains("Deploying"),
        "a demo that is set up is not set up again:\n{seen}"
    );
}

/// The host's target triple, for a cargo config that names it.
fn host_triple() -> String {
    let out = Command::new("rustc").arg("-vV").output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("rustc -vV names the host")
        .to_owned()
}

/// The README's path (`deploy branch foo to dev`, open the link) with cargo
/// told to build elsewhere in every way a developer's machine does it.
#[test]
fn the_readme_path_works_whatever_cargo_is_told_and_shows_the_cloned_data() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = |name: &str| dir.path().join(name);
    // Cargo reads `.cargo/config.toml` in the directories above the build.
    std::fs::create_dir(dir.path().join(".cargo")).unwrap();
    std::fs::write(
        dir.path().join(".cargo/config.toml"),
        format!(
            "[build]\ntarget-dir = \"{}\"\ntarget = \"{}\"\n",
            elsewhere("from-cargo-config").display(),
            host_triple()
        ),
    )
    .unwrap();
    let router = free_router();
    let port = router.port();
    let mut demo = Demo::start(
        &dir.path().join("demo"),
        router,
        &[
            ("CARGO_TARGET_DIR", &elsewhere("from-cargo-target-dir")),
            (
                "CARGO_BUILD_TARGET_DIR",
                &elsewhere("from-cargo-build-target-dir"),
            ),
        ],
    );
    demo.wait_for("`prod` is ready");
    demo.type_line("deploy branch foo to dev");
    demo.wait_for(&format!("http://dev-foo.localhost:{port}"));
    let page = get(router, &format!("dev-foo.localhost:{port}")).unwrap();
    assert!(page.contains("branch <code>foo</code>"), "{page}");
    assert!(
        page.contains("visited <strong>42</strong>"),
        "the first page of dev-foo shows staging's count (41) cloned: {page}"
    );

    // A host that names no env gets the page with the address form, port included.
    let unknown = get(router, &format!("nope.localhost:{port}")).unwrap();
    assert!(unknown.starts_with("HTTP/1.1 404"), "{unknown}");
    assert!(
        unknown.contains(&format!("<code>http://&lt;env&gt;.localhost:{port}</code>")),
        "{unknown}"
    );
    let (status, _) = demo.leave();
    assert!(status.success());
    for name in [
        "from-cargo-config",
        "from-cargo-target-dir",
        "from-cargo-build-target-dir",
    ] {
        assert!(
            !elsewhere(name).exists(),
            "the build keeps to its own directory, not {name}"
        );
    }
}

/// What `rushbox demo` leaves after a run cut short at its first build.
fn killed_mid_setup(dir: &Path, router: SocketAddr) -> PathBuf {
    let demo_dir = dir.join("demo");
    let mut first = Demo::start(&demo_dir, router, &[]);
    first.wait_for("building with");
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    demo_dir
}

#[test]
fn a_demo_killed_mid_setup_sets_itself_up_on_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let router = free_router();
    let demo_dir = killed_mid_setup(dir.path(), router);

    let mut second = Demo::start(&demo_dir, router, &[]);
    second.wait_for("`prod` is ready");
    let prod = get(router, "prod.localhost").unwrap();
    assert!(prod.contains("branch <code>main</code>"), "{prod}");
    second.type_line("deploy branch foo to dev");
    second.wait_for("`dev-foo` is ready");
    let page = get(router, "dev-foo.localhost").unwrap();
    assert!(page.contains("visited <strong>42</strong>"), "{page}");
    let (status, _) = second.leave();
    assert!(status.success());
}

/// A demo made by a rushbox whose build script copied `target/release`,
/// which is not there when cargo is told to build elsewhere.
#[test]
fn a_demo_made_with_the_old_build_script_gets_the_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let demo_dir = dir.path().join("demo");
    let app = demo_dir.join("app");
    rushbox::demo_app::make_app(&app).unwrap();
    let old = "#!/bin/sh\nset -eu\ncargo build --release --offline --quiet\n\
               cp target/release/demo-app \"$RUSHBOX_ARTIFACT_DIR/\"\n";
    for branch in ["main", "foo"] {
        rushbox::demo_app::git(&app, &["checkout", "-q", branch]).unwrap();
        std::fs::write(app.join("build.sh"), old).unwrap();
        rushbox::demo_app::git(&app, &["commit", "-q", "-am", "the old build"]).unwrap();
    }
    rushbox::demo_app::git(&app, &["checkout", "-q", "main"]).unwrap();

    let router = free_router();
    let mut demo = Demo::start(
        &demo_dir,
        router,
        &[("CARGO_TARGET_DIR", &dir.path().join("elsewhere"))],
    );
    demo.wait_for("`prod` is ready");
    demo.type_line("deploy branch foo to dev");
    demo.wait_for("`dev-foo` is ready");
    let (status, _) = demo.leave();
    assert!(status.success());
    for branch in ["main", "foo"] {
        let script =
            rushbox::demo_app::git(&app, &["show", &format!("{branch}:build.sh")]).unwrap();
        assert_eq!(script, rushbox::demo_app::APP_BUILD, "on {branch}");
    }
}
