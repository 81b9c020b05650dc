//! The command language as a table: what people type, and what it means.
//! Each meaning is the canonical text of the parsed command, which names
//! every field (app, ref, env, reason, duration, force, …).

use rushbox_command::{Grammar, Intent, Rejection};

/// (what a person types, the canonical command it means)
const PHRASES: &[(&str, &str)] = &[
    // deploy: canonical forms
    ("deploy branch foo to dev", "deploy branch foo to dev"),
    ("deploy foo to dev", "deploy branch foo to dev"),
    ("deploy foo", "deploy branch foo to dev"),
    ("deploy branch foo", "deploy branch foo to dev"),
    ("deploy foo to staging", "deploy branch foo to staging"),
    ("deploy foo to prod", "deploy branch foo to prod"),
    ("deploy foo to production", "deploy branch foo to prod"),
    ("deploy foo to prd", "deploy branch foo to prod"),
    ("deploy foo to stg", "deploy branch foo to staging"),
    ("deploy foo to stage", "deploy branch foo to staging"),
    (
        "deploy branch feature/login-redesign to dev",
        "deploy branch feature/login-redesign to dev",
    ),
    (
        "deploy feature/Login-Redesign",
        "deploy branch feature/Login-Redesign to dev",
    ),
    (
        "Deploy Branch MyBranch To DEV",
        "deploy branch MyBranch to dev",
    ),
    ("DEPLOY foo TO STAGING", "deploy branch foo to staging"),
    (
        "deploy v1.2.3 to staging",
        "deploy branch v1.2.3 to staging",
    ),
    ("deploy 3f2c9e1 to dev", "deploy branch 3f2c9e1 to dev"),
    ("deploy fix#123 to dev", "deploy branch fix#123 to dev"),
    ("deploy the foo branch to dev", "deploy branch foo to dev"),
    ("deploy foo to a dev env", "deploy branch foo to dev"),
    (
        "deploy foo to my dev environment",
        "deploy branch foo to dev",
    ),
    ("deploy foo on dev", "deploy branch foo to dev"),
    ("deploy foo in dev", "deploy branch foo to dev"),
    ("deploy foo to development", "deploy branch foo to dev"),
    ("deploy `foo` to dev", "deploy branch foo to dev"),
    (
        "deploy \"feature/x\" to dev",
        "deploy branch feature/x to dev",
    ),
    ("redeploy foo to dev-foo", "deploy branch foo to dev-foo"),
    ("redeploy foo", "deploy branch foo to dev"),
    ("deploy foo to foo.dev", "deploy branch foo to dev-foo"),
    ("deploy foo to dev/foo", "deploy branch foo to dev-foo"),
    ("ship foo to dev", "deploy branch foo to dev"),
    (
        "ship branch hotfix-12 to prod",
        "deploy branch hotfix-12 to prod",
    ),
    ("push foo to dev", "deploy branch foo to dev"),
    ("roll out foo to staging", "deploy branch foo to staging"),
    ("send foo to dev", "deploy branch foo to dev"),
    // deploy: natural phrasings
    ("spin up a dev env for foo", "deploy branch foo to dev"),
    ("spin up an env for foo", "deploy branch foo to dev"),
    (
        "spin up a new dev environment for branch foo",
        "deploy branch foo to dev",
    ),
    ("create a dev env for foo", "deploy branch foo to dev"),
    (
        "give me an env for feature/x",
        "deploy branch feature/x to dev",
    ),
    (
        "i need a dev environment for foo",
        "deploy branch foo to dev",
    ),
    ("make me a dev env for foo", "deploy branch foo to dev"),
    ("set up a dev box for foo", "deploy branch foo to dev"),
    (
        "bring up an environment for the foo branch",
        "deploy branch foo to dev",
    ),
    ("spin up foo", "deploy branch foo to dev"),
    ("spin up foo on dev", "deploy branch foo to dev"),
    ("put foo on dev", "deploy branch foo to dev"),
    ("put branch foo on staging", "deploy branch foo to staging"),
    ("put the foo branch on dev", "deploy branch foo to dev"),
    ("get foo on dev", "deploy branch foo to dev"),
    // deploy: hubot-deploy forms `deploy[!] [app/]ref [to|in|on env[/hosts]]`
    ("deploy api/foo to dev", "deploy api branch foo to dev"),
    (
        "deploy api branch foo to staging",
        "deploy api branch foo to staging",
    ),
    ("spin up dev-foo", "wake dev-foo"),
    (
        "deploy api/main to staging",
        "deploy api branch main to staging",
    ),
    (
        "deploy! api/main to production",
        "deploy! api branch main to prod",
    ),
    ("deploy! foo to staging", "deploy! branch foo to staging"),
    (
        "deploy api/topic-branch to staging",
        "deploy api branch topic-branch to staging",
    ),
    (
        "deploy api/main to staging/web-1",
        "deploy api branch main to staging/web-1",
    ),
    (
        "deploy api/main to production/fe-1,fe-2",
        "deploy api branch main to prod/fe-1,fe-2",
    ),
    (
        "deploy api/main in staging",
        "deploy api branch main to staging",
    ),
    (
        "deploy api/main on staging",
        "deploy api branch main to staging",
    ),
    (
        "deploy api/feature/x to dev",
        "deploy api branch feature/x to dev",
    ),
    ("deploy feature/x to dev", "deploy branch feature/x to dev"),
    ("deploy fix/typo", "deploy branch fix/typo to dev"),
    (
        "deploy branch api/foo to dev",
        "deploy branch api/foo to dev",
    ),
    // git's own names for refs: never an app
    ("deploy refs/heads/foo", "deploy branch foo to dev"),
    (
        "deploy branch refs/heads/feature/x to staging",
        "deploy branch feature/x to staging",
    ),
    ("deploy origin/main", "deploy branch origin/main to dev"),
    (
        "deploy upstream/fix to staging",
        "deploy branch upstream/fix to staging",
    ),
    (
        "deploy refs/tags/v1.2",
        "deploy branch refs/tags/v1.2 to dev",
    ),
    (
        "deploy remotes/origin/main",
        "deploy branch remotes/origin/main to dev",
    ),
    // Heroku ChatOps' deploy form, after the slash command
    (
        "/rushbox deploy api/main to staging",
        "deploy api branch main to staging",
    ),
    // addressing, filler, punctuation
    ("@rushbox deploy foo to dev", "deploy branch foo to dev"),
    ("<@U024BE7LH> deploy foo to dev", "deploy branch foo to dev"),
    (
        "<@U024BE7LH|rushbox> deploy foo",
        "deploy branch foo to dev",
    ),
    ("rushbox: deploy foo", "deploy branch foo to dev"),
    ("rushbox, deploy foo to dev", "deploy branch foo to dev"),
    ("!deploy foo", "deploy branch foo to dev"),
    ("! deploy foo", "deploy branch foo to dev"),
    (
        "hey rushbox, can you please deploy foo to dev?",
        "deploy branch foo to dev",
    ),
    ("please deploy foo to dev", "deploy branch foo to dev"),
    ("deploy foo to dev please", "deploy branch foo to dev"),
    ("deploy foo to dev, please!", "deploy branch foo to dev"),
    ("deploy foo to dev thanks", "deploy branch foo to dev"),
    ("deploy foo to dev, thank you.", "deploy branch foo to dev"),
    (
        "could you deploy foo to staging",
        "deploy branch foo to staging",
    ),
    ("would you mind deploying foo", "unknown"),
    ("i want to deploy foo to dev", "deploy branch foo to dev"),
    ("i'd like to deploy foo to dev", "deploy branch foo to dev"),
    ("go ahead and deploy foo to dev", "deploy branch foo to dev"),
    ("ok deploy foo", "deploy branch foo to dev"),
    ("yo deploy foo to dev for me", "deploy branch foo to dev"),
    ("   deploy    foo   to   dev   ", "deploy branch foo to dev"),
    ("deploy foo to dev :)", "deploy branch foo to dev"),
    ("deploy foo to dev?!", "deploy branch foo to dev"),
    // promote
    ("promote staging to prod", "promote staging to prod"),
    ("promote staging to production", "promote staging to prod"),
    ("promote dev-foo to staging", "promote dev-foo to staging"),
    ("promote dev-foo", "promote dev-foo to staging"),
    ("promote foo.dev to stg", "promote dev-foo to staging"),
    ("promote! staging to prod", "promote! staging to prod"),
    ("promote api/staging to prod", "promote api/staging to prod"),
    (
        "promote the staging env to production",
        "promote staging to prod",
    ),
    ("deploy staging to prod", "promote staging to prod"),
    ("deploy staging to production", "promote staging to prod"),
    ("deploy dev-foo to staging", "promote dev-foo to staging"),
    ("deploy foo.dev to stg", "promote dev-foo to staging"),
    ("deploy dev/foo to staging", "promote dev-foo to staging"),
    ("ship staging to production", "promote staging to prod"),
    ("push staging to prod", "promote staging to prod"),
    ("move dev-foo to staging", "promote dev-foo to staging"),
    ("deploy api/staging to prod", "promote api/staging to prod"),
    (
        "@rushbox promote staging to prod please",
        "promote staging to prod",
    ),
    // list_envs
    ("envs", "envs"),
    ("environments", "envs"),
    ("which environments are running", "envs"),
    ("which environments are running?", "envs"),
    ("what envs are up?", "envs"),
    ("what environments do we have", "envs"),
    ("list dev environments", "dev envs"),
    ("list envs", "envs"),
    ("list all environments", "envs"),
    ("show me the envs", "envs"),
    ("show all envs", "envs"),
    ("dev envs", "dev envs"),
    ("staging envs", "staging envs"),
    ("envs for api", "envs for api"),
    ("dev envs for api", "dev envs for api"),
    ("what's running?", "envs"),
    ("what is deployed right now", "envs"),
    ("which dev envs are running", "dev envs"),
    ("ls", "envs"),
    // env_status
    ("status staging", "status staging"),
    ("status of dev-foo", "status dev-foo"),
    ("status prod", "status prod"),
    ("what's on staging?", "status staging"),
    ("what is on production", "status prod"),
    ("what's running on staging", "status staging"),
    ("what's deployed to prod?", "status prod"),
    ("how is dev-foo doing", "status dev-foo"),
    ("how's staging looking?", "status staging"),
    ("is prod up?", "status prod"),
    ("staging status", "status staging"),
    ("check foo.dev", "status dev-foo"),
    ("show api/staging", "status api/staging"),
    // lock
    ("lock staging for QA", "lock staging for QA"),
    ("lock staging: QA for 4.2", "lock staging for QA for 4.2"),
    (
        "lock staging for 2h, QA on checkout",
        "lock staging for 2h: QA on checkout",
    ),
    (
        "lock staging for 2 hours: release candidate",
        "lock staging for 2h: release candidate",
    ),
    ("lock staging for 30m", "lock staging for 30m"),
    ("lock staging", "lock staging"),
    (
        "lock stg because demo at 3pm",
        "lock staging for demo at 3pm",
    ),
    ("lock staging - load test", "lock staging for load test"),
    ("lock the staging lock for QA", "lock staging for QA"),
    ("lock! staging", "lock! staging"),
    ("lock! staging for hotfix", "lock! staging for hotfix"),
    ("steal the staging lock", "lock! staging"),
    ("steal staging", "lock! staging"),
    (
        "steal the lock on staging for an incident",
        "lock! staging: an incident",
    ),
    ("force lock staging for hotfix", "lock! staging for hotfix"),
    ("take the staging lock for QA", "lock staging for QA"),
    ("grab the staging lock for a demo", "lock staging: a demo"),
    ("claim the lock on staging for 1h", "lock staging for 1h"),
    ("lock api/staging for QA", "lock api/staging for QA"),
    ("lock prod for the migration", "lock prod for the migration"),
    // unlock
    ("unlock staging", "unlock staging"),
    ("unlock stg", "unlock staging"),
    ("release the staging lock", "unlock staging"),
    ("release the lock on staging", "unlock staging"),
    ("release staging", "unlock staging"),
    ("drop the staging lock", "unlock staging"),
    ("i'm done with staging", "unlock staging"),
    ("I am done with the staging lock", "unlock staging"),
    ("unlock! staging", "unlock! staging"),
    ("force unlock staging", "unlock! staging"),
    // lock_status
    ("who has staging", "who has staging"),
    ("who has staging?", "who has staging"),
    ("who has the staging lock?", "who has staging"),
    ("who's got staging", "who has staging"),
    ("who holds the lock on staging", "who has staging"),
    ("who owns the staging lock", "who has staging"),
    ("who has the lock", "who has staging"),
    ("is staging free?", "who has staging"),
    ("is staging locked", "who has staging"),
    ("is the staging lock available?", "who has staging"),
    ("lock status", "who has staging"),
    ("lock status of prod", "who has prod"),
    ("staging lock", "who has staging"),
    // queue_join
    ("queue me for staging", "queue me for staging"),
    ("queue me", "queue me for staging"),
    ("queue me up for staging", "queue me for staging"),
    ("queue for staging", "queue me for staging"),
    (
        "put branch foo in the staging queue",
        "queue branch foo for staging",
    ),
    ("put foo in the queue", "queue branch foo for staging"),
    ("put me in the staging queue", "queue me for staging"),
    ("add me to the queue", "queue me for staging"),
    ("join the queue", "queue me for staging"),
    ("join the staging queue", "queue me for staging"),
    ("get in line for staging", "queue me for staging"),
    (
        "queue branch feature/x for staging",
        "queue branch feature/x for staging",
    ),
    ("queue foo for staging", "queue branch foo for staging"),
    ("enqueue me", "queue me for staging"),
    // queue_leave
    ("leave the staging queue", "leave the staging queue"),
    ("leave the queue", "leave the staging queue"),
    ("dequeue me", "leave the staging queue"),
    (
        "take me out of the staging queue",
        "leave the staging queue",
    ),
    ("remove me from the queue", "leave the staging queue"),
    ("leave the queue for prod", "leave the prod queue"),
    // queue_status
    ("staging queue", "staging queue"),
    ("the staging queue", "staging queue"),
    ("queue", "staging queue"),
    ("queue status", "staging queue"),
    ("show the queue", "staging queue"),
    ("where am I in the queue?", "staging queue"),
    ("where am i in the staging queue", "staging queue"),
    ("who's next for staging?", "staging queue"),
    ("who is waiting", "staging queue"),
    ("how long is the queue", "staging queue"),
    ("who is in the prod queue", "prod queue"),
    // destroy
    ("destroy dev-foo", "destroy dev-foo"),
    ("tear down dev-foo", "destroy dev-foo"),
    ("teardown foo.dev", "destroy dev-foo"),
    ("delete dev/foo", "destroy dev-foo"),
    ("nuke dev-foo", "destroy dev-foo"),
    ("kill dev-foo", "destroy dev-foo"),
    ("get rid of dev-foo", "destroy dev-foo"),
    ("delete my env for foo", "destroy dev-foo"),
    (
        "destroy the dev environment for branch feature/x",
        "destroy dev-feature-x",
    ),
    ("destroy dev-foo env", "destroy dev-foo"),
    // suspend
    ("suspend dev-foo", "suspend dev-foo"),
    ("pause dev-foo", "suspend dev-foo"),
    ("stop dev-foo", "suspend dev-foo"),
    ("shut down my env for foo", "suspend dev-foo"),
    ("shut down dev-foo", "suspend dev-foo"),
    ("put dev-foo to sleep", "suspend dev-foo"),
    // wake
    ("wake dev-foo", "wake dev-foo"),
    ("wake up dev-foo", "wake dev-foo"),
    ("wake dev-foo up", "wake dev-foo"),
    ("resume foo.dev", "wake dev-foo"),
    ("start dev-foo", "wake dev-foo"),
    ("wake up my env for foo", "wake dev-foo"),
    // extend
    ("extend dev-foo by 1d", "extend dev-foo by 1d"),
    ("extend dev-foo", "extend dev-foo"),
    ("extend dev-foo by 2 days", "extend dev-foo by 2d"),
    ("extend dev-foo for a week", "extend dev-foo by 1w"),
    ("keep dev-foo alive for another day", "extend dev-foo by 1d"),
    ("keep dev-foo around", "extend dev-foo"),
    ("extend the staging lock by 2h", "extend staging by 2h"),
    ("extend staging by 30 minutes", "extend staging by 30m"),
    ("give dev-foo another day", "extend dev-foo by 1d"),
    ("add 2h to the staging lock", "extend staging by 2h"),
    // cancel
    ("cancel dev-foo", "cancel dev-foo"),
    ("cancel the deploy to dev-foo", "cancel dev-foo"),
    ("abort the deploy on staging", "cancel staging"),
    ("stop the deploy on staging", "cancel staging"),
    ("kill the running build on dev-foo", "cancel dev-foo"),
    ("abort promotion to prod", "cancel prod"),
    // rollback
    ("rollback prod", "rollback prod"),
    ("rollback prod to v141", "rollback prod to v141"),
    ("roll back production to v141", "rollback prod to v141"),
    ("roll back prod to release 12", "rollback prod to 12"),
    ("revert prod", "rollback prod"),
    ("rollback api/prod to v12", "rollback api/prod to v12"),
    ("rollback to v140 on prod", "rollback prod to v140"),
    ("undo the last deploy on staging", "rollback staging"),
    // reset
    ("reset staging to prod", "reset staging to prod"),
    ("reset staging", "reset staging to prod"),
    ("reset staging to production", "reset staging to prod"),
    ("make staging match prod", "reset staging to prod"),
    ("sync staging with production", "reset staging to prod"),
    // history
    ("history prod", "history prod"),
    ("history", "history"),
    ("history of staging", "history staging"),
    ("history for api", "history for api"),
    ("deploys api in production", "history api/prod"),
    ("deploys in prod", "history prod"),
    ("what got deployed to prod today?", "history prod"),
    ("what was deployed on staging yesterday", "history staging"),
    ("show the deploy history of prod", "history prod"),
    ("recent deploys to staging", "history staging"),
    ("deploys", "history"),
    // owner
    ("who owns dev-foo", "who owns dev-foo"),
    ("whose env is dev-bar?", "who owns dev-bar"),
    ("whose is dev-bar", "who owns dev-bar"),
    ("owner of dev-foo", "who owns dev-foo"),
    ("who is the owner of foo.dev", "who owns dev-foo"),
    ("dev-foo owner", "who owns dev-foo"),
    // transfer
    ("give dev-foo to @alice", "give dev-foo to @alice"),
    ("transfer dev-foo to @alice", "give dev-foo to @alice"),
    (
        "give dev-foo to <@U024BE7LH>",
        "give dev-foo to <@U024BE7LH>",
    ),
    ("hand dev-foo over to @bob", "give dev-foo to @bob"),
    ("make @bob the owner of dev-foo", "give dev-foo to @bob"),
    (
        "transfer ownership of dev-foo to @carol",
        "give dev-foo to @carol",
    ),
    (
        "give dev-foo to <@!80351110224678912>",
        "give dev-foo to <@80351110224678912>",
    ),
    // logs
    ("logs dev-foo", "logs dev-foo"),
    ("logs for staging", "logs staging"),
    ("show me the logs for dev-foo", "logs dev-foo"),
    ("tail staging", "logs staging"),
    ("dev-foo logs", "logs dev-foo"),
    ("log prod", "logs prod"),
    // help
    ("help", "help"),
    ("help deploy", "help deploy"),
    ("help with the queue", "help the queue"),
    ("what can you do?", "help"),
    ("commands", "help"),
    ("?", "help"),
    ("how do I lock staging?", "help lock staging"),
    ("Help Promote", "help promote"),
    // not commands: unknown
    ("foo bar", "unknown"),
    ("", "unknown"),
    ("deploy foo to bar", "unknown"),
    ("deploy foo to stagign", "unknown"),
    ("deplyo foo to dev", "unknown"),
    ("lunch?", "unknown"),
    ("thanks!", "unknown"),
    ("lock", "unknown"),
    ("promote foo to staging", "unknown"),
    // odd words that break no name's rule where they stand
    ("what's for lunch?", "unknown"),
    ("deploy api/main to bar", "unknown"),
    ("deploy foo bar to dev", "unknown"),
    ("is everyone's build green?", "unknown"),
];

/// (what a person types, a phrase the error must contain)
const REFUSALS: &[(&str, &str)] = &[
    ("deploy feat;$(id) to dev", "can't contain `;`"),
    ("deploy a`id` to dev", "can't contain ```"),
    ("deploy x|sh", "can't contain `|`"),
    ("deploy a&&b", "can't contain `&`"),
    ("deploy $(curl${IFS}x|sh)", "can't contain `$`"),
    (
        "deploy zzz\";echo${IFS}\"hello\";# to dev",
        "can't contain `\"`",
    ),
    ("deploy a'b to dev", "can't contain `'`"),
    ("deploy a>b", "can't contain `>`"),
    ("deploy a<b", "can't contain `<`"),
    ("deploy a\\b", "can't contain `\\`"),
    ("deploy --upload-pack=x to dev", "start with `-`"),
    ("deploy -x", "start with `-`"),
    ("deploy feature/--exec=x", "start with `-`"),
    ("deploy a..b", "`..`"),
    ("deploy a.lock", "`.lock`"),
    ("deploy a/.b", "starting with `.`"),
    ("deploy a@{1}", "can't contain `{`"),
    ("deploy a//b", "`//`"),
    ("deploy a/ to dev", "end with `/`"),
    ("deploy a. to dev", "end with `.`"),
    ("deploy HEAD", "`HEAD`"),
    ("deploy é-ünï to dev", "U+00E9 at position 0"),
    ("deploy \u{0430}pi to dev", "U+0430 at position 0"),
    ("deploy a\u{202e}b to dev", "U+202E at position 1"),
    ("deploy a\u{200b}b to dev", "U+200B at position 1"),
    ("deploy foo to Feat_X.dev", "can't contain `_`"),
    ("status dev-Feat_X", "can't contain `_`"),
    ("status dev", "`dev` is the stage"),
    (
        "deploy <http://fix.io|fix.io> to dev",
        "got a link or mention",
    ),
    ("deploy foo to staging/$(id)", "can't contain `$`"),
    ("give dev-foo to @al;ice", "can't contain `;`"),
    ("rollback prod to v1;rm", "can't contain `;`"),
    ("deploy", "which branch?"),
    ("deploy staging", "Production is never a default"),
    ("promote staging", "`promote staging to prod`"),
    ("promote staging to staging", "to itself"),
    ("lock staging for 400d", "366 days"),
    // Hostile names in the short forms name the rule as the `branch` form does.
    (
        "deploy --upload-pack=x to dev",
        "bad branch: a branch name can't start with `-`",
    ),
    (
        "deploy $(touch /tmp/x) to dev",
        "bad branch: a branch name can't contain `$`",
    ),
    (
        "deploy branch $(touch /tmp/x) to dev",
        "bad branch: a branch name can't contain `$`",
    ),
    (
        "deploy! $(touch /tmp/x) to staging",
        "bad branch: a branch name can't contain `$`",
    ),
    (
        "deploy `touch x` to dev",
        "bad branch: a branch name can't contain ```",
    ),
    (
        "deploy foo; rm -rf / to dev",
        "bad branch: a branch name can't contain `;`",
    ),
    (
        "deploy foo && rm x to dev",
        "bad branch: a branch name can't contain `&`",
    ),
    (
        "put $(touch /tmp/x) on dev",
        "bad branch: a branch name can't contain `$`",
    ),
    (
        "spin up $(touch /tmp/x)",
        "bad branch: a branch name can't contain `$`",
    ),
    (
        "spin up a dev env for $(touch x)",
        "bad branch: a branch name can't contain `$`",
    ),
    (
        "destroy my env for $(touch x)",
        "bad branch: a branch name can't contain `$`",
    ),
    (
        "queue branch $(touch x) for staging",
        "bad branch: a branch name can't contain `$`",
    ),
    (
        "deploy v1.2 v1.3 to dev",
        "bad branch: a branch name must be plain ASCII with no spaces",
    ),
    ("status ../../etc", "bad env: an env name can't contain `.`"),
    (
        "status --upload-pack=x",
        "bad env: an env name can't contain `=`",
    ),
    ("status Feat_X", "bad env: an env name can't contain `_`"),
    (
        "what's on ../../etc?",
        "bad env: an env name can't contain `.`",
    ),
    (
        "deploy foo to ../etc",
        "bad env: an env name can't contain `.`",
    ),
    (
        "deploy foo to $(touch x)",
        "bad env: an env name can't contain `$`",
    ),
    (
        "promote ../x to staging",
        "bad env: an env name can't contain `.`",
    ),
    (
        "lock ../../etc for QA",
        "bad env: an env name can't contain `.`",
    ),
    ("unlock ../x", "bad env: an env name can't contain `.`"),
    ("who owns $(id)", "bad env: an env name can't contain `$`"),
    ("logs a;b", "bad env: an env name can't contain `;`"),
    ("destroy ../x", "bad env: an env name can't contain `.`"),
    ("wake $(id)", "bad env: an env name can't contain `$`"),
    (
        "give ../x to @bob",
        "bad env: an env name can't contain `.`",
    ),
    ("envs for $(x)", "bad app: an app name can't contain `$`"),
    (
        "give dev-foo to $(touch x)",
        "bad user: a user can't contain `$`",
    ),
    (
        "rollback prod to $(rm -rf /)",
        "bad release: a release id can't contain `$`",
    ),
];

#[test]
fn phrases_mean_what_people_mean() {
    let grammar = Grammar::new();
    let mut wrong = Vec::new();
    for (text, meaning) in PHRASES {
        let got = match grammar.parse(text) {
            Ok(command) => command.to_string(),
            Err(rejection) => rejection.intent().to_string(),
        };
        if got != *meaning {
            wrong.push(format!("{text:?}: expected {meaning:?}, got {got:?}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} phrases misread:\n{}",
        wrong.len(),
        PHRASES.len(),
        wrong.join("\n")
    );
}

#[test]
fn the_table_is_big_and_covers_every_intent() {
    let grammar = Grammar::new();
    assert!(
        PHRASES.len() + REFUSALS.len() >= 200,
        "{}",
        PHRASES.len() + REFUSALS.len()
    );
    for intent in Intent::COMMANDS {
        let covered = PHRASES
            .iter()
            .filter(|(text, _)| grammar.parse(text).map(|c| c.intent()) == Ok(intent))
            .count();
        assert!(covered >= 3, "{intent} has only {covered} phrases");
    }
}

#[test]
fn refusals_name_the_rule_broken() {
    let grammar = Grammar::new();
    let mut wrong = Vec::new();
    for (text, phrase) in REFUSALS {
        match grammar.parse(text) {
            Err(Rejection::Invalid { error, .. }) if error.to_string().contains(phrase) => {}
            other => wrong.push(format!(
                "{text:?}: expected invalid with {phrase:?}, got {other:?}"
            )),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Wherever a phrase has a branch or env name, a hostile word in its place
/// is refused with the rule it breaks, never "I didn't understand".
#[test]
fn every_place_of_a_name_refuses_hostile_words_by_their_rule() {
    use rushbox_command::Report;
    let grammar = Grammar::new();
    let hostile = ["$(touch /tmp/x)", "../../etc", "--upload-pack=x", "a;b"];
    let mut wrong = Vec::new();
    let mut checked = 0;
    for (text, _) in PHRASES {
        let Ok(command) = grammar.parse(text) else {
            continue;
        };
        if command.intent() == Intent::ListEnvs {
            continue; // `dev envs`: a stage word from a fixed set, not a name
        }
        let report = Report::new(&Ok(command));
        let names = [&report.git_ref, &report.source, &report.target];
        let words: Vec<&str> = text.split(' ').collect();
        for (i, word) in words.iter().enumerate() {
            let bare = word.trim_end_matches(['?', '!', '.', ',', ':']);
            // The stage `dev` is a fixed word in `a dev env for foo`; `deploy foo to $(x)` is in REFUSALS.
            if bare == "dev" || !names.iter().any(|n| n.as_deref() == Some(bare)) {
                continue;
            }
            for bad in hostile {
                let mut replaced = words.clone();
                replaced[i] = bad;
                let line = replaced.join(" ");
                checked += 1;
                match grammar.parse(&line) {
                    Err(Rejection::Invalid { error, .. })
                        if error.to_string().starts_with("bad ") => {}
                    other => wrong.push(format!("{line:?}: {other:?}")),
                }
            }
        }
    }
    assert!(checked > 500, "only {checked} checked");
    assert!(
        wrong.is_empty(),
        "{} of {checked}:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn overlong_lines_are_invalid_not_slow() {
    let grammar = Grammar::new();
    let line = format!("deploy {} to dev", "a".repeat(5000));
    let Err(Rejection::Invalid { error, .. }) = grammar.parse(&line) else {
        panic!("accepted")
    };
    assert!(error.to_string().contains("at most 4096 bytes"), "{error}");
    let long_ref = format!("deploy {} to dev", "a".repeat(201));
    let Err(Rejection::Invalid { error, .. }) = grammar.parse(&long_ref) else {
        panic!("accepted")
    };
    assert!(
        error.to_string().contains("too long (201 bytes, max 200)"),
        "{error}"
    );
}

#[test]
fn typos_get_did_you_mean_and_are_never_run() {
    let grammar = Grammar::new();
    for (typed, suggestion) in [
        ("deploy foo to stagign", "deploy branch foo to staging"),
        ("deplyo foo to dev", "deploy branch foo to dev"),
        ("deplyo foo to stagign", "deploy branch foo to staging"),
        ("promte staging to prod", "promote staging to prod"),
        ("promote staging to prdo", "promote staging to prod"),
        ("unlcok staging", "unlock staging"),
        ("staus staging", "status staging"),
        ("lock stagin for QA", "lock staging for QA"),
        ("histroy prod", "history prod"),
        ("destory dev-foo", "destroy dev-foo"),
    ] {
        match grammar.parse(typed) {
            Err(Rejection::Unknown { suggestions }) => {
                assert!(suggestions.len() <= 3, "{typed}: {suggestions:?}");
                assert!(
                    suggestions.iter().any(|s| s == suggestion),
                    "{typed}: {suggestions:?}"
                );
            }
            other => panic!("{typed}: expected unknown, got {other:?}"),
        }
    }
}

#[test]
fn a_verb_with_wrong_arguments_gets_its_usage() {
    let grammar = Grammar::new();
    let Err(Rejection::Unknown { suggestions }) = grammar.parse("lock") else {
        panic!()
    };
    assert_eq!(suggestions[0], "lock staging for <reason>");
    let Err(Rejection::Unknown { suggestions }) = grammar.parse("deploy foo to bar") else {
        panic!()
    };
    assert!(
        suggestions
            .iter()
            .any(|s| s == "deploy branch <ref> to dev"),
        "{suggestions:?}"
    );
}

#[test]
fn configured_apps_and_envs_decide_prefixes() {
    use rushbox_command::{AppName, EnvName};
    let grammar = Grammar::new()
        .with_apps([
            AppName::parse("api").unwrap(),
            AppName::parse("feature").unwrap(),
        ])
        .with_envs([EnvName::parse("qa").unwrap()]);
    let meaning = |t: &str| {
        grammar
            .parse(t)
            .map(|c| c.to_string())
            .unwrap_or_else(|r| r.to_string())
    };
    assert_eq!(
        meaning("deploy api/foo to qa"),
        "deploy api branch foo to qa"
    );
    assert_eq!(
        meaning("deploy alice/foo"),
        "deploy branch alice/foo to dev"
    );
    assert_eq!(
        meaning("deploy feature/foo"),
        "deploy feature branch foo to dev"
    );
    assert_eq!(meaning("status qa"), "status qa");
    // Hostile names are refused by their rule with configured apps too.
    for (line, rule) in [
        (
            "envs for $(touch x)",
            "bad app: an app name can't contain `$`",
        ),
        (
            "deploy $(touch /tmp/x) to qa",
            "bad branch: a branch name can't contain `$`",
        ),
        (
            "deploy api/$(touch x) y to dev",
            "bad branch: a branch name can't contain `$`",
        ),
        ("status ../../etc", "bad env: an env name can't contain `.`"),
    ] {
        assert!(meaning(line).contains(rule), "{line}: {}", meaning(line));
    }
    assert_eq!(meaning("deploy qa to prod"), "promote qa to prod");
    let plain = Grammar::new();
    assert!(plain.parse("status qa").is_err());
}

#[test]
fn help_examples_parse_to_their_own_intent() {
    // Every example help shows is a phrase the parser understands.
    let grammar = Grammar::new();
    let reference = rushbox_command::reference_markdown();
    for line in reference
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| intent"))
    {
        let cells: Vec<&str> = line.split(" | ").collect();
        let intent = cells[0].trim_start_matches("| ");
        for example in cells[3].trim_end_matches(" |").split("`, `") {
            let example = example.trim_matches('`');
            let parsed = grammar.parse(example).map(|c| c.intent().to_string());
            assert_eq!(parsed.as_deref(), Ok(intent), "{example:?}");
        }
        for usage in cells[1].split("<br>") {
            let usage = usage.trim_matches('`');
            if !usage.contains('<') {
                let parsed = grammar.parse(usage).map(|c| c.intent().to_string());
                assert_eq!(parsed.as_deref(), Ok(intent), "{usage:?}");
            }
        }
    }
}

#[test]
fn docs_commands_md_is_generated_from_the_table() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/commands.md");
    let on_disk = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        on_disk == rushbox_command::reference_markdown(),
        "docs/commands.md is stale: run `cargo run -q -- help --markdown > docs/commands.md`"
    );
}
