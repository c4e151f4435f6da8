//! A relying party's back-channel logout endpoint on loopback (Back-Channel Logout 1.0
//! §2.5): every form POSTed to it goes to a channel the test reads.

use std::{collections::HashMap, net::SocketAddr};

use tokio::sync::mpsc;

/// One POSTed form, as its fields.
pub type Posted = HashMap<String, String>;

/// Listens on `addr` (`127.0.0.1:0` for a fresh port) and sends each form POSTed to
/// `path` (an axum route, e.g. `/{rp}/backchannel`) to `sender`. Returns the address.
pub async fn receiver_on(
    addr: SocketAddr,
    path: &str,
    sender: mpsc::UnboundedSender<Posted>,
) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        path,
        axum::routing::post(move |axum::Form(form): axum::Form<Posted>| {
            let sender = sender.clone();
            async move {
                let _ = sender.send(form);
                axum::http::StatusCode::OK
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}
