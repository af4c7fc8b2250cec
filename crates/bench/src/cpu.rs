//! CPU metering from /proc over a measured window: the servers under test, this tool, the
//! database and Redis processes, and the whole machine, in cores.

use std::{
    collections::{BTreeMap, HashMap},
    time::Instant,
};

use serde_json::{Value, json};

use crate::{
    machine::{command_output, read_file},
    stats::round2,
};

/// Processes whose CPU the meter reports by name (the database servers and Redis); their
/// figures include whatever else uses them at the time.
pub(crate) const METERED_NAMES: [&str; 3] = ["postgres", "mariadbd", "redis-server"];

/// Clock ticks per second of /proc's CPU times (`USER_HZ`, 100 on Linux).
fn clock_ticks() -> f64 {
    command_output("getconf", &["CLK_TCK"])
        .and_then(|v| v.parse().ok())
        .unwrap_or(100.0)
}

/// `(comm, utime + stime in ticks)` of a process, from /proc/PID/stat.
fn process_ticks(pid: u32) -> Option<(String, u64)> {
    let stat = read_file(&format!("/proc/{pid}/stat"));
    let (head, rest) = stat.rsplit_once(')')?;
    let comm = head.split_once('(')?.1.to_owned();
    // After the command come field 3 (state) onwards; utime and stime are fields 14 and 15.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some((comm, ticks))
}

/// Ticks of every process named in [`METERED_NAMES`], by pid.
fn metered_processes() -> HashMap<u32, (String, u64)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return HashMap::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let (comm, ticks) = process_ticks(pid)?;
            METERED_NAMES
                .contains(&comm.as_str())
                .then_some((pid, (comm, ticks)))
        })
        .collect()
}

/// `(busy, total)` ticks of the whole machine, from the first line of /proc/stat.
fn machine_ticks() -> Option<(u64, u64)> {
    let stat = read_file("/proc/stat");
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<u64> = line
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3)? + v.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

/// CPU used during a measured window, in cores (1.0 = one core busy the whole time): by the
/// boxoffice servers under test, by this tool, by the database servers and Redis, and by the
/// whole machine (the rest is everything else running on it).
pub(crate) struct CpuMeter {
    pub(crate) at: Instant,
    pub(crate) servers: Vec<u32>,
    pub(crate) server_ticks: u64,
    pub(crate) own_ticks: u64,
    pub(crate) named: HashMap<u32, (String, u64)>,
    pub(crate) machine: Option<(u64, u64)>,
}

impl CpuMeter {
    pub(crate) fn start(servers: &[u32]) -> CpuMeter {
        CpuMeter {
            at: Instant::now(),
            servers: servers.to_vec(),
            server_ticks: servers
                .iter()
                .filter_map(|&p| process_ticks(p))
                .map(|t| t.1)
                .sum(),
            own_ticks: process_ticks(std::process::id()).map_or(0, |t| t.1),
            named: metered_processes(),
            machine: machine_ticks(),
        }
    }

    pub(crate) fn stop(self) -> Value {
        let seconds = self.at.elapsed().as_secs_f64();
        let hz = clock_ticks();
        let cores = |ticks: u64| round2(ticks as f64 / hz / seconds);
        let servers: u64 = self
            .servers
            .iter()
            .filter_map(|&p| process_ticks(p))
            .map(|t| t.1)
            .sum();
        let own = process_ticks(std::process::id()).map_or(0, |t| t.1);
        let mut by_name: BTreeMap<String, u64> = BTreeMap::new();
        for (pid, (comm, ticks)) in metered_processes() {
            let before = self.named.get(&pid).map_or(0, |b| b.1);
            *by_name.entry(comm).or_default() += ticks.saturating_sub(before);
        }
        let machine = match (self.machine, machine_ticks()) {
            (Some((b0, t0)), Some((b1, t1))) if t1 > t0 => {
                // Ticks of all cores together; as cores, busy share × number of cores.
                let n =
                    std::thread::available_parallelism().map_or(1, std::num::NonZero::get) as f64;
                json!(round2((b1 - b0) as f64 / (t1 - t0) as f64 * n))
            }
            _ => Value::Null,
        };
        let mut out = json!({
            "seconds": round2(seconds),
            // Unknown (null) for a --target server: its process is not this tool's child.
            "boxoffice_cores": if self.servers.is_empty() {
                Value::Null
            } else {
                cores(servers.saturating_sub(self.server_ticks)).into()
            },
            "measure_cores": cores(own.saturating_sub(self.own_ticks)),
            "machine_busy_cores": machine,
        });
        for name in METERED_NAMES {
            out[format!("{name}_cores")] = cores(by_name.get(name).copied().unwrap_or(0)).into();
        }
        out
    }
}

/// The mean of per-window CPU figures, weighted by each window's length.
pub(crate) fn mean_cpu(windows: &[&Value]) -> Value {
    let total: f64 = windows.iter().filter_map(|w| w["seconds"].as_f64()).sum();
    let mut out = serde_json::Map::new();
    let Some(first) = windows.first().and_then(|w| w.as_object()) else {
        return Value::Null;
    };
    for key in first.keys().filter(|k| k.ends_with("_cores")) {
        let weighted: Vec<f64> = windows
            .iter()
            .filter_map(|w| Some(w[key].as_f64()? * w["seconds"].as_f64()?))
            .collect();
        let mean = (!weighted.is_empty()).then(|| round2(weighted.iter().sum::<f64>() / total));
        out.insert(key.clone(), json!(mean));
    }
    out.insert("seconds".into(), json!(round2(total)));
    Value::Object(out)
}
