//! Running the tracking API: binding, serving until shutdown, and the shutdown signal.
//!
//! Contract: [`serve`] binds `listen`, says where it listens, serves [`app`] with each
//! client's address, and on `shutdown` stops accepting connections and finishes the
//! requests in flight. [`interrupted_or_terminated`] resolves on Ctrl-C or SIGTERM.

use std::net::SocketAddr;

use crate::api::{app, AppState};

/// Serves the tracking API on `listen` until `shutdown` resolves, then finishes the
/// requests in flight.
pub async fn serve(
    listen: SocketAddr,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("listening on {listen}: {e}"))?;
    tracing::info!("collector: listening on http://{}", listener.local_addr().map_or(listen, |a| a));
    let service = app(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| format!("serving: {e}"))
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM, what orchestrators send before killing.
pub async fn interrupted_or_terminated() {
    let terminated = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut terms) => {
                terms.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "collector: cannot watch SIGTERM; stop it with Ctrl-C");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminated => {}
    }
}
