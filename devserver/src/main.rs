//! `devserver`: wiring only (options, logging, the environment, the HTTP server, signals).

use anyhow::Context as _;
use clap::Parser as _;
use devserver::args::Args;
use devserver::gateway::{self, Gateway};
use devserver::invoker::Invoker;
use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::signal::unix::{SignalKind, signal};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let filter = std::env::var("DEVSERVER_LOG").unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(devserver::output::OwnLines)
        .init();

    let mut interrupt = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut terminate =
        signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let invoker = Invoker::start(args.sandbox())
        .await
        .context("the function's execution environment did not start")?;
    // Bound once the environment is ready: an open port means "ready" to scripts/dev.
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {} (set DEVSERVER_LISTEN)", args.listen))?;
    let addr = listener
        .local_addr()
        .context("reading the listening address")?;
    let app = gateway::router(Arc::new(Gateway {
        invoker: invoker.clone(),
        account_id: args.account_id.clone(),
    }));
    // The one line scripts and tests wait for.
    tracing::info!(message = "listening", url = %format!("http://{addr}"));

    let (stop, stopped) = tokio::sync::watch::channel(());
    let mut server = tokio::spawn(async move {
        let mut stopped = stopped;
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = stopped.changed().await;
        })
        .await
    });
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
        result = &mut server => {
            invoker.shutdown().await;
            return match result {
                Ok(served) => served.context("the HTTP server stopped"),
                Err(error) => Err(error).context("the HTTP server task failed"),
            };
        }
    }
    tracing::info!(
        message = "stopping: in-flight requests finish, then Lambda's shutdown sequence"
    );
    let _ = stop.send(());
    tokio::select! {
        _ = &mut server => {}
        _ = interrupt.recv() => server.abort(),
        _ = terminate.recv() => server.abort(),
    }
    invoker.shutdown().await;
    tracing::info!(message = "stopped");
    Ok(())
}
