//! The subcommands: `serve` (default), `migrate`, `audit`, `rehearse`, `sandbox-psp`,
//! `export-static` and `probe`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use boxoffice_server::{Application, Settings, SettingsArgs, shutdown_signal};
use boxoffice_store::{self as storage, audit};

#[derive(Debug, Parser)]
#[command(
    name = "boxoffice",
    version,
    about = "Ticket sales for reserved-seat events"
)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub settings: SettingsArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the HTTP server (the default). Migrates an empty database and creates the demo event.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Check every invariant of the database; prints a JSON report, exits 0 only if none is violated.
    Audit,
    /// Simulate a crowd of buyers and watchers against a deployment; report latencies and a
    /// correctness verdict (exit 0 only when clean).
    Rehearse(Box<boxoffice_rehearse::RehearseArgs>),
    /// Run the sandbox payment provider (Stripe's wire format) as an HTTP service, with faults
    /// to inject, so that the payment boundary can be crossed over the network.
    SandboxPsp(Box<boxoffice_psp::PspArgs>),
    /// Write the buyer's site into DIR for a bucket behind a CDN: index.html and assets/ with
    /// content-hashed names, each with precompressed .gz and .br beside it, and manifest.json.
    ExportStatic {
        /// The directory to write (created if missing; files of the same name are replaced).
        dir: std::path::PathBuf,
    },
    /// Ask the server listening on BOXOFFICE_LISTEN (on this machine) for PATH and exit 0 when it
    /// answers 2xx within two seconds, 1 otherwise: a container HEALTHCHECK without curl.
    Probe {
        /// The path to ask for.
        #[arg(default_value = "/healthz")]
        path: String,
    },
}

pub(crate) async fn run(cli: Cli) -> ExitCode {
    let settings = Settings::from(cli.settings);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings).await,
        Command::Migrate => migrate(settings).await,
        Command::Audit => return audit(settings).await,
        Command::SandboxPsp(args) => return sandbox_psp(settings.listen, *args).await,
        Command::ExportStatic { dir } => export_static(&dir),
        Command::Probe { path } => {
            return match boxoffice_server::probe(settings.listen, &path).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("unhealthy: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        Command::Rehearse(args) => {
            // The audit runs only against a database named on the command line: the default
            // (or an inherited DATABASE_URL) may well not be the target's.
            let audit_url = database_url_given().then(|| settings.database_url.clone());
            return boxoffice_rehearse::run(*args, audit_url).await;
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = ?e, "boxoffice failed");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let app = Application::build(settings).await?;
    let addr = app.local_addr();
    tracing::info!(%addr, "serving");
    // Scripts and tests wait for this line to learn the port when binding port 0.
    println!("boxoffice listening on http://{addr}");
    app.run_until(shutdown_signal()).await
}

async fn migrate(settings: Settings) -> anyhow::Result<()> {
    let db = storage::connect(&settings.database_url, 1).await?;
    db.migrate().await?;
    db.close().await;
    println!(
        "migrations applied to {}",
        storage::redact(&settings.database_url)
    );
    Ok(())
}

/// `boxoffice export-static DIR`: the site's files, as [`boxoffice_server::Site::export`] writes them.
fn export_static(dir: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context;
    let written = boxoffice_server::site()
        .export(dir)
        .with_context(|| format!("writing the site into {}", dir.display()))?;
    for path in &written {
        println!("{path}");
    }
    eprintln!("{} files written to {}", written.len(), dir.display());
    Ok(())
}

/// Prints the JSON report; exit 0 only when no invariant is violated (2 when the audit could
/// not run at all).
async fn audit(settings: Settings) -> ExitCode {
    let outcome = async {
        let db = storage::connect(&settings.database_url, 1).await?;
        let report = audit::run(db.as_ref()).await;
        db.close().await;
        report
    }
    .await;
    match outcome {
        Ok(report) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&report).unwrap_or_default()
            );
            if report.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("audit could not run: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Whether `--database-url` was on the command line (not a default or the environment).
fn database_url_given() -> bool {
    use clap::{CommandFactory, parser::ValueSource};
    let Ok(matches) = Cli::command().try_get_matches_from(std::env::args_os()) else {
        return false;
    };
    let given =
        |m: &clap::ArgMatches| m.value_source("database_url") == Some(ValueSource::CommandLine);
    given(&matches) || matches.subcommand().is_some_and(|(_, sub)| given(sub))
}

/// `boxoffice sandbox-psp`: the sandbox payment provider as its own HTTP service (Stripe's wire
/// format) on `listen` (the global `--listen`), until SIGTERM or SIGINT.
pub(crate) async fn sandbox_psp(
    listen: std::net::SocketAddr,
    args: boxoffice_psp::PspArgs,
) -> ExitCode {
    let config = args.into_config(listen);
    match boxoffice_psp::SandboxPsp::run(config, shutdown_signal()).await {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: sandbox-psp: {e}");
            ExitCode::FAILURE
        }
    }
}
