//! The accept loop: one hyper HTTP/1 connection per client, requests handed to the axum
//! router, faults applied on the way in and out.
//!
//! axum's own `serve` cannot close a connection without answering, which is what a
//! dropped connection is; serving connections here lets a faulted request end the
//! connection instead (hyper closes the socket when the service fails).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use axum::response::IntoResponse;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tower::ServiceExt;

use super::error::ArmError;
use super::faults::Fault;
use super::{Shared, admin, routes};

/// How long shutdown waits for in-flight answers before closing connections.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The error that makes hyper close a connection without an answer.
#[derive(Debug)]
struct DroppedConnection;

impl std::fmt::Display for DroppedConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for DroppedConnection {}

pub(crate) struct Server {
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Server {
    pub fn spawn(listener: TcpListener, shared: Arc<Shared>) -> Server {
        let (stop, stopped) = watch::channel(false);
        let router = admin::router()
            .fallback(routes::arm)
            .with_state(shared.clone());
        let task = tokio::spawn(accept_loop(listener, router, shared, stopped));
        Server {
            stop,
            task: Some(task),
        }
    }

    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

async fn accept_loop(
    listener: TcpListener,
    router: axum::Router,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(pair) => pair,
                    Err(err) => {
                        tracing::warn!(%err, "accept failed");
                        continue;
                    }
                };
                let router = router.clone();
                let shared = shared.clone();
                let mut conn_stopped = stopped.clone();
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        handle(router.clone(), shared.clone(), request)
                    });
                    let connection = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service);
                    tokio::pin!(connection);
                    if *conn_stopped.borrow() {
                        connection.as_mut().graceful_shutdown();
                    }
                    tokio::select! {
                        _ = connection.as_mut() => {}
                        _ = conn_stopped.changed() => {
                            connection.as_mut().graceful_shutdown();
                            let _ = connection.await;
                        }
                    }
                });
            }
            _ = stopped.changed() => break,
        }
        // Reap finished connections so the set does not grow without bound.
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        connections.abort_all();
    }
}

async fn handle(
    router: axum::Router,
    shared: Arc<Shared>,
    request: Request<Incoming>,
) -> Result<Response<Body>, DroppedConnection> {
    let path = request.uri().path().to_owned();
    if path == "/_sim" || path.starts_with("/_sim/") {
        return Ok(call(router, request).await);
    }
    shared.record(request.method().as_str(), &path);
    match shared.faults.draw() {
        Fault::None => Ok(call(router, request).await),
        Fault::Throttle => {
            let retry = shared.throttle_retry_after_s.to_string();
            Ok(ArmError::plain(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                "The request is being throttled as the limit has been reached for operation type - Read_ObservationWindow_00:05:00. For more information, see - https://aka.ms/srsthrottlinglimits",
            )
            .with_header(header::RETRY_AFTER, retry)
            .into_response())
        }
        Fault::InternalServerError => Ok(ArmError::plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "Encountered internal server error. Diagnostic information: timestamp '', subscription id '', tracking id '', request correlation id ''.",
        )
        .into_response()),
        Fault::ServiceUnavailable => {
            let mut response = ArmError::plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                "The service is temporarily unavailable. Please retry the request after some time.",
            )
            .into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            Ok(response)
        }
        Fault::DropBefore => Err(DroppedConnection),
        Fault::DropAfter => {
            let response = call(router, request).await;
            // Read the whole answer so the action is complete, then lose it.
            let _ = axum::body::to_bytes(response.into_body(), usize::MAX).await;
            Err(DroppedConnection)
        }
    }
}

async fn call(router: axum::Router, request: Request<Incoming>) -> Response<Body> {
    let request = request.map(Body::new);
    match router.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}
