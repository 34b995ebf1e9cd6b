//! The commands around the classifier against the real broker and Redis:
//! `rules publish` (validated; live edits reach a running classifier) and `cache-sync`.

mod support;

use std::time::{Duration, Instant};

use support::deployment::{self, Deployment, SERVICES};
use support::scenario::{Workload, CLASSIFIER, RULES};

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[test]
fn rules_publish_refuses_invalid_rules_and_publishes_a_valid_set() {
    let _guard = SERVICES.lock().unwrap_or_else(|e| e.into_inner());
    let d = Deployment::new("publish", 1, "");
    let bad = support::scratch_path("publish-bad", "bad.toml");
    std::fs::write(
        &bad,
        "[[segment]]\nid = \"x\"\nname = \"X\"\nwhen = 'count(\"ad_wacthed\", \"1m\") >= 1'\n",
    )
    .unwrap();
    let out = support::segstream(&["rules", "publish", bad.to_str().unwrap(), "--config", d.config_arg()]);
    assert!(!out.status.success(), "invalid rules must not be published");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("ad_wacthed"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(deployment::read_all(&d.rules).is_empty(), "nothing may reach the topic");

    let out = support::segstream(&["rules", "publish", "configs/rules", "--config", d.config_arg()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let records = deployment::read_all(&d.rules);
    assert_eq!(records.len(), 1);
    let snapshot: serde_json::Value = serde_json::from_slice(records[0].1.as_ref().unwrap()).unwrap();
    assert_eq!(snapshot["files"].as_array().unwrap().len(), 4, "one entry per rule file");
}

#[test]
fn a_published_edit_is_applied_live_and_retracts_memberships() {
    let _guard = SERVICES.lock().unwrap_or_else(|e| e.into_inner());
    let d = Deployment::new("live-edit", 2, CLASSIFIER);
    let start = now_ms() - 120_000;
    let start = start - start % 100;
    let workload = Workload::new(&d.name, start, 8, 4);
    workload.produce(&d, &deployment::producer());
    let mut child = d.classify(&[], "run");
    let women =
        |changes: &[support::deployment::Change], entered: bool| changes.iter().filter(|c| c.1 == "women" && c.3 == entered).count();
    let deadline = Instant::now() + Duration::from_secs(60);
    while women(&deployment::read_changes(&d.changes), true) < 4 {
        assert!(Instant::now() < deadline, "women never entered:\n{}", d.log("run"));
        std::thread::sleep(Duration::from_millis(300));
    }
    // Publish the same rules without "women": every member must exit, live.
    let dir = support::scratch_path(&format!("{}-rules", d.name), "test.toml");
    let without_women = RULES
        .replace("[[segment]]\nid = \"women\"", "[[segment]]\nid = \"women_in_fr\"")
        .replace(
            "when = 'profile.gender == \"female\"'",
            "when = 'profile.gender == \"female\" && profile.country == \"FR\"'",
        );
    std::fs::write(&dir, without_women).unwrap();
    let out = support::segstream(&["rules", "publish", dir.to_str().unwrap(), "--config", d.config_arg()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let changes = deployment::read_changes(&d.changes);
        if women(&changes, false) == women(&changes, true) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the removed segment's members did not exit:\n{}",
            d.log("run")
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let _ = child.kill();
    let _ = child.wait();
    let published = format!(
        "rules: applied a published set of {} segments",
        RULES.matches("[[segment]]").count()
    );
    assert!(d.log("run").contains(&published), "no \"{published}\" in:\n{}", d.log("run"));
}

#[test]
fn cache_sync_keeps_user_data_with_a_ttl_and_dead_letters_bad_records() {
    let _guard = SERVICES.lock().unwrap_or_else(|e| e.into_inner());
    let d = Deployment::new("cache-sync", 2, "");
    let producer = deployment::producer();
    let user = format!("{}-ann", d.name);
    let gone = format!("{}-bob", d.name);
    deployment::send(&producer, &d.profiles, &user, Some("{\"gender\":\"female\"}"), now_ms());
    deployment::send(&producer, &d.stats, &user, Some("{\"isRegularPlayer\":true}"), now_ms());
    deployment::send(&producer, &d.profiles, &gone, Some("{\"gender\":\"male\"}"), now_ms());
    deployment::send(&producer, &d.profiles, &gone, None, now_ms());
    deployment::send(&producer, &d.stats, &user, Some("not json"), now_ms());
    deployment::flush(&producer);
    let out = support::segstream(&["cache-sync", "--once", "--config", d.config_arg()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let client = redis::Client::open(deployment::REDIS_URL).unwrap();
    let mut con = client.get_connection_with_timeout(Duration::from_secs(5)).unwrap();
    let data: std::collections::HashMap<String, String> = redis::cmd("HGETALL").arg(format!("user:{user}:data")).query(&mut con).unwrap();
    assert_eq!(data.get("profile").map(String::as_str), Some("{\"gender\":\"female\"}"));
    assert_eq!(
        data.get("stats").map(String::as_str),
        Some("{\"isRegularPlayer\":true}"),
        "the bad record must not overwrite"
    );
    let ttl: i64 = redis::cmd("TTL").arg(format!("user:{user}:data")).query(&mut con).unwrap();
    assert!(ttl > 0 && ttl <= 30 * 86_400, "TTL {ttl}");
    let bob: std::collections::HashMap<String, String> = redis::cmd("HGETALL").arg(format!("user:{gone}:data")).query(&mut con).unwrap();
    assert!(!bob.contains_key("profile"), "the tombstone deletes the field: {bob:?}");
    let dead = deployment::read_all(&d.dead_letter);
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert!(String::from_utf8_lossy(dead[0].1.as_ref().unwrap()).contains("malformed JSON"));

    // A second run resumes from the committed offsets: nothing new, nothing re-done.
    let out = support::segstream(&["cache-sync", "--once", "--config", d.config_arg()]);
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("0 upserts written"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
