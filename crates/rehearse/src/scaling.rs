//! Scaling a spawned cluster mid-sale (`--scale 5s:+1,8s:+1,15s:-1`): HAProxy in front of the
//! instances, instances added and enabled through HAProxy's runtime API, and one drained and
//! removed as an orchestrator would (out of rotation, SIGTERM, gone). Deciding *when* is the
//! engine's job; this plays a fixed schedule and checks our side: a new instance's live map is
//! current the moment it takes traffic, and the clients of a removed one carry on elsewhere.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    sync::Arc,
    time::Duration,
};

use anyhow::{Context, bail};
use serde::Serialize;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    process::{Child, Command},
};
use tokio_util::sync::CancellationToken;

use super::{
    api::Api,
    cluster::{ChaosEvent, Cluster},
    feed::{FeedMessage, parse_message},
    record::{Recorder, Step},
};

/// One change of the cluster's size, from the opening of the sale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ScaleStep {
    #[serde(rename = "at_ms", serialize_with = "millis")]
    pub at: Duration,
    pub change: ScaleChange,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScaleChange {
    /// Start one more instance and put it into rotation.
    Add,
    /// Take the oldest instance out of rotation, stop it gracefully, remove it.
    Drain,
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

/// `5s:+1,8s:+1,15s:-1`: at each time (a duration as `--duration` takes it), `+N` instances
/// added or `-N` drained.
pub(crate) fn parse_scale(raw: &str) -> Result<Vec<ScaleStep>, String> {
    let mut steps = Vec::new();
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (at, change) = part
            .split_once(':')
            .ok_or_else(|| format!("{part:?}: expected TIME:+N or TIME:-N"))?;
        let at = super::options::parse_duration(at)?;
        let (kind, count) = match change.trim().split_at_checked(1) {
            Some(("+", n)) => (ScaleChange::Add, n),
            Some(("-", n)) => (ScaleChange::Drain, n),
            _ => return Err(format!("{part:?}: the change is +N or -N")),
        };
        let count: usize = count
            .parse()
            .map_err(|_| format!("{part:?}: not a count"))?;
        steps.extend(std::iter::repeat_n(ScaleStep { at, change: kind }, count));
    }
    steps.sort_by_key(|s| s.at);
    Ok(steps)
}

/// How many instances a schedule adds: the slots to set aside beyond the first ones.
pub(crate) fn added(steps: &[ScaleStep]) -> usize {
    steps
        .iter()
        .filter(|s| s.change == ScaleChange::Add)
        .count()
}

/// HAProxy in front of every slot of the cluster, the ones not started yet disabled.
pub(crate) struct Balancer {
    pub url: String,
    socket: PathBuf,
    child: tokio::sync::Mutex<Option<Child>>,
}

impl Balancer {
    /// Starts HAProxy on a free port; `running` slots are in rotation from the start.
    pub(crate) async fn start(
        dir: &Path,
        ports: &[u16],
        running: usize,
        log: std::fs::File,
    ) -> anyhow::Result<Balancer> {
        let port = super::cluster::free_port()?;
        let socket = dir.join("haproxy.sock");
        let config = dir.join("haproxy.cfg");
        std::fs::write(&config, config_text(port, &socket, ports, running))
            .context("writing the HAProxy configuration")?;
        let child = Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .context("starting haproxy (Debian's haproxy package)")?;
        let balancer = Balancer {
            url: format!("http://127.0.0.1:{port}"),
            socket,
            child: tokio::sync::Mutex::new(Some(child)),
        };
        // Listening is enough: the instances behind it start afterwards.
        for _ in 0..100 {
            if balancer.command("show info").await.is_ok() {
                return Ok(balancer);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("haproxy did not come up on port {port} (see haproxy.log)")
    }

    /// One command on HAProxy's runtime API; its answer.
    async fn command(&self, line: &str) -> anyhow::Result<String> {
        let mut stream = tokio::net::UnixStream::connect(&self.socket)
            .await
            .context("connecting to HAProxy's runtime API")?;
        stream.write_all(format!("{line}\n").as_bytes()).await?;
        let mut answer = String::new();
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut answer))
            .await
            .context("HAProxy's runtime API did not answer")??;
        Ok(answer)
    }

    /// Puts slot `n` into `state` (`ready`, `drain` or `maint`).
    pub(crate) async fn set_state(&self, n: usize, state: &str) -> anyhow::Result<()> {
        let answer = self
            .command(&format!("set server instances/app{} state {state}", n + 1))
            .await?;
        if !answer.trim().is_empty() {
            bail!("HAProxy refused to set app{} {state}: {answer}", n + 1);
        }
        Ok(())
    }

    /// Waits until HAProxy's health check has seen slot `n` up.
    pub(crate) async fn wait_until_up(&self, n: usize, limit: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + limit;
        let name = format!("instances,app{},", n + 1);
        while tokio::time::Instant::now() < deadline {
            let stat = self.command("show stat").await?;
            // The 18th column of `show stat` is the status.
            let up = stat
                .lines()
                .find(|l| l.starts_with(&name))
                .and_then(|l| l.split(',').nth(17))
                .is_some_and(|s| s == "UP");
            if up {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("app{} did not come up in HAProxy within {limit:?}", n + 1)
    }

    pub(crate) async fn stop(&self) {
        if let Some(mut child) = self.child.lock().await.take() {
            let _ = child.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
        }
    }
}

/// The configuration: as `deploy/haproxy/haproxy.cfg` (least connections, health checks on
/// `/readyz?optional=redis`, tunnels kept open, retries only before a request reached an
/// instance), with fast checks so that a schedule of a few seconds plays out as written.
fn config_text(port: u16, socket: &Path, ports: &[u16], running: usize) -> String {
    let mut servers = String::new();
    for (n, p) in ports.iter().enumerate() {
        let disabled = if n < running { "" } else { " disabled" };
        servers.push_str(&format!(
            "    server app{} 127.0.0.1:{p}{disabled}\n",
            n + 1
        ));
    }
    format!(
        "global
    maxconn 8000
    stats socket {socket} mode 600 level admin

defaults
    mode http
    option forwardfor
    option redispatch
    retry-on conn-failure
    retries 3
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout tunnel 1h
    timeout client-fin 5s
    timeout http-request 10s
    timeout http-keep-alive 10s
    timeout queue 5s

frontend boxoffice
    bind 127.0.0.1:{port}
    default_backend instances

backend instances
    balance leastconn
    option httpchk GET /readyz?optional=redis
    http-check expect status 200
    default-server check inter 250ms fall 1 rise 1 maxconn 50000
{servers}",
        socket = socket.display()
    )
}

/// What the schedule did, and what our side of it showed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScalingFigures {
    pub(crate) schedule: Vec<ScaleStep>,
    pub events: Vec<ChaosEvent>,
    /// Added instances whose map was compared with a running one's as they came into rotation.
    pub new_instances_checked: u64,
    /// Seats a new instance showed older than a running instance had shown just before: a map
    /// that was not current when it started taking traffic. Must be 0.
    pub stale_seats_on_new_instances: u64,
    /// From a live stream's end to its first snapshot on the next connection, every time.
    pub reconnects: u64,
    pub(crate) reconnect_gap_p99_ms: f64,
    pub reconnect_gap_max_ms: f64,
    /// Every stream that ended was live again within 5 s, and no new instance was stale.
    pub ok: bool,
}

/// Plays `schedule` from now (the opening): each step at its time, one after the other; on
/// `stop`, no new step starts.
pub(crate) async fn run_scaling(
    cluster: Arc<Cluster>,
    recorder: Arc<Recorder>,
    event_id: String,
    schedule: Vec<ScaleStep>,
    progress: bool,
    stop: CancellationToken,
) -> ScalingFigures {
    let start = tokio::time::Instant::now();
    let mut figures = ScalingFigures {
        schedule: schedule.clone(),
        ..ScalingFigures::default()
    };
    let note = |f: &mut ScalingFigures, kind: &str, target: String| {
        if progress {
            eprintln!(
                "[{:6.1}s] scaling: {kind} {target}",
                start.elapsed().as_secs_f64()
            );
        }
        f.events.push(ChaosEvent {
            at_ms: recorder.now().as_millis() as u64,
            kind: kind.to_owned(),
            target,
        });
    };
    let mut running: Vec<usize> = (0..cluster.initial).collect();
    let mut next_slot = cluster.initial;
    for step in schedule {
        tokio::select! {
            () = tokio::time::sleep_until(start + step.at) => {}
            () = stop.cancelled() => break,
        }
        match step.change {
            ScaleChange::Add => {
                let n = next_slot;
                next_slot += 1;
                let target = format!("instance {} ({})", n + 1, cluster.direct[n]);
                match add(&cluster, n).await {
                    Ok(()) => {
                        note(&mut figures, "instance_added", target);
                        if let Some(old) = running.first() {
                            let stale = stale_seats(&cluster, &recorder, &event_id, *old, n).await;
                            figures.new_instances_checked += 1;
                            figures.stale_seats_on_new_instances += stale;
                        }
                        running.push(n);
                    }
                    Err(e) => note(
                        &mut figures,
                        "instance_add_failed",
                        format!("{target}: {e:#}"),
                    ),
                }
            }
            ScaleChange::Drain => {
                if running.len() < 2 {
                    note(
                        &mut figures,
                        "drain_skipped",
                        "the last instance stays".into(),
                    );
                    continue;
                }
                let n = running.remove(0);
                let target = format!("instance {} ({})", n + 1, cluster.direct[n]);
                note(&mut figures, "instance_draining", target.clone());
                match drain(&cluster, n).await {
                    Ok(()) => note(&mut figures, "instance_removed", target),
                    Err(e) => note(
                        &mut figures,
                        "instance_drain_failed",
                        format!("{target}: {e:#}"),
                    ),
                }
            }
        }
    }
    figures
}

async fn add(cluster: &Cluster, n: usize) -> anyhow::Result<()> {
    let balancer = cluster.balancer.as_ref().context("no balancer")?;
    cluster.start_instance(n).await?;
    balancer.set_state(n, "ready").await?;
    balancer.wait_until_up(n, Duration::from_secs(10)).await
}

/// Out of rotation first (HAProxy sends it nothing new), then SIGTERM: the instance turns
/// `/readyz` 503, tells its streams to reconnect, finishes what it has, and exits.
async fn drain(cluster: &Cluster, n: usize) -> anyhow::Result<()> {
    let balancer = cluster.balancer.as_ref().context("no balancer")?;
    balancer.set_state(n, "drain").await?;
    cluster
        .terminate_instance(n, Duration::from_secs(30))
        .await?;
    balancer.set_state(n, "maint").await
}

/// Reads the map from a running instance, then from the new one, straight (not through
/// HAProxy): every seat on the new one must be at least as new as the running one showed.
async fn stale_seats(
    cluster: &Cluster,
    recorder: &Arc<Recorder>,
    event_id: &str,
    old: usize,
    new: usize,
) -> u64 {
    let Ok(api) = Api::over(&cluster.direct, recorder.clone()) else {
        return 0;
    };
    let path = format!("/api/v1/events/{event_id}/seats");
    let read = |n: usize| {
        let api = api.on(n);
        let path = path.clone();
        async move {
            let reply = api
                .call(Step::Seats, reqwest::Method::GET, &path, None, None, None)
                .await
                .filter(|r| r.is(200))?;
            match parse_message(Some("snapshot"), &reply.body.to_string()) {
                FeedMessage::Snapshot(seats) => Some(
                    seats
                        .into_iter()
                        .map(|s| (s.id, s.version))
                        .collect::<std::collections::HashMap<_, _>>(),
                ),
                _ => None,
            }
        }
    };
    let (Some(before), Some(after)) = (read(old).await, read(new).await) else {
        // A map that cannot be read at all is as stale as it gets.
        return 1;
    };
    before
        .iter()
        .filter(|(id, v)| after.get(*id).is_none_or(|w| w < v))
        .count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schedule_reads_as_times_and_counts_in_order() {
        let steps = parse_scale("8s:+1, 5s:+1,15s:-1").unwrap();
        let at: Vec<(u64, ScaleChange)> =
            steps.iter().map(|s| (s.at.as_secs(), s.change)).collect();
        assert_eq!(
            at,
            [
                (5, ScaleChange::Add),
                (8, ScaleChange::Add),
                (15, ScaleChange::Drain)
            ]
        );
        assert_eq!(parse_scale("2s:+2").unwrap().len(), 2);
        assert_eq!(added(&parse_scale("1s:+2,3s:-1").unwrap()), 2);
        assert!(parse_scale("5s").is_err());
        assert!(parse_scale("5s:x1").is_err());
        assert!(parse_scale("soon:+1").is_err());
    }

    #[test]
    fn slots_not_started_yet_are_disabled_in_the_configuration() {
        let text = config_text(9000, Path::new("/tmp/h.sock"), &[9001, 9002, 9003], 1);
        assert!(text.contains("server app1 127.0.0.1:9001\n"));
        assert!(text.contains("server app2 127.0.0.1:9002 disabled\n"));
        assert!(text.contains("server app3 127.0.0.1:9003 disabled\n"));
        assert!(text.contains("stats socket /tmp/h.sock mode 600 level admin"));
    }
}
