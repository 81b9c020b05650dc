//! Read-only commands per second through `Robot::handle`, the real engine
//! and sled in a temporary directory, on one thread, next to what parsing
//! alone costs. The world: 48 dev envs of 16 developers, staging (locked,
//! five waiting) and prod (one promotion), 50 envs in all, set up by
//! talking to the Robot as people would.
//!
//! `cargo bench -p rushbox-chat --bench robot [-- <seconds per row>]`
//! (default 1 second per row).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rushbox_chat::{Actor, Incoming, Robot, Tone};
use rushbox_command::Grammar;
use rushbox_pipeline::config::{LimitsConfig, PipelineConfig, RolesConfig};
use rushbox_pipeline::{Engine, FixedRefs, NoopProvider};

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

const DEVELOPERS: usize = 16;
const ENVS_EACH: usize = 3;

const QUESTIONS: [&str; 5] = [
    "which environments are running",
    "status staging",
    "who has staging",
    "staging queue",
    "history prod",
];

fn incoming(who: &str, text: &str) -> Incoming {
    Incoming {
        actor: Actor::new("shell", who, who),
        channel: "bench".to_owned(),
        text: text.to_owned(),
        reply_to: None,
    }
}

/// Says `text` as `who`, waits for any operation it started, and fails if
/// the Robot refused or erred.
fn say(robot: &Robot, who: &str, text: &str) -> BenchResult<()> {
    let answer = robot.handle(&incoming(who, text));
    if matches!(answer.reply.tone, Tone::Refused | Tone::Error) {
        return Err(format!("{who}: {text} → {}", answer.reply).into());
    }
    for mut feed in answer.progress {
        while feed.next_blocking().is_some() {}
    }
    Ok(())
}

fn developer(i: usize) -> String {
    format!("dev{i:02}")
}

fn world(dir: &std::path::Path) -> BenchResult<Robot> {
    let branches: Vec<(String, String)> = (0..DEVELOPERS * ENVS_EACH)
        .map(|i| (format!("b{i:02}"), format!("{:040x}", i + 1)))
        .collect();
    let refs = FixedRefs::new(branches.iter().map(|(b, c)| (b.as_str(), c.as_str())));
    let config = PipelineConfig {
        roles: RolesConfig {
            leads: vec!["shell:lena".to_owned()],
            developers: vec!["*".to_owned()],
        },
        limits: LimitsConfig {
            dev_envs_per_person: ENVS_EACH,
            dev_envs_total: DEVELOPERS * ENVS_EACH,
        },
        ..PipelineConfig::default()
    };
    let engine = Engine::open(config, dir, Arc::new(NoopProvider::new()), Arc::new(refs))?;
    let robot = Robot::new(engine);
    for (i, (branch, _)) in branches.iter().enumerate() {
        say(
            &robot,
            &developer(i / ENVS_EACH),
            &format!("deploy branch {branch} to dev"),
        )?;
    }
    say(&robot, &developer(0), "deploy dev-b00 to staging")?;
    say(&robot, "lena", "promote staging to prod")?;
    say(&robot, &developer(1), "lock staging for QA on checkout")?;
    for i in 2..7 {
        say(&robot, &developer(i), "queue me for staging")?;
    }
    Ok(robot)
}

/// Runs `f` for about `budget`, in batches, and returns calls per second.
fn rate(budget: Duration, mut f: impl FnMut()) -> f64 {
    const BATCH: usize = 50;
    let start = Instant::now();
    let mut calls = 0;
    while calls == 0 || start.elapsed() < budget {
        for _ in 0..BATCH {
            f();
        }
        calls += BATCH;
    }
    calls as f64 / start.elapsed().as_secs_f64()
}

fn main() -> BenchResult<()> {
    let seconds: f64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1.0);
    let budget = Duration::from_secs_f64(seconds);
    let tmp = tempfile::tempdir()?;
    let robot = world(&tmp.path().join("db"))?;
    let envs = robot.engine().list_envs(None, None).len();
    let apps = robot.engine().config().apps.iter().map(|a| a.name.clone());
    let grammar = Grammar::new().with_apps(apps);

    println!("{envs} envs; single thread; about {seconds} s per measurement");
    println!(
        "{:<34} {:>12} {:>10} {:>12} {:>10}",
        "command", "handle/s", "µs each", "parse/s", "µs each"
    );
    for text in QUESTIONS {
        let message = incoming(&developer(7), text);
        let answer = robot.handle(&message);
        if matches!(answer.reply.tone, Tone::Refused | Tone::Error) {
            return Err(format!("{text} → {}", answer.reply).into());
        }
        let handled = rate(budget, || {
            black_box(robot.handle(black_box(&message)));
        });
        let parsed = rate(budget, || {
            let _ = black_box(grammar.parse(black_box(text)));
        });
        println!(
            "{text:<34} {handled:>12.0} {:>10.1} {parsed:>12.0} {:>10.1}",
            1e6 / handled,
            1e6 / parsed
        );
    }
    Ok(())
}
