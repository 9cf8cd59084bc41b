//! The leadership lease: on every backend, through the shared suite, it is taken when
//! free or run out, always with the next epoch, renewed and released only by its holder
//! at its epoch; on PostgreSQL, the writes of a handle whose epoch has passed on are
//! refused inside their own transaction, and go through again once it stops fencing.

use std::time::Duration;

use balance_monitor::store::{LeaderLease, LeadershipTake, Store, StoreError};

use super::{OpenStore, Postgres};

fn a() -> String {
    "host-a pid 1 (aaaa)".to_string()
}

fn b() -> String {
    "host-b pid 2 (bbbb)".to_string()
}

const MINUTE: Duration = Duration::from_secs(60);

async fn take(store: &Store, holder: String, lease: Duration) -> LeadershipTake {
    store.take_leadership(holder, lease).await.unwrap()
}

fn taken(take: LeadershipTake) -> LeaderLease {
    match take {
        LeadershipTake::Taken(lease) => lease,
        held => panic!("the lease was not taken: {held:?}"),
    }
}

pub(in crate::store) async fn the_leadership_lease_is_taken_when_free_with_the_next_epoch<
    B: OpenStore,
>() {
    let directory = tempfile::tempdir().unwrap();
    let store = B::open(directory.path()).await;
    assert_eq!(store.leadership().await.unwrap(), None, "never taken");

    let first = taken(take(&store, a(), MINUTE).await);
    assert_eq!((first.holder.as_str(), first.epoch), (a().as_str(), 1));
    assert!(first.expires_at > first.taken_at, "{first:?}");
    assert_eq!(first.taken_at, first.renewed_at);
    assert!(!first.expired());

    // Held: another holder is refused and told who leads.
    match take(&store, b(), MINUTE).await {
        LeadershipTake::Held(lease) => {
            assert_eq!((lease.holder, lease.epoch), (a(), 1));
        }
        other => panic!("a held lease was taken: {other:?}"),
    }
    let stored = store.leadership().await.unwrap().unwrap();
    assert_eq!((stored.holder.as_str(), stored.epoch), (a().as_str(), 1));
    assert!(stored.age() < MINUTE, "{stored:?}");

    // Only the holder renews, and only at its epoch.
    let renewed = store
        .renew_leadership(a(), 1, MINUTE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(renewed.epoch, 1);
    assert!(renewed.renewed_at >= first.renewed_at, "{renewed:?}");
    assert!(renewed.expires_at >= first.expires_at, "{renewed:?}");
    assert_eq!(store.renew_leadership(b(), 1, MINUTE).await.unwrap(), None);
    assert_eq!(store.renew_leadership(a(), 2, MINUTE).await.unwrap(), None);

    // The holder taking it again starts a new epoch.
    assert_eq!(taken(take(&store, a(), MINUTE).await).epoch, 2);

    // Releasing ends it at once: another takes it, and the old holder cannot renew it.
    store.release_leadership(b(), 2).await.unwrap();
    assert!(
        !store.leadership().await.unwrap().unwrap().expired(),
        "not b's to release"
    );
    store.release_leadership(a(), 1).await.unwrap();
    assert!(
        !store.leadership().await.unwrap().unwrap().expired(),
        "an old epoch's release"
    );
    store.release_leadership(a(), 2).await.unwrap();
    assert!(store.leadership().await.unwrap().unwrap().expired());
    assert_eq!(store.renew_leadership(a(), 2, MINUTE).await.unwrap(), None);
    let third = taken(take(&store, b(), MINUTE).await);
    assert_eq!((third.holder, third.epoch), (b(), 3));

    // A holder that stops renewing loses it when it runs out (a lease of no time runs
    // out at once), and cannot renew it back.
    assert_eq!(taken(take(&store, b(), Duration::ZERO).await).epoch, 4);
    assert!(store.leadership().await.unwrap().unwrap().expired());
    assert_eq!(store.renew_leadership(b(), 4, MINUTE).await.unwrap(), None);
    assert_eq!(taken(take(&store, a(), MINUTE).await).epoch, 5);

    // Reopened, the store still knows the lease.
    store.close().await;
    let reopened = B::open(directory.path()).await;
    let stored = reopened.leadership().await.unwrap().unwrap();
    assert_eq!((stored.holder, stored.epoch), (a(), 5));
}

#[tokio::test]
async fn on_postgresql_an_old_epochs_write_is_refused_after_another_holder_took_over() {
    let directory = tempfile::tempdir().unwrap();
    let old = Postgres::open(directory.path()).await;
    let new = Postgres::open(directory.path()).await;
    old.ensure_monitor("before").await.unwrap();

    let first = taken(take(&old, a(), Duration::ZERO).await);
    assert_eq!(first.epoch, 1);
    // Its lease ran out, but no one took over: its epoch is still the lease's.
    old.ensure_monitor("still first").await.unwrap();

    let second = taken(take(&new, b(), MINUTE).await);
    assert_eq!(second.epoch, 2);
    let refused = old.ensure_monitor("after").await.unwrap_err();
    assert!(
        matches!(refused, StoreError::Fenced { epoch: 1, .. }),
        "{refused:?}"
    );
    assert!(refused.to_string().contains("led as epoch 1"), "{refused}");
    assert!(!refused.is_environmental(), "waiting will not heal it");
    assert_eq!(
        old.monitor_id("after").await.unwrap(),
        None,
        "nothing written"
    );
    assert_eq!(
        old.renew_leadership(a(), 1, MINUTE).await.unwrap(),
        None,
        "the old leader learns it lost the lease"
    );
    // The new leader writes; the old one, once it stops acting as leader, writes as a
    // command-line tool does.
    new.ensure_monitor("by the new leader").await.unwrap();
    old.stop_fencing();
    old.ensure_monitor("as a standby").await.unwrap();
    assert!(new.monitor_id("as a standby").await.unwrap().is_some());
}
