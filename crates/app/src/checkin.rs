//! The door: the first scan of a ticket's code lets the holder in, any later scan of the same
//! code is refused, and a forged, refunded or unknown code never verifies. Scans made offline
//! come later in a batch and are settled by time: the earliest scan of a ticket is its first,
//! wherever and however it was made.

use std::{collections::BTreeMap, sync::Arc};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::json;

use crate::{App, AppError, AppResult, ErrorCode, catalog::EventInfo};
use boxoffice_domain::{
    door::{Gate, OfflineScan, first_of},
    ids::EventId,
    ticket::{DOOR_KEY_ALGORITHM, claimed_ticket_id, door_public_key, verify_code},
    time::Timestamp,
};
use boxoffice_store::TicketRecord;

/// A ticket let in, with its seat's label for the scanner's screen.
pub struct CheckedIn {
    /// The ticket as it was before this scan.
    pub ticket: TicketRecord,
    /// The seat's name as the venue prints it.
    pub seat_label: String,
}

/// Checks in the ticket `code` names, once, at `gate`. `by` names the staff member, for the log.
pub async fn check_in(app: &App, code: &str, gate: &Gate, by: &str) -> AppResult<CheckedIn> {
    let code = code.trim();
    let ticket_id = claimed_ticket_id(code).ok_or(ErrorCode::InvalidTicket)?;
    let mut tx = app.db.begin().await?;
    let ticket = tx
        .ticket_by_id(ticket_id)
        .await?
        .filter(|t| genuine(app, code, t))
        .ok_or(ErrorCode::InvalidTicket)?;
    if !ticket.valid {
        return Err(ErrorCode::InvalidTicket.into());
    }
    if !tx
        .check_in_ticket(&ticket.id, gate.as_str(), Timestamp::now())
        .await?
    {
        let scanned = ticket.checked_in_at.map(|t| t.to_rfc3339());
        let at_gate = Gate::stored(ticket.checked_in_gate.clone());
        return Err(AppError::refused(ErrorCode::AlreadyCheckedIn)
            .details(json!({ "checked_in_at": scanned, "gate": at_gate.as_str() })));
    }
    tx.commit().await?;
    let event = app.catalog.event(&ticket.event_id).await?;
    let seat_label = label(event.as_deref(), &ticket);
    tracing::info!(ticket_id = %ticket.id, gate = gate.as_str(), by, "ticket checked in");
    Ok(CheckedIn { ticket, seat_label })
}

fn genuine(app: &App, code: &str, ticket: &TicketRecord) -> bool {
    verify_code(
        &app.secret,
        code,
        &ticket.id,
        ticket.event_id.as_str(),
        &ticket.seat_id,
    )
}

fn label(event: Option<&EventInfo>, ticket: &TicketRecord) -> String {
    event
        .map(|e| e.seat_label(&ticket.seat_id))
        .unwrap_or_else(|| ticket.seat_id.clone())
}

/// The key a door device checks an event's codes with, offline.
pub struct DoorKey {
    /// `Ed25519`, as WebCrypto names it.
    pub algorithm: &'static str,
    /// The raw 32-byte public key, base64url without padding.
    pub public_key: String,
}

/// The event's public key; 404 for an event that does not exist.
pub async fn door_key(app: &App, event_id: &str) -> AppResult<DoorKey> {
    if app.catalog.event(event_id).await?.is_none() {
        return Err(AppError::not_found("Event"));
    }
    Ok(DoorKey {
        algorithm: DOOR_KEY_ALGORITHM,
        public_key: URL_SAFE_NO_PAD.encode(door_public_key(&app.secret, event_id)),
    })
}

/// How many of an event's tickets are in, by gate.
pub struct CheckinCounts {
    /// Each gate with its tickets checked in, by name.
    pub gates: Vec<(Gate, u64)>,
    /// Tickets checked in, all gates together.
    pub total: u64,
    /// The event's valid tickets.
    pub tickets: u64,
}

/// The event's check-ins by gate, straight from the database; 404 for an unknown event.
pub async fn checkin_counts(app: &App, event_id: &str) -> AppResult<CheckinCounts> {
    let event_id = EventId::parse(event_id).ok_or_else(|| AppError::not_found("Event"))?;
    if app.catalog.event(&event_id).await?.is_none() {
        return Err(AppError::not_found("Event"));
    }
    let mut tx = app.db.read().await?;
    let groups = tx.checkins_by_gate(&event_id).await?;
    tx.commit().await?;
    let mut gates: BTreeMap<Gate, u64> = BTreeMap::new();
    let mut counts = CheckinCounts {
        gates: Vec::new(),
        total: 0,
        tickets: 0,
    };
    for group in groups {
        let (tickets, checked_in) = (group.tickets as u64, group.checked_in as u64);
        counts.tickets += tickets;
        counts.total += checked_in;
        if checked_in > 0 {
            *gates.entry(Gate::stored(group.gate)).or_default() += checked_in;
        }
    }
    counts.gates = gates.into_iter().collect();
    Ok(counts)
}

/// What the server made of one scan made offline.
pub enum Settled {
    /// This scan is the ticket's first: the holder was rightly let in.
    CheckedIn,
    /// Another scan of the ticket came first, at this gate and time.
    AlreadyCheckedIn {
        /// Where the first scan was made.
        gate: Gate,
        /// When.
        at: Timestamp,
    },
    /// Forged, refunded or unknown.
    InvalidTicket,
}

/// One scan of a batch, settled.
pub struct SettledScan {
    /// Its place in the batch.
    pub index: usize,
    /// What it was.
    pub outcome: Settled,
    /// The ticket it names, when the code is genuine, with its seat's label.
    pub ticket: Option<(TicketRecord, String)>,
}

/// Settles scans made offline, in any order and from any devices: for each ticket the earliest
/// genuine scan is its first, unless one at least as early is recorded (online or from another
/// batch). Sending the same batch again gives the same answers. Tickets are settled one at a
/// time, in id order, each in its own short transaction.
pub async fn settle_offline_scans(
    app: &App,
    scans: &[OfflineScan],
    by: &str,
) -> AppResult<Vec<SettledScan>> {
    let mut by_ticket: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    let mut settled: Vec<Option<SettledScan>> = (0..scans.len()).map(|_| None).collect();
    for (index, scan) in scans.iter().enumerate() {
        match claimed_ticket_id(&scan.code) {
            Some(ticket_id) => by_ticket.entry(ticket_id).or_default().push(index),
            None => settled[index] = Some(invalid(index)),
        }
    }
    let mut events: BTreeMap<EventId, Option<Arc<EventInfo>>> = BTreeMap::new();
    for (ticket_id, indices) in by_ticket {
        for scan in settle_ticket(app, ticket_id, scans, &indices, &mut events).await? {
            let index = scan.index;
            settled[index] = Some(scan);
        }
    }
    tracing::info!(scans = scans.len(), by, "offline scans settled");
    Ok(settled.into_iter().flatten().collect())
}

fn invalid(index: usize) -> SettledScan {
    SettledScan {
        index,
        outcome: Settled::InvalidTicket,
        ticket: None,
    }
}

/// The scans at `indices`, which all claim to be `ticket_id`'s.
async fn settle_ticket(
    app: &App,
    ticket_id: &str,
    scans: &[OfflineScan],
    indices: &[usize],
    events: &mut BTreeMap<EventId, Option<Arc<EventInfo>>>,
) -> AppResult<Vec<SettledScan>> {
    let mut tx = app.db.begin().await?;
    let Some(ticket) = tx.ticket_by_id(ticket_id).await? else {
        return Ok(indices.iter().map(|&i| invalid(i)).collect());
    };
    let (genuine_scans, forged): (Vec<usize>, Vec<usize>) = indices
        .iter()
        .partition(|&&i| ticket.valid && genuine(app, &scans[i].code, &ticket));
    let mut out: Vec<SettledScan> = forged.into_iter().map(invalid).collect();
    let Some(first) = first_of(genuine_scans.iter().map(|&i| &scans[i])).map(|k| genuine_scans[k])
    else {
        return Ok(out);
    };
    let scan = &scans[first];
    tx.record_earlier_scan(&ticket.id, scan.gate.as_str(), scan.scanned_at)
        .await?;
    tx.commit().await?;
    // Read what is recorded now, in a transaction of its own: whichever scan is first (this
    // batch's, or one recorded before or meanwhile) is the answer for every scan.
    let mut tx = app.db.read().await?;
    let now = tx.ticket_by_id(&ticket.id).await?;
    tx.commit().await?;
    let recorded = now
        .filter(|t| t.valid)
        .and_then(|t| Some((t.checked_in_at?, Gate::stored(t.checked_in_gate))));
    let Some((at, gate)) = recorded else {
        // Refunded meanwhile: no scan of it counts.
        out.extend(genuine_scans.into_iter().map(invalid));
        return Ok(out);
    };
    if !events.contains_key(&ticket.event_id) {
        let event = app.catalog.event(&ticket.event_id).await?;
        events.insert(ticket.event_id.clone(), event);
    }
    let seat_label = label(events[&ticket.event_id].as_deref(), &ticket);
    for index in genuine_scans {
        let this = &scans[index];
        let outcome = if index == first && (this.scanned_at, &this.gate) == (at, &gate) {
            Settled::CheckedIn
        } else {
            Settled::AlreadyCheckedIn {
                gate: gate.clone(),
                at,
            }
        };
        out.push(SettledScan {
            index,
            outcome,
            ticket: Some((ticket.clone(), seat_label.clone())),
        });
    }
    Ok(out)
}
