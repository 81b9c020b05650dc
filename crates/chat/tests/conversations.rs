//! Conversations through the Robot, as people have them: two developers and
//! a lead racing for staging, queueing, promoting and being refused.
//! Real engine, real sled store in a temporary directory, the noop provider.

use std::sync::Arc;

use rushbox_chat::{Actor, Incoming, Robot, Tone};
use rushbox_pipeline::config::{PipelineConfig, RolesConfig};
use rushbox_pipeline::engine::ManualClock;
use rushbox_pipeline::provider::Provider;
use rushbox_pipeline::{Engine, FixedRefs, NoopProvider};

struct World {
    robot: Robot,
    notices: std::sync::Mutex<rushbox_chat::NoticeFeed>,
    clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

/// What one line produced, as the shell would print it.
struct Said {
    tone: Tone,
    text: String,
    buttons: Vec<String>,
    /// The final version of each progress message.
    finals: Vec<String>,
    /// Every version of each progress message, in order.
    versions: Vec<Vec<rushbox_chat::Reply>>,
    /// (to whom, what) for everyone else told.
    notices: Vec<(String, String)>,
}

impl World {
    fn new() -> World {
        World::at(tempfile::tempdir().unwrap())
    }

    /// A world on the store in `dir`, as a restart finds it.
    fn at(dir: tempfile::TempDir) -> World {
        World::open(dir, Arc::new(NoopProvider::new()))
    }

    fn with_provider(provider: Arc<dyn Provider>) -> World {
        World::open(tempfile::tempdir().unwrap(), provider)
    }

    fn open(dir: tempfile::TempDir, provider: Arc<dyn Provider>) -> World {
        let config = PipelineConfig {
            roles: RolesConfig {
                leads: vec!["shell:lena".to_owned(), "group:shell:oncall".to_owned()],
                developers: vec!["shell:alice".to_owned(), "shell:bob".to_owned()],
            },
            ..PipelineConfig::default()
        };
        let refs = FixedRefs::new([
            ("main", "1111111111111111111111111111111111111111"),
            ("foo", "f00f00f00f00f00f00f00f00f00f00f00f00f00f"),
            ("bar", "baabaabaabaabaabaabaabaabaabaabaabaabaab"),
            (
                "feature/login-redesign",
                "10c1210c1210c1210c1210c1210c1210c1210c12",
            ),
        ]);
        let clock = Arc::new(ManualClock::new(1_800_000_000));
        let engine =
            Engine::open_with_clock(config, dir.path(), provider, Arc::new(refs), clock.clone())
                .unwrap();
        let robot = Robot::new(engine);
        let notices = std::sync::Mutex::new(robot.notices());
        World {
            robot,
            notices,
            clock,
            _dir: dir,
        }
    }

    fn say(&self, who: &str, text: &str) -> Said {
        let incoming = Incoming {
            actor: Actor::new("shell", who, who),
            channel: "tty".to_owned(),
            text: text.to_owned(),
            reply_to: None,
        };
        let answer = self.robot.handle(&incoming);
        let mut finals = Vec::new();
        let mut versions = Vec::new();
        for mut feed in answer.progress {
            let mut seen = Vec::new();
            while let Some(update) = feed.next_blocking() {
                seen.push(update);
            }
            finals.push(seen.last().map(|r| r.to_string()).unwrap_or_default());
            versions.push(seen);
        }
        let notices = self.told();
        Said {
            tone: answer.reply.tone,
            text: answer.reply.to_string(),
            buttons: answer
                .reply
                .buttons
                .iter()
                .map(|b| b.command.clone())
                .collect(),
            finals,
            versions,
            notices,
        }
    }
}

impl World {
    /// (to whom, what) for every notice given since the last look.
    fn told(&self) -> Vec<(String, String)> {
        let mut notices = Vec::new();
        let mut feed = self.notices.lock().unwrap();
        while let Some(n) = feed.try_next() {
            notices.push((n.to.to_string(), n.reply.to_string()));
        }
        notices
    }

    /// Runs the timed rules and waits for the work they start.
    fn tick(&self) {
        for mut feed in self.robot.tick().progress {
            while feed.next_blocking().is_some() {}
        }
    }
}

fn has(said: &str, part: &str) {
    assert!(said.contains(part), "expected {part:?} in:\n{said}");
}

#[test]
fn two_developers_and_a_lead_share_staging() {
    let w = World::new();

    // alice gets her own env, cloned from staging, with its address.
    let a = w.say("alice", "deploy branch foo to dev");
    assert_eq!(a.tone, Tone::Success, "{}", a.text);
    has(&a.finals[0], "`dev-foo` is ready");
    has(&a.finals[0], "http://dev-foo.localhost:8080");
    has(&a.finals[0], "`deploy dev-foo to staging`");

    let b = w.say("bob", "hey rushbox, spin up a dev env for bar please");
    has(&b.finals[0], "`dev-bar` is ready");

    // alice moves hers to staging, which takes the lock.
    let a = w.say("alice", "deploy dev-foo to staging");
    assert_eq!(a.tone, Tone::Success, "{}", a.text);
    has(&a.finals[0], "`staging` is ready");
    has(&a.finals[0], "`promote staging to prod`");

    // bob is refused: the answer names alice, and offers the queue.
    w.clock.advance(300);
    let b = w.say("bob", "deploy dev-bar to staging");
    assert_eq!(b.tone, Tone::Refused, "{}", b.text);
    has(&b.text, "staging is locked by @alice");
    has(&b.text, "since 5m ago");
    assert_eq!(b.buttons, vec!["queue me for staging".to_owned()]);

    let b = w.say("bob", "queue me for staging");
    assert_eq!(b.tone, Tone::Success, "{}", b.text);
    // Only alice (or a lead) can unlock: bob is told to ask her, with no
    // button for a command that is hers to run.
    let b = w.say("bob", "unlock staging");
    assert_eq!(b.tone, Tone::Refused, "{}", b.text);
    has(&b.text, "ask @alice to `unlock staging`, or ask a lead");
    assert_eq!(b.buttons, Vec::<String>::new());
    let q = w.say("alice", "where am I in the queue?");
    has(&q.text, "1. @bob");

    // Only a lead changes prod; bob hears why, with every blocker.
    let b = w.say("bob", "promote staging to prod");
    assert_eq!(b.tone, Tone::Refused, "{}", b.text);
    has(&b.text, "lead");

    // lena promotes the same release; staging's lock passes to bob, who is told.
    let l = w.say("lena", "promote staging to prod");
    assert_eq!(l.tone, Tone::Success, "{}", l.text);
    has(&l.finals[0], "`prod` is ready");
    let to_bob: Vec<&String> = l
        .notices
        .iter()
        .filter(|(to, _)| to == "shell:bob")
        .map(|(_, t)| t)
        .collect();
    assert_eq!(to_bob.len(), 1, "bob must be told once: {:?}", l.notices);
    has(to_bob[0], "staging");
    let lock = w.say("bob", "who has staging");
    has(&lock.text, "offered to @bob");

    let b = w.say("bob", "deploy dev-bar to staging");
    assert_eq!(b.tone, Tone::Success, "{}", b.text);
    has(&b.finals[0], "`staging` is ready");

    // Everyone sees the whole picture.
    let envs = w.say("alice", "which environments are running");
    for env in ["dev-foo", "dev-bar", "staging", "prod"] {
        has(&envs.text, env);
    }
    has(&envs.text, "🔒 @bob");

    let history = w.say("alice", "history prod");
    let lines: Vec<&str> = history.text.lines().collect();
    has(lines[1], "@rushbox: operation 4 succeeded");
    has(lines[3], "@lena: promote staging to prod");
    has(
        &words(&history.text),
        "@bob: promote staging to prod refused: only a lead may promote to prod",
    );
}

#[test]
fn owners_decide_about_their_envs_and_leads_can_give_them_away() {
    let w = World::new();
    w.say("bob", "deploy bar");
    let a = w.say("alice", "destroy dev-bar");
    assert_eq!(a.tone, Tone::Refused, "{}", a.text);
    has(&a.text, "bob");

    let o = w.say("alice", "whose env is dev-bar?");
    has(&o.text, "`dev-bar` belongs to @bob");

    let l = w.say("lena", "give dev-bar to @alice");
    assert_eq!(l.tone, Tone::Success, "{}", l.text);
    let o = w.say("bob", "who owns dev-bar");
    has(&o.text, "@alice");
    let a = w.say("alice", "tear down dev-bar");
    assert_eq!(a.tone, Tone::Success, "{}", a.text);
}

#[test]
fn a_lock_needs_a_reason_and_stealing_needs_a_lead() {
    let w = World::new();
    let a = w.say("alice", "lock staging");
    assert_eq!(a.tone, Tone::Refused, "{}", a.text);
    has(&a.text, "reason");

    let a = w.say("alice", "lock staging for 2h, QA on checkout");
    assert_eq!(a.tone, Tone::Success, "{}", a.text);
    let s = w.say("bob", "is staging free?");
    has(&s.text, "@alice");
    has(&s.text, "QA on checkout");

    let b = w.say("bob", "steal the staging lock");
    assert_eq!(b.tone, Tone::Refused, "{}", b.text);
    let l = w.say("lena", "steal the staging lock for a hotfix");
    assert_eq!(l.tone, Tone::Success, "{}", l.text);
    let to_alice = l
        .notices
        .iter()
        .filter(|(to, _)| to == "shell:alice")
        .count();
    assert_eq!(to_alice, 1, "alice must be told, once: {:?}", l.notices);
}

#[test]
fn mistakes_get_a_clear_answer_and_change_nothing() {
    let w = World::new();
    let t = w.say("alice", "deploy foo to stagign");
    has(&t.text, "Did you mean `deploy branch foo to staging`?");
    assert_eq!(t.buttons, vec!["deploy branch foo to staging".to_owned()]);

    let h = w.say("alice", "deploy feat;$(id) to dev");
    assert_eq!(h.tone, Tone::Refused);
    has(&h.text, "can't contain `;`");

    let n = w.say("alice", "deploy nosuchbranch to dev");
    assert_eq!(n.tone, Tone::Refused, "{}", n.text);
    has(&n.text, "nosuchbranch");

    let s = w.say("alice", "status dev-nothing");
    assert_eq!(s.tone, Tone::Refused, "{}", s.text);
    has(&s.text, "`envs`");

    let e = w.say("alice", "envs");
    has(&e.text, "No environments yet");

    let stranger = w.say("mallory", "deploy foo");
    assert_eq!(stranger.tone, Tone::Refused, "{}", stranger.text);
}

#[test]
fn hubot_extras_are_understood_and_said_to_do_nothing_more() {
    let w = World::new();
    let a = w.say("alice", "deploy! foo to staging/web-1");
    assert_eq!(a.tone, Tone::Success, "{}", a.text);
    has(&a.text, "the host list `web-1` was ignored");
    let a = w.say("alice", "deploy! bar");
    has(&a.text, "`!` overrides nothing here");
}

#[test]
fn help_comes_from_the_grammar() {
    let w = World::new();
    let h = w.say("anyone", "what can you do?");
    has(&h.text, "deploy branch <ref> to dev");
    let h = w.say("anyone", "help lock");
    has(&h.text, "lock staging for <reason>");
}

#[test]
fn a_group_named_in_roles_gives_its_members_the_role() {
    let w = World::new();
    assert_eq!(w.robot.group_names(), ["shell:oncall"]);
    let a = w.say("alice", "lock staging for QA on checkout");
    assert_eq!(a.tone, Tone::Success, "{}", a.text);
    let b = w.say("bob", "steal the staging lock for a hotfix");
    assert_eq!(b.tone, Tone::Refused, "{}", b.text);
    has(&b.text, "lead");
    // The platform reports bob in the on-call group, which leads.
    w.robot
        .set_group_members("shell:oncall", &[Actor::new("shell", "bob", "Bob")]);
    let b = w.say("bob", "steal the staging lock for a hotfix");
    assert_eq!(b.tone, Tone::Success, "{}", b.text);
    // Out of the group, out of the role.
    w.robot.set_group_members("shell:oncall", &[]);
    let l = w.say("lena", "steal the staging lock for the release");
    assert_eq!(l.tone, Tone::Success, "{}", l.text);
    let b = w.say("bob", "steal the staging lock for another hotfix");
    assert_eq!(b.tone, Tone::Refused, "{}", b.text);
}

#[test]
fn a_message_delivered_twice_is_answered_once() {
    let w = World::new();
    let incoming = Incoming {
        actor: Actor::new("shell", "alice", "alice"),
        channel: "tty".to_owned(),
        text: "lock staging for QA".to_owned(),
        reply_to: None,
    };
    let first = w.robot.handle_delivery(&incoming, "Ev42");
    let first = first.map(|a| (a.reply.tone, a.reply.to_string()));
    assert!(
        matches!(&first, Some((Tone::Success, text)) if text.contains("locked")),
        "{first:?}"
    );
    assert!(w.robot.handle_delivery(&incoming, "Ev42").is_none());
    // The same words in a new message are a new request.
    let again = w.robot.handle_delivery(&incoming, "Ev43");
    assert!(again.is_some_and(|a| a.reply.tone == Tone::Success));
}

/// After a crash mid staging deploy, its requester's notice offers the two
/// ways on as buttons: the command that tries again, and `unlock staging`.
#[test]
fn a_deploy_a_crash_cut_short_offers_to_retry_or_let_the_lock_go() {
    use rushbox_pipeline::model::{
        Effect, Env, EnvKey, EnvState, Lock, OpKind, OpState, Operation,
    };
    let dir = tempfile::tempdir().unwrap();
    let now = 1_800_000_000;
    let alice = rushbox_pipeline::Actor::parse("shell:alice").unwrap();
    let app = PipelineConfig::default().apps[0].name.clone();
    let staging = rushbox_command::EnvName::staging();
    // What a crash leaves: alice's deploy of foo running on staging, under her lock.
    let store = rushbox_pipeline::store::Store::open(dir.path()).unwrap();
    let running = Operation {
        id: 3,
        app: app.clone(),
        env: staging.clone(),
        kind: OpKind::Deploy,
        requested_by: alice.clone(),
        started_at: now,
        finished_at: None,
        state: OpState::Running,
        requests: Vec::new(),
        steps: Vec::new(),
        command: Some("deploy foo to staging".to_owned()),
    };
    let env = Env {
        app: app.clone(),
        name: staging.clone(),
        state: EnvState::Running,
        owner: None,
        branch: None,
        commit: None,
        release: None,
        previous_releases: Vec::new(),
        address: None,
        created_at: now,
        last_activity: now,
        expires_at: None,
        expiry_warned: false,
        operation: Some(3),
    };
    let lock = Lock {
        holder: alice.clone(),
        reason: "deploy foo".to_owned(),
        since: now,
        expires_at: now + 4 * 3600,
        claim_by: None,
    };
    store
        .commit(
            &[
                Effect::PutOperation(running),
                Effect::PutEnv(env),
                Effect::PutLock(EnvKey::new(&app, &staging), lock),
            ],
            None,
        )
        .unwrap();
    drop(store);

    let w = World::at(dir);
    let notices = w.robot.interrupted();
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(notices[0].to, alice);
    let text = notices[0].reply.to_string();
    has(&text, "operation #3 (deploy of `staging`)");
    has(&text, "You still hold the staging lock");
    // The text keeps what alice typed; its button runs the same command,
    // labelled in its canonical words.
    has(&text, "`deploy foo to staging` tries again");
    let buttons: Vec<(&str, &str)> = notices[0]
        .reply
        .buttons
        .iter()
        .map(|b| (b.label.as_str(), b.command.as_str()))
        .collect();
    assert_eq!(
        buttons,
        [
            (
                "deploy branch foo to staging",
                "deploy branch foo to staging"
            ),
            ("unlock staging", "unlock staging")
        ]
    );
}

/// An env that goes to sleep or wakes by itself tells its owner, through the
/// notice feed every adapter (and the shell) delivers.
#[test]
fn the_owner_hears_when_their_env_sleeps_for_idleness_and_wakes_for_a_visit() {
    let w = World::new();
    w.say("alice", "deploy branch foo to dev");
    w.clock.advance(2 * 3600);
    w.tick();
    let told = w.told();
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0].0, "shell:alice");
    has(
        &told[0].1,
        "`dev-foo` was idle for 2h, so it is being suspended",
    );
    has(
        &told[0].1,
        "the next visit or `wake dev-foo` starts it again",
    );

    // Someone opens its address: the router wakes it.
    let env = rushbox_command::EnvName::from_user("dev-foo").unwrap();
    let woken = w.robot.engine().wake_on_request(None, env).unwrap();
    assert!(matches!(
        woken.operation().unwrap().wait(),
        rushbox_pipeline::Progress::Finished { .. }
    ));
    let told = w.told();
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0].0, "shell:alice");
    has(&told[0].1, "`dev-foo` is waking up: a request reached it");
}

/// The last version of a progress message says what was deployed where,
/// since it replaces the first ("Deploying foo (…)") where a platform edits
/// one message; and the script provider's `RUSHBOX_ADDRESS=` line, its way
/// of reporting the address, is never shown as a step.
#[test]
fn progress_names_what_is_deployed_and_hides_the_address_line() {
    let script = rushbox_pipeline::provider::script::ScriptProvider::new(
        serde_json::from_value(serde_json::json!({
            "create": ["true"],
            "clone_data": ["true"],
            "deploy": [
                "sh", "-c",
                "echo \"deploying $1\"; echo \"RUSHBOX_ADDRESS=http://$0.example.test\"",
                "{env}", "{ref}",
            ],
        }))
        .unwrap(),
    );
    let w = World::with_provider(Arc::new(script));
    let a = w.say("alice", "deploy branch foo to dev");
    assert_eq!(a.tone, Tone::Success, "{}", a.text);
    has(&a.text, "Deploying foo (f00f00f00f, release r1) to dev-foo");
    let versions = &a.versions[0];
    for version in versions {
        let text = version.to_string();
        assert!(
            !text.contains("RUSHBOX_ADDRESS"),
            "shown as a step:\n{text}"
        );
        has(&text, "branch foo (f00f00f00f, release r1)");
    }
    assert!(
        versions
            .iter()
            .any(|v| v.to_string().contains("deploying foo")),
        "the script's own lines are steps: {versions:#?}"
    );
    let last = versions.last().unwrap();
    assert_eq!(last.tone, Tone::Success);
    assert!(
        last.summary()
            .starts_with("`dev-foo` is ready: branch foo (f00f00f00f, release r1), deployed in "),
        "{}",
        last.summary()
    );
    has(
        &last.to_string(),
        "Open dev-foo: http://dev-foo.example.test",
    );

    // Promoted on, the same build names the same branch.
    let a = w.say("alice", "deploy dev-foo to staging");
    let last = a.versions[0].last().unwrap();
    assert!(
        last.summary()
            .starts_with("`staging` is ready: branch foo (f00f00f00f, release r1), promoted in "),
        "{}",
        last.summary()
    );
}

/// With the noop provider nothing runs, so nothing is offered to open: the
/// Robot says the env is only recorded, and how to make it real.
#[test]
fn a_dry_run_says_nothing_was_started_and_offers_no_address() {
    let w = World::new();
    let w = World {
        robot: w.robot.clone().dry_run(),
        ..w
    };
    let a = w.say("alice", "deploy branch main to dev");
    assert_eq!(a.tone, Tone::Success, "{}", a.text);
    let last = a.versions[0].last().unwrap();
    assert_eq!(
        last.summary(),
        "`dev-main` is recorded (noop provider: nothing was started; set `[provider] kind = \"local\"` to run it): branch main (1111111111, release r1)."
    );
    let links = |reply: &rushbox_chat::Reply| {
        reply
            .blocks
            .iter()
            .filter(|b| matches!(b, rushbox_chat::Block::Link { .. }))
            .count()
    };
    assert_eq!(links(last), 0, "{last}");
    assert!(!a.finals[0].contains("Open"), "{}", a.finals[0]);
    has(&a.finals[0], "`deploy dev-main to staging`");
    for question in ["status dev-main", "envs"] {
        let answer = w.robot.handle(&Incoming {
            actor: Actor::new("shell", "alice", "alice"),
            channel: "tty".to_owned(),
            text: question.to_owned(),
            reply_to: None,
        });
        assert_eq!(links(&answer.reply), 0, "{}", answer.reply);
        assert!(
            !answer.reply.to_string().contains("localhost"),
            "{question}: {}",
            answer.reply
        );
    }
}

/// Every line of `text` fits `width` columns (an emoji takes two).
fn fits(text: &str, width: usize) {
    use unicode_width::UnicodeWidthStr;
    for line in text.lines() {
        assert!(
            line.width() <= width,
            "{} columns: {line:?} in:\n{text}",
            line.width()
        );
    }
}

/// Words as a person reads them, whatever the line breaks.
fn words(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A morning's envs: prod and staging on main since early (staging locked
/// by bob, alice waiting) and alice's feature env, half an hour old.
fn a_busy_morning() -> World {
    let w = World::new();
    w.say("lena", "deploy main to staging");
    w.say("lena", "promote staging to prod");
    w.clock.advance(3 * 3600);
    w.say("alice", "deploy branch feature/login-redesign to dev");
    w.clock.advance(1800);
    w.say("bob", "lock staging for QA on the checkout flow");
    w.say("alice", "queue me for staging");
    w.clock.advance(300);
    w
}

/// `which environments are running` reads in an 80-column terminal (and
/// piped output, laid out for 80): one record per env, no line wider, every
/// fact of the wide table still there; `--json` has the whole table.
#[test]
fn the_env_list_fits_80_columns_with_every_fact() {
    let w = a_busy_morning();
    let envs = w.say("alice", "which environments are running");
    fits(&envs.text, 80);
    let shown = words(&envs.text);
    let views = w.robot.engine().list_envs(None, None);
    assert_eq!(views.len(), 3);
    for v in &views {
        let mut facts = vec![
            v.env.to_string(),
            format!("app {}", v.app),
            format!("branch {}", v.branch.as_ref().unwrap()),
            format!("commit {}", &v.commit.as_ref().unwrap()[..10]),
            v.state.to_string(),
            v.address.clone().unwrap(),
        ];
        facts.extend(
            v.owner
                .as_ref()
                .map(|o| o.to_string().replace("shell:", "@")),
        );
        for fact in facts {
            has(&shown, &fact);
        }
    }
    for fact in [
        "dev-feature-login-redesign running · @alice",
        "staging running · 🔒 @bob · 1 waiting",
        "created 3h 35m ago · last activity 3h 35m ago",
        "created 35m ago · last activity 35m ago",
        "expires in 2d 23h · sleeps in 1h 25m",
    ] {
        has(&shown, fact);
    }
    // A wide terminal gets the table, every column of it.
    let answer = w.robot.handle(&Incoming {
        actor: Actor::new("shell", "alice", "alice"),
        channel: "tty".to_owned(),
        text: "envs".to_owned(),
        reply_to: None,
    });
    let wide = answer.reply.plain(250);
    has(&wide, "env                         app  branch");
    has(&wide, "  lock / queue  ");
    has(&wide, "expires in 2d 23h, sleeps in 1h 25m");
    let json = serde_json::to_value(&answer.reply).unwrap();
    assert_eq!(json["blocks"][1]["kind"], "table");
    assert_eq!(json["blocks"][1]["columns"].as_array().unwrap().len(), 11);
    assert_eq!(json["blocks"][1]["rows"].as_array().unwrap().len(), 3);
}

/// `history` reads in 80 columns too: when, who asked what, and what came
/// of it, long outcomes wrapped between words.
#[test]
fn history_fits_80_columns_with_every_entry() {
    let w = a_busy_morning();
    w.say("alice", "deploy dev-feature-login-redesign to staging");
    let history = w.say("alice", "history");
    fits(&history.text, 80);
    let shown = words(&history.text);
    let entries = w.robot.engine().history(None, None, 20).unwrap();
    assert!(entries.len() >= 8, "{entries:?}");
    for e in &entries {
        let who = e.actor.to_string().replace("shell:", "@");
        has(&shown, &format!("{who}: {}", e.call));
        if let rushbox_pipeline::model::AuditOutcome::Done { message } = &e.outcome {
            has(&shown, &words(&message.replace("shell:", "@")));
        }
    }
    has(
        &shown,
        "5m ago @bob: lock staging for QA on the checkout flow",
    );
    has(
        &shown,
        "refused: staging is locked by @bob for \"QA on the checkout flow\"",
    );
}
