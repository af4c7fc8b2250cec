//! The rooms' step, every second on every instance: open a room when due, move its frontier,
//! pace it (the automatic rate follows the hold latencies), and export its gauges.

use std::{sync::Arc, time::Duration};

use super::{Figures, Room, WaitingRoom};
use boxoffice_domain::{
    time::Timestamp,
    waiting_room::{next_auto_rate, p99},
};

/// How often the automatic rate may change.
const CONTROL_PERIOD_MS: i64 = 1_000;
/// How far back hold latencies count for the automatic rate.
const LATENCY_WINDOW_MS: i64 = 5_000;
const MAX_LATENCY_SAMPLES: usize = 20_000;

impl WaitingRoom {
    /// A hold request's latency on a room in auto mode, for pacing admissions.
    pub fn record_hold_latency(&self, event_id: &str, latency: Duration) {
        let Some(room) = self.room(event_id) else {
            return;
        };
        let now = Timestamp::now().millis();
        let mut samples = room.latencies.lock().unwrap_or_else(|e| e.into_inner());
        if samples.len() >= MAX_LATENCY_SAMPLES {
            samples.pop_front();
        }
        samples.push_back((now, latency.as_millis().min(u128::from(u32::MAX)) as u32));
    }

    /// This instance's hold p99 over the window, and how many holds it saw.
    fn local_p99(room: &Room, now: i64) -> Option<(u32, usize)> {
        let mut samples = room.latencies.lock().unwrap_or_else(|e| e.into_inner());
        while samples
            .front()
            .is_some_and(|&(at, _)| at < now - LATENCY_WINDOW_MS)
        {
            samples.pop_front();
        }
        let mut values: Vec<u32> = samples.iter().map(|&(_, ms)| ms).collect();
        let n = values.len();
        p99(&mut values).map(|p| (p, n))
    }

    /// One step of every enabled room: open it when due, move its frontier, pace it, export it.
    pub async fn step_all(&self) {
        let rooms: Vec<(String, Arc<Room>)> = self
            .rooms
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (event_id, room) in rooms {
            if Self::enabled(&room) {
                self.step(&event_id, &room).await;
            }
        }
    }

    async fn step(&self, event_id: &str, room: &Room) {
        let now = Timestamp::now().millis();
        let settings = room
            .settings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let local_p99 = Self::local_p99(room, now);
        let mut view = Self::view(room);
        if view.revision != settings.revision || settings.auto.is_none() || view.rate == 0 {
            view.rate = settings.admit_per_minute;
            view.revision = settings.revision;
        }
        match &self.shared {
            None => {
                let figures = self.book(event_id, |b| {
                    b.step(now, room.opens_ms, view.rate, settings.max_active);
                    b.figures(now)
                });
                view.figures = Figures {
                    opened: now >= room.opens_ms,
                    joined: figures.joined,
                    frontier: figures.frontier,
                    waiting: figures.waiting,
                    active: figures.active,
                };
                if let Some(auto) = settings.auto
                    && now - view.last_control_ms >= CONTROL_PERIOD_MS
                {
                    view.rate = next_auto_rate(
                        view.rate,
                        local_p99.map(|(p, _)| p),
                        auto.target_hold_p99_ms,
                        view.figures.waiting > 0,
                    );
                    view.last_control_ms = now;
                }
                view.shared_ok = true;
            }
            Some(shared) => {
                let step = shared
                    .step(
                        event_id,
                        now,
                        room.opens_ms,
                        settings.admit_per_minute,
                        settings.max_active,
                        &self.instance,
                        local_p99,
                        settings.revision,
                        settings.auto.is_some(),
                    )
                    .await;
                match step {
                    Ok(step) => {
                        view.figures = step.figures;
                        view.rate = step.rate;
                        view.shared_ok = true;
                        if let Some(auto) = settings.auto
                            && now - step.last_control >= CONTROL_PERIOD_MS
                        {
                            let next = next_auto_rate(
                                step.rate,
                                step.worst_p99,
                                auto.target_hold_p99_ms,
                                step.figures.waiting > 0,
                            );
                            if let Ok(true) = shared
                                .set_rate(event_id, step.last_control, next, now)
                                .await
                            {
                                view.rate = next;
                            }
                        }
                        room.offline_admissions
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .clear();
                    }
                    Err(e) => {
                        if view.shared_ok {
                            tracing::warn!(event_id, error = %e, "waiting room: Redis does not answer; the line moves on at its rate from here");
                        }
                        // The last step seen stays the base that `frontier_at` moves on from.
                        view.shared_ok = false;
                    }
                }
            }
        }
        if view.shared_ok {
            view.at_ms = now;
        }
        let frontier = view.frontier_at(now);
        view.history.push_back((now, frontier));
        while view
            .history
            .front()
            .is_some_and(|&(at, _)| at < now - 60_000)
        {
            view.history.pop_front();
        }
        let per_minute = match (view.history.front(), view.history.back()) {
            (Some(&(t0, f0)), Some(&(t1, f1))) if t1 > t0 => {
                (f1 - f0.min(f1)) as f64 * 60_000.0 / (t1 - t0) as f64
            }
            _ => 0.0,
        };
        let label = event_id.to_owned();
        metrics::gauge!("boxoffice_waiting_room_queue_length", "event_id" => label.clone())
            .set(view.figures.joined.saturating_sub(frontier) as f64);
        metrics::gauge!("boxoffice_waiting_room_admitted_total", "event_id" => label.clone())
            .set(frontier as f64);
        metrics::gauge!("boxoffice_waiting_room_active_buyers", "event_id" => label.clone())
            .set(view.figures.active as f64);
        metrics::gauge!("boxoffice_waiting_room_admissions_per_minute", "event_id" => label.clone())
            .set(per_minute);
        metrics::gauge!("boxoffice_waiting_room_admit_rate_per_minute", "event_id" => label)
            .set(f64::from(view.rate));
        *room.view.lock().unwrap_or_else(|e| e.into_inner()) = view;
    }
}
