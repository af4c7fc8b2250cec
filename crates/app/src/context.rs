//! What every use case works with: the store, the catalogue, the live seat maps and their
//! fan-out, the payment provider, the waiting room, the mailer, and the rules a sale is run by.

use std::{sync::Arc, time::Duration};

use boxoffice_domain::seat::SeatStatus;
use boxoffice_payments::PaymentProvider;
use boxoffice_store::Database;

use crate::{
    catalog::Catalog,
    mail::Mailer,
    realtime::{FanOut, SeatHub},
    security::PasswordHasher,
    waiting_room::WaitingRoom,
};

/// The application: cheap to clone, everything is behind an `Arc`.
#[derive(Clone)]
pub struct App {
    /// The authority on every seat, hold, payment and order.
    pub db: Arc<dyn Database>,
    /// The events on sale, cached.
    pub catalog: Arc<Catalog>,
    /// This instance's live seat maps.
    pub hub: Arc<SeatHub>,
    /// Carries committed seat changes to every instance.
    pub fanout: FanOut,
    /// Names this process in cross-instance messages, so it can skip its own echoes.
    pub instance_id: Arc<str>,
    /// Where the money is taken and given back.
    pub payments: Arc<dyn PaymentProvider>,
    /// The queue in front of a busy sale.
    pub waiting_room: Arc<WaitingRoom>,
    /// The server secret that signs ticket codes.
    pub secret: Arc<Vec<u8>>,
    /// How holds are granted, capped and forgotten.
    pub rules: Arc<SaleRules>,
    /// Hashes and checks passwords off the request threads.
    pub hasher: PasswordHasher,
    /// Sends the buyers' e-mail; `None`: e-mail is off and nothing is queued.
    pub mail: Option<Arc<Mailer>>,
}

/// The settings the sale's use cases obey, read once at startup.
#[derive(Debug, Clone)]
pub struct SaleRules {
    /// How long a hold keeps its seats while the buyer pays.
    pub hold_ttl: Duration,
    /// Seats one account may hold for one event.
    pub max_seats_per_hold: u32,
    /// Seats one account may hold across every event at once.
    pub max_seats_held_total: u32,
    /// How long a buyer waits to hold again the seats they just let go.
    pub hold_cooldown: Duration,
    /// Holds one account may make for one event in an hour.
    pub max_holds_per_event_per_hour: u32,
    /// How long released and expired holds are kept before they are pruned.
    pub ended_hold_retention: Duration,
}

impl App {
    /// Sends committed seat changes to every subscriber of the event, on every instance.
    pub fn publish(&self, event_id: &str, changes: Vec<SeatStatus>) {
        self.fanout.publish(&self.instance_id, event_id, changes);
    }

    /// After a commit that queued e-mail: this instance's sender goes at once rather than at its
    /// next round (any instance's would send it, this one is merely the quickest).
    pub(crate) fn mail_queued(&self) {
        if let Some(mailer) = &self.mail {
            mailer.wake();
        }
    }
}
