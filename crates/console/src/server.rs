//! The console as one app and one server: the API and the pages.
//!
//! Contract: [`app`] merges [`crate::api::routes`] and [`crate::pages::routes`];
//! [`serve`] answers on a bound listener until `stopped` resolves, and [`redeliver`]
//! retries a failed hand-over to the classifiers' channel every `every` until stopped,
//! so a publish made while the broker was down reaches the classifiers once it is back.

use std::future::Future;
use std::time::Duration;

use axum::Router;

use crate::api::ApiState;

/// The whole console.
pub fn app(state: ApiState) -> Router {
    crate::api::routes().merge(crate::pages::routes()).with_state(state)
}

/// Serves `app` on `listener` until `stopped` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    stopped: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app).with_graceful_shutdown(stopped).await
}

/// Retries delivery every `every` (see the module contract).
pub async fn redeliver(state: ApiState, every: Duration) {
    loop {
        let repository = state.repository.clone();
        // A failure is kept in the delivery state, which the status line shows.
        let _ = tokio::task::spawn_blocking(move || repository.deliver()).await;
        tokio::time::sleep(every).await;
    }
}
