//! `jobwire serve`: the deploy console.

use crate::ServeArgs;
use jobwire::backend::any::AnyQueue;
use jobwire::console::{Console, ConsoleGate};
use std::process::ExitCode;

/// `jobwire serve`: until SIGINT or SIGTERM.
pub fn main(args: ServeArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return misuse(&error.to_string()),
    };
    runtime.block_on(async {
        let queue = match args.queue.url() {
            Ok(url) => match AnyQueue::connect(&url).await {
                Ok(queue) => queue,
                Err(error) => return misuse(&error.to_string()),
            },
            Err(message) => return misuse(&message),
        };
        let mut console = Console::new(queue).with_interval(args.interval);
        if let Some(token) = args.token.filter(|t| !t.is_empty()) {
            console = console.with_token(token);
        }
        if let Some(dir) = args.manifests {
            console = console.with_manifests(dir);
        }
        if let Some(path) = args.gate_file {
            console =
                console.with_gate(ConsoleGate::File(jobwire::gate::file::FileGate::new(path)));
        }
        if let Some(url) = args.gate_postgres {
            #[cfg(feature = "postgres")]
            match jobwire::gate::postgres::PgGate::connect(&url, &args.gate_name).await {
                Ok(gate) => console = console.with_gate(ConsoleGate::Postgres(gate)),
                Err(error) => return misuse(&error.to_string()),
            }
            #[cfg(not(feature = "postgres"))]
            return misuse(&format!(
                "this build has no PostgreSQL gate for {url} (feature `postgres`)"
            ));
        }
        let listener = match tokio::net::TcpListener::bind(&args.listen).await {
            Ok(listener) => listener,
            Err(error) => return misuse(&format!("cannot listen on {}: {error}", args.listen)),
        };
        let address = listener
            .local_addr()
            .map_or_else(|_| args.listen.clone(), |a| a.to_string());
        println!("jobwire console on http://{address}/");
        let stopped = async {
            let terminate = async {
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(mut signal) => {
                        signal.recv().await;
                    }
                    Err(_) => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                () = terminate => {}
            }
        };
        match axum::serve(listener, console.router())
            .with_graceful_shutdown(stopped)
            .await
        {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                note!("jobwire serve: {error}");
                ExitCode::from(1)
            }
        }
    })
}

fn misuse(message: &str) -> ExitCode {
    note!("jobwire serve: {message} (see `jobwire serve --help`)");
    ExitCode::from(2)
}
