//! The live progress line on stderr while the sale runs.

use std::{io::IsTerminal, sync::atomic::Ordering, time::Duration};

use tokio::time::Instant;

use crate::{buyer::Crowd, stream::LiveView};
use boxoffice_domain::seat::SeatState;

/// The live line on stderr: overwritten in place on a terminal, a line every few seconds
/// otherwise (logs).
pub(super) struct Progress {
    enabled: bool,
    terminal: bool,
    last_requests: u64,
    last_at: Instant,
    last_line: Instant,
}

impl Progress {
    pub(super) fn new(enabled: bool) -> Progress {
        Progress {
            enabled,
            terminal: std::io::stderr().is_terminal(),
            last_requests: 0,
            last_at: Instant::now(),
            last_line: Instant::now(),
        }
    }

    fn line(
        &mut self,
        crowd: &Crowd,
        planned: usize,
        start: Instant,
        monitor: &LiveView,
    ) -> String {
        let c = &crowd.api.recorder.counters;
        let requests = c.requests.load(Ordering::Relaxed);
        let rate =
            (requests - self.last_requests) as f64 / self.last_at.elapsed().as_secs_f64().max(1e-3);
        self.last_requests = requests;
        self.last_at = Instant::now();
        let (arrived, finished) = (
            c.arrived.load(Ordering::Relaxed),
            c.finished.load(Ordering::Relaxed),
        );
        let left = monitor.lock().map.count(SeatState::Available);
        format!(
            "[{:6.1}s] buyers {arrived}/{planned} ({} active)  holds {} (409: {})  sold {}  {rate:.0} req/s  errors {}  seats left {left}",
            start.elapsed().as_secs_f64(),
            arrived.saturating_sub(finished),
            c.holds.load(Ordering::Relaxed),
            c.refused.load(Ordering::Relaxed),
            c.paid_seats.load(Ordering::Relaxed),
            c.errors.load(Ordering::Relaxed),
        )
    }

    pub(super) fn show(
        &mut self,
        crowd: &Crowd,
        planned: usize,
        start: Instant,
        monitor: &LiveView,
    ) {
        if !self.enabled || (!self.terminal && self.last_line.elapsed() < Duration::from_secs(5)) {
            return;
        }
        self.last_line = Instant::now();
        let line = self.line(crowd, planned, start, monitor);
        if self.terminal {
            eprint!("\r{line}\x1b[K");
        } else {
            eprintln!("{line}");
        }
    }

    pub(super) fn finish(
        &mut self,
        crowd: &Crowd,
        planned: usize,
        start: Instant,
        monitor: &LiveView,
    ) {
        if self.enabled {
            let line = self.line(crowd, planned, start, monitor);
            eprintln!("{}{line}", if self.terminal { "\r" } else { "" });
        }
    }
}
