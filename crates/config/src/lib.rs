//! segstream-config: the distributed deployment's configuration, `configs/kafka.toml`,
//! typed and layered.
//!
//! Contract: [`DeploymentConfig::load`] reads a TOML file, layers environment overrides
//! over it (figment; see [`mod@env`]), and deserializes it into typed sections with every
//! unknown key rejected by name, whichever layer it came from. Durations are strings such as `"100ms"` or `"24h"`; they are
//! checked by [`DeploymentConfig::classifier_config`]. Every knob is documented in
//! `configs/kafka.toml` itself and in `docs/operations.md`.
#![deny(missing_docs)]

pub mod env;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use figment::providers::{Format, Toml};
use figment::Figment;
use segstream_model::ClassifierConfig;
use segstream_time::parse_duration;
use serde::Deserialize;

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error(transparent)]
    File(#[from] segstream_rules::files::FileError),
    /// A setting is invalid (the message names it).
    #[error("{0}")]
    Invalid(String),
}

/// The whole file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentConfig {
    /// Where the broker is and how to talk to it.
    pub kafka: KafkaSection,
    /// Topic names.
    #[serde(default)]
    pub topics: Topics,
    /// Event-time parameters of the classifier.
    #[serde(default)]
    pub classifier: ClassifierSection,
    /// The Redis profile store and user-data cache.
    #[serde(default)]
    pub redis: RedisSection,
    /// The schema of events, profiles and stats.
    #[serde(default)]
    pub schema: SchemaSection,
    /// Where and how often the classifier checkpoints its state.
    #[serde(default)]
    pub checkpoints: CheckpointsSection,
}

/// `[kafka]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSection {
    /// `bootstrap.servers`, comma-separated `host:port`.
    pub brokers: String,
    /// The consumer group offsets are committed under (one per classifier deployment).
    #[serde(default = "default_group")]
    pub group: String,
    /// Partitions of topics that `segstream topics create` makes.
    #[serde(default = "default_partitions")]
    pub partitions: i32,
    /// Passed verbatim to librdkafka (TLS: `security.protocol`, `ssl.ca.location`, …; SASL: `sasl.mechanism`, …).
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

/// `[topics]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Topics {
    /// Behaviour events (JSON), keyed by user.
    pub events: String,
    /// Profile upserts, compacted, keyed by user; a tombstone deletes.
    pub profiles: String,
    /// Historical-stats upserts, compacted, keyed by user; a tombstone deletes.
    pub stats: String,
    /// Rule-set snapshots published by `segstream rules publish`.
    pub rules: String,
    /// Membership changes (JSON), keyed by user.
    pub changes: String,
    /// Messages that could not be decoded, with the reason.
    pub dead_letter: String,
    /// The classifier's durable frontier, for restarts (compacted, one partition).
    pub progress: String,
    /// Events the collector rejected, with the reason and the original payload.
    pub failed_events: String,
}

impl Default for Topics {
    fn default() -> Topics {
        Topics {
            events: "events".into(),
            profiles: "user-profiles".into(),
            stats: "user-stats".into(),
            rules: "segment-rules".into(),
            changes: "segment-changes".into(),
            dead_letter: "dead-letter".into(),
            progress: "segstream-progress".into(),
            failed_events: "failed-events".into(),
        }
    }
}

/// `[classifier]`: the same knobs as the command-line flags of `segstream run`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClassifierSection {
    /// Event times are rounded down to multiples of this.
    pub tick: String,
    /// How far behind the highest event time a partition's watermark trails.
    pub max_out_of_order: String,
    /// Exact dedup window; also how far a restart rewinds (at least).
    pub dedup_horizon: String,
    /// Event times are clamped to at most received_at plus this.
    pub future_tolerance: String,
    /// A caught-up partition silent this long stops holding the watermark back.
    pub idle_timeout: String,
    /// Raw events kept per user for rules added later.
    pub history: String,
    /// Idle users without windowed state are evicted after this, keeping only their
    /// condition results and memberships ("0s": never).
    pub user_ttl: String,
}

impl Default for ClassifierSection {
    fn default() -> ClassifierSection {
        ClassifierSection {
            tick: "100ms".into(),
            max_out_of_order: "1s".into(),
            dedup_horizon: "24h".into(),
            future_tolerance: "1m".into(),
            idle_timeout: "5s".into(),
            history: "24h".into(),
            user_ttl: "24h".into(),
        }
    }
}

/// `[redis]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisSection {
    /// `redis://host:port/db`, or `rediss://` for TLS.
    pub url: String,
    /// Time to live of `user:<id>:data`, refreshed on every write.
    pub data_ttl: String,
    /// Changes written to the profile store per pipeline.
    pub batch: usize,
}

impl Default for RedisSection {
    fn default() -> RedisSection {
        RedisSection {
            url: "redis://127.0.0.1:6379/".into(),
            data_ttl: "30d".into(),
            batch: 1_000,
        }
    }
}

/// `[schema]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchemaSection {
    /// The schema file.
    pub path: PathBuf,
}

impl Default for SchemaSection {
    fn default() -> SchemaSection {
        SchemaSection {
            path: PathBuf::from("configs/schema.toml"),
        }
    }
}

/// `[checkpoints]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckpointsSection {
    /// A directory, `file://` or `s3://bucket/prefix`; each consumer group checkpoints
    /// under `<location>/<group>`.
    pub location: String,
    /// Event time between two checkpoints ("0s": none; a restart then replays from the
    /// durable frontier rewound by the dedup horizon). 10 s by default: a checkpoint is
    /// saved a slice of about 1 ms at a time, and most are incremental (what changed
    /// since the one before).
    pub interval: String,
    /// Every this many checkpoints, a full one (the others are incremental; 1: all
    /// full). A restore reads the last full one and the deltas since; retention keeps
    /// what the kept checkpoints read.
    pub full_every: u32,
    /// Complete checkpoints kept (at least one).
    pub keep: usize,
}

impl Default for CheckpointsSection {
    fn default() -> CheckpointsSection {
        CheckpointsSection {
            location: "checkpoints".into(),
            interval: "10s".into(),
            full_every: 10,
            keep: 3,
        }
    }
}

impl ClassifierSection {
    /// The validated configuration; errors name a setting as `name(key)` (a TOML key or a flag).
    pub fn resolve(&self, name: impl Fn(&str) -> String) -> Result<ClassifierConfig, ConfigError> {
        let ms = |key: &str, text: &str| millis(&name(key), text);
        let config = ClassifierConfig {
            tick_ms: ms("tick", &self.tick)?,
            max_out_of_order_ms: ms("max_out_of_order", &self.max_out_of_order)?,
            dedup_horizon_ms: ms("dedup_horizon", &self.dedup_horizon)?,
            future_tolerance_ms: ms("future_tolerance", &self.future_tolerance)?,
            idle_timeout_ms: ms("idle_timeout", &self.idle_timeout)?,
            history_ms: ms("history", &self.history)?,
            user_ttl_ms: ms("user_ttl", &self.user_ttl)?,
        };
        config.validate().map_err(ConfigError::Invalid)?;
        Ok(config)
    }
}

fn default_group() -> String {
    "segstream-classifier".into()
}

fn default_partitions() -> i32 {
    4
}

fn millis(key: &str, text: &str) -> Result<u64, ConfigError> {
    let ms = parse_duration(text).map_err(|e| ConfigError::Invalid(format!("{key}: {e}")))?;
    u64::try_from(ms).map_err(|_| ConfigError::Invalid(format!("{key} must not be negative")))
}

impl DeploymentConfig {
    /// Reads `path` and applies the process environment's overrides.
    pub fn load(path: &Path) -> Result<DeploymentConfig, ConfigError> {
        let text = segstream_rules::files::read_text(path)?.text;
        DeploymentConfig::from_toml(&text).map_err(|e| ConfigError::Invalid(format!("{}: {e}", path.display())))
    }

    /// Parses `text`, layered under the process environment's overrides (figment: the
    /// file, then `SEGSTREAM__…` variables, then librdkafka options; see [`mod@env`]).
    pub fn from_toml(text: &str) -> Result<DeploymentConfig, String> {
        let config: DeploymentConfig = Figment::from(Toml::string(text))
            .merge(env::settings())
            .merge(env::KafkaOptions)
            .extract()
            .map_err(|e| e.to_string())?;
        config.classifier_config().map_err(|e| e.to_string())?;
        config.data_ttl_seconds().map_err(|e| e.to_string())?;
        config.checkpoint_interval_ms().map_err(|e| e.to_string())?;
        if config.checkpoints.full_every < 1 {
            return Err("checkpoints.full_every must be at least 1".into());
        }
        if config.checkpoints.keep < 1 {
            return Err("checkpoints.keep must be at least 1".into());
        }
        if config.kafka.partitions < 1 {
            return Err("kafka.partitions must be at least 1".into());
        }
        Ok(config)
    }

    /// A deployment on `brokers` of its own: consumer group `name`, every topic named
    /// `<name>-<topic>`, `partitions` for each partitioned topic, everything else at its
    /// default or the environment's overrides, which cannot rename what is isolated.
    /// For tests and tools that need a fresh set of topics beside others.
    pub fn isolated(brokers: &str, name: &str, partitions: i32) -> Result<DeploymentConfig, String> {
        let mut config = DeploymentConfig::from_toml(&format!("[kafka]\nbrokers = {brokers:?}\n"))?;
        if partitions < 1 {
            return Err("kafka.partitions must be at least 1".into());
        }
        (config.kafka.brokers, config.kafka.group, config.kafka.partitions) = (brokers.into(), name.into(), partitions);
        let topics = &mut config.topics;
        for (topic, suffix) in [
            (&mut topics.events, "events"),
            (&mut topics.profiles, "profiles"),
            (&mut topics.stats, "stats"),
            (&mut topics.rules, "rules"),
            (&mut topics.changes, "changes"),
            (&mut topics.dead_letter, "dead-letter"),
            (&mut topics.progress, "progress"),
            (&mut topics.failed_events, "failed-events"),
        ] {
            *topic = format!("{name}-{suffix}");
        }
        Ok(config)
    }

    /// The classifier's time parameters, validated.
    pub fn classifier_config(&self) -> Result<ClassifierConfig, ConfigError> {
        self.classifier.resolve(|key| format!("classifier.{key}"))
    }

    /// Where this deployment's checkpoints are: `<checkpoints.location>/<group>`.
    pub fn checkpoint_location(&self) -> String {
        format!("{}/{}", self.checkpoints.location.trim_end_matches('/'), self.kafka.group)
    }

    /// The event time between checkpoints in ms (0: none).
    pub fn checkpoint_interval_ms(&self) -> Result<u64, ConfigError> {
        millis("checkpoints.interval", &self.checkpoints.interval)
    }

    /// The TTL of `user:<id>:data`, in seconds (at least one).
    pub fn data_ttl_seconds(&self) -> Result<u64, ConfigError> {
        Ok((millis("redis.data_ttl", &self.redis.data_ttl)? / 1_000).max(1))
    }

    /// librdkafka settings for any client: brokers plus the pass-through options.
    pub fn client_config(&self) -> rdkafka::ClientConfig {
        let mut config = rdkafka::ClientConfig::new();
        config.set("bootstrap.servers", &self.kafka.brokers);
        for (key, value) in &self.kafka.options {
            config.set(key, value);
        }
        config
    }
}

#[cfg(test)]
// figment's `Jail` takes closures returning its own (large) error type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use figment::Jail;

    const MINIMAL: &str = "[kafka]\nbrokers = \"127.0.0.1:9092\"\n";

    // In figment's jail: the environment is the test's alone, whatever runs beside it.

    #[test]
    fn defaults_fill_what_the_file_leaves_out() {
        Jail::expect_with(|_| {
            let config = DeploymentConfig::from_toml(MINIMAL).map_err(|e| e.to_string())?;
            assert_eq!(config.topics.changes, "segment-changes");
            assert_eq!(config.classifier_config().unwrap(), ClassifierConfig::default());
            assert_eq!(config.data_ttl_seconds().unwrap(), 30 * 86_400);
            assert_eq!(config.checkpoint_location(), "checkpoints/segstream-classifier");
            let checkpoints = &config.checkpoints;
            assert_eq!(
                (config.checkpoint_interval_ms().unwrap(), checkpoints.full_every, checkpoints.keep),
                (10_000, 10, 3)
            );
            Ok(())
        });
    }

    #[test]
    fn an_isolated_deployment_names_every_topic_after_itself() {
        Jail::expect_with(|jail| {
            let config = DeploymentConfig::isolated("127.0.0.1:9", "t1", 3).map_err(|e| e.to_string())?;
            assert_eq!((config.kafka.brokers.as_str(), config.kafka.group.as_str()), ("127.0.0.1:9", "t1"));
            assert_eq!(config.kafka.partitions, 3);
            jail.set_env("SEGSTREAM__TOPICS__EVENTS", "shared-events");
            let isolated = DeploymentConfig::isolated("127.0.0.1:9", "t1", 3).map_err(|e| e.to_string())?;
            assert_eq!(isolated.topics.events, "t1-events", "the environment cannot rename it");
            let t = &config.topics;
            assert_eq!(
                [
                    &t.events,
                    &t.profiles,
                    &t.stats,
                    &t.rules,
                    &t.changes,
                    &t.dead_letter,
                    &t.progress,
                    &t.failed_events
                ],
                [
                    "t1-events",
                    "t1-profiles",
                    "t1-stats",
                    "t1-rules",
                    "t1-changes",
                    "t1-dead-letter",
                    "t1-progress",
                    "t1-failed-events"
                ]
            );
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_and_bad_durations_are_rejected_by_name() {
        Jail::expect_with(|_| {
            let typo = DeploymentConfig::from_toml(&format!("{MINIMAL}[redis]\nurll = \"x\"\n")).unwrap_err();
            assert!(typo.contains("urll"), "{typo}");
            let bad = DeploymentConfig::from_toml(&format!("{MINIMAL}[classifier]\ntick = \"soon\"\n")).unwrap_err();
            assert!(bad.contains("classifier.tick"), "{bad}");
            Ok(())
        });
    }

    #[test]
    fn options_reach_librdkafka() {
        Jail::expect_with(|_| {
            let config = DeploymentConfig::from_toml(&format!("{MINIMAL}[kafka.options]\n\"security.protocol\" = \"ssl\"\n"))
                .map_err(|e| e.to_string())?;
            assert_eq!(config.client_config().get("security.protocol"), Some("ssl"));
            assert_eq!(config.client_config().get("bootstrap.servers"), Some("127.0.0.1:9092"));
            Ok(())
        });
    }
}
