//! The door: the first scan of a ticket's code lets the holder in, any later scan of the same
//! code is refused, and a forged, refunded or unknown code never verifies.

use serde_json::json;

use crate::{App, AppError, AppResult, ErrorCode};
use boxoffice_domain::{
    ticket::{claimed_ticket_id, verify_code},
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

/// Checks in the ticket `code` names, once. `by` names the staff member, for the log.
pub async fn check_in(app: &App, code: &str, by: &str) -> AppResult<CheckedIn> {
    let code = code.trim();
    let ticket_id = claimed_ticket_id(code).ok_or(ErrorCode::InvalidTicket)?;
    let mut tx = app.db.begin().await?;
    let ticket = tx
        .ticket_by_id(ticket_id)
        .await?
        .filter(|t| verify_code(&app.secret, code, &t.id, &t.event_id, &t.seat_id))
        .ok_or(ErrorCode::InvalidTicket)?;
    if !ticket.valid {
        return Err(ErrorCode::InvalidTicket.into());
    }
    if !tx.check_in_ticket(&ticket.id, Timestamp::now()).await? {
        let scanned = ticket.checked_in_at.map(|t| t.to_rfc3339());
        return Err(AppError::refused(ErrorCode::AlreadyCheckedIn)
            .details(json!({ "checked_in_at": scanned })));
    }
    tx.commit().await?;
    let event = app.catalog.event(&ticket.event_id).await?;
    let seat_label = event
        .as_deref()
        .map(|e| e.seat_label(&ticket.seat_id))
        .unwrap_or_else(|| ticket.seat_id.clone());
    tracing::info!(ticket_id = %ticket.id, by, "ticket checked in");
    Ok(CheckedIn { ticket, seat_label })
}
