//! The HTTP port (`http-port`, default `port + 2000`, so 8379; 0 turns it off): liveness and
//! readiness probes, Prometheus metrics, the dashboard page, and the WebSocket front door.
//!
//! | Route | |
//! |---|---|
//! | `GET /` | the dashboard (`dashboard.html`, built into the binary) |
//! | `GET /healthz` | 200 while the process serves requests |
//! | `GET /readyz` | 503 while the data is loading (recovery) or the server shuts down, 200 while commands run |
//! | `GET /metrics` | Prometheus text format ([`metrics`]) |
//! | `GET /ws` | WebSocket upgrade: a client connection like a RESP one (docs/websocket.md) |
//!
//! HTTP has its own port because an HTTP request line and an inline RESP command look alike.
//! It runs on the server's tokio runtime; a WebSocket, once upgraded, is served by the same
//! connection loop as every other client (`server::conn`), through [`ws::WsTransport`].

pub mod metrics;
pub mod ws;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;

use crate::server::Server;

struct Http {
    srv: Arc<Server>,
    /// The listener's address, CLIENT LIST's `laddr` for WebSocket clients.
    laddr: String,
    registry: prometheus_client::registry::Registry,
}

type St = State<Arc<Http>>;

/// Serves HTTP on `l` until the server shuts down.
pub async fn serve(srv: Arc<Server>, l: TcpListener) {
    let laddr = l.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let state = Arc::new(Http {
        registry: metrics::registry(srv.clone()),
        srv: srv.clone(),
        laddr,
    });
    let app = Router::new()
        .route("/", get(dashboard))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/ws", get(websocket))
        .with_state(state);
    let r = axum::serve(l, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async move { srv.wait_shutdown().await })
        .await;
    if let Err(e) = r {
        tracing::warn!(error = %e, "the HTTP listener stopped");
    }
}

async fn dashboard() -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        include_str!("dashboard.html"),
    )
        .into_response()
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(h): St) -> Response {
    if h.srv.loading.load(Ordering::Acquire) {
        (StatusCode::SERVICE_UNAVAILABLE, "loading\n").into_response()
    } else if h.srv.shutting_down() {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response()
    } else {
        (StatusCode::OK, "ready\n").into_response()
    }
}

async fn metrics(State(h): St) -> Response {
    let mut body = String::new();
    match prometheus_client::encoding::prometheus_text::encode(&mut body, &h.registry) {
        Ok(()) => (
            [(
                header::CONTENT_TYPE,
                prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            )],
            body,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn websocket(
    State(h): St,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    up: axum::extract::ws::WebSocketUpgrade,
) -> Response {
    // The RESP door's bounds: a message is at most a query buffer.
    let limit = h.srv.config.hot.query_buffer_limit.load(Ordering::Relaxed) as usize;
    let srv = h.srv.clone();
    let laddr = h.laddr.clone();
    up.max_message_size(limit)
        .max_frame_size(limit)
        .read_buffer_size(ws::READ_BUFFER)
        .on_upgrade(move |sock| {
            srv.stats
                .connections_received
                .fetch_add(1, Ordering::Relaxed);
            crate::server::conn::serve::<_, crate::server::door::WebSocket>(
                srv,
                ws::WsTransport::new(sock),
                addr.to_string(),
                laddr,
                crate::server::clients::is_loopback_ip(addr.ip()),
            )
        })
}
