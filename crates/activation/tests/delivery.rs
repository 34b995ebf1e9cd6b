//! The activator against local mock partners (`segstream_activation::receiver`) on
//! ephemeral ports: isolation of a partner that is down, slow or throttling, order per (user, segment),
//! dead letters with bisection and their replay, the retry budget, and a partner that
//! answers garbage. Every wait polls for a condition, with a deadline.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use segstream_activation::activator::{Activator, ChangeSource, VecSource};
use segstream_activation::change::{Change, Position};
use segstream_activation::config::{parse_partners, PartnerConfig};
use segstream_activation::dead_letters::DeadLetterStore;
use segstream_activation::http::HttpClient;
use segstream_activation::identity::{identify, Hashing, Normalisation};
use segstream_activation::pipeline::Services;
use segstream_activation::receiver::{app, Faults, Receiver};
use serde_json::Value;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

struct Harness {
    runtime: tokio::runtime::Runtime,
    dir: PathBuf,
}

impl Harness {
    fn new(name: &str) -> Harness {
        let dir = std::env::temp_dir().join(format!("segstream-activation-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        Harness { runtime, dir }
    }

    /// A mock partner on an ephemeral port.
    fn receiver(&self, name: &str) -> (Receiver, SocketAddr) {
        let secrets = HashMap::from([("hook".to_string(), SECRET.to_string())]);
        let receiver = Receiver::new(self.dir.join(name), secrets).unwrap();
        let listener = self.runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let router = app(receiver.clone());
        self.runtime.spawn(async move { axum::serve(listener, router).await });
        (receiver, addr)
    }

    fn services(&self) -> Services {
        let identities = |users: &[String]| -> Result<Vec<Option<String>>, String> {
            Ok(users
                .iter()
                .map(|u| (!u.starts_with("anon")).then(|| format!(r#"{{"deviceId": "DEV-{u}"}}"#)))
                .collect())
        };
        Services {
            http: HttpClient::default(),
            identities: Arc::new(identities),
            dead_letters: Arc::new(DeadLetterStore::open(&self.dir.join("dead-letters")).unwrap()),
            topics: None,
            handed: Arc::new(segstream_activation::handed::NoHanded),
        }
    }

    fn start(&self, partners: Vec<PartnerConfig>, changes: &[Change]) -> Activator {
        self.start_with(partners, changes, &self.services())
    }

    fn start_with(&self, partners: Vec<PartnerConfig>, changes: &[Change], services: &Services) -> Activator {
        Activator::start(self.runtime.handle(), partners, services, |_| {
            Ok(Box::new(VecSource::new(changes.to_vec())) as Box<dyn ChangeSource>)
        })
        .unwrap()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn partner(text: &str) -> PartnerConfig {
    let segments: BTreeSet<String> = ["s1", "s2"].map(String::from).into();
    parse_partners("test", text, Some(&segments), &|_| Some(SECRET.to_string()))
        .unwrap_or_else(|d| panic!("{}", d.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")))
        .remove(0)
}

fn webhook(id: &str, addr: SocketAddr, extra: &str) -> PartnerConfig {
    partner(&format!(
        "[[partner]]\nid = \"{id}\"\nkind = \"webhook\"\nurl = \"http://{addr}/p/hook/webhook\"\nsegments = {{ s1 = \"a1\", s2 = \"a2\" }}\nbatch_size = 50\nmax_batch_wait = \"20ms\"\ncredentials = {{ env = \"S\" }}\n{extra}"
    ))
}

/// `n` changes: users u0.. entering and leaving s1/s2 in turn, offsets in order.
fn changes(n: usize) -> Vec<Change> {
    (0..n)
        .map(|i| Change {
            user: format!("u{}", i % 37),
            segment: if i % 3 == 0 { "s2" } else { "s1" }.into(),
            tick: 1_000 + i as u64,
            entered: (i / 37) % 2 == 0,
            position: Position {
                partition: 0,
                offset: i as i64,
            },
            read_at_ms: segstream_time::wall_clock_ms(),
        })
        .collect()
}

fn receipts(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Whether partner `index` has read `n` changes and finished all of them.
fn finished(activator: &Activator, index: usize, n: usize) -> bool {
    let status = &activator.status()[index];
    status.read == n as u64 && status.pending == 0
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The final state per (user, segment) of a change list: what a partner must end with.
fn net(changes: &[Change]) -> BTreeMap<(String, String), bool> {
    changes.iter().map(|c| ((c.user.clone(), c.segment.clone()), c.entered)).collect()
}

fn net_of_receipts(lines: &[Value]) -> BTreeMap<(String, String), bool> {
    lines
        .iter()
        .map(|l| {
            (
                (l["user"].as_str().unwrap().to_string(), l["segment"].as_str().unwrap().to_string()),
                l["change"] == "enter",
            )
        })
        .collect()
}

#[test]
fn a_partner_that_is_down_slow_or_throttling_holds_back_only_itself_and_catches_up_with_nothing_lost() {
    let down = Faults {
        down: true,
        ..Faults::default()
    };
    let slow = Faults {
        latency: Duration::from_secs(10),
        ..Faults::default()
    };
    let throttling = Faults {
        throttle_rate: 1.0,
        ..Faults::default()
    };
    for (name, faults) in [("down", down), ("slow", slow), ("throttling", throttling)] {
        let h = Harness::new(&format!("isolation-{name}"));
        let (faulty, faulty_addr) = h.receiver("a");
        let (healthy, healthy_addr) = h.receiver("b");
        faulty.set_faults(faults);
        let input = changes(2_000);
        let mut activator = h.start(
            vec![
                webhook("a", faulty_addr, "concurrency = 4\n"),
                webhook("b", healthy_addr, "concurrency = 4\n"),
            ],
            &input,
        );
        wait_until(
            &format!("the healthy partner next to a {name} one"),
            Duration::from_secs(30),
            || finished(&activator, 1, input.len()),
        );
        let status = activator.status();
        assert!(status[0].pending > 0, "{name}: {:?}", status[0]);
        if name != "slow" {
            assert!(status[0].delivered == 0 && status[0].retried > 0, "{name}: {:?}", status[0]);
        }
        assert_eq!(net_of_receipts(&receipts(&healthy.receipts("hook"))), net(&input), "{name}");
        faulty.set_faults(Faults::default());
        wait_until(&format!("the {name} partner's backlog"), Duration::from_secs(60), || {
            finished(&activator, 0, input.len())
        });
        activator.stop(Duration::from_secs(5));
        assert_eq!(
            net_of_receipts(&receipts(&faulty.receipts("hook"))),
            net(&input),
            "{name}: nothing lost"
        );
        assert_eq!(
            activator.status()[0].dead_lettered,
            0,
            "{name}: a fault within the retry budget dead-letters nothing"
        );
    }
}

#[test]
fn changes_of_one_user_and_segment_arrive_in_order_with_stable_delivery_ids() {
    let h = Harness::new("order");
    let (receiver, addr) = h.receiver("r");
    // Small batches over four workers, and flaky answers that force retries.
    receiver.set_faults(Faults {
        error_rate: 0.3,
        ..Faults::default()
    });
    let input = changes(1_500);
    let mut config = webhook("p", addr, "concurrency = 4\n");
    config.batch_size = 7;
    let mut activator = h.start(vec![config], &input);
    wait_until("every change", Duration::from_secs(60), || finished(&activator, 0, input.len()));
    activator.stop(Duration::from_secs(5));
    let lines = receipts(&receiver.receipts("hook"));
    let mut last_tick: HashMap<(String, String), u64> = HashMap::new();
    for line in &lines {
        let key = (
            line["user"].as_str().unwrap().to_string(),
            line["segment"].as_str().unwrap().to_string(),
        );
        let tick = line["time_ms"].as_u64().unwrap();
        let previous = last_tick.insert(key.clone(), tick);
        assert!(previous.is_none_or(|p| p <= tick), "{key:?} went back from {previous:?} to {tick}");
    }
    assert_eq!(net_of_receipts(&lines), net(&input));
    let ids: BTreeSet<&str> = lines.iter().map(|l| l["delivery_id"].as_str().unwrap()).collect();
    let expected: BTreeSet<String> = input.iter().map(|c| segstream_activation::change::delivery_id("p", c)).collect();
    assert!(ids.iter().all(|id| expected.contains(*id)), "every delivery id is the change's own");
}

#[test]
fn one_refused_id_is_bisected_out_dead_lettered_and_replayed_once_fixed() {
    let h = Harness::new("bisect");
    let (receiver, addr) = h.receiver("r");
    let bad = identify("DEV-u5", Normalisation::Madid, Hashing::Sha256).unwrap();
    receiver.set_faults(Faults {
        refuse_ids: [bad.clone()].into(),
        reject_whole: true,
        ..Faults::default()
    });
    let config = partner(&format!(
        "[[partner]]\nid = \"aud\"\nkind = \"audience_api\"\nurl = \"http://{addr}/p/aud/audiences\"\nsegments = {{ s1 = \"a1\", s2 = \"a2\" }}\nidentifier = {{ field = \"deviceId\", normalise = \"madid\", hash = \"sha256\" }}\nbatch_size = 1000\nmax_batch_wait = \"50ms\"\nconcurrency = 1\n"
    ));
    let input: Vec<Change> = changes(37 * 2).into_iter().filter(|c| c.segment == "s1").collect();
    let mut activator = h.start(vec![config.clone()], &input);
    wait_until("the batch", Duration::from_secs(30), || finished(&activator, 0, input.len()));
    activator.stop(Duration::from_secs(5));
    let status = &activator.status()[0];
    let u5 = input.iter().filter(|c| c.user == "u5").count() as u64;
    assert_eq!(status.dead_lettered, u5, "only u5's changes are dead-lettered: {status:?}");
    let delivered: Vec<Value> = receipts(&receiver.receipts("aud"));
    assert!(delivered.iter().all(|l| l["identifier"] != bad.as_str()));
    let store = DeadLetterStore::open(&h.dir.join("dead-letters")).unwrap();
    let letters = store.read("aud").unwrap();
    assert_eq!(letters.len() as u64, u5);
    assert!(
        letters.iter().all(|l| l.user == "u5" && l.reason.contains("HTTP 400")),
        "{letters:?}"
    );

    // The partner fixes its side; a replay delivers exactly the missing changes.
    receiver.set_faults(Faults::default());
    let before = receipts(&receiver.receipts("aud")).len();
    let (taken, _) = store.take("aud").unwrap();
    let replayed: Vec<Change> = taken.iter().enumerate().map(|(i, l)| l.change(i as i64)).collect();
    let mut replay = h.start(vec![config], &replayed);
    wait_until("the replay", Duration::from_secs(30), || replay.status()[0].delivered == u5);
    replay.stop(Duration::from_secs(5));
    let after = receipts(&receiver.receipts("aud"));
    assert_eq!(after.len() - before, u5 as usize);
    assert!(after[before..].iter().all(|l| l["identifier"] == bad.as_str()));
    let ids: BTreeSet<&str> = after[before..].iter().map(|l| l["delivery_id"].as_str().unwrap()).collect();
    let original: BTreeSet<&str> = letters.iter().map(|l| l.delivery_id.as_str()).collect();
    assert_eq!(ids, original, "a replay carries the original delivery ids");
    assert!(store.read("aud").unwrap().is_empty());
}

#[test]
fn refusals_dead_letter_at_once_and_outages_after_the_budget() {
    let h = Harness::new("budget");
    let (refusing, refusing_addr) = h.receiver("refusing");
    let (failing, failing_addr) = h.receiver("failing");
    refusing.set_faults(Faults {
        refuse_ids: ["anything".to_string()].into(),
        ..Faults::default()
    });
    failing.set_faults(Faults {
        down: true,
        ..Faults::default()
    });
    // A webhook whose secret does not match: the partner answers 401, a permanent refusal.
    let mut unsigned = webhook("unsigned", refusing_addr, "");
    unsigned.secret = parse_partners(
        "t",
        "[[partner]]\nid = \"x\"\nkind = \"webhook\"\nurl = \"http://h\"\nsegments = { s1 = \"a\" }\ncredentials = { env = \"S\" }\n",
        None,
        &|_| Some("wrong".into()),
    )
    .unwrap()
    .remove(0)
    .secret;
    let short_budget = webhook("failing", failing_addr, "retry = { attempts = 2, window = \"300ms\" }\n");
    let input = changes(20);
    let mut activator = h.start(vec![unsigned, short_budget], &input);
    wait_until("both to finish", Duration::from_secs(30), || {
        finished(&activator, 0, input.len()) && finished(&activator, 1, input.len())
    });
    activator.stop(Duration::from_secs(5));
    let status = activator.status();
    assert_eq!(status[0].dead_lettered, 20);
    assert_eq!(status[0].retried, 0, "a 401 is not retried");
    assert!(status[0].last_error.contains("HTTP 401"), "{}", status[0].last_error);
    assert_eq!(status[1].dead_lettered, 20);
    assert!(status[1].retried >= 20, "retried before the budget was spent");
    let letters = DeadLetterStore::open(&h.dir.join("dead-letters")).unwrap().read("failing").unwrap();
    assert!(
        letters.iter().all(|l| l.reason.contains("retry budget spent") && l.attempts >= 2),
        "{letters:?}"
    );
}

#[test]
fn a_partner_answering_garbage_is_retried_with_a_clear_error_and_loses_nothing() {
    let h = Harness::new("garbage");
    // A server that answers every connection with bytes that are not HTTP.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let garbage_addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten().take(200) {
            use std::io::Write;
            let mut stream = stream;
            let _ = stream.write_all(b"\x00\x01 this is not HTTP\r\n\r\n");
        }
    });
    let input = changes(10);
    let mut activator = h.start(
        vec![webhook("g", garbage_addr, "retry = { attempts = 2, window = \"200ms\" }\n")],
        &input,
    );
    wait_until("the budget", Duration::from_secs(30), || finished(&activator, 0, 10));
    activator.stop(Duration::from_secs(5));
    let status = &activator.status()[0];
    assert_eq!(
        status.delivered + status.dead_lettered,
        10,
        "every change is accounted for: {status:?}"
    );
    assert_eq!(status.dead_lettered, 10);
    let letters = DeadLetterStore::open(&h.dir.join("dead-letters")).unwrap().read("g").unwrap();
    assert!(
        letters[0].reason.contains(&garbage_addr.to_string()),
        "the reason names the partner: {}",
        letters[0].reason
    );
}

#[test]
fn a_replay_never_hands_a_partner_an_older_change_after_a_newer_one() {
    let h = Harness::new("handed");
    let (receiver, addr) = h.receiver("r");
    let services = Services {
        handed: Arc::new(segstream_activation::handed::MemoryHanded::default()),
        ..h.services()
    };
    let change = |tick: u64, entered: bool, offset: i64| Change {
        user: "u1".into(),
        segment: "s1".into(),
        tick,
        entered,
        position: Position { partition: 0, offset },
        read_at_ms: segstream_time::wall_clock_ms(),
    };
    // The first run coalesces enter@10 and exit@20 in one batch: only the exit goes out.
    let first = vec![change(10, true, 0), change(20, false, 1)];
    let mut run = h.start_with(vec![webhook("p", addr, "")], &first, &services);
    wait_until("the first run", Duration::from_secs(30), || finished(&run, 0, 2));
    run.stop(Duration::from_secs(5));
    assert_eq!(run.status()[0].delivered, 1);
    // A replay after a crash re-reads the enter alone (a batch boundary moved): it is
    // older than what the partner has, so it is dropped; the exit is sent again.
    let mut replay = h.start_with(vec![webhook("p", addr, "")], &first[..1], &services);
    wait_until("the replay of the older change", Duration::from_secs(30), || {
        finished(&replay, 0, 1)
    });
    replay.stop(Duration::from_secs(5));
    assert_eq!((replay.status()[0].delivered, replay.status()[0].superseded), (0, 1));
    let mut again = h.start_with(vec![webhook("p", addr, "")], &first[1..], &services);
    wait_until("the replay of the newest change", Duration::from_secs(30), || {
        finished(&again, 0, 1)
    });
    again.stop(Duration::from_secs(5));
    let changes: Vec<String> = receipts(&receiver.receipts("hook"))
        .iter()
        .map(|l| format!("{}@{}", l["change"], l["time_ms"]))
        .collect();
    assert_eq!(changes, vec!["\"exit\"@20", "\"exit\"@20"], "never the enter after the exit");
}

#[test]
fn stopping_never_waits_on_a_partner_that_takes_nothing() {
    let h = Harness::new("stop-down");
    let (receiver, addr) = h.receiver("a");
    receiver.set_faults(Faults {
        down: true,
        ..Faults::default()
    });
    let input = changes(60_000);
    let mut activator = h.start(vec![webhook("a", addr, "concurrency = 1\n")], &input);
    // The reader fills the worker's queue and waits on it.
    wait_until("a full queue", Duration::from_secs(30), || activator.status()[0].read > 16_384);
    let (done, stopped) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        activator.stop(Duration::from_millis(200));
        let _ = done.send(activator.status());
    });
    let status = stopped
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("stop waited on the partner that is down"));
    assert!(status[0].pending > 0 && status[0].delivered == 0, "{:?}", status[0]);
}
