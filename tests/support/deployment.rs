//! A throwaway distributed deployment on the real broker and Redis for one test:
//! uniquely named topics and group, a config file, producers and readers.
//! The services must be running (scripts/test starts them); if they are not, the test
//! fails with a message saying so.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

/// The broker and Redis the tests use.
pub const BROKERS: &str = "127.0.0.1:9092";
pub const REDIS_URL: &str = "redis://127.0.0.1:6379/";

/// A change read back: (user, segment, tick, entered).
pub type Change = (String, String, u64, bool);

static NEXT: AtomicU64 = AtomicU64::new(0);

/// Serializes the tests that use the services (some stop and restart them).
pub static SERVICES: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// One test's deployment.
pub struct Deployment {
    pub name: String,
    pub config: PathBuf,
    pub events: String,
    pub profiles: String,
    pub stats: String,
    pub rules: String,
    pub changes: String,
    pub dead_letter: String,
    pub failed_events: String,
}

fn fail_without_services() {
    if std::net::TcpStream::connect_timeout(&BROKERS.parse().unwrap(), Duration::from_secs(2)).is_err() {
        panic!("no Kafka broker on {BROKERS}: run scripts/services start (scripts/test does)");
    }
    if std::net::TcpStream::connect_timeout(&"127.0.0.1:6379".parse().unwrap(), Duration::from_secs(2)).is_err() {
        panic!("no Redis on 127.0.0.1:6379: run scripts/services start (scripts/test does)");
    }
}

impl Deployment {
    /// Creates the topics (`partitions` each for events, upserts and changes).
    pub fn new(test: &str, partitions: i32, extra_config: &str) -> Deployment {
        Deployment::with_events_topic(test, partitions, extra_config, &[])
    }

    /// [`Deployment::new`], its events topic created first with these topic configs
    /// (a retention, say).
    pub fn with_events_topic(test: &str, partitions: i32, extra_config: &str, events_configs: &[(&str, &str)]) -> Deployment {
        fail_without_services();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
            % 1_000_000_000;
        let name = format!("{test}-{}-{}-{nanos}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let d = Deployment {
            config: super::scratch_path("deployments", &format!("{name}.toml")),
            events: format!("{name}-events"),
            profiles: format!("{name}-profiles"),
            stats: format!("{name}-stats"),
            rules: format!("{name}-rules"),
            changes: format!("{name}-changes"),
            dead_letter: format!("{name}-dead-letter"),
            failed_events: format!("{name}-failed-events"),
            name,
        };
        let text = format!(
            "[kafka]\nbrokers = \"{BROKERS}\"\ngroup = \"{n}\"\npartitions = {partitions}\n\
             [topics]\nevents = \"{}\"\nprofiles = \"{}\"\nstats = \"{}\"\nrules = \"{}\"\nchanges = \"{}\"\ndead_letter = \"{}\"\nprogress = \"{n}-progress\"\nfailed_events = \"{}\"\n\
             [redis]\nurl = \"{REDIS_URL}\"\n\
             [schema]\npath = \"configs/schema.toml\"\n\
             [checkpoints]\nlocation = {checkpoints:?}\n{extra_config}",
            d.events, d.profiles, d.stats, d.rules, d.changes, d.dead_letter, d.failed_events, n = d.name,
            checkpoints = super::scratch_path("checkpoints", "").display().to_string()
        );
        std::fs::write(&d.config, text).unwrap();
        if !events_configs.is_empty() {
            create_topic(&d.events, partitions, events_configs);
        }
        let out = super::segstream(&["topics", "create", "--config", d.config.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "topics create: {}\nthe end of the broker's log:\n{}",
            String::from_utf8_lossy(&out.stderr),
            broker_log_tail()
        );
        d
    }

    pub fn config_arg(&self) -> &str {
        self.config.to_str().unwrap()
    }

    /// Starts `segstream classify` with extra arguments, output to a log file.
    pub fn classify(&self, args: &[&str], log: &str) -> Child {
        let log_path = super::scratch_path("deployments", &format!("{}-{log}.log", self.name));
        let file = std::fs::File::create(&log_path).unwrap();
        Command::new(env!("CARGO_BIN_EXE_segstream"))
            .arg("classify")
            .args(["--config", self.config_arg()])
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(Stdio::from(file.try_clone().unwrap()))
            .stderr(Stdio::from(file))
            .spawn()
            .unwrap()
    }

    /// Starts `processes` classify processes of one worker each as one cluster (their
    /// hostfile names free ports); process `i` logs to `{log}-{i}`.
    pub fn classify_cluster(&self, processes: usize, extra: &[&str], log: &str) -> Vec<Child> {
        let hostfile = super::scratch_path("deployments", &format!("{}-{log}-hosts.txt", self.name));
        let hosts: String = (0..processes).map(|_| format!("127.0.0.1:{}\n", super::free_port())).collect();
        std::fs::write(&hostfile, hosts).unwrap();
        let (count, hostfile) = (processes.to_string(), hostfile.display().to_string());
        (0..processes)
            .map(|i| {
                let index = i.to_string();
                let mut args = vec!["--processes", &count, "--process", &index, "--hostfile", &hostfile];
                args.extend_from_slice(extra);
                self.classify(&args, &format!("{log}-{i}"))
            })
            .collect()
    }

    pub fn log(&self, log: &str) -> String {
        std::fs::read_to_string(super::scratch_path("deployments", &format!("{}-{log}.log", self.name))).unwrap_or_default()
    }
}

/// Creates `topic` with `partitions` and topic configs.
fn create_topic(topic: &str, partitions: i32, configs: &[(&str, &str)]) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new().set("bootstrap.servers", BROKERS).create().unwrap();
    let mut new = NewTopic::new(topic, partitions, TopicReplication::Fixed(-1));
    for (key, value) in configs {
        new = new.set(key, value);
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    for created in runtime.block_on(admin.create_topics([&new], &AdminOptions::new())).unwrap() {
        created.unwrap_or_else(|(topic, code)| panic!("creating {topic}: {code:?}"));
    }
}

/// A producer that sends records with explicit keys, partitions and timestamps.
pub fn producer() -> BaseProducer {
    ClientConfig::new()
        .set("bootstrap.servers", BROKERS)
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()
        .unwrap()
}

/// Sends one record and waits for it.
pub fn send(producer: &BaseProducer, topic: &str, key: &str, payload: Option<&str>, timestamp_ms: u64) {
    let mut record = BaseRecord::<str, str>::to(topic).key(key).timestamp(timestamp_ms as i64);
    if let Some(p) = payload {
        record = record.payload(p);
    }
    producer.send(record).map_err(|(e, _)| e).unwrap();
}

/// Sends one record to a given partition.
pub fn send_to(producer: &BaseProducer, topic: &str, partition: i32, key: &str, payload: &str, timestamp_ms: u64) {
    let record = BaseRecord::<str, str>::to(topic)
        .key(key)
        .payload(payload)
        .partition(partition)
        .timestamp(timestamp_ms as i64);
    producer.send(record).map_err(|(e, _)| e).unwrap();
}

pub fn flush(producer: &BaseProducer) {
    producer.flush(Duration::from_secs(30)).unwrap();
}

/// Every record of `topic` as (key, payload, timestamp), read to the end.
pub fn read_all(topic: &str) -> Vec<(String, Option<Vec<u8>>, i64)> {
    read_messages(topic, |m| {
        (
            String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned(),
            m.payload().map(<[u8]>::to_vec),
            m.timestamp().to_millis().unwrap_or(-1),
        )
    })
}

/// Every record of `topic` as (partition, offset), read to the end.
pub fn coordinates(topic: &str) -> Vec<(i32, i64)> {
    read_messages(topic, |m| (m.partition(), m.offset()))
}

/// Every record of `topic`, read to the end, as `read` makes it.
fn read_messages<T>(topic: &str, mut read: impl FnMut(&rdkafka::message::BorrowedMessage<'_>) -> T) -> Vec<T> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", BROKERS)
        .set("group.id", "segstream-tests-reader")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .create()
        .unwrap();
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10)).unwrap();
    let partitions = metadata.topics()[0].partitions().len() as i32;
    let mut assignment = TopicPartitionList::new();
    let mut open = 0;
    for p in 0..partitions {
        let (low, high) = consumer.fetch_watermarks(topic, p, Duration::from_secs(10)).unwrap();
        if high > low {
            assignment.add_partition_offset(topic, p, Offset::Beginning).unwrap();
            open += 1;
        }
    }
    let mut out = Vec::new();
    if open == 0 {
        return out;
    }
    consumer.assign(&assignment).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while open > 0 && Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => out.push(read(&m)),
            Some(Err(KafkaError::PartitionEOF(_))) => open -= 1,
            Some(Err(e)) => panic!("reading {topic}: {e}"),
            None => {}
        }
    }
    assert_eq!(open, 0, "reading {topic} timed out");
    out
}

/// The changes in a segment-changes topic, in the order read.
pub fn read_changes(topic: &str) -> Vec<Change> {
    read_all(topic)
        .into_iter()
        .map(|(_, payload, _)| {
            let v: serde_json::Value = serde_json::from_slice(&payload.unwrap()).unwrap();
            (
                v["user"].as_str().unwrap().to_string(),
                v["segment"].as_str().unwrap().to_string(),
                v["time_ms"].as_u64().unwrap(),
                v["change"] == "enter",
            )
        })
        .collect()
}

/// `user:<id>:segments` of `users` in Redis: (user, segment, entered at).
pub fn redis_segments(users: &[String]) -> BTreeSet<(String, String, u64)> {
    let client = redis::Client::open(REDIS_URL).unwrap();
    let mut con = client.get_connection_with_timeout(Duration::from_secs(5)).unwrap();
    let mut out = BTreeSet::new();
    for user in users {
        let hash: std::collections::HashMap<String, u64> =
            redis::cmd("HGETALL").arg(format!("user:{user}:segments")).query(&mut con).unwrap();
        out.extend(hash.into_iter().map(|(s, t)| (user.clone(), s, t)));
    }
    out
}

/// Waits for `child` to exit within `limit`, or kills it and fails.
pub fn wait_for(child: &mut Child, limit: Duration, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs `scripts/services <args>` and fails if it fails.
pub fn services(args: &[&str]) {
    let status = Command::new("scripts/services")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .unwrap();
    assert!(status.success(), "scripts/services {args:?} failed");
}

/// The highest durable frontier the deployment's classifier recorded (0: none yet).
pub fn recorded_frontier(d: &Deployment) -> u64 {
    read_all(&format!("{}-progress", d.name))
        .into_iter()
        .filter_map(|(_, p, _)| serde_json::from_slice::<serde_json::Value>(&p?).ok()?["durable_frontier_ms"].as_u64())
        .max()
        .unwrap_or(0)
}

/// Waits until the deployment's recorded durable frontier passes `until` (every change
/// through `until` is in Kafka and Redis), failing after `limit` or if `child` exits.
pub fn wait_for_durable(d: &Deployment, until: u64, child: &mut Child, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let frontier = recorded_frontier(d);
        if frontier > until {
            return;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("classify exited ({status}) before its frontier passed {until}");
        }
        assert!(
            Instant::now() < deadline,
            "the durable frontier {frontier} did not pass {until} within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// The last lines of the test broker's log (written by `scripts/services`), to say why
/// a broker stopped answering.
fn broker_log_tail() -> String {
    let dir = std::env::var("SEGSTREAM_SERVICES_DIR").unwrap_or_else(|_| "target/services".into());
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir).join("tansu/broker.log");
    match std::fs::read_to_string(&path) {
        Ok(text) => text
            .lines()
            .rev()
            .take(20)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n"),
        Err(e) => format!("({}: {e})", path.display()),
    }
}

/// Now, in ms since the epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A start time in the past, so the run's windows expire at once, as a multiple of the tick.
pub fn past_start(seconds_ago: u64) -> u64 {
    let t = now_ms() - seconds_ago * 1_000;
    t - t % 100
}

/// Runs `segstream classify` with `args` until every change through `until` is durable;
/// fails the test if it does not exit successfully.
pub fn run_to(d: &Deployment, args: &[&str], until: u64, log: &str) {
    let until = until.to_string();
    let mut all = vec!["--until", until.as_str()];
    all.extend_from_slice(args);
    let mut child = d.classify(&all, log);
    let status = wait_for(&mut child, Duration::from_secs(120), "classify");
    assert!(status.success(), "classify failed:\n{}", d.log(log));
}
