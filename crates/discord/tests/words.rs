//! The pure parts of the adapter as tables: which messages are for the bot,
//! what each slash command means, who a Discord user is to rushbox.

use rushbox_discord::DiscordConfig;
use rushbox_discord::addressed::command_in;
use rushbox_discord::commands::{command_text, suggestions};
use rushbox_discord::identity::{actor, member, user_of};
use serenity::all::{GuildId, User, UserId};

#[test]
fn messages_for_the_bot() {
    let bot = Some(UserId::new(42));
    // (content, dm, command)
    let table: &[(&str, bool, Option<&str>)] = &[
        ("<@42> deploy foo to dev", false, Some("deploy foo to dev")),
        ("<@!42> envs", false, Some("envs")),
        (
            "hey <@42>, status staging",
            false,
            Some("hey , status staging"),
        ),
        (
            "!rushbox lock staging for QA",
            false,
            Some("lock staging for QA"),
        ),
        ("!rushboxes are great", false, None),
        ("deploy foo to dev", false, None),
        ("deploy foo to dev", true, Some("deploy foo to dev")),
        ("!rushbox envs", true, Some("envs")),
        ("<@42>", false, None),
        ("<@7> envs", false, None),
    ];
    for (content, dm, expected) in table {
        assert_eq!(
            command_in(content, bot, "!rushbox", *dm).as_deref(),
            *expected,
            "{content:?} (dm: {dm})"
        );
    }
}

#[test]
fn slash_commands_mean_what_a_person_would_type() {
    // (command, options, text)
    type Row<'a> = (&'a str, &'a [(&'a str, &'a str)], Option<&'a str>);
    let table: &[Row] = &[
        (
            "deploy",
            &[("ref", "foo"), ("target", "dev")],
            Some("deploy foo to dev"),
        ),
        ("deploy", &[("ref", "foo")], None),
        (
            "promote",
            &[("source", "staging"), ("target", "prod")],
            Some("promote staging to prod"),
        ),
        ("envs", &[], Some("envs")),
        ("status", &[("env", "dev-foo")], Some("status dev-foo")),
        (
            "lock",
            &[("env", "staging"), ("reason", "QA")],
            Some("lock staging for QA"),
        ),
        (
            "lock",
            &[("env", "staging"), ("reason", "QA"), ("duration", "2h")],
            Some("lock staging for 2h: QA"),
        ),
        ("unlock", &[("env", "staging")], Some("unlock staging")),
        ("queue", &[("env", "staging")], Some("staging queue")),
        ("destroy", &[("env", "dev-foo")], Some("destroy dev-foo")),
        ("rollback", &[("env", "prod")], Some("rollback prod")),
        (
            "rollback",
            &[("env", "prod"), ("release", "v12")],
            Some("rollback prod to v12"),
        ),
        ("history", &[("env", "prod")], Some("history prod")),
        (
            "rushbox",
            &[("text", "who has staging")],
            Some("who has staging"),
        ),
        ("rushbox", &[("text", "  ")], None),
        ("frobnicate", &[], None),
    ];
    for (name, options, expected) in table {
        assert_eq!(
            command_text(name, options).as_deref(),
            *expected,
            "/{name} {options:?}"
        );
    }
}

#[test]
fn suggestions_match_anywhere_and_stop_at_25() {
    let envs = ["prod", "staging", "dev-foo", "dev-bar"].map(str::to_owned);
    assert_eq!(suggestions("dev", envs.clone()), ["dev-foo", "dev-bar"]);
    assert_eq!(suggestions("", envs).len(), 4);
    assert_eq!(
        suggestions("d", (0..40).map(|i| format!("dev-{i}"))).len(),
        25
    );
}

fn user(id: u64, name: &str) -> User {
    let mut user = User::default();
    user.id = UserId::new(id);
    user.name = name.to_owned();
    user
}

/// A person's id never carries their roles, so a role change leaves their
/// locks and envs theirs; Discord roles are groups (crate::groups).
#[test]
fn a_discord_user_is_one_actor_whatever_roles_they_hold() {
    let lena = user(10, "lena");
    let id = |guild: Option<u64>| {
        actor(guild.map(GuildId::new), &lena)
            .id()
            .unwrap()
            .as_str()
            .to_owned()
    };
    assert_eq!(id(Some(1)), "discord:1:10");
    assert_eq!(id(None), "discord:dm:10");
    assert_eq!(
        member(GuildId::new(1), UserId::new(10))
            .id()
            .unwrap()
            .as_str(),
        "discord:1:10",
        "as the Robot's groups list her"
    );
    assert_eq!(actor(Some(GuildId::new(1)), &lena).display_name, "lena");
    assert_eq!(user_of("discord:1:10"), Some(UserId::new(10)));
    // Ids from before roles were groups still name their person.
    assert_eq!(user_of("discord:1:lead:10"), Some(UserId::new(10)));
    assert_eq!(user_of("discord:dm:10"), Some(UserId::new(10)));
    assert_eq!(user_of("slack:T1:U1"), None);
}

#[test]
fn config_defaults_and_rejects_unknown_keys() {
    let config: DiscordConfig =
        serde_json::from_str(r#"{"guild_id": 1, "members_intent": true}"#).unwrap();
    assert_eq!(config.token_env, "DISCORD_TOKEN");
    assert_eq!(config.prefix, "!rushbox");
    assert!(config.members_intent);
    assert!(!DiscordConfig::default().members_intent);
    assert!(serde_json::from_str::<DiscordConfig>(r#"{"token": "abc"}"#).is_err());
    assert!(
        serde_json::from_str::<DiscordConfig>(r#"{"role_map": {"900": "lead"}}"#).is_err(),
        "roles are groups in [roles] now"
    );
}

#[test]
fn the_members_intent_is_asked_for_only_when_configured() {
    use serenity::all::GatewayIntents;
    let without = rushbox_discord::intents(&DiscordConfig::default());
    assert!(without.contains(GatewayIntents::MESSAGE_CONTENT | GatewayIntents::GUILD_MESSAGES));
    assert!(!without.contains(GatewayIntents::GUILD_MEMBERS));
    let with = DiscordConfig {
        members_intent: true,
        ..DiscordConfig::default()
    };
    assert!(rushbox_discord::intents(&with).contains(GatewayIntents::GUILD_MEMBERS));
}

#[test]
fn people_named_in_replies_become_discord_mentions() {
    use rushbox_discord::identity::mentions;
    let table: &[(&str, &str)] = &[
        (
            "staging is locked by @123456789012345678 since 5m ago",
            "staging is locked by <@123456789012345678> since 5m ago",
        ),
        (
            "handed to discord:1:123456789012345678.",
            "handed to <@123456789012345678>.",
        ),
        (
            "held by discord:1:lead:123456789012345678 (an id from before roles were groups)",
            "held by <@123456789012345678> (an id from before roles were groups)",
        ),
        ("queue: discord:dm:10, discord:1:11", "queue: <@10>, <@11>"),
        ("@alice holds it", "@alice holds it"),
        (
            "@lead:123456789012345678 has it",
            "<@123456789012345678> has it",
        ),
        ("release @12 is old", "release @12 is old"),
        ("deploy dev-foo to staging", "deploy dev-foo to staging"),
        ("mail me@123456789012345678", "mail me@123456789012345678"),
        ("discord:x:y stays", "discord:x:y stays"),
    ];
    for (text, expected) in table {
        assert_eq!(mentions(text), *expected, "{text:?}");
    }
}
