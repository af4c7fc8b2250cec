//! The `boxoffice rehearse` command line, and the guard that keeps a rehearsal on this machine.

use std::{net::IpAddr, path::PathBuf, time::Duration};

use clap::Args;

use super::scenario::{Arrival, Overrides, Plan, Scenario, Transport};

/// The `boxoffice rehearse` flags.
#[derive(Debug, Clone, Args)]
pub struct RehearseArgs {
    /// The deployment to rehearse against (loopback only unless --allow-remote).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub target: String,
    /// The preset: what the crowd is like before the flags below change it.
    #[arg(long, value_enum, default_value = "flash-sale")]
    pub scenario: Scenario,
    /// How long arrivals keep coming: 30s, 2m, 500ms (a bare number is seconds).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Print the report as JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Also write a self-contained HTML report with plots.
    #[arg(long, value_name = "PATH")]
    pub html: Option<PathBuf>,
    /// Buyers: the count for spike and ramp, the cap for steady.
    #[arg(long)]
    pub buyers: Option<usize>,
    /// Arrivals per second (for ramp: the rate at the end).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Passive live maps that only watch.
    #[arg(long)]
    pub watchers: Option<usize>,
    /// Seats each buyer wants: 2, or a range such as 1-4.
    #[arg(long, value_parser = parse_range)]
    pub(crate) seats_per_buyer: Option<(usize, usize)>,
    /// Of the buyers holding seats, the share who pay.
    #[arg(long)]
    pub pay_ratio: Option<f64>,
    /// Of the buyers holding seats, the share who cancel; the rest abandon.
    #[arg(long)]
    pub cancel_ratio: Option<f64>,
    /// Of the payers, the share whose first card is declined.
    #[arg(long)]
    pub(crate) decline_ratio: Option<f64>,
    /// Of the payers, the share who send the same payment twice.
    #[arg(long)]
    pub(crate) replay_ratio: Option<f64>,
    /// How arrivals are spread over the duration.
    #[arg(long, value_enum)]
    pub arrival: Option<Arrival>,
    /// How the live maps connect.
    #[arg(long, value_enum)]
    pub transport: Option<Transport>,
    /// Hold attempts per buyer before giving up.
    #[arg(long)]
    pub max_attempts: Option<u32>,
    /// The longest human pause between clicks, in milliseconds.
    #[arg(long)]
    pub think_ms: Option<u64>,
    /// Sign buyers in before the opening (default: only for a spike).
    #[arg(long, action = clap::ArgAction::Set)]
    pub(crate) early_sign_in: Option<bool>,
    /// Seed for every random draw; the same seed replays the same crowd.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Each buyer from an address of its own, sent as `X-Forwarded-For` (the target must list
    /// this machine in `BOXOFFICE_TRUSTED_PROXIES`); on by default with bots.
    #[arg(long, action = clap::ArgAction::Set)]
    pub spread_addresses: Option<bool>,
    /// Password guessers in the sale (the `bots` scenario has 2).
    #[arg(long)]
    pub guessers: Option<usize>,
    /// Account farms, each one address registering as many accounts as it can (`bots`: 1).
    #[arg(long)]
    pub(crate) farms: Option<usize>,
    /// Hoarders, each an account that holds all it may and never pays (`bots`: 1).
    #[arg(long)]
    pub(crate) hoarders: Option<usize>,
    /// The event to sell (default: the first one listed with seats available).
    #[arg(long)]
    pub event: Option<String>,
    /// After the last arrival, how long buyers still in the middle of buying may finish.
    #[arg(long, value_parser = parse_duration, default_value = "15s")]
    pub grace: Duration,
    /// Allow a target that is not on this machine.
    #[arg(long)]
    pub allow_remote: bool,
    /// No progress line on stderr.
    #[arg(long)]
    pub quiet: bool,
    /// Instead of --target, start a local cluster of N instances of this executable (on
    /// --database-url, else a fresh SQLite file), a private Redis and a sandbox payment provider,
    /// and rehearse against it; buyers and watchers are spread over the instances.
    #[arg(long, value_name = "N")]
    pub spawn_cluster: Option<usize>,
    /// With --spawn-cluster: kill and restart instances, restart Redis, and make the payment
    /// provider slow and failing for a few seconds, at moments drawn from --seed.
    #[arg(long, requires = "spawn_cluster")]
    pub chaos: bool,
    /// With --spawn-cluster: put HAProxy in front and change the number of instances during the
    /// sale, e.g. `5s:+1,8s:+1,15s:-1` (from the opening: add one, add one, drain one).
    #[arg(long, requires = "spawn_cluster", conflicts_with = "chaos", value_parser = schedule)]
    pub scale: Option<Schedule>,
}

impl RehearseArgs {
    /// The preset of `--scenario` with the flags applied.
    pub(crate) fn plan(&self) -> Result<Plan, String> {
        Plan::preset(self.scenario).with(&Overrides {
            duration: self.duration,
            arrival: self.arrival,
            buyers: self.buyers,
            rate: self.rate,
            watchers: self.watchers,
            seats_per_buyer: self.seats_per_buyer,
            pay_ratio: self.pay_ratio,
            cancel_ratio: self.cancel_ratio,
            decline_ratio: self.decline_ratio,
            replay_ratio: self.replay_ratio,
            max_attempts: self.max_attempts,
            think_ms: self.think_ms,
            transport: self.transport,
            early_sign_in: self.early_sign_in,
            seed: self.seed,
            spread_addresses: self.spread_addresses,
            guessers: self.guessers,
            farms: self.farms,
            hoarders: self.hoarders,
        })
    }
}

/// A `--scale` schedule as given (a newtype: clap would take a bare `Vec` for repeated flags).
#[derive(Debug, Clone)]
pub struct Schedule(pub Vec<super::scaling::ScaleStep>);

fn schedule(raw: &str) -> Result<Schedule, String> {
    super::scaling::parse_scale(raw).map(Schedule)
}

pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (number, unit) = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map_or((s, ""), |i| s.split_at(i));
    let n: f64 = number.parse().map_err(|_| format!("not a duration: {s}"))?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("unknown unit in {s}: use ms, s, m or h")),
    };
    Duration::try_from_secs_f64(secs).map_err(|_| format!("not a duration: {s}"))
}

fn parse_range(s: &str) -> Result<(usize, usize), String> {
    let bad = || format!("not a count or range: {s}");
    match s.split_once('-') {
        Some((a, b)) => Ok((
            a.trim().parse().map_err(|_| bad())?,
            b.trim().parse().map_err(|_| bad())?,
        )),
        None => s.trim().parse().map(|n| (n, n)).map_err(|_| bad()),
    }
}

/// Accepts `http://` URLs on a loopback address (or `localhost`); anything else only when
/// `allow_remote`. A rehearsal is a load test: it must not hit someone else's server by a typo.
pub fn check_target(target: &str, allow_remote: bool) -> Result<String, String> {
    let url = reqwest::Url::parse(target).map_err(|e| format!("--target {target}: {e}"))?;
    if url.scheme() != "http" && !(allow_remote && url.scheme() == "https") {
        return Err(format!(
            "--target {target}: only http:// is supported on loopback"
        ));
    }
    let host = url.host_str().unwrap_or("");
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = match bare.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    };
    if !loopback && !allow_remote {
        return Err(format!(
            "--target {target} is not a loopback address; pass --allow-remote to rehearse against another machine"
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_with_or_without_a_unit() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn seat_counts_read_as_a_number_or_a_range() {
        assert_eq!(parse_range("2"), Ok((2, 2)));
        assert_eq!(parse_range("1-4"), Ok((1, 4)));
        assert!(parse_range("a-b").is_err());
    }

    #[test]
    fn loopback_targets_are_accepted() {
        for t in [
            "http://127.0.0.1:8080",
            "http://localhost:3000/",
            "http://[::1]:8080",
            "http://127.1.2.3",
        ] {
            assert!(check_target(t, false).is_ok(), "{t}");
        }
        assert_eq!(
            check_target("http://127.0.0.1:8080/", false).unwrap(),
            "http://127.0.0.1:8080"
        );
    }

    #[test]
    fn other_targets_need_allow_remote() {
        for t in [
            "http://10.0.0.5:8080",
            "http://example.com",
            "http://0.0.0.0:8080",
        ] {
            assert!(check_target(t, false).is_err(), "{t}");
            assert!(check_target(t, true).is_ok(), "{t}");
        }
        assert!(check_target("ftp://127.0.0.1", true).is_err());
    }
}
