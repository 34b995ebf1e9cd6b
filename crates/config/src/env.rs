//! Environment overrides of the deployment configuration: figment's `Env` provider,
//! plus one provider of our own for librdkafka options.
//!
//! Contract: a variable `SEGSTREAM__<SECTION>__<KEY>` sets `key` of `[section]` (names
//! lowercased), e.g. `SEGSTREAM__KAFKA__BROKERS=10.0.0.5:9092` or
//! `SEGSTREAM__REDIS__URL=rediss://cache:6380/`. Values are read as figment reads them:
//! `8` is an integer, `true` a boolean, anything else text (quote a text that looks like
//! a number: `SEGSTREAM__KAFKA__GROUP='"42"'`). A variable naming a section or key that
//! does not exist fails the load by name, as an unknown key of the file does, so a typo
//! never goes unnoticed. Other variables, including `SEGSTREAM_…` with single
//! underscores, are ignored.
//!
//! `SEGSTREAM__KAFKA__OPTIONS__<NAME>` sets the librdkafka option `name`, with `_` read
//! as `.` (`…__OPTIONS__SASL_MECHANISM` → `sasl.mechanism`), always as text. figment's
//! key paths split on `.`, so it cannot carry an option name with dots; [`KafkaOptions`]
//! builds that one table itself, and [`settings`] leaves those variables to it.

use figment::providers::Env;
use figment::value::{Dict, Map, Value};
use figment::{Error, Metadata, Profile, Provider};

/// The prefix of override variables.
pub const PREFIX: &str = "SEGSTREAM__";

/// The prefix, after [`PREFIX`], of librdkafka option variables (lowercase).
const OPTIONS: &str = "kafka__options__";

/// Every override but the librdkafka options, as figment's `Env` reads them.
pub fn settings() -> Env {
    Env::prefixed(PREFIX)
        .filter(|key| !key.as_str().to_ascii_lowercase().starts_with(OPTIONS))
        .split("__")
}

/// The `SEGSTREAM__KAFKA__OPTIONS__<NAME>` variables as `kafka.options`.
#[derive(Debug, Clone, Copy)]
pub struct KafkaOptions;

impl Provider for KafkaOptions {
    fn metadata(&self) -> Metadata {
        Metadata::named(format!("`{PREFIX}{}*` environment variable(s)", OPTIONS.to_ascii_uppercase()))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, Error> {
        let mut options = Dict::new();
        // Names compared without case, as figment's `Env` does; a variable that is not
        // UTF-8 is not one of ours (`vars()` would panic on it).
        let utf8 = std::env::vars_os().filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)));
        for (name, value) in utf8 {
            let name = name.to_ascii_lowercase();
            let Some(key) = name.strip_prefix(&PREFIX.to_ascii_lowercase()) else {
                continue;
            };
            if let Some(option) = key.strip_prefix(OPTIONS) {
                options.insert(option.replace('_', "."), Value::from(value));
            }
        }
        if options.is_empty() {
            return Ok(Map::new());
        }
        let kafka = Dict::from([("options".to_string(), Value::from(options))]);
        Ok(Profile::Default.collect(Dict::from([("kafka".to_string(), Value::from(kafka))])))
    }
}

#[cfg(test)]
// figment's `Jail` takes closures returning its own (large) error type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::super::DeploymentConfig;
    use figment::Jail;

    const FILE: &str = "[kafka]\nbrokers = \"a:1\"\npartitions = 4\n";

    #[test]
    fn overrides_replace_file_values_with_their_types() {
        Jail::expect_with(|jail| {
            jail.set_env("SEGSTREAM__KAFKA__BROKERS", "b:2");
            jail.set_env("SEGSTREAM__KAFKA__PARTITIONS", "8");
            jail.set_env("SEGSTREAM__TOPICS__EVENTS", "ev2");
            jail.set_env("SEGSTREAM__KAFKA__OPTIONS__SASL_MECHANISM", "PLAIN");
            jail.set_env("SEGSTREAM_KAFKA_PORT", "ignored: single underscores");
            let config = DeploymentConfig::from_toml(FILE).map_err(|e| e.to_string())?;
            assert_eq!(config.kafka.brokers, "b:2");
            assert_eq!(config.kafka.partitions, 8);
            assert_eq!(config.topics.events, "ev2");
            assert_eq!(config.kafka.options.get("sasl.mechanism").map(String::as_str), Some("PLAIN"));
            Ok(())
        });
    }

    #[test]
    fn a_misspelt_or_mistyped_override_is_an_error() {
        Jail::expect_with(|jail| {
            jail.set_env("SEGSTREAM__REDIS__ULR", "x");
            let typo = DeploymentConfig::from_toml(FILE).unwrap_err();
            assert!(typo.to_lowercase().contains("ulr") && typo.contains("SEGSTREAM__"), "{typo}");
            Ok(())
        });
        Jail::expect_with(|jail| {
            jail.set_env("SEGSTREAM__REDIS__BATCH", "many");
            let mistyped = DeploymentConfig::from_toml(FILE).unwrap_err();
            assert!(
                mistyped.to_lowercase().contains("redis.batch") && mistyped.contains("many"),
                "{mistyped}"
            );
            Ok(())
        });
    }
}
