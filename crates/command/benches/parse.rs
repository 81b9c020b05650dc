//! Parser throughput over a mixed corpus of realistic chat lines: commands
//! in many phrasings, typos (which pay for "did you mean"), hostile refs and
//! chatter that is not for the bot. One core, one `Grammar`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rushbox_command::Grammar;
use std::hint::black_box;

const CORPUS: &[&str] = &[
    "deploy branch feature/login-redesign to dev",
    "@rushbox deploy foo",
    "hey rushbox, can you please deploy api/main to staging?",
    "deploy! api/main to production/fe-1,fe-2",
    "promote staging to prod",
    "deploy dev-foo to staging",
    "which environments are running",
    "what's on staging?",
    "lock staging for 2h, QA on checkout",
    "who has staging",
    "is staging free?",
    "queue me for staging",
    "where am I in the queue?",
    "release the staging lock",
    "steal the staging lock",
    "tear down dev-foo",
    "keep dev-foo alive for another day",
    "roll back production to v141",
    "reset staging to prod",
    "deploys api in production",
    "whose env is dev-bar?",
    "give dev-foo to <@U024BE7LH>",
    "logs dev-foo",
    "help deploy",
    "deploy foo to stagign",
    "deploy feat;$(id) to dev",
    "lunch anyone?",
    "thanks rushbox!",
];

fn parse(c: &mut Criterion) {
    let grammar = Grammar::new();
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Elements(CORPUS.len() as u64));
    group.bench_function("mixed corpus", |b| {
        b.iter(|| {
            for line in CORPUS {
                black_box(grammar.parse(black_box(line)).is_ok());
            }
        })
    });
    let commands: Vec<&str> = CORPUS[..24].to_vec();
    group.throughput(Throughput::Elements(commands.len() as u64));
    group.bench_function("valid commands only", |b| {
        b.iter(|| {
            for line in &commands {
                black_box(grammar.parse(black_box(line)).is_ok());
            }
        })
    });
    // Names that break a rule where the patterns expect one word: each
    // reading is tried again with a stand-in so the refusal names the rule.
    let hostile = [
        "deploy $(touch /tmp/x) to dev",
        "status ../../etc",
        "deploy foo; rm -rf / to dev",
        "spin up a dev env for $(touch x)",
    ];
    group.throughput(Throughput::Elements(hostile.len() as u64));
    group.bench_function("hostile names in short forms", |b| {
        b.iter(|| {
            for line in &hostile {
                black_box(grammar.parse(black_box(line)).is_ok());
            }
        })
    });
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
