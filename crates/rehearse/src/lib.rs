//! `boxoffice rehearse`: a crowd simulated against any boxoffice deployment through its public
//! API only, with a report of latencies, live-update delivery and a correctness verdict.
//!
//! Pure logic, unit-tested without I/O: `scenario` (presets and what each buyer intends),
//! `arrivals` (open-model schedules), `seats` (how buyers pick), `feed` (the live seat feed as
//! a client reads it), `stats` (percentiles, histograms) and `verdict` (the checks over what the
//! crowd observed). The I/O: `api` (timed requests), `stream` (live maps), `buyer` (one visit),
//! `driver` (the whole run), `record` (observations), `report` and `html` (output), `command`
//! (the subcommand), `cluster` (a local cluster of its own, and the chaos injected into it).

mod api;
mod arrivals;
mod bots;
mod buyer;
mod cluster;
mod command;
mod driver;
mod feed;
mod html;
mod options;
mod queue;
mod record;
mod report;
mod scaling;
mod scenario;
mod seats;
mod stats;
mod stream;
mod verdict;

pub use cluster::CROWD_FROM_ONE_ADDRESS;
pub use command::run;
pub use driver::{Options, rehearse};
pub use options::{RehearseArgs, check_target};
pub use record::Visit;
pub use report::{Report, render_text};
pub use scenario::{Overrides, Plan, Scenario, Transport};
pub use stats::percentile;
