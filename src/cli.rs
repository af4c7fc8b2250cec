//! The subcommands: `serve` (default), `migrate` and `audit`.

use std::process::ExitCode;

use crate::{
    audit,
    config::{Cli, Command, Settings},
    startup::{Application, shutdown_signal},
    storage,
};

pub async fn run(cli: Cli) -> ExitCode {
    let settings = Settings::from(cli.settings);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings).await,
        Command::Migrate => migrate(settings).await,
        Command::Audit => return audit(settings).await,
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
