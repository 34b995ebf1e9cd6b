//! The stats job against an independent computation in plain Rust, written from the
//! field definitions and not from the SQL: every field of every user, through late
//! events, duplicates, a sliding window and reruns.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

use super::merge::{REGULAR_DAYS_30D, REGULAR_SESSIONS_7D};
use super::*;
use crate::test_lake::{scratch, Lake};

const DAY_MS: i64 = 86_400_000;
/// 2026-10-01T00:00:00Z.
const FIRST_DAY: i64 = 1_790_812_800_000;
const DAYS: i64 = 45;
const TYPES: [&str; 10] = [
    "session_started",
    "app_opened",
    "card_played",
    "ad_shown",
    "ad_watched",
    "ad_skipped",
    "ad_clicked",
    "purchase",
    "level_up",
    "app_closed",
];

fn day_of(ms: i64) -> String {
    crate::curated::rows::event_date(ms)
}

/// A deterministic spread of events: user, type, time and properties vary with the id.
fn event(id: u64) -> Vec<u8> {
    let mix = id.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11;
    let user = mix % 23;
    let kind = TYPES[(mix / 23 % TYPES.len() as u64) as usize];
    // Users are active on some days only; a few events land in the future of the as-of day.
    let day = (mix / 300 % (DAYS as u64 + 2)) as i64;
    let time = FIRST_DAY + day * DAY_MS + ((mix / 7) % DAY_MS as u64) as i64;
    let properties = match kind {
        "purchase" if mix.is_multiple_of(5) => json!({"item": "gems", "amount": (mix % 2000) as i64}),
        // Prices as clients send them: dollars and cents.
        "purchase" => {
            let cents = mix % 10_000 + 99;
            let amount: Value = serde_json::from_str(&format!("{}.{:02}", cents / 100, cents % 100)).unwrap_or_default();
            json!({"item": "gems", "amount": amount})
        }
        "level_up" => json!({"level": mix % 60}),
        "ad_watched" | "ad_skipped" | "ad_clicked" => json!({"ad_id": format!("ad_{}", mix % 9), "network": "admob"}),
        _ => json!({}),
    };
    serde_json::to_vec(&json!({"id": format!("e{id}"), "user": format!("u{user}"), "type": kind, "time": time, "properties": properties}))
        .unwrap_or_default()
}

/// One event as the oracle reads it.
#[derive(Clone, Debug)]
struct Seen {
    id: String,
    kind: String,
    time: i64,
    properties: Value,
}

/// The events of each user: first copy of each (user, id) wins, as the curated table keeps.
fn deduped(sent: &[Vec<u8>]) -> BTreeMap<String, Vec<Seen>> {
    let mut first: BTreeMap<(String, String), Seen> = BTreeMap::new();
    for payload in sent {
        let Ok(v) = serde_json::from_slice::<Value>(payload) else {
            continue;
        };
        let (Some(user), Some(id), Some(time)) = (v["user"].as_str(), v["id"].as_str(), v["time"].as_i64()) else {
            continue;
        };
        first.entry((user.into(), id.into())).or_insert(Seen {
            id: id.into(),
            kind: v["type"].as_str().unwrap_or_default().into(),
            time,
            properties: v["properties"].clone(),
        });
    }
    let mut users: BTreeMap<String, Vec<Seen>> = BTreeMap::new();
    for ((user, _), seen) in first {
        users.entry(user).or_default().push(seen);
    }
    users
}

/// Every user's stats as of `as_of` (a day), from the definitions.
fn oracle(sent: &[Vec<u8>], as_of: &str) -> BTreeMap<String, Map<String, Value>> {
    let d7 = merge::shift_day(as_of, -6).unwrap_or_default();
    let d30 = merge::shift_day(as_of, -29).unwrap_or_default();
    let mut out = BTreeMap::new();
    for (user, mut events) in deduped(sent) {
        events.retain(|e| day_of(e.time).as_str() <= as_of);
        if events.is_empty() {
            continue;
        }
        events.sort_by(|a, b| (a.time, &a.id).cmp(&(b.time, &b.id)));
        let in7 = |e: &Seen| day_of(e.time) >= d7;
        let in30 = |e: &Seen| day_of(e.time) >= d30;
        let count = |kind: &str, window: &dyn Fn(&Seen) -> bool| events.iter().filter(|e| e.kind == kind && window(e)).count() as i64;
        let amount = |e: &Seen| e.properties["amount"].as_f64();
        let micros = |window: &dyn Fn(&Seen) -> bool| -> i64 {
            events
                .iter()
                .filter(|e| e.kind == "purchase" && window(e))
                .filter_map(amount)
                .map(|a| (a * 1_000_000.0).round() as i64)
                .sum()
        };
        // Sessions: per day, from each start to the last event before the next start.
        let mut session_ms_7d = 0;
        let mut by_day: BTreeMap<String, Vec<&Seen>> = BTreeMap::new();
        for e in &events {
            by_day.entry(day_of(e.time)).or_default().push(e);
        }
        for (day, day_events) in &by_day {
            if day < &d7 {
                continue;
            }
            let mut start: Option<i64> = None;
            let mut last = 0;
            for e in day_events {
                if e.kind == "session_started" {
                    if let Some(s) = start {
                        session_ms_7d += last - s;
                    }
                    start = Some(e.time);
                }
                last = e.time;
            }
            if let Some(s) = start {
                session_ms_7d += last - s;
            }
        }
        let days_30: Vec<&String> = by_day.keys().filter(|d| d.as_str() >= d30.as_str()).collect();
        let sessions_7d = count("session_started", &in7);
        let mut hours: BTreeMap<i64, BTreeSet<String>> = BTreeMap::new();
        for e in events.iter().filter(|e| in30(e)) {
            hours.entry(e.time / 3_600_000 % 24).or_default().insert(day_of(e.time));
        }
        let usual: Vec<i64> = hours
            .iter()
            .filter(|(_, d)| d.len() * 4 >= days_30.len())
            .map(|(h, _)| *h)
            .collect();
        let ads = |kind: &str| -> Vec<String> {
            let set: BTreeSet<String> = events
                .iter()
                .filter(|e| e.kind == kind && in30(e))
                .filter_map(|e| e.properties["ad_id"].as_str().map(str::to_string))
                .collect();
            set.into_iter().collect()
        };
        let mut purchases: Vec<&Seen> = events.iter().filter(|e| e.kind == "purchase" && amount(e).is_some()).collect();
        purchases.sort_by(|a, b| (b.time, &b.id).cmp(&(a.time, &a.id)));
        let last_amounts: Vec<f64> = purchases.iter().take(10).filter_map(|e| amount(e)).collect();
        let mut stats = Map::new();
        let mut put = |name: &str, value: Value| {
            stats.insert(name.to_string(), value);
        };
        put("sessionsLast7d", sessions_7d.into());
        put("sessionsLast30d", count("session_started", &in30).into());
        put("daysActiveLast30d", (days_30.len() as i64).into());
        if sessions_7d > 0 {
            put(
                "avgSessionLength7d",
                segstream_time::format_duration(session_ms_7d / sessions_7d).into(),
            );
        }
        put("cardsPlayedLast7d", count("card_played", &in7).into());
        put("adsWatchedLast30d", count("ad_watched", &in30).into());
        put("adsSkippedLast30d", count("ad_skipped", &in30).into());
        put("adClicksLast30d", count("ad_clicked", &in30).into());
        put("purchasesLast30d", count("purchase", &in30).into());
        put("revenueLast30d", json!(micros(&in30) as f64 / 1_000_000.0));
        put("lifetimePurchases", count("purchase", &|_| true).into());
        put("lifetimeRevenue", json!(micros(&|_| true) as f64 / 1_000_000.0));
        put("lastPurchaseAmounts", json!(last_amounts));
        if let Some(level) = events
            .iter()
            .filter(|e| e.kind == "level_up")
            .filter_map(|e| e.properties["level"].as_i64())
            .max()
        {
            put("playerLevel", level.into());
        }
        if let Some(t) = events
            .iter()
            .filter(|e| e.kind != "app_closed" && e.kind != "ad_shown")
            .map(|e| e.time)
            .max()
        {
            put("lastEngagement", segstream_time::format_timestamp(t).into());
        }
        put("activeHoursUtc", json!(usual));
        put("watchedAds", json!(ads("ad_watched")));
        put("skippedAds", json!(ads("ad_skipped")));
        put(
            "isRegularPlayer",
            (days_30.len() as i64 >= REGULAR_DAYS_30D && sessions_7d >= REGULAR_SESSIONS_7D).into(),
        );
        out.insert(user, stats);
    }
    out
}

/// A lake, its tile table, and every row the job published, last value per user.
struct StatsLake {
    lake: Lake,
    tiles_at: TableLocation,
    published: BTreeMap<String, Map<String, Value>>,
}

impl StatsLake {
    fn new(name: &str) -> StatsLake {
        StatsLake {
            lake: Lake::new(&format!("stats-{name}")),
            tiles_at: scratch(&format!("stats-{name}-tiles")),
            published: BTreeMap::new(),
        }
    }

    /// Runs the job as of `as_of`; the users it published, in order.
    fn run(&mut self, as_of: &str) -> (StatsReport, Vec<String>) {
        self.run_against(as_of, Baseline::LastPublished)
    }

    /// Runs the job as of `as_of` against `baseline`; the users it published, in order.
    fn run_against(&mut self, as_of: &str, baseline: Baseline) -> (StatsReport, Vec<String>) {
        let mut users = Vec::new();
        let mut publish = |rows: Vec<StatsRow>| -> Result<(), String> {
            for (user, stats) in rows {
                users.push(user.clone());
                self.published.insert(user, stats);
            }
            Ok(())
        };
        let report = self
            .lake
            .runtime
            .block_on(run(
                &self.lake.curated,
                &self.tiles_at,
                as_of,
                baseline,
                &SessionLimits::default(),
                &mut publish,
            ))
            .unwrap_or_else(|e| panic!("{e}"));
        users.sort();
        (report, users)
    }

    /// Every tile, one line each.
    fn tiles(&self) -> BTreeSet<String> {
        self.lake.runtime.block_on(async {
            let table = table_shape::open_existing(&self.tiles_at, &tile_shape())
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let context = session::context(&SessionLimits::default()).unwrap_or_else(|e| panic!("{e}"));
            register_table(&context, "tiles", &table, "tiles", None)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let frame = context.sql("SELECT * FROM tiles").await.unwrap_or_else(|e| panic!("{e}"));
            let batches = frame.collect().await.unwrap_or_else(|e| panic!("{e}"));
            let text = deltalake::arrow::util::pretty::pretty_format_batches(&batches).unwrap_or_else(|e| panic!("{e}"));
            text.to_string()
                .lines()
                .filter(|l| l.starts_with("| "))
                .skip(1)
                .map(str::to_string)
                .collect()
        })
    }
}

fn assert_equal_to_oracle(published: &BTreeMap<String, Map<String, Value>>, expected: &BTreeMap<String, Map<String, Value>>) {
    assert_eq!(published.keys().collect::<Vec<_>>(), expected.keys().collect::<Vec<_>>(), "users");
    for (user, stats) in expected {
        assert_eq!(&published[user], stats, "the stats of {user}");
    }
}

#[test]
fn the_stats_equal_an_independent_computation_through_late_events_and_a_sliding_window() {
    let mut lake = StatsLake::new("oracle");
    let as_of = day_of(FIRST_DAY + (DAYS - 1) * DAY_MS);
    let mut first: Vec<Vec<u8>> = (0..3_000).map(event).collect();
    first.extend(first[..200].to_vec()); // retried sends
    lake.lake.send(&first, FIRST_DAY + DAYS * DAY_MS);
    lake.lake
        .send(&(3_000..4_000).map(event).collect::<Vec<_>>(), FIRST_DAY + DAYS * DAY_MS + 1);
    lake.lake.compact();
    let (report, users) = lake.run(&as_of);
    assert_eq!(report.published as usize, users.len());
    let expected = oracle(&lake.lake.sent, &as_of);
    assert!(
        expected.len() > 20 && expected.values().any(|s| s["isRegularPlayer"] == true),
        "a varied population"
    );
    assert!(expected.values().any(|s| s["isRegularPlayer"] == false), "a varied population");
    assert_equal_to_oracle(&lake.published, &expected);

    // Nothing new: nothing published.
    let (_, users) = lake.run(&as_of);
    assert!(users.is_empty(), "{users:?}");

    // A late purchase 12 days back changes exactly its user's stats and its (user, day) tile.
    let tiles_before = lake.tiles();
    let late_time = FIRST_DAY + (DAYS - 13) * DAY_MS + 5_000;
    let late =
        serde_json::to_vec(&json!({"id": "late-1", "user": "u7", "type": "purchase", "time": late_time, "properties": {"amount": 42.5}}))
            .unwrap_or_default();
    lake.lake.send(&[late], FIRST_DAY + DAYS * DAY_MS + 2);
    lake.lake.compact();
    let (report, users) = lake.run(&as_of);
    assert_eq!(users, ["u7"]);
    assert_eq!(report.tiles_rebuilt, 1, "{report:?}");
    let tiles_after = lake.tiles();
    let gone: Vec<_> = tiles_before.difference(&tiles_after).collect();
    let came: Vec<_> = tiles_after.difference(&tiles_before).collect();
    assert_eq!((gone.len(), came.len()), (1, 1), "{gone:?} {came:?}");
    assert!(came[0].contains(&day_of(late_time)) && came[0].contains("| u7 "), "{came:?}");
    assert_equal_to_oracle(&lake.published, &oracle(&lake.lake.sent, &as_of));

    // The window slides a day: exactly the users whose stats change are published.
    let next = merge::shift_day(&as_of, 1).unwrap_or_default();
    let before = oracle(&lake.lake.sent, &as_of);
    let after = oracle(&lake.lake.sent, &next);
    let changed: Vec<String> = after
        .iter()
        .filter(|(u, s)| before.get(*u) != Some(s))
        .map(|(u, _)| u.clone())
        .collect();
    let (_, users) = lake.run(&next);
    assert!(!changed.is_empty());
    assert_eq!(users, changed);
    assert_equal_to_oracle(&lake.published, &after);

    // A consumer that holds nothing gets every user, and a rerun against the marker then
    // publishes nobody.
    lake.published.clear();
    let (_, users) = lake.run_against(&next, Baseline::Nothing);
    assert_eq!(users, after.keys().cloned().collect::<Vec<_>>());
    assert_equal_to_oracle(&lake.published, &after);
    let (_, users) = lake.run(&next);
    assert!(users.is_empty(), "{users:?}");
}

#[test]
fn a_memory_limit_too_small_fails_clearly_and_loses_nothing() {
    let mut lake = StatsLake::new("memory");
    let as_of = day_of(FIRST_DAY + (DAYS - 1) * DAY_MS);
    lake.lake
        .send(&(0..2_000).map(event).collect::<Vec<_>>(), FIRST_DAY + DAYS * DAY_MS);
    lake.lake.compact();
    let limits = SessionLimits {
        memory_limit: 64 << 10,
        spill_dir: Some(std::env::temp_dir()),
    };
    let mut published = 0;
    let outcome = lake.lake.runtime.block_on(run(
        &lake.lake.curated,
        &lake.tiles_at,
        &as_of,
        Baseline::LastPublished,
        &limits,
        &mut |rows| {
            published += rows.len();
            Ok(())
        },
    ));
    let error = outcome.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(error.contains("Resources exhausted") && error.contains("memory pool"), "{error}");
    assert_eq!(published, 0);
    // Nothing was marked: a run with room publishes every user, exactly.
    let (_, users) = lake.run(&as_of);
    let expected = oracle(&lake.lake.sent, &as_of);
    assert_eq!(users.len(), expected.len());
    assert_equal_to_oracle(&lake.published, &expected);
}
