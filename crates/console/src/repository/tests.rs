//! Races between writers, on the repository directly.

use std::sync::{Arc, Mutex};

use segstream_rules::snapshot::RulesSnapshot;

use super::{Actor, Edit, PublishItem, Repository, RepositoryError, RuleChannel};
use crate::store::sqlite::SqliteStore;

#[derive(Default)]
struct Versions(Mutex<Vec<u64>>);

impl RuleChannel for Versions {
    fn deliver(&self, snapshot: &RulesSnapshot) -> Result<(), String> {
        self.0.lock().map_err(|e| e.to_string())?.push(snapshot.version);
        Ok(())
    }

    fn describe(&self) -> String {
        "versions".into()
    }
}

fn repository(channel: Arc<Versions>) -> Repository {
    repository_over(Arc::new(SqliteStore::in_memory().unwrap()), channel)
}

fn repository_over(store: Arc<SqliteStore>, channel: Arc<Versions>) -> Repository {
    let schema = segstream_rules::Schema::from_toml("[events.ad_shown]\n").unwrap();
    Repository::new(store, Arc::new(schema), channel)
}

fn text(id: &str) -> String {
    format!("[[segment]]\nid = \"{id}\"\nname = \"{id}\"\nwhen = 'count(\"ad_shown\", \"1h\") >= 1'\n")
}

/// Creates segments `s0`..`s7` through the first repository, then publishes each from
/// its own thread, spread over `repositories`; every publish must succeed.
fn publish_eight_segments_concurrently(repositories: &[Arc<Repository>]) {
    let actor = Actor { name: "t".into() };
    let etags: Vec<String> = (0..8)
        .map(|i| repositories[0].create(&actor, &text(&format!("s{i}")), None, "").unwrap().etag)
        .collect();
    let threads: Vec<_> = etags
        .into_iter()
        .enumerate()
        .map(|(i, etag)| {
            let (repository, actor) = (repositories[i % repositories.len()].clone(), actor.clone());
            std::thread::spawn(move || {
                let item = PublishItem {
                    segment: format!("s{i}"),
                    version: None,
                    etag: Some(etag),
                };
                repository.publish(&actor, &[item], "go").map(|_| ())
            })
        })
        .collect();
    for thread in threads {
        assert_eq!(thread.join().unwrap(), Ok(()));
    }
}

#[test]
fn concurrent_publishes_of_different_segments_all_land_and_reach_the_channel_in_order() {
    let channel = Arc::new(Versions::default());
    let repository = Arc::new(repository(channel.clone()));
    publish_eight_segments_concurrently(std::slice::from_ref(&repository));
    let delivered = channel.0.lock().unwrap().clone();
    assert!(delivered.windows(2).all(|w| w[0] < w[1]), "in version order: {delivered:?}");
    assert_eq!(delivered.last(), Some(&8));
    assert_eq!(
        repository.published_snapshot().unwrap().files[0]
            .text
            .matches("[[segment]]")
            .count(),
        8
    );
}

/// Two repositories over one store stand for two console processes: their writes are
/// not serialised by a shared lock, so the store's revision check and the retry settle
/// the races, and every publish still lands.
#[test]
fn publishes_from_two_processes_over_one_store_all_land() {
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    let processes = [
        Arc::new(repository_over(store.clone(), Arc::new(Versions::default()))),
        Arc::new(repository_over(store, Arc::new(Versions::default()))),
    ];
    publish_eight_segments_concurrently(&processes);
    let published = processes[1].published_snapshot().unwrap();
    assert_eq!(published.version, 8);
    assert_eq!(published.files[0].text.matches("[[segment]]").count(), 8);
}

#[test]
fn concurrent_saves_of_one_segment_from_one_etag_let_exactly_one_win() {
    let repository = Arc::new(repository(Arc::new(Versions::default())));
    let actor = Actor { name: "t".into() };
    let etag = repository.create(&actor, &text("a"), None, "").unwrap().etag;
    let threads: Vec<_> = (0..6)
        .map(|i| {
            let (repository, actor, etag) = (repository.clone(), actor.clone(), etag.clone());
            std::thread::spawn(move || {
                let edited = text("a").replace(">= 1", &format!(">= {}", i + 2));
                let edit = Edit {
                    actor: &actor,
                    segment: "a",
                    if_match: Some(&etag),
                    comment: "edit",
                };
                repository.save_draft(edit, &edited).map(|_| ())
            })
        })
        .collect();
    let outcomes: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 1, "{outcomes:?}");
    assert!(outcomes
        .iter()
        .filter_map(|o| o.as_ref().err())
        .all(|e| matches!(e, RepositoryError::Stale { .. })));
    assert_eq!(repository.versions("a").unwrap().len(), 2);
}
