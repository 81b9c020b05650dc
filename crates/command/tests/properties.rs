//! Properties of the parser: it never panics, and every command's canonical
//! text parses back to the same command.

use proptest::prelude::*;
use rushbox_command::{
    AppName, Command, EnvName, EnvRef, GitRef, Grammar, ReleaseId, Span, Stage, Target, UserRef,
};
use std::sync::LazyLock;

static GRAMMAR: LazyLock<Grammar> = LazyLock::new(Grammar::new);

fn git_ref() -> impl Strategy<Value = GitRef> {
    "[A-Za-z0-9][A-Za-z0-9_+#-]{0,12}(\\.[A-Za-z0-9]{1,4})?(/[A-Za-z0-9][A-Za-z0-9_-]{0,8}){0,2}"
        .prop_filter_map("valid ref", |s| GitRef::parse(&s).ok())
        .prop_filter("`me` names the asker in queue commands", |r| {
            !r.as_str().eq_ignore_ascii_case("me")
        })
}

fn app() -> impl Strategy<Value = AppName> {
    "[a-z][a-z0-9]{1,7}(-[a-z0-9]{1,4})?".prop_filter_map(
        "an app the default grammar reads as one",
        |s| {
            let app = AppName::parse(&s).ok()?;
            GRAMMAR.reads_as_app(app.as_str()).then_some(app)
        },
    )
}

fn env() -> impl Strategy<Value = EnvName> {
    prop_oneof![
        Just(EnvName::prod()),
        Just(EnvName::staging()),
        "dev-[a-z0-9]{1,10}(-[a-z0-9]{1,6})?"
            .prop_filter_map("valid env", |s| EnvName::parse(&s).ok()),
    ]
}

fn env_ref() -> impl Strategy<Value = EnvRef> {
    (proptest::option::of(app()), env()).prop_map(|(app, env)| EnvRef { app, env })
}

fn span() -> impl Strategy<Value = Span> {
    (
        1u64..100,
        prop::sample::select(vec![1u64, 60, 3600, 86400, 604800]),
    )
        .prop_filter_map("within a year", |(n, unit)| Span::from_secs(n * unit))
}

fn reason() -> impl Strategy<Value = String> {
    let words = prop::sample::select(vec![
        "QA",
        "for",
        "4.2",
        "checkout",
        "demo",
        "load",
        "test",
        "hotfix",
        "release",
        "candidate",
        "Q3",
        "migration",
        "2h",
        "an",
        "incident",
        "with",
        "the",
        "team",
    ]);
    prop::collection::vec(words, 1..5).prop_map(|w| w.join(" "))
}

fn user() -> impl Strategy<Value = UserRef> {
    prop_oneof![
        "[a-z][a-z0-9_-]{0,10}".prop_filter_map("user", |s| UserRef::parse(&s).ok()),
        "<@[UW][A-Z0-9]{8,10}>".prop_filter_map("mention", |s| UserRef::parse(&s).ok()),
    ]
}

fn command() -> impl Strategy<Value = Command> {
    let force = any::<bool>();
    prop_oneof![
        (
            proptest::option::of(app()),
            git_ref(),
            prop_oneof![Just(Target::Dev), env().prop_map(Target::Env)],
            proptest::option::of("[a-z0-9]{1,5}(,[a-z0-9]{1,5}){0,2}"),
            force,
        )
            .prop_map(|(app, git_ref, target, hosts, force)| {
                let hosts = if target == Target::Dev { None } else { hosts };
                Command::Deploy {
                    app,
                    git_ref,
                    target,
                    hosts,
                    force,
                }
            }),
        (env_ref(), env(), force)
            .prop_filter("distinct", |(from, to, _)| from.env != *to)
            .prop_map(|(from, to, force)| Command::Promote { from, to, force }),
        (
            proptest::option::of(app()),
            proptest::option::of(prop::sample::select(vec![
                Stage::Dev,
                Stage::Staging,
                Stage::Prod
            ]))
        )
            .prop_map(|(app, stage)| Command::ListEnvs { app, stage }),
        env_ref().prop_map(|env| Command::EnvStatus { env }),
        (
            env_ref(),
            proptest::option::of(reason()),
            proptest::option::of(span()),
            force
        )
            .prop_map(|(env, reason, duration, force)| Command::Lock {
                env,
                reason,
                duration,
                force
            }),
        (env_ref(), force).prop_map(|(env, force)| Command::Unlock { env, force }),
        env_ref().prop_map(|env| Command::LockStatus { env }),
        (env_ref(), proptest::option::of(git_ref()))
            .prop_map(|(env, git_ref)| Command::QueueJoin { env, git_ref }),
        env_ref().prop_map(|env| Command::QueueLeave { env }),
        env_ref().prop_map(|env| Command::QueueStatus { env }),
        env_ref().prop_map(|env| Command::Destroy { env }),
        env_ref().prop_map(|env| Command::Suspend { env }),
        env_ref().prop_map(|env| Command::Wake { env }),
        (env_ref(), proptest::option::of(span()))
            .prop_map(|(env, duration)| Command::Extend { env, duration }),
        env_ref().prop_map(|env| Command::Cancel { env }),
        (
            env_ref(),
            proptest::option::of(
                "[a-z0-9][a-z0-9._-]{0,8}[a-z0-9]"
                    .prop_filter_map("release", |s| ReleaseId::parse(&s).ok())
            )
        )
            .prop_map(|(env, release)| Command::Rollback { env, release }),
        (env_ref(), env()).prop_map(|(env, source)| Command::Reset { env, source }),
        (proptest::option::of(app()), proptest::option::of(env()))
            .prop_map(|(app, env)| Command::History { app, env }),
        env_ref().prop_map(|env| Command::Owner { env }),
        (env_ref(), user()).prop_map(|(env, user)| Command::Transfer { env, user }),
        env_ref().prop_map(|env| Command::Logs { env }),
        proptest::option::of(prop::sample::select(vec![
            "deploy",
            "lock",
            "queue",
            "promote",
            "the queue"
        ]))
        .prop_map(|topic| Command::Help {
            topic: topic.map(str::to_owned)
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn canonical_text_parses_back_to_the_same_command(command in command()) {
        let text = command.to_string();
        prop_assert_eq!(GRAMMAR.parse(&text), Ok(command), "canonical text: {}", text);
    }

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        let _ = GRAMMAR.parse(&text);
    }

    #[test]
    fn chat_shaped_text_never_panics(
        words in prop::collection::vec(
            prop_oneof![
                prop::sample::select(vec![
                    "deploy", "promote", "lock", "to", "for", "staging", "prod", "dev", "queue",
                    "me", "the", "!", "please", "?", "branch", "dev-foo", "foo.dev", "api/", "<@U1>",
                    "&amp;", "`", ":", ",", "steal", "extend", "by", "2h", "another", "day",
                ]).prop_map(str::to_owned),
                "\\PC{0,12}",
            ],
            0..12,
        )
    ) {
        let line = words.join(" ");
        if let Ok(command) = GRAMMAR.parse(&line) {
            // Whatever parses has a canonical text that parses to it.
            prop_assert_eq!(GRAMMAR.parse(&command.to_string()), Ok(command));
        }
    }
}

/// Words that normalisation strips from the ends of a line still work as
/// names of configured apps where the canonical text puts them last
/// (`history for ty`); without config, no word of the grammar is an app.
#[test]
fn filler_words_are_app_names_after_a_preposition() {
    let words = [
        "please", "pls", "plz", "thanks", "thx", "ty", "asap", "kthx", "cheers", "you",
    ];
    let apps: Vec<AppName> = words
        .iter()
        .filter_map(|w| AppName::parse(w).ok())
        .collect();
    assert_eq!(apps.len(), words.len());
    let grammar = Grammar::new().with_apps(apps.clone());
    for app in apps {
        assert!(grammar.reads_as_app(app.as_str()));
        assert!(!GRAMMAR.reads_as_app(app.as_str()), "{app} without config");
        for command in [
            Command::History {
                app: Some(app.clone()),
                env: None,
            },
            Command::ListEnvs {
                app: Some(app.clone()),
                stage: None,
            },
        ] {
            let text = command.to_string();
            assert_eq!(grammar.parse(&text), Ok(command), "canonical text: {text}");
        }
    }
    for word in ["me", "my", "the", "a", "to", "branch", "deploy", "staging"] {
        assert!(!GRAMMAR.reads_as_app(word), "`{word}` is the grammar's");
    }
    assert!(GRAMMAR.reads_as_app("api") && GRAMMAR.reads_as_app("web"));
    // Filler after a non-preposition is still filler.
    assert_eq!(
        GRAMMAR.parse("deploy foo to dev ty"),
        GRAMMAR.parse("deploy foo to dev")
    );
}

/// Every app name of two or three characters the default grammar reads as
/// an app round-trips through the shapes that put an app beside other
/// words (the property above samples; this is exhaustive where collisions
/// with short grammar words live).
#[test]
fn every_short_app_name_round_trips() {
    let chars: Vec<char> = ('a'..='z').chain('0'..='9').collect();
    let mut names = Vec::new();
    for a in 'a'..='z' {
        for &b in &chars {
            names.push(format!("{a}{b}"));
            for c in 'a'..='z' {
                names.push(format!("{a}{b}{c}"));
            }
        }
    }
    let mut checked = 0;
    for name in &names {
        let Ok(app) = AppName::parse(name) else {
            continue;
        };
        if !GRAMMAR.reads_as_app(name) {
            continue;
        }
        let at = |env: EnvName| EnvRef {
            app: Some(app.clone()),
            env,
        };
        for command in [
            Command::History {
                app: Some(app.clone()),
                env: None,
            },
            Command::ListEnvs {
                app: Some(app.clone()),
                stage: Some(Stage::Dev),
            },
            Command::Deploy {
                app: Some(app.clone()),
                git_ref: GitRef::parse("A").expect("a ref"),
                target: Target::Dev,
                hosts: None,
                force: false,
            },
            Command::Lock {
                env: at(EnvName::staging()),
                reason: Some("QA".to_owned()),
                duration: None,
                force: false,
            },
            Command::Promote {
                from: at(EnvName::staging()),
                to: EnvName::prod(),
                force: false,
            },
        ] {
            let text = command.to_string();
            assert_eq!(GRAMMAR.parse(&text), Ok(command), "canonical text: {text}");
            checked += 1;
        }
    }
    assert!(checked > 50_000, "only {checked} checked");
}
