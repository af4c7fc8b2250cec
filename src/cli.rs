//! The subcommands: `serve` (default), `migrate`, `audit`, `rehearse`, `sandbox-psp`,
//! `export-static` and `probe`.

use std::process::ExitCode;

use crate::{
    audit,
    config::{Cli, Command, Settings},
    rehearse,
    startup::{Application, shutdown_signal},
    storage,
};

pub async fn run(cli: Cli) -> ExitCode {
    let settings = Settings::from(cli.settings);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings).await,
        Command::Migrate => migrate(settings).await,
        Command::Audit => return audit(settings).await,
        Command::SandboxPsp(args) => return sandbox_psp(settings.listen, *args).await,
        Command::ExportStatic { dir } => export_static(&dir),
        Command::Probe { path } => {
            return match probe(settings.listen, &path).await {
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
            return rehearse::run(*args, audit_url).await;
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

/// `boxoffice probe [PATH]`: GET PATH from the server bound to `listen`, reached over loopback
/// when it binds every address. Ok on a 2xx answer within two seconds.
pub async fn probe(listen: std::net::SocketAddr, path: &str) -> anyhow::Result<()> {
    let mut addr = listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let path = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    let status = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(2))
        .no_proxy()
        .build()?
        .get(format!("http://{addr}{path}"))
        .send()
        .await?
        .status();
    anyhow::ensure!(status.is_success(), "{path} answered {status}");
    Ok(())
}

/// `boxoffice export-static DIR`: the site's files, as [`crate::site::Site::export`] writes them.
fn export_static(dir: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context;
    let written = crate::site::site()
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
pub async fn sandbox_psp(
    listen: std::net::SocketAddr,
    args: crate::payments::psp::PspArgs,
) -> ExitCode {
    let config = args.into_config(listen);
    match crate::payments::psp::SandboxPsp::run(config, shutdown_signal()).await {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: sandbox-psp: {e}");
            ExitCode::FAILURE
        }
    }
}
