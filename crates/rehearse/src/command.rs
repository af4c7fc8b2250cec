//! The subcommand: runs the rehearsal, prints the text or JSON report, writes the HTML one, and
//! turns the verdict into the exit status (0 clean, 1 violations, 2 could not run).

use std::process::ExitCode;

use super::{
    cluster::ClusterSpec,
    driver::{Options, rehearse},
    html,
    options::RehearseArgs,
    report::render_text,
};

/// `audit_database_url` is the database to audit at the end, when one was given explicitly.
pub async fn run(args: RehearseArgs, audit_database_url: Option<String>) -> ExitCode {
    let plan = match args.plan() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("rehearse: {e}");
            return ExitCode::from(2);
        }
    };
    // With a cluster of its own, the database named on the command line is the cluster's.
    let cluster = args.spawn_cluster.map(|instances| ClusterSpec {
        instances,
        database_url: audit_database_url.clone(),
        chaos: args.chaos,
        real_limits: plan.spread_addresses,
        scale: args.scale.clone().map(|s| s.0).unwrap_or_default(),
    });
    let options = Options {
        target: args.target.clone(),
        plan,
        event_id: args.event.clone(),
        grace: args.grace,
        allow_remote: args.allow_remote,
        progress: !args.quiet,
        audit_database_url,
        cluster,
    };
    let report = match rehearse(options).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("rehearse could not run: {e:#}");
            return ExitCode::from(2);
        }
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        print!("{}", render_text(&report));
    }
    if let Some(path) = &args.html
        && let Err(e) = std::fs::write(path, html::render(&report))
    {
        eprintln!("rehearse: writing {}: {e}", path.display());
        return ExitCode::from(2);
    }
    if report.clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
