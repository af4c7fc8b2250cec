//! The `boxoffice` binary: parses the command line and hands over to the crates. Besides the
//! server it carries the operators' other commands (`rehearse`, `sandbox-psp`, `audit`, ...).

mod cli;

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    boxoffice_server::init_telemetry();
    cli::run(cli).await
}
