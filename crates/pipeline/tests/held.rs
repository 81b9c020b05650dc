//! Held calls (group commit for one stream): decided and written at once,
//! synced together at the release, and only then started and told.

mod common;

use rushbox_pipeline::Progress;
use rushbox_pipeline::provider::Action;

use common::{actor, dev, env, gated_world, git_ref, refused, world};

#[test]
fn held_calls_share_one_sync_and_their_notices_wait_for_it() {
    let w = world();
    let (alice, bob) = (actor("alice"), actor("bob"));
    let mut notices = w.engine.notices();
    let lena = actor("lena");
    let synced = w.engine.syncs();
    let hold = w.engine.hold();
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
    // Refused: the refusal's audit entry is held too.
    assert!(!refused(w.engine.unlock(&bob, None, env("staging"))).is_empty());
    // The noop provider's operation has already run to its end.
    let op = w
        .engine
        .deploy(&alice, None, git_ref("foo"), dev())
        .unwrap()
        .operation()
        .unwrap();
    assert!(matches!(op.wait(), Progress::Finished { .. }));
    // A lead steals the lock: alice is told, but not before the sync.
    w.engine
        .lock(
            &lena,
            None,
            env("staging"),
            Some("hotfix".into()),
            None,
            true,
        )
        .unwrap();
    assert_eq!(hold.told(), 1);
    assert_eq!(w.engine.syncs(), synced, "nothing synced while held");
    assert!(notices.try_recv().is_err(), "nobody told while held");
    hold.release().unwrap();
    assert_eq!(w.engine.syncs(), synced + 1, "one sync for all four calls");
    let told = notices.try_recv().unwrap();
    assert_eq!(told.to, alice);
    // The decisions are durable: a reopened engine has them.
    let audit = w.engine.audit_log().unwrap();
    assert_eq!(audit.len(), 5, "{audit:?}");
}

#[test]
fn a_held_operation_starts_only_after_the_release() {
    let (w, gate) = gated_world();
    let alice = actor("alice");
    let hold = w.engine.hold();
    let op = w
        .engine
        .deploy(&alice, None, git_ref("foo"), dev())
        .unwrap()
        .operation()
        .unwrap();
    // No thread was started for it: the gate has seen nothing.
    assert!(gate.seen.lock().unwrap().is_empty());
    // A second hold on the same thread joins the first; its release is not the sync.
    let inner = w.engine.hold();
    inner.release().unwrap();
    assert!(gate.seen.lock().unwrap().is_empty());
    hold.release().unwrap();
    gate.open();
    assert!(matches!(op.wait(), Progress::Finished { .. }));
    let seen = gate.seen.lock().unwrap();
    assert_eq!(seen.first().map(|r| r.action), Some(Action::Create));
    assert_eq!(seen.last().map(|r| r.action), Some(Action::Deploy));
}

#[test]
fn calls_on_another_thread_are_not_held() {
    let w = world();
    let hold = w.engine.hold();
    let synced = w.engine.syncs();
    let engine = w.engine.clone();
    std::thread::spawn(move || {
        engine
            .lock(
                &actor("bob"),
                None,
                env("staging"),
                Some("x".into()),
                None,
                false,
            )
            .unwrap();
    })
    .join()
    .unwrap();
    assert_eq!(w.engine.syncs(), synced + 1);
    hold.release().unwrap();
}

#[test]
fn detached_calls_sync_and_tell_on_the_thread_that_releases_them() {
    let w = world();
    let (alice, lena) = (actor("alice"), actor("lena"));
    let mut notices = w.engine.notices();
    let synced = w.engine.syncs();
    let hold = w.engine.hold();
    w.engine
        .lock(&alice, None, env("staging"), Some("qa".into()), None, false)
        .unwrap();
    w.engine
        .lock(&lena, None, env("staging"), Some("fix".into()), None, true)
        .unwrap();
    let unsynced = hold.detach();
    // This thread's calls are its own again: the next one syncs by itself,
    // and it alone (the detached calls are not covered by its ticket's wait).
    assert!(!refused(w.engine.unlock(&actor("bob"), None, env("staging"))).is_empty());
    assert_eq!(w.engine.syncs(), synced + 1);
    // The lead's steal has not been told: its calls are still held.
    assert!(
        notices.try_recv().is_err(),
        "nobody told before the release"
    );
    std::thread::spawn(move || unsynced.release())
        .join()
        .unwrap()
        .unwrap();
    let told = notices.try_recv().unwrap();
    assert_eq!(told.to, alice);
    assert_eq!(w.engine.audit_log().unwrap().len(), 3);
}
