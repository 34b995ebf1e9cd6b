//! Activation in the embedded deployment: the partners of `configs/partners.toml` fed
//! from the in-process change log, and a local partner that records what it receives.
//!
//! Contract: [`EmbeddedActivation::start`] starts, on a small tokio runtime of its own,
//! the local partner (`segstream_activation::receiver`) on `receiver_addr` when given
//! (one that cannot listen is reported and left out) —
//! recording into `<out_dir>/<partner>.ndjson` and verifying webhook signatures with
//! each partner's secret — and the activator, each partner reading the [`ChangeLog`] with a
//! cursor of its own. Identifiers come from the traffic model's profiles (users are
//! `u<n>`; any other user has no profile, and a partner that needs a profile field
//! dead-letters its changes with that reason). Dead letters go to `dead_letter_dir`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use segstream_activation::activator::{Activator, ChangeSource};
use segstream_activation::config::PartnerConfig;
use segstream_activation::dead_letters::DeadLetterStore;
use segstream_activation::http::HttpClient;
use segstream_activation::metrics::PartnerStatus;
use segstream_activation::pipeline::Services;
use segstream_activation::receiver::{app, Receiver};
use segstream_traffic::{Traffic, TrafficConfig};

use crate::change_log::ChangeLog;

/// Where the embedded activation runs and what it writes.
pub struct ActivationSetup {
    /// The partners.
    pub partners: Vec<PartnerConfig>,
    /// The local partner's address, or `None` for no local partner.
    pub receiver_addr: Option<SocketAddr>,
    /// The local partner's webhook secrets, by partner id.
    pub receiver_secrets: std::collections::HashMap<String, String>,
    /// Where the local partner records receipts.
    pub out_dir: PathBuf,
    /// Where dead letters go.
    pub dead_letter_dir: PathBuf,
    /// The traffic model, for the users' profiles.
    pub traffic: TrafficConfig,
}

/// The running embedded activation.
pub struct EmbeddedActivation {
    activator: Activator,
    runtime: tokio::runtime::Runtime,
    /// The local partner's address, once listening.
    pub receiver_addr: Option<SocketAddr>,
}

impl EmbeddedActivation {
    /// Starts it (see the module contract).
    pub fn start(setup: ActivationSetup, log: &Arc<ChangeLog>) -> Result<EmbeddedActivation, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("activation")
            .enable_all()
            .build()
            .map_err(|e| format!("activation runtime: {e}"))?;
        let receiver_addr = match setup.receiver_addr {
            Some(addr) => {
                let receiver = Receiver::new(setup.out_dir.clone(), setup.receiver_secrets.clone())
                    .map_err(|e| format!("{}: {e}", setup.out_dir.display()))?;
                match runtime.block_on(tokio::net::TcpListener::bind(addr)) {
                    Ok(listener) => {
                        let bound = listener.local_addr().map_err(|e| e.to_string())?;
                        runtime.spawn(async move { axum::serve(listener, app(receiver)).await });
                        Some(bound)
                    }
                    Err(e) => {
                        // Like the demo's collector: reported, and the demo goes on (its
                        // partners retry until something answers there).
                        tracing::warn!(%addr, error = %e, "the local partner cannot listen; the demo runs without it");
                        None
                    }
                }
            }
            None => None,
        };
        let dead_letters =
            DeadLetterStore::open(&setup.dead_letter_dir).map_err(|e| format!("{}: {e}", setup.dead_letter_dir.display()))?;
        let model = Traffic::new(setup.traffic, 0, 1);
        let users = setup.traffic.users;
        let identities = move |names: &[String]| -> Result<Vec<Option<String>>, String> {
            Ok(names
                .iter()
                .map(|name| {
                    let n: u64 = name.strip_prefix('u')?.parse().ok()?;
                    (n < users).then(|| model.profile(n).to_string())
                })
                .collect())
        };
        let services = Services {
            http: HttpClient::default(),
            identities: Arc::new(identities),
            dead_letters: Arc::new(dead_letters),
            topics: None,
            handed: Arc::new(segstream_activation::handed::NoHanded),
        };
        let activator = Activator::start(runtime.handle(), setup.partners, &services, |_| {
            Ok(Box::new(log.cursor()) as Box<dyn ChangeSource>)
        })?;
        Ok(EmbeddedActivation {
            activator,
            runtime,
            receiver_addr,
        })
    }

    /// The partners' pipelines (their metrics, for the demo's `/metrics`).
    pub fn pipelines(&self) -> Vec<segstream_activation::pipeline::Pipeline> {
        self.activator.pipelines().cloned().collect()
    }

    /// The partners' status.
    pub fn status(&self) -> Vec<PartnerStatus> {
        self.activator.status()
    }

    /// Stops reading, delivers what is in flight (up to `drain`), and shuts down.
    pub fn stop(mut self, drain: Duration) -> Vec<PartnerStatus> {
        self.activator.stop(drain);
        let status = self.activator.status();
        self.runtime.shutdown_timeout(Duration::from_secs(1));
        status
    }
}
