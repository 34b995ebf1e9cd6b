//! `segstream activate` against the real broker and a mock partner on an ephemeral
//! port: five kill -9s under load lose nothing and keep order per (user, segment), and a
//! new partner is backfilled with the current membership, then gets the deltas, and so
//! is a segment added to an existing partner's mapping.
//! Needs the broker and Redis (scripts/test starts them); fails without them.

mod support;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use segstream_activation::change::{delivery_id, Change, Position};
use segstream_activation::receiver::{app, Receiver};
use segstream_model::change::change_json;
use support::deployment::{self, Deployment};

/// (user, segment, tick, entered) as produced.
type Produced = (String, String, u64, bool);

/// A partners file of one webhook partner, `hook`, receiving `segments` (TOML pairs).
fn partners_file(d: &Deployment, addr: SocketAddr, segments: &str) -> std::path::PathBuf {
    let path = support::scratch_path("deployments", &format!("{}-partners.toml", d.name));
    std::fs::write(
        &path,
        format!(
            "[[partner]]\nid = \"hook\"\nkind = \"webhook\"\nurl = \"http://{addr}/p/hook/webhook\"\nsegments = {{ {segments} }}\nbatch_size = 100\nmax_batch_wait = \"20ms\"\nconcurrency = 4\ncredentials = {{ env = \"SEGSTREAM_TEST_HOOK_SECRET\" }}\n"
        ),
    )
    .unwrap();
    path
}

const SECRET: &str = "whsec_dGVzdC1ob29rLXNlY3JldA==";

/// A mock partner in this process.
fn mock_partner(runtime: &tokio::runtime::Runtime, dir: &Path) -> (Receiver, SocketAddr) {
    let _ = std::fs::remove_dir_all(dir);
    let receiver = Receiver::new(dir.to_path_buf(), HashMap::from([("hook".to_string(), SECRET.to_string())])).unwrap();
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let router = app(receiver.clone());
    runtime.spawn(async move { axum::serve(listener, router).await });
    (receiver, addr)
}

fn activate(d: &Deployment, partners: &Path, log: &str, status_addr: &str) -> Child {
    let log_path = support::scratch_path("deployments", &format!("{}-{log}.log", d.name));
    let file = std::fs::File::create(&log_path).unwrap();
    Command::new(env!("CARGO_BIN_EXE_segstream"))
        .args(["activate", "--config", d.config_arg(), "--partners", partners.to_str().unwrap()])
        .args(["--status-addr", status_addr])
        .args([
            "--dead-letter-dir",
            support::scratch_path("deployments", &format!("{}-dead-letters", d.name))
                .to_str()
                .unwrap(),
        ])
        .env("SEGSTREAM_TEST_HOOK_SECRET", SECRET)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::from(file.try_clone().unwrap()))
        .stderr(Stdio::from(file))
        .spawn()
        .unwrap()
}

/// Changes of `users` users alternating between entering and leaving two segments.
fn workload(prefix: &str, users: usize, rounds: usize, start: u64) -> Vec<Produced> {
    let mut out = Vec::new();
    for round in 0..rounds {
        for user in 0..users {
            let segment = if (user + round) % 3 == 0 { "payers" } else { "whales" };
            out.push((
                format!("{prefix}u{user}"),
                segment.to_string(),
                start + (round * users + user) as u64 * 10,
                round % 2 == 0,
            ));
        }
    }
    out
}

fn produce(d: &Deployment, producer: &rdkafka::producer::BaseProducer, changes: &[Produced]) {
    for (user, segment, tick, entered) in changes {
        let payload = change_json(user, segment, *tick, *entered, 0).to_string();
        deployment::send(producer, &d.changes, user, Some(&payload), *tick);
    }
    deployment::flush(producer);
}

/// The receipts: (user, segment, tick, entered, delivery id), in arrival order.
fn receipts(receiver: &Receiver) -> Vec<(String, String, u64, bool, String)> {
    std::fs::read_to_string(receiver.receipts("hook"))
        .unwrap_or_default()
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            (
                v["user"].as_str().unwrap().to_string(),
                v["segment"].as_str().unwrap().to_string(),
                v["time_ms"].as_u64().unwrap(),
                v["change"] == "enter",
                v["delivery_id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn as_change(p: &Produced) -> Change {
    Change {
        user: p.0.clone(),
        segment: p.1.clone(),
        tick: p.2,
        entered: p.3,
        position: Position { partition: 0, offset: 0 },
        read_at_ms: 0,
    }
}

/// The last change per (user, segment).
fn final_state(changes: impl IntoIterator<Item = (String, String, u64, bool)>) -> BTreeMap<(String, String), (u64, bool)> {
    let mut state = BTreeMap::new();
    for (user, segment, tick, entered) in changes {
        let entry = state.entry((user, segment)).or_insert((tick, entered));
        if tick >= entry.0 {
            *entry = (tick, entered);
        }
    }
    state
}

/// A deployment, a mock partner served by the returned runtime, and its address.
fn setup(test: &str) -> (Deployment, tokio::runtime::Runtime, Receiver, SocketAddr) {
    let d = Deployment::new(test, 4, "");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (receiver, addr) = mock_partner(&runtime, &support::scratch_path("deployments", &format!("{}-partner", d.name)));
    (d, runtime, receiver, addr)
}

fn wait_until(what: &str, limit: Duration, logs: &dyn Fn() -> String, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}\n{}", logs());
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn five_kill_9s_under_load_lose_nothing_and_keep_order_per_user_and_segment() {
    let _services = deployment::SERVICES.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let (d, _runtime, receiver, addr) = setup("activate-kill");
    let partners = partners_file(&d, addr, BOTH);
    let all = workload(&format!("{}-", d.name), 60, 40, 1_800_000_000_000);
    let producer = deployment::producer();
    // The load: produced in 20 slices while the activator is killed and restarted.
    let slices: Vec<&[Produced]> = all.chunks(all.len() / 20).collect();
    let mut child = activate(&d, &partners, "run-0", "off");
    let logs = || (0..=5).map(|i| d.log(&format!("run-{i}"))).collect::<Vec<_>>().join("\n---\n");
    let mut kills = 0;
    for (i, slice) in slices.iter().enumerate() {
        produce(&d, &producer, slice);
        if i % 3 == 2 && kills < 5 {
            // Kill -9 while the slice just produced is being delivered, at a moment that
            // varies: once 1 to 31 of its changes have reached the partner (every slice
            // leaves at least one final change per user and segment, over 60).
            let ticks = slice.first().map_or(0, |c| c.2)..=slice.last().map_or(0, |c| c.2);
            let wanted = 1 + (i % 7) * 5;
            wait_until("deliveries of the slice before a kill", Duration::from_secs(60), &logs, || {
                receipts(&receiver).iter().filter(|r| ticks.contains(&r.2)).count() >= wanted
            });
            child.kill().unwrap();
            child.wait().unwrap();
            kills += 1;
            child = activate(&d, &partners, &format!("run-{kills}"), "off");
        }
    }
    assert_eq!(kills, 5);
    let expected = final_state(all.iter().cloned());
    wait_until("the partner to have the final state", Duration::from_secs(120), &logs, || {
        final_state(receipts(&receiver).into_iter().map(|(u, s, t, e, _)| (u, s, t, e))) == expected
    });
    child.kill().unwrap();
    child.wait().unwrap();

    let got = receipts(&receiver);
    let ids: HashMap<String, &Produced> = all.iter().map(|p| (delivery_id("hook", &as_change(p)), p)).collect();
    let mut first_seen = HashSet::new();
    let mut last_tick: HashMap<(String, String), u64> = HashMap::new();
    for (user, segment, tick, entered, id) in &got {
        let produced = ids.get(id).unwrap_or_else(|| panic!("delivery id {id} is no change's"));
        assert_eq!(
            (user, segment, tick, entered),
            (&produced.0, &produced.1, &produced.2, &produced.3),
            "the id is the change's own"
        );
        if first_seen.insert(id.clone()) {
            // First deliveries are in order; later copies are redeliveries after a kill.
            let previous = last_tick.insert((user.clone(), segment.clone()), *tick);
            assert!(
                previous.is_none_or(|p| p < *tick),
                "{user}/{segment}: {tick} delivered after {previous:?}"
            );
        }
    }
    // Every change is delivered, or superseded by a later delivered one of its user and segment.
    for (user, segment, tick, _) in &all {
        let latest = last_tick.get(&(user.clone(), segment.clone())).copied().unwrap_or(0);
        assert!(latest >= *tick, "{user}/{segment} at {tick} was neither delivered nor superseded");
    }
    let duplicates = got.len() - first_seen.len();
    println!(
        "{} receipts of {} changes ({} distinct, {duplicates} redelivered after kills)",
        got.len(),
        all.len(),
        first_seen.len()
    );
}

const BOTH: &str = "whales = \"w\", payers = \"p\"";

/// The entries of a final state.
fn members_of(state: BTreeMap<(String, String), (u64, bool)>) -> BTreeMap<(String, String), (u64, bool)> {
    state.into_iter().filter(|(_, (_, entered))| *entered).collect()
}

/// Waits until the partner's final state of each (user, segment) of `expected` equals it
/// (a never-entered exit may be absent).
fn wait_for_state(receiver: &Receiver, expected: &BTreeMap<(String, String), (u64, bool)>, logs: &dyn Fn() -> String) {
    wait_until("the deltas", Duration::from_secs(60), logs, || {
        let got = final_state(receipts(receiver).into_iter().map(|(u, s, t, e, _)| (u, s, t, e)));
        expected
            .iter()
            .all(|(k, v)| got.get(k) == Some(v) || (!v.1 && !got.contains_key(k)))
    });
}

/// Stops the activator as an operator would (SIGTERM: it delivers what it holds and commits).
fn terminate(mut child: Child, logs: &dyn Fn() -> String) {
    let signal = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(signal.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "the activator stopped with {status}\n{}", logs());
}

/// The receipts from `from` on, as (user, segment) -> (tick, entered), checked to hold
/// each (user, segment) once.
fn receipts_once(receiver: &Receiver, from: usize) -> BTreeMap<(String, String), (u64, bool)> {
    let new = receipts(receiver).split_off(from);
    let got: BTreeMap<(String, String), (u64, bool)> = new.iter().map(|(u, s, t, e, _)| ((u.clone(), s.clone()), (*t, *e))).collect();
    assert_eq!(got.len(), new.len(), "each member once, no double entry");
    got
}

#[test]
fn a_new_partner_is_backfilled_with_the_current_membership_then_gets_deltas() {
    let _services = deployment::SERVICES.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let (d, _runtime, receiver, addr) = setup("activate-backfill");
    let producer = deployment::producer();
    let history = workload(&format!("{}-", d.name), 50, 5, 1_800_000_000_000);
    produce(&d, &producer, &history);
    // The partner starts with one of the two segments.
    let whales_only = partners_file(&d, addr, "whales = \"w\"");
    let whales = |state: BTreeMap<(String, String), (u64, bool)>| -> BTreeMap<(String, String), (u64, bool)> {
        state.into_iter().filter(|((_, s), _)| s == "whales").collect()
    };
    let members = members_of(whales(final_state(history.iter().cloned())));
    let port = support::free_port();
    let status_addr = format!("127.0.0.1:{port}");
    let child = activate(&d, &whales_only, "run", &status_addr);
    let logs = || d.log("run");
    wait_until("the backfill", Duration::from_secs(60), &logs, || {
        receipts(&receiver).len() >= members.len()
    });
    assert_eq!(receipts_once(&receiver, 0), members, "the backfill is the current membership");

    let deltas = workload(&format!("{}-", d.name), 50, 2, 1_900_000_000_000);
    produce(&d, &producer, &deltas);
    wait_for_state(&receiver, &whales(final_state(history.iter().chain(&deltas).cloned())), &logs);
    let status = support::segstream(&["activate", "status", "--addr", &status_addr]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        status.status.success() && text.contains("hook") && text.contains("webhook"),
        "{text}\n{}",
        String::from_utf8_lossy(&status.stderr)
    );
    terminate(child, &logs);

    // `payers` is added to the running partner's mapping: its current membership
    // arrives (each member once, nothing of `whales` again), then the deltas of both.
    let before = receipts(&receiver).len();
    let both = partners_file(&d, addr, BOTH);
    let payers = members_of(final_state(history.iter().chain(&deltas).cloned()))
        .into_iter()
        .filter(|((_, s), _)| s == "payers")
        .collect::<BTreeMap<_, _>>();
    let child = activate(&d, &both, "added", &status_addr);
    let logs = || d.log("added");
    wait_until("the added segment's backfill", Duration::from_secs(60), &logs, || {
        receipts(&receiver).len() >= before + payers.len()
    });
    assert_eq!(
        receipts_once(&receiver, before),
        payers,
        "the added segment's backfill is its current membership"
    );
    let more = workload(&format!("{}-", d.name), 50, 1, 2_000_000_000_000);
    produce(&d, &producer, &more);
    wait_for_state(&receiver, &final_state(history.iter().chain(&deltas).chain(&more).cloned()), &logs);
    terminate(child, &logs);
}
