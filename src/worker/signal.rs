//! The operating system's request to stop.

/// Resolves when the process is asked to stop: SIGTERM (what Kubernetes,
/// Heroku and systemd send) or SIGINT (Ctrl-C). Hand it to
/// [`Worker::run`](crate::worker::Worker::run).
///
/// If a signal handler cannot be installed, the future never resolves and
/// an error is logged: the worker then stops only when the process is
/// killed, which loses nothing (leases run out and the jobs run again).
/// The handlers are installed when the future is first polled, which
/// [`Worker::run`](crate::worker::Worker::run) does before its first claim.
///
/// ```no_run
/// # async fn demo(worker: jobwire::worker::Worker<jobwire::backend::sqlite::Sqlite>) {
/// let report = worker.run(jobwire::worker::shutdown_signal()).await;
/// # }
/// ```
pub async fn shutdown_signal() {
    {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            match (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
                        _ = int.recv() => tracing::info!("SIGINT: shutting down"),
                    }
                }
                (Err(error), _) | (_, Err(error)) => {
                    tracing::error!(%error, "could not listen for SIGTERM and SIGINT");
                    std::future::pending::<()>().await;
                }
            }
        }
        #[cfg(not(unix))]
        {
            if let Err(error) = tokio::signal::ctrl_c().await {
                tracing::error!(%error, "could not listen for Ctrl-C");
                std::future::pending::<()>().await;
            }
        }
    }
}
