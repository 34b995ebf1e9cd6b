//! The partners file (`configs/partners.toml`): which ad partners receive which
//! segments, and how.
//!
//! Contract: [`parse_partners`] reads the TOML text and checks it like a rule file:
//! every problem is a [`Diagnostic`] with the line and column of the offending value
//! (unknown keys, a bad kind, a bad duration, a segment the rules do not define, an id
//! used twice, a credential that cannot be read), and all problems are reported, not the
//! first only. Credentials come from the environment or a file, never from the command
//! line or the partners file itself, and are never printed (`Debug` redacts them).
//!
//! ```toml
//! [[partner]]
//! id = "meta"                       # [a-z0-9_-]+, unique
//! kind = "audience_api"             # audience_api | webhook | segment | kafka
//! url = "http://127.0.0.1:8090/audiences"   # kafka: topic = "..." instead
//! segments = { whales = "aud-1001" }        # segment id -> the partner's audience id
//! identifier = { field = "deviceId", normalise = "madid", hash = "sha256" }
//! batch_size = 1000                 # ids per request
//! max_batch_wait = "200ms"          # how long a change may wait for its batch
//! rate_limit = 50                   # requests per second (0: unlimited)
//! concurrency = 4                   # requests in flight
//! timeout = "10s"                   # per request
//! retry = { attempts = 3, window = "180m" }  # dead-letter when both are spent
//! disable_after = "24h"             # failing this long: disabled, changes keep queueing
//! credentials = { env = "META_TOKEN" }       # or { file = "/run/secrets/meta" }
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use segstream_rules::{Diagnostic, Span};
use segstream_time::parse_duration;
use serde::Deserialize;
use toml::Spanned;

use crate::identity::{Hashing, Normalisation};

/// How a partner receives changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartnerKind {
    /// Add/remove requests of hashed ids, in the shape of a custom-audience endpoint.
    AudienceApi,
    /// Signed JSON batches (Standard Webhooks).
    Webhook,
    /// Segment `track` events "Audience Entered" / "Audience Exited".
    Segment,
    /// A Kafka topic of its own.
    Kafka,
}

impl PartnerKind {
    fn parse(text: &str) -> Option<PartnerKind> {
        Some(match text {
            "audience_api" => PartnerKind::AudienceApi,
            "webhook" => PartnerKind::Webhook,
            "segment" => PartnerKind::Segment,
            "kafka" => PartnerKind::Kafka,
            _ => return None,
        })
    }

    /// Its name in the partners file.
    pub fn name(self) -> &'static str {
        match self {
            PartnerKind::AudienceApi => "audience_api",
            PartnerKind::Webhook => "webhook",
            PartnerKind::Segment => "segment",
            PartnerKind::Kafka => "kafka",
        }
    }
}

/// Which identifier of a user a partner gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentifierSpec {
    /// A profile field (`deviceId`), or `None` for the segstream user id.
    pub field: Option<String>,
    /// How it is normalised.
    pub normalise: Normalisation,
    /// How it is hashed after normalising.
    pub hash: Hashing,
}

/// The retry budget: a change is dead-lettered once both are spent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryBudget {
    /// Attempts at least.
    pub attempts: u32,
    /// Time since the first attempt at least.
    pub window: Duration,
}

/// A secret, printed as `<redacted>`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for signing or an `Authorization` header.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether none was configured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() { "<none>" } else { "<redacted>" })
    }
}

/// One partner, checked.
#[derive(Clone, Debug)]
pub struct PartnerConfig {
    /// Its id (metrics, dead letters, consumer group).
    pub id: String,
    /// Its kind.
    pub kind: PartnerKind,
    /// Where requests go (HTTP kinds).
    pub url: String,
    /// The topic (Kafka kind).
    pub topic: String,
    /// Segment id → the partner's audience id.
    pub segments: BTreeMap<String, String>,
    /// The identifier it gets.
    pub identifier: IdentifierSpec,
    /// Changes per request.
    pub batch_size: usize,
    /// Longest wait of a change for its batch.
    pub max_batch_wait: Duration,
    /// Requests per second (0: unlimited).
    pub rate_limit: f64,
    /// Requests in flight.
    pub concurrency: usize,
    /// Per-request timeout.
    pub timeout: Duration,
    /// The retry budget.
    pub retry: RetryBudget,
    /// Failing this long disables the partner.
    pub disable_after: Duration,
    /// Its credential (bearer token, signing secret, or write key).
    pub secret: Secret,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileToml {
    #[serde(default)]
    partner: Vec<PartnerToml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PartnerToml {
    id: Spanned<String>,
    kind: Spanned<String>,
    url: Option<Spanned<String>>,
    topic: Option<Spanned<String>>,
    segments: Spanned<BTreeMap<String, Spanned<String>>>,
    identifier: Option<IdentifierToml>,
    batch_size: Option<Spanned<usize>>,
    max_batch_wait: Option<Spanned<String>>,
    rate_limit: Option<Spanned<f64>>,
    concurrency: Option<Spanned<usize>>,
    timeout: Option<Spanned<String>>,
    retry: Option<RetryToml>,
    disable_after: Option<Spanned<String>>,
    credentials: Option<Spanned<CredentialsToml>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IdentifierToml {
    field: Option<Spanned<String>>,
    normalise: Option<Spanned<String>>,
    hash: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RetryToml {
    attempts: Option<Spanned<u32>>,
    window: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialsToml {
    env: Option<String>,
    file: Option<String>,
}

/// Collects located problems while a file is checked.
struct Problems<'a> {
    name: &'a str,
    text: &'a str,
    found: Vec<Diagnostic>,
}

impl Problems<'_> {
    fn at(&mut self, span: std::ops::Range<usize>, message: impl Into<String>) {
        self.found
            .push(Diagnostic::new(self.name, self.text, Span::new(span.start, span.end), message));
    }

    fn duration(&mut self, value: &Option<Spanned<String>>, default: Duration) -> Duration {
        let Some(value) = value else { return default };
        match parse_duration(value.get_ref()) {
            Ok(ms) if ms > 0 => Duration::from_millis(ms as u64),
            Ok(_) => {
                self.at(value.span(), "must be longer than zero");
                default
            }
            Err(e) => {
                self.at(value.span(), e);
                default
            }
        }
    }

    fn positive(&mut self, value: &Option<Spanned<usize>>, default: usize) -> usize {
        match value {
            Some(v) if *v.get_ref() == 0 => {
                self.at(v.span(), "must be at least 1");
                default
            }
            Some(v) => *v.get_ref(),
            None => default,
        }
    }
}

/// Where a secret comes from, read now.
fn read_secret(credentials: &CredentialsToml, env: &dyn Fn(&str) -> Option<String>) -> Result<Secret, String> {
    match (&credentials.env, &credentials.file) {
        (Some(var), None) => env(var)
            .filter(|v| !v.is_empty())
            .map(Secret)
            .ok_or_else(|| format!("the environment variable {var} is not set")),
        (None, Some(path)) => std::fs::read_to_string(path)
            .map(|text| Secret(text.trim().to_string()))
            .map_err(|e| format!("cannot read the credentials file {path}: {e}")),
        _ => Err("credentials take exactly one of `env` or `file`".into()),
    }
}

/// Checks the partners file `text` (named `name` in errors). `known_segments`, when given,
/// are the segment ids of the rules: a mapping of any other segment is an error. `env`
/// reads environment variables (the process environment in production).
pub fn parse_partners(
    name: &str,
    text: &str,
    known_segments: Option<&BTreeSet<String>>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<PartnerConfig>, Vec<Diagnostic>> {
    let mut problems = Problems {
        name,
        text,
        found: Vec::new(),
    };
    let file: FileToml = match toml::from_str(text) {
        Ok(file) => file,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            problems.at(span, e.message().to_string());
            return Err(problems.found);
        }
    };
    let mut seen = BTreeSet::new();
    let mut partners = Vec::new();
    for p in file.partner {
        let id = p.id.get_ref().clone();
        if id.is_empty()
            || !id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        {
            problems.at(p.id.span(), "a partner id is lowercase letters, digits, '-' and '_'");
        }
        if !seen.insert(id.clone()) {
            problems.at(p.id.span(), format!("partner {id:?} is declared twice"));
        }
        let kind = PartnerKind::parse(p.kind.get_ref()).unwrap_or_else(|| {
            problems.at(
                p.kind.span(),
                format!("unknown kind {:?} (audience_api, webhook, segment or kafka)", p.kind.get_ref()),
            );
            PartnerKind::Webhook
        });
        let url = match (&p.url, kind) {
            (Some(url), PartnerKind::Kafka) => {
                problems.at(url.span(), "a kafka partner takes `topic`, not `url`");
                String::new()
            }
            (Some(url), _) => {
                if !url.get_ref().starts_with("http://") && !url.get_ref().starts_with("https://") {
                    problems.at(url.span(), "the url must start with http:// or https://");
                }
                url.get_ref().clone()
            }
            (None, PartnerKind::Kafka) => String::new(),
            (None, _) => {
                problems.at(p.id.span(), format!("partner {id:?} needs a `url`"));
                String::new()
            }
        };
        let topic = match (&p.topic, kind) {
            (Some(topic), PartnerKind::Kafka) => topic.get_ref().clone(),
            (Some(topic), _) => {
                problems.at(topic.span(), "only a kafka partner takes `topic`");
                String::new()
            }
            (None, PartnerKind::Kafka) => {
                problems.at(p.id.span(), format!("kafka partner {id:?} needs a `topic`"));
                String::new()
            }
            (None, _) => String::new(),
        };
        if p.segments.get_ref().is_empty() {
            problems.at(p.segments.span(), "map at least one segment to an audience id");
        }
        let mut segments = BTreeMap::new();
        for (segment, audience) in p.segments.get_ref() {
            if known_segments.is_some_and(|known| !known.contains(segment)) {
                problems.at(audience.span(), format!("segment {segment:?} is not defined by the rules"));
            }
            if audience.get_ref().is_empty() {
                problems.at(audience.span(), "the audience id must not be empty");
            }
            segments.insert(segment.clone(), audience.get_ref().clone());
        }
        let identifier = identifier(&mut problems, p.identifier.as_ref());
        let retry = RetryBudget {
            attempts: p
                .retry
                .as_ref()
                .and_then(|r| r.attempts.as_ref())
                .map_or(3, |a| *a.get_ref())
                .max(1),
            window: problems.duration(&p.retry.as_ref().and_then(|r| r.window.clone()), Duration::from_secs(180 * 60)),
        };
        let rate_limit = match &p.rate_limit {
            Some(r) if !r.get_ref().is_finite() || *r.get_ref() < 0.0 => {
                problems.at(r.span(), "a rate limit is requests per second, 0 or more");
                0.0
            }
            Some(r) => *r.get_ref(),
            None => 0.0,
        };
        let secret = match &p.credentials {
            Some(c) => read_secret(c.get_ref(), env).unwrap_or_else(|reason| {
                problems.at(c.span(), reason);
                Secret::default()
            }),
            None => Secret::default(),
        };
        if kind == PartnerKind::Webhook && secret.is_empty() && p.credentials.is_none() {
            problems.at(
                p.id.span(),
                format!("webhook partner {id:?} needs `credentials` (its signing secret)"),
            );
        }
        partners.push(PartnerConfig {
            id,
            kind,
            url,
            topic,
            segments,
            identifier,
            batch_size: problems.positive(&p.batch_size, 1_000),
            max_batch_wait: problems.duration(&p.max_batch_wait, Duration::from_millis(200)),
            rate_limit,
            concurrency: problems.positive(&p.concurrency, 4),
            timeout: problems.duration(&p.timeout, Duration::from_secs(10)),
            retry,
            disable_after: problems.duration(&p.disable_after, Duration::from_secs(24 * 3600)),
            secret,
        });
    }
    if problems.found.is_empty() {
        Ok(partners)
    } else {
        Err(problems.found)
    }
}

fn identifier(problems: &mut Problems<'_>, spec: Option<&IdentifierToml>) -> IdentifierSpec {
    let Some(spec) = spec else {
        return IdentifierSpec {
            field: None,
            normalise: Normalisation::None,
            hash: Hashing::None,
        };
    };
    let normalise = match &spec.normalise {
        Some(n) => Normalisation::parse(n.get_ref()).unwrap_or_else(|| {
            problems.at(n.span(), "normalise is one of: none, madid, email, phone");
            Normalisation::None
        }),
        None => Normalisation::None,
    };
    let hash = match &spec.hash {
        Some(h) => Hashing::parse(h.get_ref()).unwrap_or_else(|| {
            problems.at(h.span(), "hash is one of: none, sha256");
            Hashing::None
        }),
        None => Hashing::None,
    };
    let field = spec.field.as_ref().map(|f| f.get_ref().clone()).filter(|f| f != "user");
    IdentifierSpec { field, normalise, hash }
}

/// Reads and checks a partners file from disk (see [`parse_partners`]), with the process
/// environment for credentials.
pub fn load_partners(path: &Path, known_segments: Option<&BTreeSet<String>>) -> Result<Vec<PartnerConfig>, Vec<Diagnostic>> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| vec![Diagnostic::new(&name, "", Span::new(0, 0), format!("cannot read: {e}"))])?;
    parse_partners(&name, &text, known_segments, &|var| std::env::var(var).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[[partner]]
id = "meta"
kind = "audience_api"
url = "http://127.0.0.1:1/aud"
segments = { whales = "aud-1" }
identifier = { field = "deviceId", normalise = "madid", hash = "sha256" }
credentials = { env = "META_TOKEN" }

[[partner]]
id = "hooks"
kind = "webhook"
url = "http://127.0.0.1:1/hook"
segments = { whales = "w" }
retry = { attempts = 5, window = "10m" }
credentials = { env = "HOOK_SECRET" }
"#;

    fn env(var: &str) -> Option<String> {
        (var != "MISSING").then(|| format!("secret-of-{var}"))
    }

    fn known() -> BTreeSet<String> {
        ["whales".to_string()].into()
    }

    #[test]
    fn a_good_file_parses_with_defaults_and_redacted_secrets() {
        let partners = parse_partners("p.toml", GOOD, Some(&known()), &env).unwrap();
        assert_eq!(partners.len(), 2);
        assert_eq!(partners[0].kind, PartnerKind::AudienceApi);
        assert_eq!(partners[0].identifier.field.as_deref(), Some("deviceId"));
        assert_eq!(partners[0].batch_size, 1_000);
        assert_eq!(partners[0].retry.window, Duration::from_secs(10_800));
        assert_eq!(partners[1].retry.attempts, 5);
        assert_eq!(partners[1].secret.expose(), "secret-of-HOOK_SECRET");
        assert!(!format!("{:?}", partners[1]).contains("secret-of"), "Debug must not print secrets");
    }

    #[test]
    fn every_problem_is_reported_with_its_position() {
        let bad = GOOD
            .replace("kind = \"webhook\"", "kind = \"pigeon\"")
            .replace("segments = { whales = \"aud-1\" }", "segments = { wales = \"aud-1\" }")
            .replace("window = \"10m\"", "window = \"soon\"")
            .replace("env = \"HOOK_SECRET\"", "env = \"MISSING\"");
        let problems = parse_partners("p.toml", &bad, Some(&known()), &env).unwrap_err();
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        let all = text.join("\n");
        assert!(all.contains("unknown kind \"pigeon\""), "{all}");
        assert!(all.contains("segment \"wales\" is not defined"), "{all}");
        assert!(all.contains("soon"), "{all}");
        assert!(all.contains("MISSING is not set"), "{all}");
        let pigeon = problems.iter().find(|d| d.message.contains("pigeon")).unwrap();
        assert_eq!(pigeon.at.line, 12, "{pigeon}");
    }

    #[test]
    fn syntax_errors_unknown_keys_and_duplicates_are_located() {
        let unknown = parse_partners(
            "p.toml",
            "[[partner]]\nid = \"a\"\nkind = \"webhook\"\nurl = \"http://x\"\nsegments = {s = \"a\"}\nbatch = 3\n",
            None,
            &env,
        )
        .unwrap_err();
        assert!(unknown[0].message.contains("batch"), "{}", unknown[0]);
        assert_eq!(unknown[0].at.line, 6);
        let twice = format!("{GOOD}\n[[partner]]\nid = \"meta\"\nkind = \"kafka\"\ntopic = \"t\"\nsegments = {{ whales = \"x\" }}\n");
        let problems = parse_partners("p.toml", &twice, None, &env).unwrap_err();
        assert!(problems.iter().any(|d| d.message.contains("declared twice")));
        assert!(parse_partners("p.toml", "[[partner]\n", None, &env).is_err());
    }
}
