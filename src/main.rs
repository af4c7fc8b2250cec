//! The `boxoffice` binary: parses the command line and hands over to the library.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = boxoffice::config::Cli::parse();
    boxoffice::telemetry::init();
    boxoffice::cli::run(cli).await
}
