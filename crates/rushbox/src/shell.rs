//! The shell adapter: one command per line from a terminal or a script,
//! replies on stdout (as text, or one JSON object per line with `--json`).
//! `/as <user>` switches who is typing, so one terminal can play developer
//! and lead. Operations run in the background and report as they go; at the
//! end of input the shell waits for them before it exits.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

use rushbox_chat::{Actor, Answer, Incoming, Notice, NoticeFeed, ProgressFeed, Reply, who};
use rushbox_pipeline::{Hold, Unsynced};
use serde_json::json;

use crate::bot::{Bot, TICK};
use crate::config::Config;

mod lines;
use lines::{AbovePrompt, Input, Lines};

pub struct Options {
    pub config: Config,
    pub user: String,
    pub json: bool,
    /// Finish each line's operations before reading the next (scripts).
    pub wait: bool,
    /// Lines run first, as typed by `user`, each to its end (the demo's set-up).
    pub preamble: Vec<String>,
}

/// The columns replies are laid out for: the terminal's width when stdout
/// is one (asked at each reply, so a resized window is followed), else 80.
fn output_width(terminal: bool) -> usize {
    const PIPED: usize = 80;
    if !terminal {
        return PIPED;
    }
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `winsize` into the struct we pass and
    // reads nothing else; a failure leaves it zeroed, handled below.
    let asked = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) };
    if asked == 0 && size.ws_col > 0 {
        usize::from(size.ws_col)
    } else {
        PIPED
    }
}

/// Sends whole messages to one writer thread, so lines from background work never interleave.
#[derive(Clone)]
struct Printer {
    json: bool,
    /// Whether stdout is a terminal (asked once).
    terminal: bool,
    out: std::sync::mpsc::Sender<String>,
}

impl Printer {
    /// The printer and the thread that writes what it is given, until every
    /// printer is dropped: to stdout, or in a terminal above the prompt.
    fn start(json: bool, mut above_prompt: Option<AbovePrompt>) -> (Printer, JoinHandle<()>) {
        let (out, lines) = std::sync::mpsc::channel::<String>();
        let writer = thread::spawn(move || {
            let mut stdout = std::io::BufWriter::new(std::io::stdout());
            while let Ok(text) = lines.recv() {
                // What is already waiting goes out in one write.
                for text in std::iter::once(text).chain(lines.try_iter()) {
                    if let Some(printer) = &mut above_prompt {
                        if printer.print(format!("{text}\n")).is_ok() {
                            continue;
                        }
                        above_prompt = None;
                    }
                    // A closed stdout (a pipe whose reader left) is not worth a panic.
                    let _ = writeln!(stdout, "{text}");
                }
                let _ = stdout.flush();
            }
        });
        let terminal = std::io::stdout().is_terminal();
        (
            Printer {
                json,
                terminal,
                out,
            },
            writer,
        )
    }

    fn emit(&self, kind: &str, to: &str, reply: &Reply, operation: Option<u64>, done: bool) {
        self.send(self.text(kind, to, reply, operation, done));
    }

    fn send(&self, text: String) {
        // The writer lives as long as any printer; a send can only fail after it is gone.
        let _ = self.out.send(text);
    }

    /// A message as printed: one JSON object, or text laid out for the terminal.
    fn text(
        &self,
        kind: &str,
        to: &str,
        reply: &Reply,
        operation: Option<u64>,
        done: bool,
    ) -> String {
        let width = output_width(self.terminal);
        if self.json {
            json!({
                "kind": kind,
                "to": to,
                "operation": operation,
                "final": done,
                "tone": reply.tone,
                "text": reply.to_string(),
                "reply": reply,
            })
            .to_string()
        } else {
            match kind {
                "notice" => format!("→ {to}: {}", indent(&reply.plain(width))),
                "progress" if !done => format!("  … {}", progress_line(reply)),
                "progress" => indent(&reply.plain(width)),
                _ => reply.plain(width),
            }
        }
    }

    fn notice(&self, notice: &Notice) {
        self.send(self.notice_text(notice));
    }

    fn notice_text(&self, notice: &Notice) -> String {
        self.text("notice", &who(&notice.to), &notice.reply, None, false)
    }
}

fn indent(text: &str) -> String {
    text.replace('\n', "\n  ")
}

/// One line for a progress update: its last text block (the latest step).
fn progress_line(reply: &Reply) -> String {
    reply
        .blocks
        .iter()
        .rev()
        .find_map(|b| match b {
            rushbox_chat::Block::Text { text } => Some(text.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

/// Prints a feed's updates until it ends, on its own thread.
fn follow(printer: &Printer, mut feed: ProgressFeed, to: String) -> JoinHandle<()> {
    let printer = printer.clone();
    thread::spawn(move || {
        while let Some(update) = feed.next_blocking() {
            printer.emit(
                "progress",
                &to,
                &update,
                Some(feed.operation),
                feed.is_done(),
            );
        }
    })
}

/// Prints engine notices as they come, until stopped; then what is left.
/// It waits on `wake` (its own subscription, so it holds no lock while it
/// waits) and prints from the shared `feed`, which the main loop also
/// drains to put notices right after the line that caused them.
fn watch_notices(
    printer: &Printer,
    feed: Arc<Mutex<NoticeFeed>>,
    mut wake: NoticeFeed,
    stop: tokio::sync::oneshot::Receiver<()>,
) -> JoinHandle<()> {
    let printer = printer.clone();
    thread::spawn(move || {
        let runtime = match tokio::runtime::Builder::new_current_thread().build() {
            Ok(runtime) => runtime,
            Err(e) => return eprintln!("rushbox: notices can't be watched: {e}"),
        };
        runtime.block_on(async move {
            tokio::pin!(stop);
            loop {
                tokio::select! {
                    _ = &mut stop => break,
                    next = wake.next() => if next.is_none() {
                        break;
                    },
                }
                drain_notices(&printer, &feed);
            }
            drain_notices(&printer, &feed);
        });
    })
}

fn drain_notices(printer: &Printer, feed: &Mutex<NoticeFeed>) {
    let mut feed = feed.lock().unwrap_or_else(|p| p.into_inner());
    while let Some(notice) = feed.try_next() {
        printer.notice(&notice);
    }
}

/// Runs the shell until the end of input; the exit code says whether it could start.
pub fn run(options: Options) -> Result<(), String> {
    let bot = Bot::start(&options.config)?;
    let robot = bot.robot.clone();
    let reaped = bot.reaped;
    let router = bot.has_router();
    let history = options.config.store.parent().map(|p| p.join("history"));
    let mut lines = Lines::open(options.json, history);
    let (printer, writer) = Printer::start(options.json, lines.above_prompt());
    if router && !options.json && std::io::stdin().is_terminal() {
        println!(
            "Envs are served at http://<env>.{}:{} (the router).",
            options.config.router.domain,
            options.config.router.listen.port()
        );
    }
    if reaped > 0 {
        let text = format!(
            "Stopped {reaped} process group(s) that a previous run of rushbox left running."
        );
        printer.emit(
            "notice",
            "@rushbox",
            &Reply::text(rushbox_chat::Tone::Info, text),
            None,
            false,
        );
    }
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let notice_feed = Arc::new(Mutex::new(robot.notices()));
    let notices = watch_notices(&printer, notice_feed.clone(), robot.notices(), stopped);
    for notice in robot.interrupted() {
        printer.notice(&notice);
    }
    let running: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::new(Mutex::new(Vec::new()));
    let (stop_ticker, ticker_stopped) = std::sync::mpsc::channel::<()>();
    let ticker = {
        let (robot, printer, running) = (robot.clone(), printer.clone(), running.clone());
        thread::spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                ticker_stopped.recv_timeout(TICK)
            {
                let answer = robot.tick();
                deliver(&printer, answer, "rushbox", &running, false);
            }
        })
    };

    for line in &options.preamble {
        let said = Reply::text(
            rushbox_chat::Tone::Info,
            format!("{}> {line}", options.user),
        );
        printer.emit("input", &format!("@{}", options.user), &said, None, false);
        let incoming = Incoming {
            actor: Actor::new("shell", &options.user, &options.user),
            channel: "tty".to_owned(),
            text: line.clone(),
            reply_to: None,
        };
        deliver(
            &printer,
            robot.handle(&incoming),
            &format!("@{}", options.user),
            &running,
            true,
        );
        drain_notices(&printer, &notice_feed);
    }
    let mut user = options.user.clone();
    // Who is typing, as the prompt and the replies name them.
    let mut prompt = format!("{user}> ");
    let mut to = format!("@{user}");
    if !options.json && std::io::stdin().is_terminal() {
        println!(
            "rushbox shell: you are @{user}. Type `help`, `/as <user>` to switch, Ctrl-D to leave."
        );
    }
    let mut held = Held::default();
    let mut releaser = Releaser::start(printer.clone(), notice_feed.clone());
    loop {
        // A line not read yet may be a while coming: answer what was read
        // first; and never hold more than a bounded number of answers.
        if !lines.ready() || held.out.len() >= MAX_HELD {
            held.release(&mut releaser);
        }
        let Some(input) = lines.next(&prompt) else {
            break;
        };
        if held.hold.is_none() {
            held.hold = Some(robot.engine().hold());
        }
        let line = match input {
            Input::Line(line) => line,
            Input::Skipped(why) => {
                held.say(printer.text(
                    "reply",
                    &to,
                    &Reply::text(rushbox_chat::Tone::Refused, why),
                    None,
                    false,
                ));
                continue;
            }
        };
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix("/as") {
            let name = rest.trim();
            match Actor::new("shell", name, name).id() {
                Ok(_) if !name.is_empty() => {
                    user = name.to_owned();
                    prompt = format!("{user}> ");
                    to = format!("@{user}");
                    held.say(printer.text(
                        "reply",
                        &to,
                        &Reply::text(rushbox_chat::Tone::Info, format!("Now typing as @{user}.")),
                        None,
                        false,
                    ));
                }
                _ => held.say(printer.text(
                    "reply",
                    &to,
                    &Reply::text(
                        rushbox_chat::Tone::Refused,
                        "Say `/as <user>`, with a user name of plain letters and digits.",
                    ),
                    None,
                    false,
                )),
            }
            continue;
        }
        if line == "/quit" || line == "/exit" {
            break;
        }
        let incoming = Incoming {
            actor: Actor::new("shell", &user, &user),
            channel: "tty".to_owned(),
            text: line.to_owned(),
            reply_to: None,
        };
        let answer = robot.handle(&incoming);
        let unfinished = held.answer(&printer, answer, &to);
        if !unfinished.is_empty() {
            // Its operations start once the sync covering the line is done.
            held.release_and_wait(&mut releaser);
            for feed in unfinished {
                follow_or_wait(&printer, feed, &to, &running, options.wait);
            }
            if options.wait {
                // What the finished work told others comes before the next line's answer.
                drain_notices(&printer, &notice_feed);
            }
        }
    }
    held.release_and_wait(&mut releaser);
    drop(releaser);

    // End of input: let running work finish, then say what it told others.
    loop {
        let handles: Vec<JoinHandle<()>> =
            std::mem::take(&mut *running.lock().unwrap_or_else(|p| p.into_inner()));
        if handles.is_empty() {
            break;
        }
        for handle in handles {
            let _ = handle.join();
        }
    }
    drop(stop_ticker);
    let _ = ticker.join();
    let _ = stop.send(());
    let _ = notices.join();
    drop(printer);
    let _ = writer.join();
    bot.stop();
    Ok(())
}

fn deliver(
    printer: &Printer,
    answer: Answer,
    to: &str,
    running: &Mutex<Vec<JoinHandle<()>>>,
    wait: bool,
) {
    // Timed rules speak through notices and progress; their own reply is for the audit log.
    if to != "rushbox" {
        printer.emit("reply", to, &answer.reply, None, false);
    }
    for feed in answer.progress {
        follow_or_wait(printer, feed, to, running, wait);
    }
}

/// Prints a feed's updates on their own thread; with `wait`, until it ends.
fn follow_or_wait(
    printer: &Printer,
    feed: ProgressFeed,
    to: &str,
    running: &Mutex<Vec<JoinHandle<()>>>,
    wait: bool,
) {
    let handle = follow(printer, feed, to.to_owned());
    if wait {
        let _ = handle.join();
    } else {
        running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(handle);
    }
}

/// The most things said held for one sync: memory stays small, and one
/// sync (about half a millisecond here) per this many is a few
/// microseconds a line.
const MAX_HELD: usize = 512;

/// What the lines read in one go said, printed once the one sync that
/// covers their decisions is done (see `Engine::hold`).
#[derive(Default)]
struct Held {
    hold: Option<Hold>,
    out: Vec<Said>,
    /// The notices told by the held calls up to the last line.
    told: usize,
}

enum Said {
    Text(String),
    /// The notices the held calls have told so far: they follow here.
    NoticesThrough(usize),
}

impl Held {
    fn say(&mut self, text: String) {
        self.out.push(Said::Text(text));
    }

    /// Keeps an answer's reply and every progress version already there;
    /// returns the feeds whose operation has yet to run (it starts only
    /// after the release).
    fn answer(&mut self, printer: &Printer, answer: Answer, to: &str) -> Vec<ProgressFeed> {
        self.say(printer.text("reply", to, &answer.reply, None, false));
        let mut unfinished = Vec::new();
        for mut feed in answer.progress {
            while let Some(update) = feed.next_ready() {
                let text = printer.text(
                    "progress",
                    to,
                    &update,
                    Some(feed.operation),
                    feed.is_done(),
                );
                self.say(text);
            }
            if !feed.is_done() {
                unfinished.push(feed);
            }
        }
        // Where this line's notices go, if it caused any.
        let told = self.hold.as_ref().map_or(0, Hold::told);
        if told > self.told {
            self.told = told;
            self.out.push(Said::NoticesThrough(told));
        }
        unfinished
    }

    /// Hands the held calls and what they said to the releaser, which
    /// syncs and prints them while the next lines are decided.
    fn release(&mut self, releaser: &mut Releaser) {
        let Some(hold) = self.hold.take() else {
            return;
        };
        self.told = 0;
        releaser.send(Batch {
            unsynced: hold.detach(),
            out: std::mem::take(&mut self.out),
        });
    }

    /// Releases, and returns once everything said so far is printed.
    fn release_and_wait(&mut self, releaser: &mut Releaser) {
        self.release(releaser);
        releaser.wait();
    }
}

/// One read's held calls and what they said.
struct Batch {
    unsynced: Unsynced,
    out: Vec<Said>,
}

/// Syncs batches and prints them, in order, on its own thread: one
/// stream's next lines are decided while the last ones sync, so the disk
/// and the decisions use both cores. A batch is handed over only when the
/// releaser is free (a rendezvous), so at most two are in memory.
struct Releaser {
    batches: Option<std::sync::mpsc::SyncSender<Batch>>,
    printed: std::sync::mpsc::Receiver<()>,
    in_flight: usize,
    thread: Option<JoinHandle<()>>,
}

impl Releaser {
    fn start(printer: Printer, notices: Arc<Mutex<NoticeFeed>>) -> Releaser {
        let (batches, waiting) = std::sync::mpsc::sync_channel::<Batch>(0);
        let (done, printed) = std::sync::mpsc::channel();
        let thread = thread::spawn(move || {
            for batch in waiting {
                print_batch(&printer, &notices, batch);
                if done.send(()).is_err() {
                    break;
                }
            }
        });
        Releaser {
            batches: Some(batches),
            printed,
            in_flight: 0,
            thread: Some(thread),
        }
    }

    fn send(&mut self, batch: Batch) {
        let Some(batches) = &self.batches else {
            return;
        };
        match batches.send(batch) {
            Ok(()) => self.in_flight += 1,
            // The thread is gone (it panicked): release here, print nothing unsure.
            Err(std::sync::mpsc::SendError(batch)) => drop(batch.unsynced.release()),
        }
    }

    /// Returns once every batch sent is synced and printed.
    fn wait(&mut self) {
        while self.in_flight > 0 {
            if self.printed.recv().is_err() {
                break;
            }
            self.in_flight -= 1;
        }
    }
}

impl Drop for Releaser {
    fn drop(&mut self) {
        self.batches = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Syncs a batch's calls, then prints what they said, each line's notices
/// after it; if the sync failed, says that none of it is sure.
fn print_batch(printer: &Printer, notices: &Mutex<NoticeFeed>, batch: Batch) {
    // The notice watcher waits, so the notices come after their lines.
    let mut feed = notices.lock().unwrap_or_else(|p| p.into_inner());
    let Batch { unsynced, out } = batch;
    if let Err(e) = unsynced.release() {
        let lines = out.iter().filter(|s| matches!(s, Said::Text(_))).count();
        let text = format!(
            "The state store failed before the last {lines} answer(s) were saved ({e}); \
             they may not have happened. Restart rushbox and check `history`."
        );
        printer.emit(
            "reply",
            "@rushbox",
            &Reply::text(rushbox_chat::Tone::Error, text),
            None,
            false,
        );
        return;
    }
    // One message to the writer for the whole read: one wake-up, one write.
    let mut all = String::new();
    let mut printed = 0;
    for said in out {
        let text = match said {
            Said::Text(text) => text,
            Said::NoticesThrough(told) => {
                let mut texts = Vec::new();
                while printed < told {
                    let Some(notice) = feed.try_next() else {
                        break;
                    };
                    texts.push(printer.notice_text(&notice));
                    printed += 1;
                }
                if texts.is_empty() {
                    continue;
                }
                texts.join("\n")
            }
        };
        if !all.is_empty() {
            all.push('\n');
        }
        all.push_str(&text);
    }
    if !all.is_empty() {
        printer.send(all);
    }
}
