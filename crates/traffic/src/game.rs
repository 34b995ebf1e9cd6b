//! The traffic model of the mobile-ad game, as segstream JSON events.
//!
//! Contract: a [`Traffic`] for partition `p` of `n` generates events of the users whose
//! index is `p` modulo `n`, deterministically from the seed. The mix follows the game
//! (cards, ads shown/watched/skipped/clicked, app opens, rewards, level-ups, rare
//! purchases and push opens). Only the day's active users (`daily_active` of them, a
//! fixed set per seed) send events, in sessions of `session_events` events (5–40 by
//! default; heavy users, 2 %: ten times longer) — or, with `sequential_users`, every
//! user of the partition in turn, one session each (a population that churns: users
//! arrive, are active for a session, and never come back); `concurrent_sessions`
//! sessions are open at once, each event going to a
//! random open one, so a user's events are `concurrent_sessions / rate` seconds apart on
//! average, and a finished session is replaced by a new one. A
//! configurable share of events is duplicated (client retries: the same id and
//! payload again), delivered late (offline devices: hours-old events arriving now),
//! sent from a device with a skewed clock (corrected by `sent_at`/`received_at`), or
//! malformed. Profiles and stats of every user are derived from the seed as well.

use std::collections::VecDeque;

use serde_json::{json, Value};

use crate::rng::{mix, Rng};
use segstream_time::{format_timestamp, MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE};

/// Shape of the generated traffic.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrafficConfig {
    /// Number of users.
    pub users: u64,
    /// Seed of every random choice.
    pub seed: u64,
    /// Share of events sent twice.
    pub duplicate_rate: f64,
    /// Share of events delivered late (5 minutes to 3 hours old).
    pub late_rate: f64,
    /// Share of malformed records.
    pub malformed_rate: f64,
    /// Share of devices whose clock is wrong (by up to a day).
    pub skewed_device_rate: f64,
    /// Share of users active today (the only ones sending).
    pub daily_active: f64,
    /// Sessions open at once in one generator.
    pub concurrent_sessions: usize,
    /// Fewest and most events of a normal user's session.
    pub session_events: (u32, u32),
    /// New sessions go to the partition's users in order, each once (churn), instead
    /// of to random active users.
    pub sequential_users: bool,
}

impl Default for TrafficConfig {
    fn default() -> TrafficConfig {
        TrafficConfig {
            users: 100_000,
            seed: 1,
            duplicate_rate: 0.02,
            late_rate: 0.05,
            malformed_rate: 0.001,
            skewed_device_rate: 0.03,
            daily_active: 0.3,
            concurrent_sessions: 2_000,
            session_events: (5, 40),
            sequential_users: false,
        }
    }
}

/// The event types of the game with their weights in the mix.
const MIX: [(&str, u32); 12] = [
    ("card_played", 300),
    ("ad_shown", 200),
    ("ad_watched", 150),
    ("ad_skipped", 50),
    ("ad_clicked", 20),
    ("app_opened", 80),
    ("session_started", 50),
    ("app_closed", 50),
    ("reward_claimed", 50),
    ("level_up", 20),
    ("purchase", 5),
    ("push_opened", 10),
];

const NETWORKS: [&str; 4] = ["admob", "unity", "applovin", "ironsource"];
const PLACEMENTS: [&str; 3] = ["rewarded", "interstitial", "banner"];
const CAMPAIGNS: [&str; 4] = ["holiday_2026_toys", "holiday_2026_games", "fintech_q4", "streaming_trial"];
const ITEMS: [(&str, f64); 5] = [
    ("gems_100", 0.99),
    ("gems_550", 4.99),
    ("starter_pack", 9.99),
    ("no_ads_7d", 2.99),
    ("mega_bundle", 49.99),
];

/// The operating system of a user's device.
fn device_os(user: u64) -> &'static str {
    if mix(user).is_multiple_of(2) {
        "iOS"
    } else {
        "Android"
    }
}

/// The app version a user runs: one in ten is still on the 4.x line.
fn app_version(user: u64) -> &'static str {
    if mix(user + 7).is_multiple_of(10) {
        "4.9.3"
    } else {
        "5.2.0"
    }
}

/// A generator of one partition's traffic.
#[derive(Clone, Debug)]
pub struct Traffic {
    config: TrafficConfig,
    rng: Rng,
    partition: u64,
    partitions: u64,
    sent: u64,
    /// Sessions started (the next user, with `sequential_users`).
    sessions_started: u64,
    recent: VecDeque<String>,
    /// Open sessions: (user, events left).
    sessions: Vec<(u64, u32)>,
}

impl Traffic {
    /// The generator of partition `partition` of `partitions`.
    pub fn new(config: TrafficConfig, partition: u64, partitions: u64) -> Traffic {
        let partitions = partitions.max(1);
        Traffic {
            config,
            rng: Rng::new(config.seed ^ mix(partition)),
            partition,
            partitions,
            sent: 0,
            sessions_started: 0,
            recent: VecDeque::new(),
            sessions: Vec::new(),
        }
    }

    /// Users of this partition.
    pub fn users(&self) -> impl Iterator<Item = u64> + '_ {
        (self.partition..self.config.users).step_by(self.partitions as usize)
    }

    /// Whether `user` is one of the day's active users.
    pub fn active(&self, user: u64) -> bool {
        (mix(user ^ self.config.seed ^ 0xda11) % 10_000) < (self.config.daily_active * 10_000.0) as u64
    }

    /// Whether `user` is one of the heavy users (2 %).
    pub fn heavy(&self, user: u64) -> bool {
        mix(user ^ 0x4ea7).is_multiple_of(50)
    }

    /// A random active user of this partition (any user if none is found quickly), or
    /// with `sequential_users` the partition's next user (wrapping around).
    fn new_session_user(&mut self) -> u64 {
        let own = self.config.users.saturating_sub(self.partition).div_ceil(self.partitions).max(1);
        if self.config.sequential_users {
            return self.partition + (self.sessions_started % own) * self.partitions;
        }
        let mut user = self.partition;
        for _ in 0..64 {
            user = (self.partition + self.rng.below(own) * self.partitions).min(self.config.users.saturating_sub(1));
            if self.active(user) {
                break;
            }
        }
        user
    }

    fn pick_user(&mut self) -> u64 {
        if self.sessions.len() < self.config.concurrent_sessions.max(1) {
            let user = self.new_session_user();
            self.sessions_started += 1;
            let (fewest, most) = self.config.session_events;
            let length = fewest.max(1) + self.rng.below(u64::from(most.saturating_sub(fewest)) + 1) as u32;
            self.sessions.push((user, if self.heavy(user) { length * 10 } else { length }));
        }
        let at = self.rng.below(self.sessions.len() as u64) as usize;
        let (user, left) = &mut self.sessions[at];
        let user = *user;
        *left = left.saturating_sub(1);
        if *left == 0 {
            self.sessions.swap_remove(at);
        }
        user
    }

    fn properties(&mut self, kind: &str, user: u64) -> Value {
        let ad = format!("ad_{}", self.rng.below(40));
        let network = *self.rng.pick(&NETWORKS);
        match kind {
            "card_played" => {
                let outcome = *self.rng.pick(&["win", "lose", "lose", "draw"]);
                json!({"card_id": format!("c_{:04}", self.rng.below(500)), "outcome": outcome, "reward": if outcome == "win" { 10.0 * (1 + self.rng.below(10)) as f64 } else { 0.0 }})
            }
            "ad_shown" => json!({"ad_id": ad, "network": network, "placement": *self.rng.pick(&PLACEMENTS)}),
            "ad_watched" => {
                json!({"ad_id": ad, "network": network, "placement": *self.rng.pick(&PLACEMENTS), "duration_s": (5 + self.rng.below(26)) as f64})
            }
            "ad_skipped" => json!({"ad_id": ad, "network": network, "after_s": self.rng.below(15) as f64}),
            "ad_clicked" => json!({"ad_id": ad, "network": network, "campaign": *self.rng.pick(&CAMPAIGNS)}),
            "app_opened" => {
                json!({"os": if mix(user).is_multiple_of(2) { "iOS" } else { "Android" }, "app_version": if mix(user + 7).is_multiple_of(10) { "4.9.3" } else { "5.2.0" }})
            }
            "purchase" => {
                let (item, amount) = *self.rng.pick(&ITEMS);
                json!({"item": item, "amount": amount, "currency": "USD"})
            }
            "reward_claimed" => {
                json!({"reward_type": *self.rng.pick(&["coins", "gems", "daily_bonus", "instant_win"]), "value": 10 * (1 + self.rng.below(50))})
            }
            "level_up" => json!({"level": 1 + mix(user) % 60}),
            "push_opened" => json!({"campaign": *self.rng.pick(&["winback_d7", "daily_bonus_reminder"])}),
            _ => json!({}),
        }
    }

    fn kind(&mut self) -> &'static str {
        let total: u32 = MIX.iter().map(|(_, w)| w).sum();
        let mut roll = self.rng.below(u64::from(total)) as u32;
        for (kind, weight) in MIX {
            if roll < weight {
                return kind;
            }
            roll -= weight;
        }
        "card_played"
    }

    /// The next record (one NDJSON line) at processing time `now_ms`.
    pub fn next_line(&mut self, now_ms: u64) -> String {
        if !self.recent.is_empty() && self.rng.chance(self.config.duplicate_rate) {
            let at = self.rng.below(self.recent.len() as u64) as usize;
            return self.recent[at].clone();
        }
        if self.rng.chance(self.config.malformed_rate) {
            return self.malformed();
        }
        self.sent += 1;
        let user = self.pick_user();
        let kind = self.kind();
        let late = self.rng.chance(self.config.late_rate);
        let true_time = if late {
            now_ms.saturating_sub(5 * MS_PER_MINUTE as u64 + self.rng.below(3 * MS_PER_HOUR as u64))
        } else {
            now_ms
        };
        let skew: i64 = if mix(user ^ 0x5eed) % 1000 < (self.config.skewed_device_rate * 1000.0) as u64 {
            (mix(user) % (2 * MS_PER_DAY as u64)) as i64 - MS_PER_DAY
        } else {
            0
        };
        let client = |t: u64| format_timestamp(t as i64 + skew);
        let sent = if late {
            now_ms.saturating_sub(self.rng.below(2_000))
        } else {
            true_time + self.rng.below(200)
        };
        let line = json!({
            "id": format!("p{}-{}", self.partition, self.sent),
            "user": format!("u{user}"),
            "type": kind,
            "time": client(true_time),
            "sent_at": client(sent),
            "received_at": format_timestamp(now_ms as i64 + (sent as i64 - true_time as i64).max(0) / 10),
            "properties": self.properties(kind, user),
        })
        .to_string();
        if self.recent.len() >= 256 {
            self.recent.pop_front();
        }
        self.recent.push_back(line.clone());
        line
    }

    fn malformed(&mut self) -> String {
        match self.rng.below(4) {
            0 => r#"{"user": "u1", "type": "ad_shown", "time": 0}"#.to_string(),
            1 => r#"{"id": "x", "user": "u1", "type": "ad_teleported", "time": 1}"#.to_string(),
            2 => r#"{"id": "y", "user": "u1", "type": "purchase", "time": 1, "properties": {"amount": "free"}}"#.to_string(),
            _ => "{\"id\": \"z\", \"user\": ".to_string(),
        }
    }

    /// The profile (CDC) record of a user.
    pub fn profile(&self, user: u64) -> Value {
        let h = mix(user ^ self.config.seed);
        let year = 1960 + h % 50;
        let mut profile = json!({
            "deviceId": format!("d{user}"),
            "deviceOS": device_os(user),
            "birthDate": format!("{year}-{:02}-{:02}", 1 + (h >> 8) % 12, 1 + (h >> 16) % 28),
            "country": *["US", "DE", "BR", "MX", "GB", "FR", "IN", "JP"].get(((h >> 24) % 8) as usize).unwrap_or(&"US"),
            "language": *["en", "de", "pt-BR", "es-MX", "en", "fr", "hi", "ja"].get(((h >> 24) % 8) as usize).unwrap_or(&"en"),
            "appVersion": app_version(user),
            "signupDate": format!("2026-{:02}-{:02}", 1 + (h >> 32) % 11, 1 + (h >> 40) % 28),
            "pushOptIn": !h.is_multiple_of(3),
        });
        if !h.is_multiple_of(10) {
            profile["gender"] = json!(if (h >> 4).is_multiple_of(2) { "female" } else { "male" });
        }
        profile
    }

    /// The stats (batch layer) record of a user.
    pub fn stats(&self, user: u64) -> Value {
        let h = mix(user ^ self.config.seed ^ 0x57a7);
        json!({
            "isRegularPlayer": h.is_multiple_of(3),
            "sessionsLast7d": h % 40,
            "daysActiveLast30d": (h >> 8) % 31,
            "purchasesLast30d": if h.is_multiple_of(20) { (h >> 12) % 5 } else { 0 },
            "revenueLast30d": if h.is_multiple_of(20) { ((h >> 12) % 100) as f64 } else { 0.0 },
            "lifetimeRevenue": ((h >> 20) % 500) as f64,
            "churnScore": ((h >> 28) % 100) as f64 / 100.0,
            "watchedAds": ["ad_1", "ad_2"],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    /// 100,000 records of one generator at 1,000 records per second of processing time.
    fn sample(config: TrafficConfig) -> Vec<String> {
        let mut t = Traffic::new(config, 0, 1);
        (0..100_000u64).map(|i| t.next_line(1_800_000_000_000 + i)).collect()
    }

    #[test]
    fn the_mix_lateness_duplication_and_malformed_share_are_as_configured() {
        let config = TrafficConfig {
            users: 50_000,
            ..TrafficConfig::default()
        };
        let lines = sample(config);
        let mut kinds: BTreeMap<String, u64> = BTreeMap::new();
        let (mut late, mut malformed, mut valid) = (0u64, 0u64, 0u64);
        let mut ids = BTreeSet::new();
        let mut repeats = 0u64;
        for line in &lines {
            let Ok(v) = serde_json::from_str::<Value>(line) else {
                malformed += 1;
                continue;
            };
            let Some(id) = v["id"].as_str().filter(|id| id.starts_with('p')) else {
                malformed += 1;
                continue;
            };
            if !ids.insert(id.to_string()) {
                repeats += 1;
                continue;
            }
            valid += 1;
            *kinds.entry(v["type"].as_str().unwrap_or("?").to_string()).or_default() += 1;
            let sent = segstream_time::parse_timestamp(v["sent_at"].as_str().unwrap_or("")).unwrap_or(0);
            let time = segstream_time::parse_timestamp(v["time"].as_str().unwrap_or("")).unwrap_or(0);
            if sent - time > 5 * MS_PER_MINUTE {
                late += 1;
            }
        }
        let share = |n: u64, of: u64| n as f64 / of as f64;
        let total_weight: u32 = MIX.iter().map(|(_, w)| w).sum();
        for (kind, weight) in MIX {
            let expected = f64::from(weight) / f64::from(total_weight);
            let actual = share(kinds.get(kind).copied().unwrap_or(0), valid);
            assert!((actual - expected).abs() < 0.01 + expected * 0.1, "{kind}: {actual} vs {expected}");
        }
        assert!((share(repeats, 100_000) - 0.02).abs() < 0.005, "duplicates {repeats}");
        assert!((share(malformed, 100_000) - 0.001).abs() < 0.001, "malformed {malformed}");
        assert!((share(late, valid) - 0.05).abs() < 0.01, "late {late} of {valid}");
    }

    #[test]
    fn only_the_days_active_users_send_in_sessions_with_gaps() {
        let config = TrafficConfig {
            users: 20_000,
            daily_active: 0.25,
            concurrent_sessions: 1_000,
            duplicate_rate: 0.0,
            ..TrafficConfig::default()
        };
        let traffic = Traffic::new(config, 0, 1);
        let active = (0..20_000).filter(|u| traffic.active(*u)).count();
        assert!((active as f64 / 20_000.0 - 0.25).abs() < 0.02, "{active}");
        let mut last_seen: BTreeMap<String, u64> = BTreeMap::new();
        let mut gaps = Vec::new();
        for (i, line) in sample(config).iter().enumerate() {
            let Ok(v) = serde_json::from_str::<Value>(line) else { continue };
            let Some(user) = v["user"].as_str() else { continue };
            let index: u64 = user[1..].parse().unwrap_or(0);
            assert!(traffic.active(index), "{user} is not active today");
            if let Some(previous) = last_seen.insert(user.to_string(), i as u64) {
                gaps.push(i as u64 - previous);
            }
        }
        gaps.sort_unstable();
        let median = gaps[gaps.len() / 2] as f64;
        // 1,000 open sessions at 1,000 events/s: about a second between a user's events.
        assert!((300.0..3_000.0).contains(&median), "median gap {median} ms");
    }

    #[test]
    fn sequential_users_each_get_one_short_session_in_order() {
        let config = TrafficConfig {
            users: 1_000_000,
            concurrent_sessions: 100,
            session_events: (2, 4),
            sequential_users: true,
            duplicate_rate: 0.0,
            malformed_rate: 0.0,
            ..TrafficConfig::default()
        };
        let mut traffic = Traffic::new(config, 1, 2);
        let mut events: BTreeMap<u64, u64> = BTreeMap::new();
        for n in 0..20_000 {
            let line = traffic.next_line(n);
            let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
            let user: u64 = v["user"]
                .as_str()
                .and_then(|u| u[1..].parse().ok())
                .unwrap_or_else(|| panic!("{line}"));
            *events.entry(user).or_default() += 1;
        }
        assert!(events.keys().all(|u| u % 2 == 1), "only partition 1's users");
        let (first, last) = (events.keys().next().copied(), events.keys().last().copied());
        assert_eq!(first, Some(1), "users start at the partition's first");
        let users = events.len() as u64;
        let opened = last.map_or(0, |l| (l - 1) / 2 + 1);
        // Only sessions still open at the end may not have had an event yet.
        assert!(opened - users <= 100, "{opened} users in order, {users} with events");
        let mean = 20_000.0 / opened as f64;
        // 2–4 events a session, a heavy user (2 %) ten times more: about 3.6.
        assert!((3.0..4.5).contains(&mean), "mean {mean} events per user");
    }

    #[test]
    fn the_same_seed_gives_the_same_traffic() {
        let config = TrafficConfig {
            users: 1_000,
            ..TrafficConfig::default()
        };
        let a: Vec<String> = {
            let mut t = Traffic::new(config, 0, 2);
            (0..500).map(|i| t.next_line(1_000_000 + i)).collect()
        };
        let b: Vec<String> = {
            let mut t = Traffic::new(config, 0, 2);
            (0..500).map(|i| t.next_line(1_000_000 + i)).collect()
        };
        assert_eq!(a, b);
        let c: Vec<String> = {
            let mut t = Traffic::new(TrafficConfig { seed: 2, ..config }, 0, 2);
            (0..500).map(|i| t.next_line(1_000_000 + i)).collect()
        };
        assert_ne!(a, c);
    }

    #[test]
    fn partitions_own_disjoint_users() {
        let config = TrafficConfig {
            users: 1_000,
            ..TrafficConfig::default()
        };
        let mut t = Traffic::new(config, 1, 4);
        let mut users = std::collections::BTreeSet::new();
        for _ in 0..2_000 {
            let line = t.next_line(5_000_000);
            let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
            let user = v["user"].as_str().unwrap_or_else(|| panic!("no user: {line}"));
            let number: u64 = user[1..].parse().unwrap_or_else(|e| panic!("{e}: {line}"));
            assert_eq!(number % 4, 1, "{line}");
            users.insert(number);
        }
        // Every line was checked; the partition's users are many, not one.
        assert!(users.len() > 50, "only {} users in partition 1", users.len());
    }
}
