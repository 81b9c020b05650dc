//! The `rushbox` binary: thin wiring from the command line to the crates.

use std::io::Write;
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
    let mut out = std::io::stdout().lock();
    let written = match cli.command {
        Cli2::Parse { json, text } => return parse(&text.join(" "), json),
        Cli2::Help { markdown: true, .. } => {
            write!(out, "{}", rushbox_command::reference_markdown())
        }
        Cli2::Help { topic, .. } => write!(out, "{}", rushbox_command::help(topic.as_deref())),
    };
    match written {
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
