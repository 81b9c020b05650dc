//! The grammar as data: one row per intent with its usage lines, a summary,
//! examples and the regular expressions that recognise it. The parser, the
//! help text, the "did you mean" vocabulary and docs/commands.md are all made
//! from this table, so they cannot drift apart.
//!
//! Patterns match a whole normalised line (single spaces, no filler words,
//! no trailing punctuation), case-insensitively. Placeholders in braces are
//! expanded by [`expand`]; the named groups they leave are read by
//! `grammar::build`. Rows are tried in order and the first pattern
//! whose groups make a valid command wins, so the more specific rows come first.

use crate::intent::Intent;

pub(crate) struct Row {
    pub intent: Intent,
    /// Canonical forms, shown by `help`; `<placeholders>` name what to fill in.
    pub usage: &'static [&'static str],
    pub summary: &'static str,
    /// Other ways to say it. A test checks each one parses to this intent.
    pub examples: &'static [&'static str],
    pub patterns: &'static [&'static str],
}

/// Placeholders and what they expand to. Name tokens are captured loosely
/// (`[^ ]+`: the line is normalised to single spaces) on purpose: the builder validates them, so a bad branch name gets
/// an error that names the rule it breaks instead of "I didn't understand".
const PLACEHOLDERS: &[(&str, &str)] = &[
    ("{ref_or_env}", r"(?P<ref_or_env>[^ ]+)"),
    ("{ref}", r"(?P<ref>[^ ]+)"),
    ("{env}", r"(?P<env>[^ :,]+)"),
    ("{source}", r"(?P<source>[^ :,]+)"),
    ("{target}", r"(?P<target>[^ :]+)"),
    ("{user}", r"(?P<user>[^ ]+)"),
    ("{release}", r"(?P<release>[^ ]+)"),
    ("{app}", r"(?P<app>[^ :,/]+)"),
    ("{stage}", r"(?P<stage>[a-z]+)"),
    ("{reason}", r"(?P<reason>.+)"),
    ("{topic}", r"(?P<topic>.+)"),
    (
        "{duration}",
        r"(?P<duration>\d+ ?(?:s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?|d|days?|w|wks?|weeks?)|(?:an?|one|another|two|three) (?:sec|second|min|minute|hour|day|week)s?)\b",
    ),
    ("{the}", r"(?:(?:the|my|our|this|that|a|an) )?"),
    ("{to}", r"(?:to|into|onto|in|on)"),
    (
        "{envword}",
        r"(?:env|environment|box|instance|deployment|server|site|app)",
    ),
    (
        "{envs}",
        r"(?:envs|environments|boxes|instances|deployments|servers|sites)",
    ),
    ("{force}", r"(?P<force>!)?"),
    (
        "{deployverb}",
        r"(?:deploy|redeploy|ship|push|roll out|rollout|send)",
    ),
    (
        "{dest}",
        r"(?: {to} (?:(?:a|an|my|the|new|a new) )?{target}(?: {envword})?)?",
    ),
    (
        "{lockof}",
        r"(?:lock (?:on|for|of) {the}{env}|{env} lock|{env})",
    ),
    (
        "{locktail}",
        r"(?: for {duration}(?:(?:,|:| -| for| because| to)? {reason})?|(?::| -| for| because| to) {reason})?",
    ),
    (
        "{branchof}",
        r"(?:dev )?{envword} (?:for|of) (?:the )?(?:branch )?{ref}",
    ),
];

/// Expands placeholders (repeatedly, since some contain others) and anchors
/// the pattern to the whole line. Patterns are lowercase and match bytes
/// (`(?-u)`) of an ASCII-lowercased copy of the line, which keeps the automata
/// small and fast; captures end at ASCII, so the same ranges cut valid UTF-8
/// slices, with their case, out of the original line.
pub(crate) fn expand(pattern: &str) -> String {
    let mut out = pattern.to_owned();
    while out.contains('{') {
        let before = out.clone();
        for (name, regex) in PLACEHOLDERS {
            out = out.replace(name, regex);
        }
        if out == before {
            break;
        }
    }
    format!("(?-u)^(?:{})$", number_repeated_groups(&out))
}

/// regex-automata refuses a group name used twice in one pattern, even in
/// alternatives; `{lockof}` has `{env}` in each. The second use of a name
/// becomes `name2`, the third `name3`; the builder reads them all under the base name.
fn number_repeated_groups(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut seen: Vec<(String, usize)> = Vec::new();
    let mut rest = pattern;
    while let Some(at) = rest.find("(?P<") {
        let (head, tail) = rest.split_at(at + 4);
        out.push_str(head);
        let end = tail.find('>').unwrap_or(tail.len());
        let name = &tail[..end];
        let count = match seen.iter_mut().find(|(n, _)| n == name) {
            Some((_, count)) => {
                *count += 1;
                *count
            }
            None => {
                seen.push((name.to_owned(), 1));
                1
            }
        };
        out.push_str(name);
        if count > 1 {
            out.push_str(&count.to_string());
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

pub(crate) const ROWS: &[Row] = &[
    Row {
        intent: Intent::Help,
        usage: &["help", "help <topic>"],
        summary: "what rushbox understands, or more on one command",
        examples: &[
            "what can you do?",
            "help deploy",
            "commands",
            "how do I lock staging?",
        ],
        patterns: &[
            r"help",
            r"help(?: (?:with|on|for|me with|about))? {topic}",
            r"(?:what can you do|what do you do|what can i do|commands|usage|man|\?|what are (?:the|your) commands|how do i use you|how does this work)",
            r"how (?:do|can) (?:i|we) {topic}",
        ],
    },
    Row {
        intent: Intent::Deploy,
        usage: &[
            "deploy branch <ref> to dev",
            "deploy <ref> to <env>",
            "deploy <app>/<ref> to <env>",
        ],
        summary: "build a branch and run it: `to dev` makes your own env `dev-<branch>`, cloned from staging; a bare deploy always means dev",
        examples: &[
            "deploy foo",
            "deploy branch feature/login-redesign to dev",
            "deploy! api/main to staging/web-1",
            "spin up a dev env for foo",
            "put foo on dev",
            "redeploy foo to dev-foo",
            "ship branch hotfix-12 to prod",
        ],
        patterns: &[
            r"{deployverb}{force} {the}branch {ref}{dest}",
            r"{deployverb}{force} {app} branch {ref}{dest}",
            r"{deployverb}{force} {the}{ref_or_env}(?: branch)?{dest}",
            r"(?:put|throw|stick|get) {the}(?:branch )?{ref_or_env}(?: branch)? (?:on|onto|in|into|to|up on) {the}{target}(?: {envword})?",
            r"(?:spin up|create|make|start|set up|setup|build|give me|get me|i need|need|bring up|open|provision) (?:me )?(?:a |an |my )?(?:new )?{branchof}(?: branch)?",
            r"(?:spin up|bring up) {the}(?:branch )?(?P<ref_not_env>[^ ]+)(?: branch)?{dest}",
            r"(?P<bare_verb>{deployverb}){force}",
        ],
    },
    Row {
        intent: Intent::Promote,
        usage: &["promote <env> to <env>"],
        summary: "move the release running on one env to the next, without rebuilding (`deploy staging to prod` says the same)",
        examples: &[
            "promote staging to prod",
            "promote dev-foo to staging",
            "deploy staging to production",
            "ship staging to production",
            "deploy foo.dev to stg",
        ],
        patterns: &[
            r"(?:promote|advance|move|push|graduate){force} {the}{source}(?: {envword})?(?: {to} {the}{target}(?: {envword})?)?",
        ],
    },
    Row {
        intent: Intent::Transfer,
        usage: &["give <env> to @<user>"],
        summary: "hand a dev env to someone else (owner or lead)",
        examples: &[
            "give dev-foo to @alice",
            "transfer dev-foo to <@U024BE7LH>",
            "make @bob the owner of dev-foo",
        ],
        patterns: &[
            r"(?:give|transfer|hand|reassign|assign|pass) {the}{env}(?: {envword})?(?: over)? to {user}",
            r"(?:make|set) {user} (?:the )?owner of {the}{env}",
            r"(?:transfer|hand over|change|give) (?:the )?owner(?:ship)? of {the}{env} to {user}",
        ],
    },
    Row {
        intent: Intent::QueueJoin,
        usage: &["queue me for staging", "queue branch <ref> for staging"],
        summary: "wait in line for the staging lock; you are told when it is yours",
        examples: &[
            "queue me for staging",
            "put branch foo in the staging queue",
            "join the queue",
            "add me to the staging queue",
        ],
        patterns: &[
            r"queue (?:me(?: up)?(?: (?:for|on) {the}{env}(?: lock)?)?|(?:up )?(?:for|on) {the}{env}(?: lock)?)",
            r"(?:enqueue|line up)(?: me)?(?: (?:for|on) {the}{env}(?: lock)?)?",
            r"(?:join|get in|get into|enter|get in line for) {the}(?:{env} )?(?:queue|line)(?: for {the}{env})?",
            r"(?:put|add) me (?:in|on|to|into) {the}(?:{env} )?queue(?: for {the}{env})?",
            r"(?:put|add|queue) (?:the )?(?:branch )?{ref}(?: branch)? (?:in|on|to|into|for) {the}(?:{env} )?queue(?: for {the}{env})?",
            r"queue (?:the )?(?:branch )?{ref}(?: branch)? for {the}{env}",
        ],
    },
    Row {
        intent: Intent::QueueLeave,
        usage: &["leave the staging queue"],
        summary: "give up your place in line",
        examples: &[
            "leave the queue",
            "dequeue me",
            "take me out of the staging queue",
        ],
        patterns: &[
            r"leave {the}(?:{env} )?(?:queue|line)(?: for {the}{env})?",
            r"(?:dequeue|unqueue)(?: me)?(?: from {the}{env}(?: queue)?)?",
            r"(?:take|remove|get) me (?:out of|off|from) {the}(?:{env} )?queue",
        ],
    },
    Row {
        intent: Intent::QueueStatus,
        usage: &["staging queue"],
        summary: "who is waiting for staging, in order",
        examples: &[
            "where am I in the queue?",
            "who is next for staging?",
            "show the queue",
        ],
        patterns: &[
            r"{the}{env} queue(?: status)?",
            r"queue(?: (?:status|list))?(?: (?:for|of|on) {the}{env})?",
            r"(?:show|list|see|check) {the}(?:{env} )?queue(?: for {the}{env})?",
            r"where am i in {the}(?:{env} )?(?:queue|line)",
            r"who(?:'s| is) (?:in|on) {the}(?:{env} )?queue",
            r"who(?:'s| is) (?:next|waiting|queued)(?: (?:for|on) {the}{env})?",
            r"(?:how long is|what(?:'s| is)) {the}(?:{env} )?queue",
        ],
    },
    Row {
        intent: Intent::LockStatus,
        usage: &["who has staging"],
        summary: "who holds the staging lock, why, and since when",
        examples: &[
            "is staging free?",
            "who has the staging lock?",
            "lock status",
        ],
        patterns: &[
            r"who(?:'s| is)? (?:has|holds|got|'s got|locked|is holding|has got) {the}{lockof}",
            r"who owns {the}(?:lock (?:on|for|of) {the}{env}|{env} lock)",
            r"who(?:'s| is)? (?:has|holds) {the}lock",
            r"is {the}{env}(?: lock)? (?:free|locked|available|taken|busy|open|in use)",
            r"(?:lock status|status of {the}lock)(?: (?:of|for|on) {the}{env}| {env})?",
            r"{the}{env} lock(?: status)?",
        ],
    },
    Row {
        intent: Intent::Unlock,
        usage: &["unlock staging"],
        summary: "release a lock you hold (a lead may release anyone's); the next in the queue gets it",
        examples: &[
            "release the staging lock",
            "I'm done with staging",
            "unlock stg",
        ],
        patterns: &[
            r"unlock{force} {the}{env}",
            r"(?P<force>force)(?: |-)?unlock {the}{env}",
            r"(?:release|drop|free|give up|return|clear) {the}{lockof}",
            r"(?:i'?m|i am|we'?re|we are) done with {the}{env}(?: lock)?",
        ],
    },
    Row {
        intent: Intent::Lock,
        usage: &[
            "lock staging for <reason>",
            "lock staging for <duration>, <reason>",
            "steal the staging lock",
        ],
        summary: "take staging so nothing else lands there; a reason is required; a lead can steal it (`lock! staging`)",
        examples: &[
            "lock staging: QA for 4.2",
            "lock staging for 2h, QA on checkout",
            "steal the staging lock",
            "lock! staging for hotfix",
            "grab the staging lock for a demo",
        ],
        patterns: &[
            r"lock{force} {the}{env}(?: lock)?{locktail}",
            r"(?:take|grab|claim|acquire|get|hold) {the}(?:lock (?:on|for|of) {the}{env}|{env} lock){locktail}",
            r"(?P<force>steal|force|force-lock|forcelock)(?: lock)? {the}{lockof}{locktail}",
        ],
    },
    Row {
        intent: Intent::Cancel,
        usage: &["cancel dev-foo"],
        summary: "stop the operation running on an env",
        examples: &["abort the deploy to dev-foo", "stop the deploy on staging"],
        patterns: &[
            r"(?:cancel|abort|halt)(?: the)?(?: running)?(?: (?:deploy|deployment|operation|op|build|job|rollout|promotion))?(?: (?:on|to|of|for|in))? {the}{env}",
            r"(?:stop|kill)(?: the)?(?: running)? (?:deploy|deployment|operation|op|build|job|rollout|promotion)(?: (?:on|to|of|for|in))? {the}{env}",
        ],
    },
    Row {
        intent: Intent::Rollback,
        usage: &["rollback prod", "rollback prod to <release>"],
        summary: "redeploy an earlier release (the one before, unless you name one); prod needs a lead",
        examples: &[
            "roll back production to v141",
            "revert prod",
            "rollback api/prod to 12",
        ],
        patterns: &[
            r"(?:rollback|roll back|roll-back|revert|undo the last deploy (?:on|to|of)) {the}{env}(?: (?:to|back to) (?:release )?{release})?",
            r"(?:rollback|roll back|revert) (?:to )?(?:release )?{release} (?:on|in) {the}{env}",
        ],
    },
    Row {
        intent: Intent::Reset,
        usage: &["reset staging to prod"],
        summary: "put prod's release back on staging, making it a clean clone again",
        examples: &[
            "reset staging",
            "make staging match prod",
            "sync staging with production",
        ],
        patterns: &[
            r"reset {the}{env}(?: (?:to|from|with) {the}{source})?",
            r"(?:make|sync|resync) {the}{env} (?:match|equal|like|with|from|to|same as) {the}{source}",
        ],
    },
    Row {
        intent: Intent::Extend,
        usage: &["extend dev-foo by <duration>", "extend staging"],
        summary: "give an env more time to live, or your staging lock a longer lease",
        examples: &[
            "extend dev-foo by 1d",
            "keep dev-foo alive for another day",
            "extend the staging lock by 2h",
        ],
        patterns: &[
            r"extend {the}{env}(?: {envword}| lock)?(?: (?:by|for) {duration})?",
            r"(?:keep|leave) {the}{env}(?: {envword})? (?:alive|up|around|running)(?: (?:for|by) {duration})?",
            r"give {the}{env}(?: lock)? {duration}(?: more)?",
            r"add {duration} to {the}{env}(?: lock)?",
        ],
    },
    Row {
        intent: Intent::Destroy,
        usage: &["destroy dev-foo"],
        summary: "tear a dev env down for good (owner or lead)",
        examples: &["tear down dev-foo", "delete my env for foo", "nuke foo.dev"],
        patterns: &[
            r"(?:destroy|delete|remove|kill|nuke|drop|tear down|teardown|tear-down|trash|terminate|get rid of) {the}{env}(?: {envword})?",
            r"(?:destroy|delete|remove|kill|nuke|drop|tear down|teardown|trash|terminate|get rid of) {the}{branchof}",
        ],
    },
    Row {
        intent: Intent::Suspend,
        usage: &["suspend dev-foo"],
        summary: "stop an env's processes but keep it; the next visit wakes it",
        examples: &["shut down my env for foo", "pause dev-foo", "stop dev-foo"],
        patterns: &[
            r"(?:suspend|pause|stop|sleep|hibernate|shut down|shutdown|park|scale down|put to sleep) {the}{env}(?: {envword})?",
            r"(?:suspend|pause|stop|hibernate|shut down|shutdown|park|scale down) {the}{branchof}",
            r"put {the}{env} to sleep",
        ],
    },
    Row {
        intent: Intent::Wake,
        usage: &["wake dev-foo"],
        summary: "start a suspended env again",
        examples: &["wake up dev-foo", "resume dev-foo", "wake dev-foo up"],
        patterns: &[
            r"(?:wake(?: up)?|resume|unpause|start|unsuspend|revive|scale up|boot|spin up|bring up) {the}{env}(?: {envword})?(?: up)?",
            r"(?:wake(?: up)?|resume|unpause|unsuspend) {the}{branchof}",
        ],
    },
    Row {
        intent: Intent::History,
        usage: &["history prod", "history"],
        summary: "recent deploys, promotions and lock changes, newest first",
        examples: &[
            "deploys api in production",
            "what got deployed to prod today?",
            "history of staging",
        ],
        patterns: &[
            r"history(?: (?:of|for|on|in))?(?: {the}{env})?",
            r"(?:show )?{the}(?:deploy|release|deployment) (?:history|log)(?: (?:of|for|on|in) {the}{env})?",
            r"deploys(?: {app})? (?:in|on|to) {the}{env}",
            r"(?:recent |last )?deploys(?: (?:for|of|to|on|in) {the}{env})?",
            r"what (?:got|was|has been|have we) deployed (?:to|on|in) {the}{env}(?: (?:today|yesterday|recently|this week|lately))?",
            r"releases(?: (?:of|for|on|in))? {the}{env}",
        ],
    },
    Row {
        intent: Intent::Owner,
        usage: &["who owns dev-foo"],
        summary: "who a dev env belongs to",
        examples: &["whose env is dev-bar?", "owner of dev-foo"],
        patterns: &[
            r"who owns {the}{env}(?: {envword})?",
            r"whose (?:{envword} )?is {the}{env}",
            r"who(?:'s| is) (?:the )?owner of {the}{env}",
            r"owner of {the}{env}",
            r"{env} owner",
        ],
    },
    Row {
        intent: Intent::Logs,
        usage: &["logs dev-foo"],
        summary: "the last lines of an env's output",
        examples: &[
            "show me the logs for dev-foo",
            "tail staging",
            "dev-foo logs",
        ],
        patterns: &[
            r"(?:logs?|tail|show logs?|show me (?:the )?logs?|get (?:the )?logs?|show (?:the )?logs?)(?: (?:of|for|from|on))? {the}{env}",
            r"{env} logs?",
        ],
    },
    Row {
        intent: Intent::ListEnvs,
        usage: &["envs", "dev envs"],
        summary: "every environment with its branch, commit, owner, state, age and address",
        examples: &[
            "which environments are running",
            "what envs are up?",
            "list dev environments",
            "what's running?",
        ],
        patterns: &[
            r"(?:list|ls|show|show me|get|see)(?: all| the| all the| our| my)?(?: {stage})? {envs}(?: for {app})?",
            r"(?:{stage} )?{envs}(?: for {app})?",
            r"(?:which|what)(?: {stage})? {envs}(?: (?:are|is)(?: there| currently| now)?(?: running| up| live| active| deployed| available| there| alive)?| do we have| exist| have we got)?(?: for {app})?",
            r"what(?:'s| is) (?:running|up|deployed|live)(?: right now| now)?",
            r"(?:list|ls)",
        ],
    },
    Row {
        intent: Intent::EnvStatus,
        usage: &["status <env>"],
        summary: "what runs on an env: release, branch, commit, owner, lock, state and address",
        examples: &[
            "what's on staging?",
            "how is dev-foo doing",
            "is prod up?",
            "staging status",
        ],
        patterns: &[
            r"(?:status|info|describe|check|show|show me|inspect)(?: (?:of|for|on))? {the}{env}(?: {envword})?",
            r"{the}{env} status",
            r"what(?:'s| is) (?:on|running on|deployed (?:on|to|in)|up on|live on|in) {the}{env}",
            r"how(?:'s| is) {the}{env}(?: doing| going| looking)?",
            r"is {the}{env} (?:up|running|ok|okay|healthy|alive|down|working)",
        ],
    },
];

/// Git's own prefixes of ref names: `refs/heads/foo` is the branch `foo`,
/// `origin/main` (`upstream/main`, `remotes/origin/main`) a remote-tracking
/// ref. Without configured apps none of them is read as an app.
pub(crate) const GIT_REF_PREFIXES: &[&str] = &["refs", "remotes", "origin", "upstream"];

/// Words that start conventional branch names (`feature/x`). Without a list of
/// configured apps, `deploy feature/x` reads `feature/x` as a branch, while
/// `deploy api/x` reads `api` as the app.
pub(crate) const BRANCH_PREFIXES: &[&str] = &[
    "feature",
    "features",
    "feat",
    "fix",
    "fixes",
    "bugfix",
    "bug",
    "bugs",
    "hotfix",
    "hotfixes",
    "release",
    "releases",
    "chore",
    "docs",
    "doc",
    "refactor",
    "test",
    "tests",
    "ci",
    "build",
    "perf",
    "style",
    "dependabot",
    "renovate",
    "wip",
    "exp",
    "experiment",
    "experiments",
    "spike",
    "user",
    "users",
    "support",
    "task",
    "tasks",
    "story",
    "issue",
    "issues",
    "topic",
    "topics",
    "improvement",
    "enhancement",
    "revert",
    "backport",
    "main",
    "master",
    "develop",
    "pr",
    "patch",
    "tmp",
    "temp",
    "sandbox",
    "personal",
    "team",
];
