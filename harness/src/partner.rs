//! `segstream-harness partner`: a mock ad partner for load tests of activation.
//!
//! Contract: serves `segstream_activation::receiver` on `listen`, recording receipts in
//! `out/<partner>.ndjson` (the harness follows them with `--partner-receipts`), verifying
//! the webhook signatures of `partner` with the secret in `secret_file` when given, and
//! injecting the configured faults: latency, a share of 5xx, a share of 429s, and a
//! scheduled outage (503 from `down_after` for `down_for`). It runs for `duration` (or
//! until killed) and prints what it answered when it stops.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use segstream_activation::receiver::{app, Faults, Receiver};

/// The mock partner's settings.
#[derive(Clone, Debug)]
pub struct MockPartner {
    /// Where to listen.
    pub listen: std::net::SocketAddr,
    /// Where receipts go.
    pub out: PathBuf,
    /// The partner id whose webhook signatures are checked.
    pub partner: String,
    /// The file holding its webhook secret.
    pub secret_file: Option<PathBuf>,
    /// Faults besides the outage.
    pub faults: Faults,
    /// The outage: `(from, length)` after start.
    pub outage: Option<(Duration, Duration)>,
    /// How long to run.
    pub duration: Option<Duration>,
}

/// Runs the mock partner (see the module contract).
pub fn serve(mock: &MockPartner) -> Result<(), String> {
    let mut secrets = HashMap::new();
    if let Some(path) = &mock.secret_file {
        let secret = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        secrets.insert(mock.partner.clone(), secret.trim().to_string());
    }
    let receiver = Receiver::new(mock.out.clone(), secrets).map_err(|e| format!("{}: {e}", mock.out.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(mock.listen))
        .map_err(|e| format!("listening on {}: {e}", mock.listen))?;
    let router = app(receiver.clone());
    runtime.spawn(async move { axum::serve(listener, router).await });
    tracing::info!("partner: listening on http://{}, receipts in {}", mock.listen, mock.out.display());
    receiver.set_faults(mock.faults.clone());
    let started = Instant::now();
    while mock.duration.is_none_or(|d| started.elapsed() < d) {
        if let Some(down) = receiver.follow_outage(&mock.faults, mock.outage, started.elapsed()) {
            let state = if down { "down" } else { "back up" };
            tracing::info!("partner: {state} at {:.1}s", started.elapsed().as_secs_f64());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let (requests, accepted) = receiver.counts();
    tracing::info!("partner: stopped; {requests} requests answered, {accepted} changes accepted");
    Ok(())
}
