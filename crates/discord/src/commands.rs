//! The slash commands rushbox registers, and how each one's options become
//! the command text the Robot parses (the same words a person would type).

use serenity::all::{CommandOptionType, CreateCommand, CreateCommandOption};

/// Options that name an env, offered env names as you type.
pub const ENV_OPTIONS: &[&str] = &["env", "target", "source"];
/// Options that name a git ref, offered recent branches as you type.
pub const REF_OPTIONS: &[&str] = &["ref"];

struct Spec {
    name: &'static str,
    description: &'static str,
    /// (name, description, required)
    options: &'static [(&'static str, &'static str, bool)],
}

const SPECS: &[Spec] = &[
    Spec {
        name: "deploy",
        description: "Deploy a branch, tag or commit to an env",
        options: &[
            ("ref", "Branch, tag or commit", true),
            ("target", "Where: dev, staging, prod or an env name", true),
        ],
    },
    Spec {
        name: "promote",
        description: "Promote what runs in one env to the next (same release, no rebuild)",
        options: &[
            ("source", "The env whose release moves on", true),
            ("target", "Where it goes", true),
        ],
    },
    Spec {
        name: "envs",
        description: "Which environments are running",
        options: &[],
    },
    Spec {
        name: "status",
        description: "The state of one env",
        options: &[("env", "The env", true)],
    },
    Spec {
        name: "lock",
        description: "Take an env's lock",
        options: &[
            ("env", "The env", true),
            ("reason", "Why, for whoever waits", true),
            ("duration", "For how long, like 2h or 30m", false),
        ],
    },
    Spec {
        name: "unlock",
        description: "Release an env's lock",
        options: &[("env", "The env", true)],
    },
    Spec {
        name: "queue",
        description: "Who waits for an env's lock",
        options: &[("env", "The env", true)],
    },
    Spec {
        name: "destroy",
        description: "Destroy an env",
        options: &[("env", "The env", true)],
    },
    Spec {
        name: "rollback",
        description: "Go back to an earlier release",
        options: &[
            ("env", "The env", true),
            ("release", "Which release (default: the one before)", false),
        ],
    },
    Spec {
        name: "history",
        description: "What happened to an env",
        options: &[("env", "The env", true)],
    },
    Spec {
        name: "rushbox",
        description: "Anything you would type to rushbox",
        options: &[("text", "Like: deploy foo to dev", true)],
    },
];

/// The definitions sent to Discord when registering.
pub fn definitions() -> Vec<CreateCommand> {
    SPECS
        .iter()
        .map(|spec| {
            let options = spec
                .options
                .iter()
                .map(|(name, description, required)| {
                    CreateCommandOption::new(CommandOptionType::String, *name, *description)
                        .required(*required)
                        .set_autocomplete(ENV_OPTIONS.contains(name) || REF_OPTIONS.contains(name))
                })
                .collect();
            CreateCommand::new(spec.name)
                .description(spec.description)
                .set_options(options)
        })
        .collect()
}

/// The text a slash command stands for, from its name and string options;
/// `None` for a command we did not register or a missing required option.
pub fn command_text(name: &str, options: &[(&str, &str)]) -> Option<String> {
    let get = |key: &str| {
        options
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    };
    let text = match name {
        "deploy" => format!("deploy {} to {}", get("ref")?, get("target")?),
        "promote" => format!("promote {} to {}", get("source")?, get("target")?),
        "envs" => "envs".to_owned(),
        "status" => format!("status {}", get("env")?),
        "lock" => match get("duration") {
            Some(duration) => format!("lock {} for {duration}: {}", get("env")?, get("reason")?),
            None => format!("lock {} for {}", get("env")?, get("reason")?),
        },
        "unlock" => format!("unlock {}", get("env")?),
        "queue" => format!("{} queue", get("env")?),
        "destroy" => format!("destroy {}", get("env")?),
        "rollback" => match get("release") {
            Some(release) => format!("rollback {} to {release}", get("env")?),
            None => format!("rollback {}", get("env")?),
        },
        "history" => format!("history {}", get("env")?),
        "rushbox" => get("text")?.to_owned(),
        _ => return None,
    };
    Some(text)
}

/// Up to 25 suggestions (Discord's cap) among `candidates` containing what was typed.
pub fn suggestions(typed: &str, candidates: impl IntoIterator<Item = String>) -> Vec<String> {
    let typed = typed.trim().to_lowercase();
    let mut out: Vec<String> = Vec::new();
    for candidate in candidates {
        if candidate.to_lowercase().contains(&typed) && !out.contains(&candidate) {
            out.push(candidate);
        }
        if out.len() == 25 {
            break;
        }
    }
    out
}
