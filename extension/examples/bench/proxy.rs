//! A pass-through proxy in front of lambda-env's Extensions API that stamps the arrival of every
//! `next` call: the exact moment an extension says it is done with an invocation.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Arrival times of the extension's `next` calls, with a wake-up on each.
#[derive(Default)]
pub struct StampLog {
    times: Mutex<Vec<Instant>>,
    arrived: tokio::sync::Notify,
}

pub type Stamps = Arc<StampLog>;

impl StampLog {
    fn push(&self, at: Instant) {
        self.times.lock().unwrap().push(at);
        self.arrived.notify_waiters();
    }

    pub fn len(&self) -> usize {
        self.times.lock().unwrap().len()
    }

    /// Waits for stamp number `index`.
    pub async fn wait_for(&self, index: usize) -> Instant {
        loop {
            let notified = self.arrived.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(at) = self.times.lock().unwrap().get(index) {
                return *at;
            }
            notified.await;
        }
    }
}

/// Serves the proxy to `upstream` on a free port; returns its `host:port`.
pub async fn proxy(upstream: String, nexts: Stamps) -> String {
    async fn forward(
        State((upstream, nexts, client)): State<(String, Stamps, reqwest::Client)>,
        request: Request,
    ) -> Response {
        if request.uri().path().ends_with("/extension/event/next") {
            nexts.push(Instant::now());
        }
        let (parts, body) = request.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX)
            .await
            .unwrap_or_default();
        let url = format!(
            "{upstream}{}",
            parts
                .uri
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/")
        );
        let mut upstream_request = client.request(parts.method, url).body(body);
        for (name, value) in &parts.headers {
            if name != "host" {
                upstream_request = upstream_request.header(name, value);
            }
        }
        let Ok(response) = upstream_request.send().await else {
            return Response::builder().status(502).body(Body::empty()).unwrap();
        };
        let mut builder = Response::builder().status(response.status());
        for (name, value) in response.headers() {
            builder = builder.header(name, value);
        }
        builder
            .body(Body::from(response.bytes().await.unwrap_or_default()))
            .unwrap()
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind proxy");
    let addr = listener.local_addr().expect("proxy addr");
    let app =
        axum::Router::new()
            .fallback(forward)
            .with_state((upstream, nexts, reqwest::Client::new()));
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("127.0.0.1:{}", addr.port())
}
