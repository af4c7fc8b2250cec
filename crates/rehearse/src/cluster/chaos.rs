//! `--chaos`: faults injected into the spawned cluster while the crowd buys (an instance killed
//! and restarted, Redis restarted, the provider slow and failing), each healed before the next.

use std::{sync::Arc, time::Duration};

use boxoffice_psp::Faults;
use rand::{Rng, SeedableRng, rngs::StdRng, seq::SliceRandom};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::Cluster;
use crate::record::Recorder;

/// One fault injected during the run, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct ChaosEvent {
    /// Since the start of the rehearsal.
    pub at_ms: u64,
    /// `instance_killed`, `instance_restarted`, `instance_restart_failed`, `redis_killed`,
    /// `redis_restarted`, `psp_faulty` or `psp_healed`.
    pub kind: String,
    pub target: String,
}

/// What the chaos did: its events, and the windows in which a component was down (a 5xx answer
/// in one is reported apart, as `during_chaos`).
#[derive(Debug, Clone, Default)]
pub(crate) struct ChaosLog {
    pub events: Vec<ChaosEvent>,
    pub windows: Vec<(Duration, Duration)>,
}

/// After a component comes back, answers are still attributed to its outage for this long.
pub(super) const WINDOW_TAIL: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fault {
    Kill,
    Redis,
    Psp,
}

/// When each fault strikes, from the start of the sale: at least one of each kind, one more
/// for every ten seconds of sale, spread over the first 60% of it (after the first 10%), so
/// that everything has healed well before the end.
pub(super) fn schedule(sale: Duration, rng: &mut StdRng) -> Vec<(Duration, Fault)> {
    let mut kinds = vec![Fault::Kill, Fault::Redis, Fault::Psp];
    for _ in 0..sale.as_secs() / 10 {
        kinds.push([Fault::Kill, Fault::Redis, Fault::Psp][rng.random_range(0..3)]);
    }
    kinds.shuffle(rng);
    let (start, end) = (sale.mul_f64(0.1), sale.mul_f64(0.6));
    let slot = (end - start) / kinds.len() as u32;
    kinds
        .into_iter()
        .enumerate()
        .map(|(i, kind)| {
            let jitter = slot.mul_f64(rng.random_range(0.0..0.5));
            (start + slot * i as u32 + jitter, kind)
        })
        .collect()
}

/// Runs the chaos over the sale: each fault in turn at its moment, each healed before the next
/// (at most one instance is down at a time). On `stop`, no new fault starts; the one under way
/// is still healed.
pub(crate) async fn run_chaos(
    cluster: Arc<Cluster>,
    recorder: Arc<Recorder>,
    sale: Duration,
    seed: u64,
    progress: bool,
    stop: CancellationToken,
) -> ChaosLog {
    let mut rng = StdRng::seed_from_u64(seed ^ 0xc4a0_5c4a_05c4_a05c);
    let plan = schedule(sale, &mut rng);
    let start = tokio::time::Instant::now();
    let mut log = ChaosLog::default();
    let note = |log: &mut ChaosLog, kind: &str, target: String| {
        let at = recorder.now();
        if progress {
            eprintln!(
                "[{:6.1}s] chaos: {kind} {target}",
                start.elapsed().as_secs_f64()
            );
        }
        log.events.push(ChaosEvent {
            at_ms: at.as_millis() as u64,
            kind: kind.to_owned(),
            target,
        });
        at
    };
    for (at, fault) in plan {
        tokio::select! {
            _ = tokio::time::sleep_until(start + at) => {}
            _ = stop.cancelled() => break,
        }
        match fault {
            Fault::Kill => {
                let n = rng.random_range(0..cluster.instances.len());
                let target = format!("instance {} ({})", n + 1, cluster.bases[n]);
                cluster.kill_instance(n).await;
                let from = note(&mut log, "instance_killed", target.clone());
                tokio::time::sleep(Duration::from_millis(rng.random_range(300..1000))).await;
                let to = match cluster.restart_instance(n).await {
                    Ok(()) => note(&mut log, "instance_restarted", target),
                    Err(e) => note(
                        &mut log,
                        "instance_restart_failed",
                        format!("{target}: {e}"),
                    ),
                };
                log.windows.push((from, to + WINDOW_TAIL));
            }
            Fault::Redis => {
                let target = format!("redis 127.0.0.1:{}", cluster.redis_port);
                cluster.kill_redis().await;
                let from = note(&mut log, "redis_killed", target.clone());
                tokio::time::sleep(Duration::from_millis(rng.random_range(300..800))).await;
                let to = match cluster.restart_redis().await {
                    Ok(()) => note(&mut log, "redis_restarted", target),
                    Err(e) => note(&mut log, "redis_restart_failed", format!("{target}: {e}")),
                };
                log.windows.push((from, to + WINDOW_TAIL));
            }
            Fault::Psp => {
                let faults = Faults {
                    latency: Duration::from_millis(rng.random_range(100..600)),
                    error_rate: rng.random_range(0.05..0.25),
                    timeout_rate: rng.random_range(0.02..0.1),
                    webhook_drop_rate: rng.random_range(0.3..0.8),
                    ..Faults::default()
                };
                let target = format!(
                    "payment provider: latency {} ms, errors {:.0}%, lost answers {:.0}%, webhooks dropped {:.0}%",
                    faults.latency.as_millis(),
                    faults.error_rate * 100.0,
                    faults.timeout_rate * 100.0,
                    faults.webhook_drop_rate * 100.0
                );
                cluster.set_faults(faults);
                note(&mut log, "psp_faulty", target);
                tokio::time::sleep(Duration::from_millis(rng.random_range(1500..3500))).await;
                cluster.set_faults(Faults::default());
                note(&mut log, "psp_healed", "payment provider".to_owned());
            }
        }
    }
    log
}

impl ChaosLog {
    pub(crate) fn during(&self, at: Duration) -> bool {
        self.windows.iter().any(|(a, b)| *a <= at && at <= *b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_fault_strikes_within_the_first_part_of_the_sale() {
        for seed in 0..20 {
            let mut rng = StdRng::seed_from_u64(seed);
            let sale = Duration::from_secs(25);
            let plan = schedule(sale, &mut rng);
            assert_eq!(plan.len(), 5);
            for kind in [Fault::Kill, Fault::Redis, Fault::Psp] {
                assert!(plan.iter().any(|(_, k)| *k == kind));
            }
            assert!(plan.windows(2).all(|w| w[0].0 <= w[1].0));
            assert!(plan.iter().all(|(at, _)| *at <= sale.mul_f64(0.6)));
        }
    }
}
