//! Model-based property test of the policy: random multi-actor command
//! sequences run through `decide_and_audit` (as the engine runs them, minus
//! sled) and through a small reference model of the staging lock and queue.
//!
//! Invariants: at most one holder; the queue is the model's (FIFO, nobody
//! lost or doubled, the holder never waits in it); prod changes only on a
//! lead's request; every refusal and every change has its audit entry;
//! dev envs always have an owner, stay within the limits and change
//! only on their owner's, a lead's or the clock's account.

mod common;

use std::collections::BTreeMap;

use common::*;
use proptest::prelude::*;
use rushbox_command::Target;
use rushbox_pipeline::config::Groups;
use rushbox_pipeline::model::{Actor, AuditEntry, AuditOutcome, EnvKey, State};
use rushbox_pipeline::policy::{Call, Finish, Plan, Refusal, decide_and_audit};

const ALICE: usize = 0;
const LENA: usize = 3;
const MALLORY: usize = 4;
const NAMES: [&str; 5] = ["alice", "bob", "carol", "lena", "mallory"];

#[derive(Debug, Clone)]
enum Cmd {
    Lock {
        who: usize,
        with_reason: bool,
    },
    Steal {
        who: usize,
    },
    Unlock {
        who: usize,
    },
    Join {
        who: usize,
    },
    Leave {
        who: usize,
    },
    DeployStaging {
        who: usize,
        ok: bool,
    },
    PromoteProd {
        who: usize,
        ok: bool,
    },
    DeployProd {
        who: usize,
        ok: bool,
    },
    RollbackProd {
        who: usize,
    },
    Tick {
        secs: u64,
    },
    DeployDev {
        who: usize,
        branch: usize,
        ok: bool,
    },
    DestroyDev {
        who: usize,
        branch: usize,
    },
    GiveDev {
        who: usize,
        branch: usize,
        to: usize,
    },
}

/// Branches people deploy to dev; `dev-<branch>` is the env.
const BRANCHES: [&str; 3] = ["foo", "bar", "baz"];

fn cmd() -> impl Strategy<Value = Cmd> {
    let who = 0..NAMES.len();
    prop_oneof![
        3 => (who.clone(), any::<bool>()).prop_map(|(who, r)| Cmd::Lock { who, with_reason: r }),
        1 => who.clone().prop_map(|who| Cmd::Steal { who }),
        2 => who.clone().prop_map(|who| Cmd::Unlock { who }),
        3 => who.clone().prop_map(|who| Cmd::Join { who }),
        1 => who.clone().prop_map(|who| Cmd::Leave { who }),
        3 => (who.clone(), prop::bool::weighted(0.8)).prop_map(|(who, ok)| Cmd::DeployStaging { who, ok }),
        2 => (who.clone(), prop::bool::weighted(0.8)).prop_map(|(who, ok)| Cmd::PromoteProd { who, ok }),
        1 => (who.clone(), any::<bool>()).prop_map(|(who, ok)| Cmd::DeployProd { who, ok }),
        1 => who.clone().prop_map(|who| Cmd::RollbackProd { who }),
        2 => prop::sample::select(vec![1u64, 600, 899, 900, 1000, 14_400, 20_000, 200_000])
            .prop_map(|secs| Cmd::Tick { secs }),
        2 => (who.clone(), 0..BRANCHES.len(), prop::bool::weighted(0.8))
            .prop_map(|(who, branch, ok)| Cmd::DeployDev { who, branch, ok }),
        1 => (who.clone(), 0..BRANCHES.len()).prop_map(|(who, branch)| Cmd::DestroyDev { who, branch }),
        1 => (who.clone(), 0..BRANCHES.len(), 0..NAMES.len())
            .prop_map(|(who, branch, to)| Cmd::GiveDev { who, branch, to }),
    ]
}

/// The reference: who holds staging (and whether it is only offered), until when, and the line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Model {
    holder: Option<Held>,
    queue: Vec<usize>,
    staging_has_release: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Held {
    who: usize,
    claim_by: Option<u64>,
    expires_at: u64,
}

const LEASE: u64 = 4 * 3600;
const CLAIM: u64 = 15 * 60;

impl Model {
    fn take(&mut self, who: usize, now: u64) {
        self.holder = Some(Held {
            who,
            claim_by: None,
            expires_at: now + LEASE,
        });
        self.queue.retain(|w| *w != who);
    }

    fn pass_on(&mut self, now: u64) {
        self.holder = if self.queue.is_empty() {
            None
        } else {
            Some(Held {
                who: self.queue.remove(0),
                claim_by: Some(now + CLAIM),
                expires_at: now + LEASE,
            })
        };
    }

    fn holder_is(&self, who: usize) -> bool {
        self.holder.as_ref().is_some_and(|h| h.who == who)
    }

    fn free_or(&self, who: usize) -> bool {
        self.holder.is_none() || self.holder_is(who)
    }
}

struct Sim {
    config: rushbox_pipeline::PipelineConfig,
    state: State,
    audit: Vec<AuditEntry>,
    now: u64,
}

impl Sim {
    /// One decision, applied as the store applies it, with the audit checks.
    fn decide(&mut self, actor: &Actor, call: &Call) -> Result<Plan, Refusal> {
        let before = self.audit.len();
        let d = decide_and_audit(
            &self.state,
            &self.config,
            &Groups::default(),
            actor,
            call,
            self.now,
        );
        if let Some(entry) = d.audit.clone() {
            self.audit.push(entry);
        }
        match &d.outcome {
            Err(refusal) => {
                assert_eq!(self.audit.len(), before + 1, "refusal not logged: {call}");
                let entry = &self.audit[before];
                assert_eq!(&entry.actor, actor);
                assert!(
                    matches!(&entry.outcome, AuditOutcome::Refused { blockers } if blockers.len() == refusal.blockers.len() && !blockers.is_empty())
                );
            }
            Ok(plan) => {
                if !plan.effects.is_empty() {
                    assert_eq!(self.audit.len(), before + 1, "change not logged: {call}");
                    assert!(matches!(
                        self.audit[before].outcome,
                        AuditOutcome::Done { .. }
                    ));
                }
                for e in &plan.effects {
                    self.state.apply(e);
                }
            }
        }
        d.outcome
    }

    /// A call, with every operation it starts run to the end `ok` gives.
    fn run(&mut self, actor: &Actor, call: Call, ok: bool) -> bool {
        match self.decide(actor, &call) {
            Err(_) => false,
            Ok(plan) => {
                for id in plan.start {
                    let result = if ok {
                        Finish::Succeeded { address: None }
                    } else {
                        Finish::Failed {
                            error: "boom".into(),
                        }
                    };
                    let finish = Call::Finish {
                        operation: id,
                        result,
                    };
                    self.decide(&Actor::rushbox(), &finish)
                        .expect("a finish is never refused");
                }
                true
            }
        }
    }
}

fn check(cmds: Vec<Cmd>) -> Result<(), TestCaseError> {
    let actors: Vec<Actor> = NAMES.iter().map(|n| actor(n)).collect();
    let mut sim = Sim {
        config: config(),
        state: State::default(),
        audit: Vec::new(),
        now: T0,
    };
    let app = sim.config.apps[0].name.clone();
    let staging = EnvKey::new(&app, &env("staging"));
    let prod = EnvKey::new(&app, &env("prod"));
    let commit = |r: &str| {
        use rushbox_pipeline::RefResolver;
        refs().resolve(&app, &git_ref(r))
    };
    let mut model = Model::default();
    for cmd in cmds {
        let now = sim.now;
        let prod_before = sim.state.envs.get(&prod).cloned();
        let dev_before: BTreeMap<EnvKey, rushbox_pipeline::model::Env> = sim
            .state
            .envs
            .iter()
            .filter(|(_, e)| e.is_dev())
            .map(|(k, e)| (k.clone(), e.clone()))
            .collect();
        let (granted, expected, who) = match cmd {
            Cmd::Lock { who, with_reason } => {
                let call = Call::Lock {
                    app: None,
                    env: env("staging"),
                    reason: with_reason.then(|| format!("work of {}", NAMES[who])),
                    duration: None,
                    force: false,
                };
                let expected = who != MALLORY && with_reason && model.free_or(who);
                let granted = sim.run(&actors[who], call, true);
                if granted {
                    model.take(who, now);
                }
                (granted, Some(expected), who)
            }
            Cmd::Steal { who } => {
                let call = Call::Lock {
                    app: None,
                    env: env("staging"),
                    reason: Some("urgent".into()),
                    duration: None,
                    force: true,
                };
                let expected = who != MALLORY && (model.free_or(who) || who == LENA);
                let granted = sim.run(&actors[who], call, true);
                if granted {
                    model.take(who, now);
                }
                (granted, Some(expected), who)
            }
            Cmd::Unlock { who } => {
                let call = Call::Unlock {
                    app: None,
                    env: env("staging"),
                };
                let expected = model.holder.is_some() && (model.holder_is(who) || who == LENA);
                let granted = sim.run(&actors[who], call, true);
                if granted {
                    model.pass_on(now);
                }
                (granted, Some(expected), who)
            }
            Cmd::Join { who } => {
                let call = Call::QueueJoin {
                    app: None,
                    env: env("staging"),
                    git_ref: None,
                };
                let expected =
                    who != MALLORY && !model.holder_is(who) && !model.queue.contains(&who);
                let granted = sim.run(&actors[who], call, true);
                if granted {
                    model.queue.push(who);
                    if model.holder.is_none() {
                        model.pass_on(now);
                    }
                }
                (granted, Some(expected), who)
            }
            Cmd::Leave { who } => {
                let call = Call::QueueLeave {
                    app: None,
                    env: env("staging"),
                };
                let queued = model.queue.contains(&who);
                let offered = model
                    .holder
                    .as_ref()
                    .is_some_and(|h| h.who == who && h.claim_by.is_some());
                let granted = sim.run(&actors[who], call, true);
                if granted {
                    if queued {
                        model.queue.retain(|w| *w != who);
                    } else {
                        model.pass_on(now);
                    }
                }
                (granted, Some(queued || offered), who)
            }
            Cmd::DeployStaging { who, ok } => {
                let call = Call::Deploy {
                    app: None,
                    git_ref: git_ref(NAMES_REFS[who]),
                    commit: commit(NAMES_REFS[who]),
                    target: Target::Env(env("staging")),
                };
                let expected = who != MALLORY && model.free_or(who);
                let granted = sim.run(&actors[who], call, ok);
                if granted {
                    let claimed = model
                        .holder
                        .as_ref()
                        .is_some_and(|h| h.who == who && h.claim_by.is_none());
                    if !claimed {
                        model.take(who, now);
                    }
                    model.staging_has_release |= ok;
                }
                (granted, Some(expected), who)
            }
            Cmd::PromoteProd { who, ok } => {
                let call = Call::Promote {
                    app: None,
                    from: env("staging"),
                    to: env("prod"),
                };
                let expected = who == LENA && model.staging_has_release;
                let granted = sim.run(&actors[who], call, ok);
                if granted && ok && model.holder.as_ref().is_some_and(|h| h.claim_by.is_none()) {
                    model.pass_on(now);
                }
                (granted, Some(expected), who)
            }
            Cmd::DeployProd { who, ok } => {
                let call = Call::Deploy {
                    app: None,
                    git_ref: git_ref("hotfix"),
                    commit: commit("hotfix"),
                    target: Target::Env(env("prod")),
                };
                let granted = sim.run(&actors[who], call, ok);
                (granted, Some(who == LENA), who)
            }
            Cmd::RollbackProd { who } => {
                let call = Call::Rollback {
                    app: None,
                    env: env("prod"),
                    release: None,
                };
                let granted = sim.run(&actors[who], call, true);
                prop_assert!(!granted || who == LENA, "a non-lead rolled back prod");
                (granted, None, who)
            }
            Cmd::DeployDev { who, branch, ok } => {
                let call = Call::Deploy {
                    app: None,
                    git_ref: git_ref(BRANCHES[branch]),
                    commit: commit(BRANCHES[branch]),
                    target: Target::Dev,
                };
                (sim.run(&actors[who], call, ok), None, who)
            }
            Cmd::DestroyDev { who, branch } => {
                let call = Call::Destroy {
                    app: None,
                    env: env(&format!("dev-{}", BRANCHES[branch])),
                };
                (sim.run(&actors[who], call, true), None, who)
            }
            Cmd::GiveDev { who, branch, to } => {
                let call = Call::Transfer {
                    app: None,
                    env: env(&format!("dev-{}", BRANCHES[branch])),
                    to: actors[to].clone(),
                };
                (sim.run(&actors[who], call, true), None, who)
            }
            Cmd::Tick { secs } => {
                sim.now += secs;
                let now = sim.now;
                let expired = match &model.holder {
                    Some(Held {
                        claim_by: Some(t), ..
                    }) => *t <= now,
                    Some(Held { expires_at, .. }) => *expires_at <= now,
                    None => false,
                };
                if expired {
                    model.pass_on(now);
                }
                let granted = sim.run(&Actor::rushbox(), Call::Tick, true);
                (granted, Some(true), usize::MAX)
            }
        };
        if let Some(expected) = expected {
            prop_assert_eq!(granted, expected, "grant differs from the model");
        }
        // The lock and the queue are the model's.
        let lock = sim.state.locks.get(&staging);
        let held = lock.map(|l| Held {
            who: NAMES
                .iter()
                .position(|n| actor(n) == l.holder)
                .unwrap_or(usize::MAX),
            claim_by: l.claim_by,
            expires_at: l.expires_at,
        });
        prop_assert_eq!(&held, &model.holder);
        let waiting: Vec<usize> = sim
            .state
            .queue(&staging)
            .waiting
            .iter()
            .map(|e| {
                NAMES
                    .iter()
                    .position(|n| actor(n) == e.actor)
                    .unwrap_or(usize::MAX)
            })
            .collect();
        prop_assert_eq!(&waiting, &model.queue);
        let mut seen = BTreeMap::new();
        for w in &waiting {
            prop_assert!(seen.insert(*w, ()).is_none(), "someone waits twice");
        }
        if let Some(h) = &model.holder {
            prop_assert!(!waiting.contains(&h.who), "the holder also waits");
        }
        // Dev envs: always owned, within the team's limit, and changed only by
        // their owner, a lead or the clock (TTL, idle); a new one belongs to its maker.
        let dev_after: Vec<&rushbox_pipeline::model::Env> =
            sim.state.envs.values().filter(|e| e.is_dev()).collect();
        prop_assert!(dev_after.len() <= sim.config.limits.dev_envs_total);
        for a in &actors {
            let owned = dev_after
                .iter()
                .filter(|e| e.owner.as_ref() == Some(a))
                .count();
            prop_assert!(
                owned <= sim.config.limits.dev_envs_per_person,
                "{a} owns {owned}"
            );
        }
        for e in &dev_after {
            prop_assert!(e.owner.is_some(), "{} has no owner", e.name);
            match dev_before.get(&e.key()) {
                None => {
                    prop_assert_eq!(e.owner.as_ref(), actors.get(who));
                    prop_assert!(who != MALLORY, "someone without a role made {}", e.name);
                }
                Some(before) if before != *e => {
                    let by_owner = before.owner.as_ref() == actors.get(who);
                    prop_assert!(
                        by_owner || who == LENA || who == usize::MAX,
                        "{} changed on {}'s request",
                        e.name,
                        NAMES.get(who).unwrap_or(&"rushbox")
                    );
                }
                Some(_) => {}
            }
        }
        for (key, before) in &dev_before {
            if !sim.state.envs.contains_key(key) {
                let by_owner = before.owner.as_ref() == actors.get(who);
                prop_assert!(by_owner || who == LENA || who == usize::MAX);
            }
        }
        // Prod changes only on a lead's request (the finish carries it out).
        let prod_after = sim.state.envs.get(&prod);
        if prod_after != prod_before.as_ref() {
            prop_assert!(
                who == LENA,
                "prod changed on {}'s request",
                NAMES.get(who).unwrap_or(&"rushbox")
            );
        }
        // Granted requests from people are logged with them as actor.
        if granted && who < NAMES.len() {
            prop_assert!(sim.audit.iter().any(|e| e.actor == actors[who]));
        }
    }
    Ok(())
}

/// Each person deploys their own branch.
const NAMES_REFS: [&str; 5] = ["foo", "bar", "baz", "main", "hotfix"];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn staging_lock_and_queue_follow_the_model(cmds in prop::collection::vec(cmd(), 1..25)) {
        check(cmds)?;
    }
}

#[test]
fn the_model_agrees_on_a_known_story() {
    use Cmd::*;
    check(vec![
        Lock {
            who: ALICE,
            with_reason: true,
        },
        Join { who: 1 },
        Join { who: 2 },
        DeployStaging {
            who: ALICE,
            ok: true,
        },
        PromoteProd {
            who: LENA,
            ok: true,
        },
        Tick { secs: 900 },
        DeployStaging { who: 2, ok: true },
    ])
    .unwrap();
}
