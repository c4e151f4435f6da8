//! A listener on a loopback port that counts every connection and request reaching it
//! and answers each request with a status and body the test sets: a client's JWKS or
//! back-channel endpoint, to see whether careid's outbound requests reach it or not.

use std::{
    net::SocketAddr,
    sync::{
        Arc, RwLock,
        atomic::{AtomicUsize, Ordering},
    },
};

use axum::{
    http::{StatusCode, header},
    response::IntoResponse,
    serve::ListenerExt,
};

/// A counting listener on `127.0.0.1`, serving until the test ends.
pub struct CountingListener {
    /// Where it listens.
    pub addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
    answer: Arc<RwLock<(StatusCode, String)>>,
}

impl CountingListener {
    /// Listens on a fresh loopback port; every request, any method and path, is
    /// answered with `status` and `body` (as JSON) until [`Self::answer_with`].
    pub async fn start(status: StatusCode, body: &str) -> Self {
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let answer = Arc::new(RwLock::new((status, body.to_owned())));
        let counted = connections.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let listener = listener.tap_io(move |_| {
            counted.fetch_add(1, Ordering::SeqCst);
        });
        let (seen, current) = (requests.clone(), answer.clone());
        let app =
            axum::Router::new().fallback(move || {
                seen.fetch_add(1, Ordering::SeqCst);
                let (status, body) = current.read().unwrap().clone();
                async move {
                    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
                }
            });
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            addr,
            connections,
            requests,
            answer,
        }
    }

    /// `http://127.0.0.1:PORT` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// From now on, answers with `status` and `body`.
    pub fn answer_with(&self, status: StatusCode, body: &str) {
        *self.answer.write().unwrap() = (status, body.to_owned());
    }

    /// How many TCP connections it has accepted.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// How many HTTP requests it has answered.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}
