//! The `rushbox` binary: thin wiring from the command line to the crates.

mod config;
mod shell;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rushbox_command::{Grammar, Intent, Report};

#[derive(Parser)]
#[command(
    name = "rushbox",
    version,
    disable_help_subcommand = true,
    about = "Chat-ops for a team's dev → staging → prod pipeline"
)]
struct Cli {
    #[command(subcommand)]
    command: Cli2,
}

#[derive(Subcommand)]
enum Cli2 {
    /// Show how a line of chat parses. Exit 0 for a parse (unknown included), 2 for invalid.
    Parse {
        /// Print exactly one JSON object with the stable keys of the parse contract.
        #[arg(long)]
        json: bool,
        /// The text, as typed in chat.
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        text: Vec<String>,
    },
    /// Run the bot in this terminal: one command per line, replies below.
    Shell {
        /// The config file; without it, the embedded default (config/rushbox.toml).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Who is typing (a user name; `/as <user>` switches). Default: $USER.
        #[arg(long = "as", value_name = "USER")]
        user: Option<String>,
        /// Print each reply as one JSON object per line.
        #[arg(long)]
        json: bool,
        /// Finish each line's operations before reading the next line
        /// (the default when input is not a terminal).
        #[arg(long, overrides_with = "no_wait")]
        wait: bool,
        /// Read the next line while operations run (the default in a terminal).
        #[arg(long)]
        no_wait: bool,
    },
    /// Show the command language (same text the bot answers to `help`).
    Help {
        /// Print the command reference as Markdown (docs/commands.md).
        #[arg(long)]
        markdown: bool,
        /// A command or word to get help on.
        topic: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let text = match cli.command {
        Cli2::Parse { json, text } => return parse(&text.join(" "), json),
        Cli2::Shell {
            config,
            user,
            json,
            wait,
            no_wait,
        } => {
            return shell(config, user, json, wait, no_wait);
        }
        Cli2::Help { markdown: true, .. } => rushbox_command::reference_markdown(),
        Cli2::Help { topic, .. } => rushbox_command::help(topic.as_deref()),
    };
    match write!(std::io::stdout(), "{text}") {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}

fn parse(text: &str, json: bool) -> ExitCode {
    let parsed = Grammar::new().parse(text);
    let invalid = matches!(&parsed, Err(r) if r.intent() == Intent::Invalid);
    let line = if json {
        serde_json::to_string(&Report::new(&parsed))
            .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    } else {
        match &parsed {
            Ok(command) => format!("{}: {command}", command.intent()),
            Err(rejection) => format!("{}: {rejection}", rejection.intent()),
        }
    };
    println!("{line}");
    if invalid {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

fn shell(
    config: Option<PathBuf>,
    user: Option<String>,
    json: bool,
    wait: bool,
    no_wait: bool,
) -> ExitCode {
    use std::io::IsTerminal;
    let loaded = match &config {
        Some(path) => config::Config::load(path),
        None => std::env::current_dir()
            .map_err(|e| config::ConfigError {
                file: config::EMBEDDED_NAME.to_owned(),
                line: None,
                key: None,
                message: format!("can't tell the current directory: {e}"),
            })
            .and_then(|cwd| config::Config::embedded(&cwd)),
    };
    let config = match loaded {
        Ok(config) => config,
        Err(error) => {
            eprintln!("rushbox: {error}");
            return ExitCode::from(2);
        }
    };
    let user = user
        .or_else(|| std::env::var("USER").ok())
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "you".to_owned());
    let wait = wait || (!no_wait && !std::io::stdin().is_terminal());
    match shell::run(shell::Options {
        config,
        user,
        json,
        wait,
    }) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("rushbox: {error}");
            ExitCode::FAILURE
        }
    }
}
