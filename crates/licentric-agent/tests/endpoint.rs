//! The local endpoint of this system, with the real agent and the real client library: a Unix
//! socket here, the named pipe on Windows (the CI workflow runs this file on Linux, macOS and
//! Windows). The agent binds it, the blocking and the async client connect through their
//! checks and are answered, a second agent for the same endpoint is refused, and a client
//! finds no agent once it stopped.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use licentric_agent::config::{CompanionConfig, ConfigSource};
use licentric_agent::credentials::MemoryStore;
use licentric_agent::notify::Silent;
use licentric_agent::{Agent, AgentOptions, ipc};
use licentric_client::nonblocking::AsyncClient;
use licentric_client::{Client, ClientError, Environment, LicenseState};
use licentric_core::fingerprint::FixedMachineId;

/// A public key (any valid one: nothing is verified here).
const KEY: &str = "dea53b80287ff0a6882e7bba383d6248e049640d1c42283bb8d0632b7f875fd2";

/// An endpoint of this test alone: a socket in `dir`, or a pipe named after this process.
fn endpoint(dir: &Path, name: &str) -> PathBuf {
    if cfg!(windows) {
        PathBuf::from(format!(
            r"\\.\pipe\licentric-endpoint-test-{}-{name}",
            std::process::id()
        ))
    } else {
        dir.join("run").join(format!("{name}.sock"))
    }
}

/// An agent of `product` with nothing activated, its data in `dir`, no server reachable.
async fn agent(dir: &Path, product: &str) -> Agent {
    let text = format!(
        "product_id = \"{product}\"\nproduct_name = \"Acme CAD\"\nenvironment = \"test\"\n\
         api_base_url = \"https://127.0.0.1:9\"\nkey_prefix = \"ACME\"\ntrusted_keys = [\"{KEY}\"]\n\
         data_dir = '{}'\n",
        dir.join("data").display()
    );
    let config = CompanionConfig::parse(&text, "test", ConfigSource::BuiltIn).unwrap();
    let mut options = AgentOptions::new(config);
    options.notifier = std::sync::Arc::new(Silent);
    options.machine = Box::new(FixedMachineId("5c0ffee5c0ffee5c0ffee5c0ffee5c0f".into()));
    options.credentials = Some(Box::new(MemoryStore::default()));
    Agent::start(options).await.unwrap()
}

fn limits() -> ipc::Limits {
    ipc::Limits {
        max_connections: 16,
        idle_timeout: std::time::Duration::from_secs(30),
        management: true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_are_answered_on_the_endpoint_and_a_second_agent_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let path = endpoint(tmp.path(), "answered");
    let agent = agent(tmp.path(), "endpoint-answered").await;
    let listener = ipc::bind(&path).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(ipc::serve(agent.clone(), listener, limits(), async {
        let _ = stopped.await;
    }));

    // The async client: checked, connected, answered.
    let mut client = AsyncClient::connect_to(&path, "endpoint-answered", Environment::Test)
        .await
        .unwrap();
    let status = client.status().await.unwrap();
    assert_eq!(status.state, LicenseState::Unlicensed, "{status:?}");

    // The blocking client, on its own thread.
    let blocking = path.clone();
    let entitled = tokio::task::spawn_blocking(move || {
        let mut client =
            Client::connect_to(&blocking, "endpoint-answered", Environment::Test).unwrap();
        client.has_entitlement("export-pdf").unwrap()
    })
    .await
    .unwrap();
    assert!(!entitled, "nothing is activated");

    // A client that asks for another product is told so, not answered for it.
    let wrong = AsyncClient::connect_to(&path, "another-product", Environment::Test).await;
    assert!(
        matches!(wrong, Err(ClientError::WrongAgent { .. })),
        "{wrong:?}"
    );

    // A second agent for the same endpoint is refused while the first serves it.
    let second = ipc::bind(&path).await;
    assert!(
        matches!(second, Err(ipc::IpcError::AlreadyRunning(_))),
        "{second:?}"
    );

    // Stopped: a client finds no agent (the endpoint is gone, not left to a stranger).
    drop(client);
    stop.send(()).unwrap();
    serving.await.unwrap();
    let after = AsyncClient::connect_to(&path, "endpoint-answered", Environment::Test).await;
    assert!(
        matches!(after, Err(ClientError::NotRunning(_))),
        "{after:?}"
    );
}
