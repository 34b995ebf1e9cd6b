//! The activator's benchmarks, in one process on loopback: throughput to a fast local
//! partner, and one partner's latency while another is down.
//!
//! Contract: [`throughput`] delivers `changes` synthetic changes (users and segments
//! spread like the demo's) from an in-memory source through one webhook partner to a
//! local receiver that only counts, and reports changes per second of wall time and per
//! CPU-second of the whole process (activator *and* receiver, so per core it is a lower
//! bound). [`isolation`] feeds two partners at `rate` changes per second for
//! `duration`; partner A is down for `outage` in the middle (or not at all, for the
//! baseline); it reports B's delivery latency (read → 2xx) and whether A caught up with
//! nothing lost.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::activator::{Activator, ChangeSource};
use crate::change::{Change, Position};
use crate::config::{parse_partners, PartnerConfig};
use crate::dead_letters::DeadLetterStore;
use crate::http::HttpClient;
use crate::metrics::PartnerStatus;
use crate::pipeline::Services;
use crate::receiver::{app, Faults, Receiver};

/// What [`throughput`] measured.
#[derive(Debug)]
pub struct Throughput {
    /// Changes delivered.
    pub delivered: u64,
    /// Wall time.
    pub seconds: f64,
    /// Process CPU time (user + system) over the run.
    pub cpu_seconds: f64,
}

/// What [`isolation`] measured.
#[derive(Debug)]
pub struct Isolation {
    /// Partner B's state at the end (its latency percentiles).
    pub healthy: PartnerStatus,
    /// Partner A's state at the end.
    pub outaged: PartnerStatus,
    /// Changes fed to each partner.
    pub fed: u64,
}

/// The process's CPU time so far (user + system), from `/proc/self/stat`.
pub fn process_cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

fn services(dir: &std::path::Path) -> Result<Services, String> {
    let identities = |users: &[String]| -> Result<Vec<Option<String>>, String> { Ok(vec![None; users.len()]) };
    Ok(Services {
        http: HttpClient::default(),
        identities: Arc::new(identities),
        dead_letters: Arc::new(DeadLetterStore::open(dir).map_err(|e| format!("{}: {e}", dir.display()))?),
        topics: None,
        handed: Arc::new(crate::handed::NoHanded),
    })
}

fn webhook(id: &str, addr: SocketAddr, batch: usize, wait_ms: u64) -> Result<PartnerConfig, String> {
    let text = format!(
        "[[partner]]\nid = \"{id}\"\nkind = \"webhook\"\nurl = \"http://{addr}/p/{id}/webhook\"\nsegments = {{ s0 = \"a0\", s1 = \"a1\", s2 = \"a2\", s3 = \"a3\" }}\nbatch_size = {batch}\nmax_batch_wait = \"{wait_ms}ms\"\nconcurrency = 4\ncredentials = {{ env = \"BENCH\" }}\n"
    );
    parse_partners("bench", &text, None, &|_| Some("bench-secret".into()))
        .map(|mut p| p.remove(0))
        .map_err(|d| d.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))
}

fn change(n: u64) -> Change {
    Change {
        user: format!("u{}", n % 100_000),
        segment: format!("s{}", n % 4),
        tick: 1_800_000_000_000 + n,
        entered: (n / 100_000).is_multiple_of(2),
        position: Position {
            partition: 0,
            offset: n as i64,
        },
        read_at_ms: segstream_time::wall_clock_ms(),
    }
}

fn receiver(runtime: &tokio::runtime::Runtime, dir: &std::path::Path, record: bool) -> Result<(Receiver, SocketAddr), String> {
    let receiver = if record {
        Receiver::new(dir.to_path_buf(), HashMap::new())
    } else {
        Receiver::counting()
    }
    .map_err(|e| e.to_string())?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let router = app(receiver.clone());
    runtime.spawn(async move { axum::serve(listener, router).await });
    Ok((receiver, addr))
}

/// Changes made on demand at a fixed rate.
struct Paced {
    rate: f64,
    total: u64,
    made: u64,
    started: Instant,
}

impl ChangeSource for Paced {
    fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<Change>, String> {
        let due = ((self.started.elapsed().as_secs_f64() * self.rate) as u64).min(self.total);
        if due <= self.made {
            std::thread::sleep(wait.min(Duration::from_millis(2)));
            return Ok(Vec::new());
        }
        let until = due.min(self.made + max as u64);
        let changes = (self.made..until).map(change).collect();
        self.made = until;
        Ok(changes)
    }

    fn commit(&mut self, _offsets: &[(i32, i64)]) -> Result<(), String> {
        Ok(())
    }
}

/// Throughput to a fast local partner (see the module contract).
pub fn throughput(changes: u64, batch: usize, scratch: &std::path::Path) -> Result<Throughput, String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let (_receiver, addr) = receiver(&runtime, scratch, false)?;
    let partner = webhook("fast", addr, batch, 50)?;
    let (cpu0, t0) = (process_cpu_seconds(), Instant::now());
    let source = Paced {
        rate: f64::MAX,
        total: changes,
        made: 0,
        started: Instant::now(),
    };
    let mut source = Some(source);
    let mut activator = Activator::start(runtime.handle(), vec![partner], &services(scratch)?, |_| {
        source
            .take()
            .map(|s| Box::new(s) as Box<dyn ChangeSource>)
            .ok_or_else(|| "one partner".to_string())
    })?;
    while activator.status()[0].delivered + activator.status()[0].superseded < changes {
        std::thread::sleep(Duration::from_millis(5));
    }
    let (seconds, cpu_seconds) = (t0.elapsed().as_secs_f64(), process_cpu_seconds() - cpu0);
    activator.stop(Duration::from_secs(5));
    Ok(Throughput {
        delivered: activator.status()[0].delivered,
        seconds,
        cpu_seconds,
    })
}

/// Partner B's latency while partner A is down (see the module contract).
pub fn isolation(rate: f64, duration: Duration, outage: Option<Duration>, scratch: &std::path::Path) -> Result<Isolation, String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let (a_receiver, a_addr) = receiver(&runtime, &scratch.join("a"), false)?;
    let (_b_receiver, b_addr) = receiver(&runtime, &scratch.join("b"), false)?;
    let partners = vec![webhook("a", a_addr, 500, 100)?, webhook("b", b_addr, 500, 100)?];
    let total = (rate * duration.as_secs_f64()) as u64;
    let started = Instant::now();
    let mut activator = Activator::start(runtime.handle(), partners, &services(scratch)?, |_| {
        Ok(Box::new(Paced {
            rate,
            total,
            made: 0,
            started,
        }) as Box<dyn ChangeSource>)
    })?;
    // A's outage sits in the middle of the run.
    let outage_window = outage.map(|o| (duration.saturating_sub(o) / 2, o));
    while started.elapsed() < duration {
        a_receiver.follow_outage(&Faults::default(), outage_window, started.elapsed());
        std::thread::sleep(Duration::from_millis(20));
    }
    a_receiver.set_faults(Faults::default());
    let deadline = Instant::now() + Duration::from_secs(300);
    while activator.status().iter().any(|s| s.read < total || s.pending > 0) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    activator.stop(Duration::from_secs(5));
    let status = activator.status();
    Ok(Isolation {
        outaged: status[0].clone(),
        healthy: status[1].clone(),
        fed: total,
    })
}
