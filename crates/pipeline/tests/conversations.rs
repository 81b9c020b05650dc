//! Engine conversations: what people type, in order, and what they are told.

mod common;

use common::*;
use rushbox_command::{ReleaseId, Span};
use rushbox_pipeline::model::{EnvState, OpState};
use rushbox_pipeline::provider::Action;
use rushbox_pipeline::{Blocker, Progress, Role};

#[test]
fn alice_deploys_her_branch_to_dev_and_gets_an_address() {
    let w = world();
    let alice = actor("alice");
    // alice: deploy branch foo to dev
    let end = done(w.engine.deploy(&alice, None, git_ref("foo"), dev()));
    assert_eq!(
        end,
        Progress::Finished {
            address: Some("http://dev-foo.localhost:8080".to_owned())
        }
    );
    // The env is created and cloned from staging, then the release deployed.
    let requests = w.noop.requests();
    let steps: Vec<(Action, Option<&str>)> = requests
        .iter()
        .map(|r| (r.action, r.source_env.as_ref().map(|e| e.as_str())))
        .collect();
    assert_eq!(
        steps,
        [
            (Action::Create, Some("staging")),
            (Action::CloneData, Some("staging")),
            (Action::Deploy, None)
        ]
    );
    assert_eq!(requests[2].release.as_deref(), Some("r1"));
    assert_eq!(
        requests[2].commit.as_deref(),
        Some("f00f00f00f00f00f00f00f00f00f00f00f00f00f")
    );
    // envs: one row with everything people ask about.
    w.clock.advance(600);
    let envs = w.engine.list_envs(None, None);
    assert_eq!(envs.len(), 1);
    let row = &envs[0];
    assert_eq!(row.env.as_str(), "dev-foo");
    assert_eq!(row.owner, Some(alice.clone()));
    assert_eq!(row.state, EnvState::Running);
    assert_eq!(row.branch.as_ref().map(|b| b.as_str()), Some("foo"));
    assert_eq!(row.age, 600);
    assert_eq!(row.ttl_left, Some(3 * 86400 - 600));
    assert_eq!(row.idle_left, Some(2 * 3600 - 600));
    let line = row.to_string();
    assert!(line.contains("owner shell:alice"), "{line}");
    assert!(line.contains("http://dev-foo.localhost:8080"), "{line}");
    assert!(line.contains("destroyed in"), "{line}");
    assert_eq!(
        w.engine.owner(None, &env("dev-foo")).unwrap(),
        Some(alice.clone())
    );
}

#[test]
fn only_the_owner_or_a_lead_redeploys_or_destroys_a_dev_env() {
    let w = world();
    let (alice, bob, lena) = (actor("alice"), actor("bob"), actor("lena"));
    done(w.engine.deploy(&alice, None, git_ref("foo"), dev()));
    // bob: deploy branch foo to dev → dev-foo is alice's
    let blockers = refused(w.engine.deploy(&bob, None, git_ref("foo"), dev()));
    assert_eq!(
        blockers,
        [Blocker::NotOwner {
            env: env("dev-foo"),
            owner: alice.clone()
        }]
    );
    assert_eq!(blockers[0].fix().to_string(), "ask shell:alice or a lead");
    let blockers = refused(w.engine.destroy(&bob, None, env("dev-foo")));
    assert!(matches!(&blockers[0], Blocker::NotOwner { owner, .. } if owner == &alice));
    // lena (lead) may; alice gives it to bob, who then may.
    done(w.engine.deploy(&lena, None, git_ref("foo"), dev()));
    w.engine
        .transfer(&alice, None, env("dev-foo"), bob.clone())
        .unwrap();
    assert_eq!(
        w.engine.owner(None, &env("dev-foo")).unwrap(),
        Some(bob.clone())
    );
    assert!(done(w.engine.destroy(&bob, None, env("dev-foo"))).is_end());
    assert!(w.engine.list_envs(None, None).is_empty());
}

#[test]
fn dev_env_limits_come_from_config() {
    let mut config = config();
    config.limits.dev_envs_per_person = 1;
    config.limits.dev_envs_total = 2;
    let w = world_with(config);
    let (alice, bob, carol) = (actor("alice"), actor("bob"), actor("carol"));
    done(w.engine.deploy(&alice, None, git_ref("foo"), dev()));
    let blockers = refused(w.engine.deploy(&alice, None, git_ref("bar"), dev()));
    assert_eq!(blockers.len(), 1);
    assert!(
        blockers[0].to_string().contains("dev-foo"),
        "{}",
        blockers[0]
    );
    assert_eq!(
        blockers[0].fix().to_string(),
        "`destroy dev-foo` (or another you no longer need)"
    );
    done(w.engine.deploy(&bob, None, git_ref("bar"), dev()));
    // bob can't be given a second one either.
    let blockers = refused(w.engine.transfer(&alice, None, env("dev-foo"), bob.clone()));
    assert_eq!(
        blockers[0].fix().to_string(),
        "ask shell:bob to `destroy` one of theirs first"
    );
    let blockers = refused(w.engine.deploy(&carol, None, git_ref("baz"), dev()));
    assert!(
        blockers[0].to_string().contains("all 2 dev envs"),
        "{}",
        blockers[0]
    );
}

#[test]
fn a_lock_without_a_reason_is_refused_with_how_to_give_one() {
    let w = world();
    let blockers = refused(
        w.engine
            .lock(&actor("alice"), None, env("staging"), None, None, false),
    );
    assert_eq!(
        blockers,
        [Blocker::ReasonRequired {
            env: env("staging")
        }]
    );
    assert_eq!(blockers[0].fix().to_string(), "`lock staging for <reason>`");
}

#[test]
fn alice_and_bob_race_for_staging_and_lena_ships_it() {
    let w = world();
    let (alice, bob, carol, lena) = (actor("alice"), actor("bob"), actor("carol"), actor("lena"));
    let mut notices = w.engine.notices();
    // alice: lock staging for testing login
    w.engine
        .lock(
            &alice,
            None,
            env("staging"),
            Some("testing login".into()),
            None,
            false,
        )
        .unwrap();
    w.clock.advance(300);
    // bob: deploy bar to staging → refused, names alice, her reason, how long, and the queue
    let err = w
        .engine
        .deploy(&bob, None, git_ref("bar"), to("staging"))
        .unwrap_err();
    assert_eq!(
        err.blockers(),
        [Blocker::LockedBy {
            env: env("staging"),
            holder: alice.clone(),
            reason: "testing login".into(),
            since: T0,
            held_for: 300,
        }]
    );
    let text = err.to_string();
    assert!(text.contains("locked by shell:alice"), "{text}");
    assert!(text.contains("\"testing login\""), "{text}");
    assert!(text.contains("5m ago"), "{text}");
    assert!(text.contains("`queue me for staging`"), "{text}");
    // bob and carol queue; bob's next try says where he is in line.
    let reply = w
        .engine
        .queue_join(&bob, None, env("staging"), None)
        .unwrap();
    assert!(reply.message.contains("#1"), "{}", reply.message);
    w.engine
        .queue_join(&carol, None, env("staging"), None)
        .unwrap();
    let blockers = refused(w.engine.deploy(&bob, None, git_ref("bar"), to("staging")));
    assert_eq!(blockers.len(), 2);
    assert_eq!(
        blockers[1],
        Blocker::QueuePosition {
            env: env("staging"),
            position: 1,
            length: 2
        }
    );
    let queue = w.engine.queue_status(None, &env("staging")).unwrap();
    assert_eq!(queue.waiting, [bob.clone(), carol.clone()]);
    // alice builds dev-foo, then promotes it to staging under her lock.
    done(w.engine.deploy(&alice, None, git_ref("foo"), dev()));
    done(
        w.engine
            .promote(&alice, None, env("dev-foo"), env("staging")),
    );
    // alice may not touch prod.
    let blockers = refused(w.engine.promote(&alice, None, env("staging"), env("prod")));
    assert_eq!(
        blockers,
        [Blocker::NeedsRole {
            role: Role::Lead,
            to: "promote to prod".into()
        }]
    );
    assert_eq!(blockers[0].fix().to_string(), "ask a lead");
    // lena: promote staging to prod → the same release, and staging passes to bob.
    done(w.engine.promote(&lena, None, env("staging"), env("prod")));
    let deploys: Vec<_> = w
        .noop
        .requests()
        .into_iter()
        .filter(|r| r.action == rushbox_pipeline::provider::Action::Deploy)
        .collect();
    assert_eq!(deploys.len(), 3);
    assert!(deploys.iter().all(|r| r.release.as_deref() == Some("r1")));
    assert!(deploys.iter().all(|r| r.commit == deploys[0].commit));
    assert_eq!(w.engine.releases(None).unwrap().len(), 1, "never rebuilt");
    let queue = w.engine.queue_status(None, &env("staging")).unwrap();
    let lock = queue.lock.expect("passed to bob");
    assert_eq!(lock.holder, bob);
    assert!(lock.claim_within.is_some());
    assert_eq!(queue.waiting, std::slice::from_ref(&carol));
    let told: Vec<_> = std::iter::from_fn(|| notices.try_recv().ok()).collect();
    assert!(
        told.iter()
            .any(|n| n.to == alice && n.text.contains("staging lock is released"))
    );
    assert!(
        told.iter()
            .any(|n| n.to == bob && n.text.contains("It's your turn"))
    );
    // bob does not claim in time: it passes to carol, and bob is told.
    w.clock.advance(16 * 60);
    let reply = w.engine.tick(w.clock.advance(0)).unwrap();
    assert!(
        reply
            .notices
            .iter()
            .any(|n| n.to == bob && n.text.contains("did not claim"))
    );
    assert!(reply.notices.iter().any(|n| n.to == carol));
    // carol claims it by deploying.
    done(w.engine.deploy(&carol, None, git_ref("baz"), to("staging")));
    let queue = w.engine.queue_status(None, &env("staging")).unwrap();
    let lock = queue.lock.unwrap();
    assert_eq!((lock.holder, lock.claim_within), (carol, None));
    assert!(queue.waiting.is_empty());
}

#[test]
fn a_lead_steals_the_lock_and_the_holder_is_told() {
    let w = world();
    let (alice, bob, lena) = (actor("alice"), actor("bob"), actor("lena"));
    w.engine
        .lock(
            &alice,
            None,
            env("staging"),
            Some("demo".into()),
            None,
            false,
        )
        .unwrap();
    // bob may not steal; the refusal says both why and who holds it.
    let blockers =
        refused(
            w.engine
                .lock(&bob, None, env("staging"), Some("mine".into()), None, true),
        );
    assert!(matches!(
        blockers[0],
        Blocker::NeedsRole {
            role: Role::Lead,
            ..
        }
    ));
    assert!(matches!(&blockers[1], Blocker::LockedBy { holder, .. } if holder == &alice));
    let reply = w
        .engine
        .lock(
            &lena,
            None,
            env("staging"),
            Some("hotfix".into()),
            None,
            true,
        )
        .unwrap();
    assert_eq!(reply.notices.len(), 1);
    assert_eq!(reply.notices[0].to, alice);
    assert!(reply.notices[0].text.contains("hotfix"));
    // alice can no longer unlock it; lena can, and it is free.
    let blockers = refused(w.engine.unlock(&alice, None, env("staging")));
    assert!(matches!(&blockers[0], Blocker::NotHolder { holder, .. } if holder == &lena));
    w.engine.unlock(&lena, None, env("staging")).unwrap();
    assert!(
        w.engine
            .queue_status(None, &env("staging"))
            .unwrap()
            .lock
            .is_none()
    );
}

#[test]
fn one_refusal_lists_every_blocker_with_its_fix() {
    let (w, gate) = gated_world();
    let (alice, mallory) = (actor("alice"), actor("mallory"));
    // alice deploys foo to staging; the provider is still working.
    let reply = w
        .engine
        .deploy(&alice, None, git_ref("foo"), to("staging"))
        .unwrap();
    let op = reply.operation().unwrap();
    // mallory (no role) tries to deploy bar to staging.
    let err = w
        .engine
        .deploy(&mallory, None, git_ref("bar"), to("staging"))
        .unwrap_err();
    let blockers = err.blockers();
    assert_eq!(blockers.len(), 3, "{err}");
    assert!(matches!(
        blockers[0],
        Blocker::NeedsRole {
            role: Role::Developer,
            ..
        }
    ));
    assert!(
        matches!(&blockers[1], Blocker::LockedBy { holder, reason, .. } if holder == &alice && reason == "deploy foo")
    );
    assert!(matches!(&blockers[2], Blocker::EnvBusy { by, .. } if by == &alice));
    let text = err.to_string();
    for fix in [
        "ask a lead to add you",
        "`queue me for staging`",
        "`cancel staging`",
    ] {
        assert!(text.contains(fix), "{fix} missing from:\n{text}");
    }
    // The refusal is in the history of staging.
    let history = w.engine.history(None, Some(&env("staging")), 10).unwrap();
    assert!(history.iter().any(|e| e.actor == mallory
        && matches!(&e.outcome, rushbox_pipeline::model::AuditOutcome::Refused { blockers } if blockers.len() == 3)));
    // alice cancels her deploy; the operation ends cancelled and staging is free of work.
    w.engine.cancel(&alice, None, env("staging")).unwrap();
    assert_eq!(
        op.wait(),
        Progress::Failed {
            error: "cancelled".into()
        }
    );
    let status = w.engine.status(None, &env("staging")).unwrap();
    assert_eq!(status.view.operation, None);
    assert_eq!(status.last_operation.unwrap().state, OpState::Cancelled);
    gate.open();
}

#[test]
fn a_second_request_on_a_busy_env_is_refused_until_it_finishes() {
    let (w, gate) = gated_world();
    let alice = actor("alice");
    let op = w
        .engine
        .deploy(&alice, None, git_ref("foo"), dev())
        .unwrap()
        .operation()
        .unwrap();
    let blockers = refused(w.engine.deploy(&alice, None, git_ref("foo"), dev()));
    assert!(matches!(blockers[0], Blocker::EnvBusy { operation, .. } if operation == op.id));
    assert_eq!(
        blockers[0].fix().to_string(),
        "wait for it to finish, or `cancel dev-foo`"
    );
    gate.open();
    assert!(matches!(op.wait(), Progress::Finished { .. }));
    // every step was recorded in the store
    let status = w.engine.status(None, &env("dev-foo")).unwrap();
    let steps = status.last_operation.unwrap().steps;
    assert!(steps.contains(&"create dev-foo".to_owned()), "{steps:?}");
    assert!(
        steps.contains(&"waiting at the gate".to_owned()),
        "{steps:?}"
    );
    done(w.engine.deploy(&alice, None, git_ref("foo"), dev()));
}

#[test]
fn reset_staging_to_prod_and_rollback_prod() {
    let w = world();
    let (alice, lena) = (actor("alice"), actor("lena"));
    // r1 = main to prod, r2 = foo to prod (through staging)
    done(w.engine.deploy(&lena, None, git_ref("main"), to("staging")));
    done(w.engine.promote(&lena, None, env("staging"), env("prod")));
    done(w.engine.deploy(&alice, None, git_ref("foo"), to("staging")));
    // alice holds staging now, and prod is not hers to roll back.
    let blockers = refused(w.engine.rollback(&alice, None, env("prod"), None));
    assert!(matches!(
        blockers[0],
        Blocker::NeedsRole {
            role: Role::Lead,
            ..
        }
    ));
    done(w.engine.promote(&lena, None, env("staging"), env("prod")));
    let prod = w.engine.status(None, &env("prod")).unwrap().view;
    assert_eq!(prod.release.as_deref(), Some("r2"));
    // rollback prod → r1; rollback prod to r2 → r2
    done(w.engine.rollback(&lena, None, env("prod"), None));
    assert_eq!(
        w.engine
            .status(None, &env("prod"))
            .unwrap()
            .view
            .release
            .as_deref(),
        Some("r1")
    );
    done(w.engine.rollback(
        &lena,
        None,
        env("prod"),
        Some(ReleaseId::parse("r2").unwrap()),
    ));
    assert_eq!(
        w.engine
            .status(None, &env("prod"))
            .unwrap()
            .view
            .release
            .as_deref(),
        Some("r2")
    );
    let blockers = refused(w.engine.rollback(
        &lena,
        None,
        env("prod"),
        Some(ReleaseId::parse("v99").unwrap()),
    ));
    assert!(matches!(blockers[0], Blocker::NoSuchRelease { .. }));
    // alice deploys bar to staging, then puts prod's release back.
    done(w.engine.deploy(&alice, None, git_ref("bar"), to("staging")));
    done(w.engine.reset(&alice, None, env("staging"), env("prod")));
    assert_eq!(
        w.engine
            .status(None, &env("staging"))
            .unwrap()
            .view
            .release
            .as_deref(),
        Some("r2")
    );
    assert_eq!(w.engine.releases(None).unwrap().len(), 3);
}

#[test]
fn promotion_goes_dev_then_staging_then_prod() {
    let w = world();
    let lena = actor("lena");
    done(w.engine.deploy(&lena, None, git_ref("foo"), dev()));
    let blockers = refused(w.engine.promote(&lena, None, env("dev-foo"), env("prod")));
    assert_eq!(
        blockers[0].fix().to_string(),
        "`promote dev-foo to staging` first"
    );
    let blockers = refused(w.engine.promote(&lena, None, env("staging"), env("prod")));
    assert_eq!(
        blockers,
        [Blocker::NoSuchEnv {
            env: env("staging")
        }]
    );
}

#[test]
fn time_suspends_idle_dev_envs_and_destroys_expired_ones() {
    let w = world();
    let alice = actor("alice");
    done(w.engine.deploy(&alice, None, git_ref("foo"), dev()));
    // used after an hour, so not idle at 2h; idle at 3h → suspended
    w.clock.advance(3600);
    w.engine.record_activity(None, env("dev-foo")).unwrap();
    let reply = w.engine.tick(w.clock.advance(3600)).unwrap();
    assert!(reply.operations.is_empty());
    let now = w.clock.advance(3600);
    let reply = w.engine.tick(now).unwrap();
    assert_eq!(reply.operations.len(), 1);
    for op in reply.operations {
        op.wait();
    }
    assert_eq!(w.engine.list_envs(None, None)[0].state, EnvState::Suspended);
    assert_eq!(w.engine.list_envs(None, None)[0].idle_left, None);
    // alice extends it by a day and wakes it
    w.engine
        .extend(&alice, None, env("dev-foo"), Span::parse("1d"))
        .unwrap();
    done(w.engine.wake(&alice, None, env("dev-foo")));
    let row = &w.engine.list_envs(None, None)[0];
    assert_eq!(row.state, EnvState::Running);
    assert_eq!(row.ttl_left, Some(4 * 86400 - 3 * 3600));
    // past its TTL it is destroyed and alice told
    let now = w.clock.advance(4 * 86400);
    let reply = w.engine.tick(now).unwrap();
    assert!(reply.notices.iter().any(|n| n.to == alice));
    for op in reply.operations {
        op.wait();
    }
    assert!(w.engine.list_envs(None, None).is_empty());
    // a quiet tick changes nothing
    let before = w.engine.audit_log().unwrap().len();
    w.engine.tick(w.clock.advance(60)).unwrap();
    assert_eq!(w.engine.audit_log().unwrap().len(), before);
}

#[test]
fn lock_leases_run_out_and_pass_to_the_queue() {
    let w = world();
    let (alice, bob) = (actor("alice"), actor("bob"));
    w.engine
        .lock(
            &alice,
            None,
            env("staging"),
            Some("qa".into()),
            Span::parse("1h"),
            false,
        )
        .unwrap();
    w.engine
        .queue_join(&bob, None, env("staging"), Some(git_ref("bar")))
        .unwrap();
    w.engine
        .extend(&alice, None, env("staging"), Span::parse("30m"))
        .unwrap();
    let reply = w.engine.tick(w.clock.advance(3600)).unwrap();
    assert!(reply.notices.is_empty(), "still 30m to go");
    let reply = w.engine.tick(w.clock.advance(1800)).unwrap();
    assert!(
        reply
            .notices
            .iter()
            .any(|n| n.to == alice && n.text.contains("expired"))
    );
    assert!(reply.notices.iter().any(|n| n.to == bob));
    let lock = w
        .engine
        .queue_status(None, &env("staging"))
        .unwrap()
        .lock
        .unwrap();
    assert_eq!(lock.holder, bob);
    assert_eq!(lock.reason, "deploy bar (from the queue)");
    // bob claims it with a reason of his own
    w.engine
        .lock(
            &bob,
            None,
            env("staging"),
            Some("bar demo".into()),
            None,
            false,
        )
        .unwrap();
    let lock = w
        .engine
        .queue_status(None, &env("staging"))
        .unwrap()
        .lock
        .unwrap();
    assert_eq!(
        (lock.reason.as_str(), lock.claim_within),
        ("bar demo", None)
    );
}

#[test]
fn unknown_refs_and_apps_are_refused_with_a_hint() {
    let w = world();
    let blockers = refused(
        w.engine
            .deploy(&actor("alice"), None, git_ref("nope"), dev()),
    );
    assert!(matches!(blockers[0], Blocker::UnknownRef { .. }));
    let other = rushbox_command::AppName::parse("billing").unwrap();
    let blockers = refused(
        w.engine
            .deploy(&actor("alice"), Some(other), git_ref("foo"), dev()),
    );
    assert!(matches!(blockers[0], Blocker::NoSuchApp { .. }));
}

#[test]
fn apps_have_their_own_envs_and_locks() {
    let mut config = config();
    let api = rushbox_command::AppName::parse("api").unwrap();
    let web = rushbox_command::AppName::parse("web").unwrap();
    config.apps = vec![
        rushbox_pipeline::config::AppConfig {
            name: api.clone(),
            repo: "api".into(),
        },
        rushbox_pipeline::config::AppConfig {
            name: web.clone(),
            repo: "web".into(),
        },
    ];
    config.default_app = Some(web.clone());
    let w = world_with(config);
    let (alice, bob) = (actor("alice"), actor("bob"));
    w.engine
        .lock(
            &alice,
            Some(api.clone()),
            env("staging"),
            Some("api work".into()),
            None,
            false,
        )
        .unwrap();
    // bob's staging without an app is web's: free.
    done(w.engine.deploy(&bob, None, git_ref("bar"), to("staging")));
    assert_eq!(w.engine.list_envs(Some(&web), None).len(), 1);
    let blockers = refused(
        w.engine
            .deploy(&bob, Some(api), git_ref("bar"), to("staging")),
    );
    assert!(matches!(&blockers[0], Blocker::LockedBy { holder, .. } if holder == &alice));
}

#[test]
fn a_request_wakes_a_suspended_env_whoever_sent_it() {
    let w = world();
    let alice = actor("alice");
    done(w.engine.deploy(&alice, None, git_ref("foo"), dev()));
    // Not running yet: nothing to wake.
    let blockers = refused(w.engine.wake_on_request(None, env("dev-foo")));
    assert!(
        matches!(
            blockers[..],
            [Blocker::WrongState {
                state: EnvState::Running,
                ..
            }]
        ),
        "{blockers:?}"
    );
    done(w.engine.suspend(&alice, None, env("dev-foo")));
    // The router wakes it for a request; no role, owner or lock is asked for.
    assert!(matches!(
        done(w.engine.wake_on_request(None, env("dev-foo"))),
        Progress::Finished { .. }
    ));
    assert_eq!(w.engine.list_envs(None, None)[0].state, EnvState::Running);
    let blockers = refused(w.engine.wake_on_request(None, env("dev-nothing")));
    assert!(
        matches!(blockers[..], [Blocker::NoSuchEnv { .. }]),
        "{blockers:?}"
    );
    let audit = w.engine.audit_log().unwrap();
    assert!(
        audit.iter().any(|e| e.call == "wake dev-foo for a request"),
        "audited"
    );
}

#[test]
fn owners_are_warned_once_before_their_env_runs_out_of_time() {
    let w = world();
    let alice = actor("alice");
    done(w.engine.deploy(&alice, None, git_ref("foo"), dev()));
    let ttl = rushbox_pipeline::PipelineConfig::default().times.dev_ttl;
    // Keep it busy so it is not suspended for idleness meanwhile.
    let now = w.clock.advance(ttl - 1800);
    w.engine.record_activity(None, env("dev-foo")).unwrap();
    let reply = w.engine.tick(now).unwrap();
    let to_alice: Vec<&str> = reply
        .notices
        .iter()
        .filter(|n| n.to == alice)
        .map(|n| n.text.as_str())
        .collect();
    assert_eq!(
        to_alice,
        [
            "dev-foo will be destroyed in 30m (its time to live runs out); `extend dev-foo by 1d` keeps it."
        ]
    );
    // Once only.
    let reply = w.engine.tick(w.clock.advance(60)).unwrap();
    assert!(reply.notices.is_empty(), "{:?}", reply.notices);
    // Extending it resets the warning.
    w.engine
        .extend(&alice, None, env("dev-foo"), Span::parse("1h"))
        .unwrap();
    let reply = w.engine.tick(w.clock.advance(60)).unwrap();
    assert!(
        reply.notices.is_empty(),
        "not yet due again: {:?}",
        reply.notices
    );
    let reply = w.engine.tick(w.clock.advance(3600)).unwrap();
    assert_eq!(reply.notices.len(), 1, "{:?}", reply.notices);
}

#[test]
fn roles_may_name_a_group_whose_members_the_platform_reports() {
    let mut config = config();
    config.roles.leads.push("group:slack:S0LEADS".to_owned());
    config
        .roles
        .developers
        .push("group:slack:S0DEVS".to_owned());
    let w = world_with(config);
    assert_eq!(w.engine.group_names(), ["slack:S0DEVS", "slack:S0LEADS"]);
    let (lena, dana, omar) = (actor("lena"), actor("dana"), actor("omar"));
    done(w.engine.deploy(&lena, None, git_ref("main"), to("staging")));
    // Nobody is in the groups yet: dana is nobody, so she can't deploy at all.
    assert_eq!(w.engine.role_of(&dana), None);
    assert!(matches!(
        refused(w.engine.deploy(&dana, None, git_ref("foo"), dev()))[0],
        Blocker::NeedsRole { .. }
    ));
    // The platform says dana leads and omar develops.
    w.engine.set_group_members("slack:S0LEADS", [dana.clone()]);
    w.engine.set_group_members("slack:S0DEVS", [omar.clone()]);
    assert_eq!(w.engine.role_of(&dana), Some(Role::Lead));
    assert_eq!(w.engine.role_of(&omar), Some(Role::Developer));
    let blockers = refused(w.engine.promote(&omar, None, env("staging"), env("prod")));
    assert!(matches!(
        blockers[0],
        Blocker::NeedsRole {
            role: Role::Lead,
            ..
        }
    ));
    done(w.engine.promote(&dana, None, env("staging"), env("prod")));
    // Leaving the group takes the role away at the next decision.
    w.engine.set_group_members("slack:S0LEADS", []);
    assert_eq!(w.engine.role_of(&dana), None);
    // A group pattern is never read as an actor prefix.
    assert_eq!(w.engine.role_of(&actor("group")), None);
}

#[test]
fn a_redelivered_message_is_decided_once_even_across_a_restart() {
    use rushbox_pipeline::engine::ManualClock;
    use rushbox_pipeline::{Engine, EngineError, NoopProvider};
    use std::sync::Arc;

    let World {
        engine, clock, dir, ..
    } = world();
    let alice = actor("alice");
    let lock = |engine: &Engine, reason: &str| {
        engine.lock(
            &alice,
            None,
            env("staging"),
            Some(reason.to_owned()),
            None,
            false,
        )
    };
    lock(&engine.for_delivery("Ev1"), "QA").unwrap();
    assert!(engine.delivered("Ev1"));
    assert!(!engine.delivered("Ev2"));
    assert!(matches!(
        lock(&engine.for_delivery("Ev1"), "QA"),
        Err(EngineError::AlreadyHandled { delivery }) if delivery == "Ev1"
    ));
    // A refusal is a decision too: bob's redelivered request is not re-run.
    let bob = actor("bob");
    let bob_lock = |engine: &Engine| {
        engine.lock(
            &bob,
            None,
            env("staging"),
            Some("demo".to_owned()),
            None,
            false,
        )
    };
    assert!(matches!(
        bob_lock(&engine.for_delivery("Ev2")),
        Err(EngineError::Refused(_))
    ));
    assert!(matches!(
        bob_lock(&engine.for_delivery("Ev2")),
        Err(EngineError::AlreadyHandled { .. })
    ));
    // Without a delivery id nothing is remembered.
    lock(&engine, "QA again").unwrap();
    lock(&engine, "QA again").unwrap();
    let history_len = engine.history(None, None, 100).unwrap().len();

    // rushbox restarts; Slack retries Ev1 a minute later.
    drop(engine);
    clock.advance(60);
    let reopen = |clock: &Arc<ManualClock>| {
        Engine::open_with_clock(
            config(),
            &dir.path().join("db"),
            Arc::new(NoopProvider::new()),
            Arc::new(refs()),
            clock.clone(),
        )
        .unwrap()
    };
    let engine = reopen(&clock);
    assert!(engine.delivered("Ev1") && engine.delivered("Ev2"));
    assert!(matches!(
        lock(&engine.for_delivery("Ev1"), "QA"),
        Err(EngineError::AlreadyHandled { .. })
    ));
    assert_eq!(engine.history(None, None, 100).unwrap().len(), history_len);
    // Two hours on, a restart forgets them: ids are kept for an hour at least.
    drop(engine);
    clock.advance(2 * 60 * 60);
    let engine = reopen(&clock);
    assert!(!engine.delivered("Ev1"));
}

/// Two branches at one commit make one release, but each env is on its own
/// branch: `git branch foo2 foo`, `deploy branch foo2 to dev`, and `envs`
/// lists dev-foo2 on foo2, not on foo, which built the commit first. A
/// promotion carries the branch of the env it came from.
#[test]
fn each_env_shows_its_own_branch_when_two_branches_share_a_commit() {
    let repo = tempfile::tempdir().unwrap();
    let path = repo.path();
    git(path, &["init", "-q", "-b", "main"]);
    std::fs::write(path.join("page.txt"), "main").unwrap();
    git(path, &["add", "page.txt"]);
    git(path, &["commit", "-q", "-m", "main"]);
    git(path, &["switch", "-q", "-c", "foo"]);
    std::fs::write(path.join("page.txt"), "foo").unwrap();
    git(path, &["commit", "-q", "-am", "foo"]);
    git(path, &["branch", "foo2", "foo"]);
    let commit = git(path, &["rev-parse", "foo2"]);

    let app = config().apps[0].name.clone();
    let mut resolver = rushbox_pipeline::git::GitResolver::new();
    resolver.insert(app, rushbox_pipeline::git::GitRepo::open(path).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let engine = rushbox_pipeline::Engine::open_with_clock(
        config(),
        &dir.path().join("db"),
        std::sync::Arc::new(rushbox_pipeline::NoopProvider::new()),
        std::sync::Arc::new(resolver),
        std::sync::Arc::new(rushbox_pipeline::engine::ManualClock::new(T0)),
    )
    .unwrap();
    let (alice, bob) = (actor("alice"), actor("bob"));
    done(engine.deploy(&alice, None, git_ref("foo"), dev()));
    done(engine.deploy(&bob, None, git_ref("foo2"), dev()));
    done(engine.promote(&bob, None, env("dev-foo2"), env("staging")));

    let envs = engine.list_envs(None, None);
    let branches: Vec<(&str, Option<&str>)> = envs
        .iter()
        .map(|v| (v.env.as_str(), v.branch.as_ref().map(|b| b.as_str())))
        .collect();
    assert_eq!(
        branches,
        [
            ("dev-foo", Some("foo")),
            ("dev-foo2", Some("foo2")),
            ("staging", Some("foo2"))
        ]
    );
    for v in &envs {
        assert_eq!(v.commit.as_deref(), Some(commit.as_str()), "{v}");
        assert_eq!(v.release.as_deref(), Some("r1"), "one build: {v}");
    }
    assert_eq!(engine.releases(None).unwrap().len(), 1);

    // foo2 moves on (r2), then rolls back to r1: still foo2's, not foo's.
    git(path, &["switch", "-q", "foo2"]);
    std::fs::write(path.join("page.txt"), "foo2").unwrap();
    git(path, &["commit", "-q", "-am", "foo2"]);
    done(engine.deploy(&bob, None, git_ref("foo2"), dev()));
    done(engine.rollback(&bob, None, env("dev-foo2"), None));
    let back = engine.status(None, &env("dev-foo2")).unwrap().view;
    assert_eq!(back.release.as_deref(), Some("r1"));
    assert_eq!(back.branch.as_ref().map(|b| b.as_str()), Some("foo2"));
}
