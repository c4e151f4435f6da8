//! The demo relying parties (`careid-demo`) beside a test server, each on an ephemeral
//! port: the shipped demo client files are copied with their ports changed to the ones
//! the demos got, so careid knows them as it knows the real 8081–8083.

use careid_demo::Demo;
use tokio::{net::TcpListener, sync::watch};

use crate::TestServer;

/// A careid test server and the three demos that sign in with it.
pub struct Demos {
    pub server: TestServer,
    /// `http://127.0.0.1:PORT` of the demo CRM.
    pub crm: String,
    /// … of the demo EMR.
    pub emr: String,
    /// … of the demo client portal.
    pub portal: String,
    _stop: watch::Sender<bool>,
    _clients: tempfile::TempDir,
}

impl Demos {
    /// Starts careid (with its background jobs, so back-channel logouts are delivered)
    /// and the demo CRM, EMR and client portal.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// [`Self::start`], with careid's configuration changed by `adjust` (to send its mail
    /// to a test's SMTP sink, say).
    pub async fn start_with(adjust: impl FnOnce(&mut careid_server::Config)) -> Self {
        let shipped = [
            ("crm", "127.0.0.1:8081", false),
            ("emr", "127.0.0.1:8082", false),
            ("client-portal", "127.0.0.1:8083", true),
        ];
        let mut listeners = Vec::new();
        for _ in shipped {
            listeners.push(TcpListener::bind("127.0.0.1:0").await.unwrap());
        }
        let addrs: Vec<String> = listeners
            .iter()
            .map(|l| l.local_addr().unwrap().to_string())
            .collect();
        let clients = crate::clients_dir_with(&[]);
        let mut texts = Vec::new();
        for ((client_id, shipped_addr, _), addr) in shipped.iter().zip(&addrs) {
            let path = clients.path().join(format!("{client_id}.toml"));
            let text = std::fs::read_to_string(&path)
                .unwrap()
                .replace(shipped_addr, addr);
            std::fs::write(&path, &text).unwrap();
            texts.push(text);
        }
        let dir = clients.path().to_path_buf();
        let server = TestServer::start_with(|config| {
            config.clients_dir = dir;
            adjust(config);
        })
        .await;
        let (stop, stopped) = watch::channel(false);
        for (((_, _, switch), text), listener) in shipped.iter().zip(&texts).zip(listeners) {
            let rp = careid_server::cli::demo::demo_rp(&server.url, text, *switch).unwrap();
            let mut stopped = stopped.clone();
            tokio::spawn(careid_demo::serve(Demo::new(rp), listener, async move {
                let _ = stopped.wait_for(|s| *s).await;
            }));
        }
        let url = |i: usize| format!("http://{}", addrs[i]);
        Self {
            crm: url(0),
            emr: url(1),
            portal: url(2),
            server,
            _stop: stop,
            _clients: clients,
        }
    }
}
