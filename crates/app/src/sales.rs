//! The live figures of a sale for the organiser's dashboard, from this instance's memory alone:
//! the seat counts of the live map, and the revenue as the prices of the sold seats. Every sold
//! seat has exactly one valid ticket (the audit's rule), and an edit may not reprice a sold seat
//! (`catalog_edit`), so the seats' prices add up to the valid tickets' prices: the revenue net of
//! refunds, without a query.

use serde::Serialize;

use crate::{App, catalog::EventInfo, realtime::LiveEvent};

/// One reading of the dashboard's figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct LiveSales {
    /// Every seat.
    pub seats_total: u64,
    /// Free to hold.
    pub available: u64,
    /// In someone's payment window.
    pub held: u64,
    /// Paid for.
    pub sold: u64,
    /// The prices of the sold seats: what was charged minus what was refunded.
    pub revenue_cents: i64,
    /// The event's currency.
    pub currency: String,
    /// Holds seen since this instance loaded the event (differences make a rate).
    pub holds_seen: u64,
    /// Orders seen since this instance loaded the event.
    pub sales_seen: u64,
    /// Buyers in the waiting room's line, when it is on.
    pub queue_length: Option<u64>,
}

/// The figures now.
pub fn live_sales(app: &App, info: &EventInfo, live: &LiveEvent) -> LiveSales {
    let counts = live.counts();
    let revenue_cents = live.sum_over_sold(|seat| {
        info.category_of_seat
            .get(seat)
            .and_then(|c| info.price_of_category.get(c))
            .map_or(0, |p| p.cents)
    });
    let (holds_seen, sales_seen) = live.moves_seen();
    let event_id = &info.record.id;
    LiveSales {
        seats_total: counts.total,
        available: counts.available,
        held: counts.held,
        sold: counts.sold,
        revenue_cents,
        currency: info.record.currency.clone(),
        holds_seen,
        sales_seen,
        queue_length: app
            .waiting_room
            .is_enabled(event_id)
            .then(|| app.waiting_room.figures(event_id).waiting),
    }
}
