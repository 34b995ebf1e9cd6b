//! Environment overrides of the deployment configuration.
//!
//! Contract: a variable `SEGSTREAM__<SECTION>__<KEY>` sets `key` of `[section]`
//! (names lowercased), e.g. `SEGSTREAM__KAFKA__BROKERS=10.0.0.5:9092` or
//! `SEGSTREAM__REDIS__URL=rediss://cache:6380/`. A value replacing an integer is parsed
//! as one. `SEGSTREAM__KAFKA__OPTIONS__<NAME>` sets the librdkafka option `name` with
//! `_` read as `.` (`…__OPTIONS__SASL_MECHANISM` → `sasl.mechanism`). A variable naming
//! a section or key that does not exist is an error, so a typo never goes unnoticed.
//! Other variables, including `SEGSTREAM_…` with single underscores, are ignored.

/// The prefix of override variables.
pub const PREFIX: &str = "SEGSTREAM__";

/// Applies the overrides among `vars` to `table`.
pub fn apply_overrides(table: &mut toml::Table, vars: impl IntoIterator<Item = (String, String)>) -> Result<(), String> {
    for (name, value) in vars {
        let Some(path) = name.strip_prefix(PREFIX) else { continue };
        let parts: Vec<String> = path.split("__").map(str::to_ascii_lowercase).collect();
        match parts.as_slice() {
            [section, options, option] if section == "kafka" && options == "options" => {
                let options = section_table(table, "kafka")?
                    .entry("options")
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()));
                let toml::Value::Table(options) = options else {
                    return Err(format!("{name}: kafka.options is not a table"));
                };
                options.insert(option.replace('_', "."), toml::Value::String(value));
            }
            [section, key] => {
                let typed = match kind(section, key) {
                    None => return Err(format!("{name}: there is no setting {key:?} in [{section}]")),
                    Some(Kind::Integer) => {
                        toml::Value::Integer(value.parse().map_err(|_| format!("{name}: expected an integer, got {value:?}"))?)
                    }
                    Some(Kind::Text) => toml::Value::String(value),
                };
                let section = section_table(table, section)?;
                section.insert(key.clone(), typed);
            }
            _ => return Err(format!("{name}: expected {PREFIX}<SECTION>__<KEY>")),
        }
    }
    Ok(())
}

fn section_table<'t>(table: &'t mut toml::Table, section: &str) -> Result<&'t mut toml::Table, String> {
    match table.entry(section).or_insert_with(|| toml::Value::Table(toml::Table::new())) {
        toml::Value::Table(t) => Ok(t),
        _ => Err(format!("[{section}] is not a table")),
    }
}

/// The type of a setting.
enum Kind {
    Integer,
    Text,
}

/// The settings an override may name, with their types.
fn kind(section: &str, key: &str) -> Option<Kind> {
    let (text, integers): (&[&str], &[&str]) = match section {
        "kafka" => (&["brokers", "group"], &["partitions"]),
        "topics" => (
            &[
                "events",
                "profiles",
                "stats",
                "rules",
                "changes",
                "dead_letter",
                "progress",
                "failed_events",
            ],
            &[],
        ),
        "classifier" => (
            &[
                "tick",
                "max_out_of_order",
                "dedup_horizon",
                "future_tolerance",
                "idle_timeout",
                "history",
                "user_ttl",
            ],
            &[],
        ),
        "redis" => (&["url", "data_ttl"], &["batch"]),
        "schema" => (&["path"], &[]),
        _ => (&[], &[]),
    };
    if text.contains(&key) {
        Some(Kind::Text)
    } else if integers.contains(&key) {
        Some(Kind::Integer)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::super::DeploymentConfig;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    const FILE: &str = "[kafka]\nbrokers = \"a:1\"\npartitions = 4\n";

    #[test]
    fn overrides_replace_file_values_with_their_types() {
        let config = DeploymentConfig::from_toml(
            FILE,
            vars(&[
                ("SEGSTREAM__KAFKA__BROKERS", "b:2"),
                ("SEGSTREAM__KAFKA__PARTITIONS", "8"),
                ("SEGSTREAM__TOPICS__EVENTS", "ev2"),
                ("SEGSTREAM__KAFKA__OPTIONS__SASL_MECHANISM", "PLAIN"),
                ("SEGSTREAM_KAFKA_PORT", "ignored: single underscores"),
                ("PATH", "/bin"),
            ]),
        )
        .unwrap();
        assert_eq!(config.kafka.brokers, "b:2");
        assert_eq!(config.kafka.partitions, 8);
        assert_eq!(config.topics.events, "ev2");
        assert_eq!(config.kafka.options.get("sasl.mechanism").map(String::as_str), Some("PLAIN"));
    }

    #[test]
    fn a_misspelt_or_mistyped_override_is_an_error() {
        let typo = DeploymentConfig::from_toml(FILE, vars(&[("SEGSTREAM__REDIS__ULR", "x")])).unwrap_err();
        assert!(typo.contains("SEGSTREAM__REDIS__ULR"), "{typo}");
        let mistyped = DeploymentConfig::from_toml(FILE, vars(&[("SEGSTREAM__REDIS__BATCH", "many")])).unwrap_err();
        assert!(mistyped.contains("integer"), "{mistyped}");
    }
}
