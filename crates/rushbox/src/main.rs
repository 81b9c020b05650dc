//! The `rushbox` binary: thin wiring from the command line to the crates.

mod backends;
mod bot;
mod config;
mod demo;
mod serve;
mod shell;

use std::ffi::{OsStr, OsString};
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
        /// The text, as typed in chat. Arguments that are not UTF-8 are
        /// read too, so they get the contract's `invalid`, not a usage error.
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        text: Vec<OsString>,
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
    /// The whole pipeline on this machine: a sample app with `main` and `foo`
    /// branches, staging and prod set up from `main`, the router, and the shell.
    Demo {
        /// Where the demo keeps its app, config and state.
        #[arg(long, default_value = ".rushbox/demo")]
        dir: PathBuf,
        /// Who is typing; the demo makes this user a lead.
        #[arg(long = "as", value_name = "USER")]
        user: Option<String>,
        /// The router's address.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
    },
    /// Run the bot for a team on the chat platforms the config names
    /// (`[slack]`, `[discord]`), until Ctrl-C or SIGTERM.
    Serve {
        /// The config file.
        #[arg(long)]
        config: PathBuf,
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
        Cli2::Parse { json, text } => return parse(&text.join(OsStr::new(" ")), json),
        Cli2::Demo { dir, user, listen } => return run_demo(&dir, user, &listen),
        Cli2::Serve { config } => return serve(&config),
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

fn parse(text: &OsStr, json: bool) -> ExitCode {
    let parsed = Grammar::new().parse_bytes(text.as_encoded_bytes());
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
    let user = shell_user(user);
    let wait = wait || (!no_wait && !std::io::stdin().is_terminal());
    match shell::run(shell::Options {
        config,
        user,
        json,
        wait,
        preamble: Vec::new(),
    }) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("rushbox: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run_demo(dir: &std::path::Path, user: Option<String>, listen: &str) -> ExitCode {
    use std::io::IsTerminal;
    let user = shell_user(user);
    let prepared = std::fs::create_dir_all(dir)
        .map_err(|e| format!("can't create {}: {e}", dir.display()))
        .and_then(|()| demo::prepare(dir, &user, listen));
    let (config_path, first) = match prepared {
        Ok(prepared) => prepared,
        Err(error) => {
            eprintln!("rushbox demo: {error}");
            return ExitCode::FAILURE;
        }
    };
    let config = match demo::load(&config_path) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("rushbox demo: {error}");
            return ExitCode::from(2);
        }
    };
    if std::io::stdin().is_terminal() {
        println!(
            "rushbox demo: the sample app is in {0}/app (branches main and foo), config {1}.\n\
             You are @{user}, a lead. Try `deploy branch foo to dev`, open the link, then \
             `deploy dev-foo to staging` and `promote staging to prod`.",
            dir.display(),
            config_path.display()
        );
    }
    let preamble = if first { demo::preamble() } else { Vec::new() };
    let wait = !std::io::stdin().is_terminal();
    match shell::run(shell::Options {
        config,
        user,
        json: false,
        wait,
        preamble,
    }) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("rushbox demo: {error}");
            ExitCode::FAILURE
        }
    }
}

/// `--as`, else $USER, else `you`.
fn shell_user(user: Option<String>) -> String {
    user.or_else(|| std::env::var("USER").ok())
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "you".to_owned())
}

fn serve(path: &std::path::Path) -> ExitCode {
    let config = match config::Config::load(path) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("rushbox: {error}");
            return ExitCode::from(2);
        }
    };
    match serve::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("rushbox: {error}");
            ExitCode::FAILURE
        }
    }
}
