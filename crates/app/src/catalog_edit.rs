//! The organiser's side of the catalogue once it exists: the venues to build events in, editing
//! an event (name, times, categories, prices, which seat is in which category) and publishing it.
//!
//! An edit is one transaction on the event's locked row. A seat someone holds or bought keeps
//! its category and price (`seats_taken`, 409, and nothing changes): the buyer pays, and the
//! ticket shows, what the map showed them. Free seats move with a conditional update that only
//! touches available seats, so a seat taken meanwhile fails the edit rather than being moved.

use std::collections::HashMap;

use serde_json::json;

use crate::{App, AppError, AppResult, ErrorCode};
use boxoffice_domain::{
    event_edit::{StoredCategory, match_categories, repriced_taken_seats},
    event_plan::{CategoryInput, EventPlan},
    ids::EventId,
    new_id,
    time::Timestamp,
    venue::Layout,
    venue_rules::is_well_formed_id,
};
use boxoffice_store::{CategoryRecord, EventChange, VenueRecord, VenueSummary};

/// How many seats a refusal names at most; the count says how many there were.
const NAMED_SEATS: usize = 50;

/// Every venue, newest first.
pub async fn venues(app: &App) -> AppResult<Vec<VenueSummary>> {
    let mut tx = app.db.read().await?;
    let venues = tx.venues().await?;
    tx.commit().await?;
    Ok(venues)
}

/// One venue with its layout; 404 for an id no venue has.
pub async fn venue(app: &App, venue_id: &str) -> AppResult<(VenueRecord, Layout)> {
    let venue = if is_well_formed_id(venue_id) {
        let mut tx = app.db.read().await?;
        let venue = tx.venue_by_id(venue_id).await?;
        tx.commit().await?;
        venue
    } else {
        None
    };
    let venue = venue.ok_or_else(|| AppError::not_found("Venue"))?;
    let layout = serde_json::from_str(&venue.layout)
        .map_err(|e| AppError::internal(anyhow::anyhow!("layout of venue {}: {e}", venue.id)))?;
    Ok((venue, layout))
}

/// An event as an admin edits it: everything of [`crate::catalog_admin::NewEventRequest`] but
/// the venue, which an event keeps.
pub struct EventEdit<'a> {
    /// Its name.
    pub name: &'a str,
    /// RFC 3339, in the future.
    pub starts_at: &'a str,
    /// RFC 3339, before `starts_at`.
    pub sale_opens_at: &'a str,
    /// Its price categories; a stored category with the same name (ignoring case) keeps its id.
    pub categories: &'a [CategoryInput],
    /// Seat id to category name, for every seat of the venue.
    pub seat_categories: &'a HashMap<String, String>,
}

fn seats_taken(seats: &[String]) -> AppError {
    let named: Vec<&String> = seats.iter().take(NAMED_SEATS).collect();
    AppError::refused(ErrorCode::SeatsTaken)
        .details(json!({ "seat_ids": named, "count": seats.len() }))
}

/// Changes an event as the edit says, all of it or (on any refusal) nothing; 404 for an unknown
/// event. Every instance's catalogue shows the change within its refresh; this one at once.
pub async fn update_event(
    app: &App,
    event_id: &EventId,
    edit: EventEdit<'_>,
    by: &str,
) -> AppResult<()> {
    let info = app
        .catalog
        .event(event_id)
        .await?
        .ok_or_else(|| AppError::not_found("Event"))?;
    let plan = EventPlan::parse(
        edit.name,
        edit.starts_at,
        edit.sale_opens_at,
        edit.categories,
        Timestamp::now(),
    )?;
    let assigned = plan.assign_seats(&info.layout, edit.seat_categories)?;
    let by_seat: HashMap<&str, usize> = assigned.iter().map(|(s, c)| (s.as_str(), *c)).collect();

    let mut tx = app.db.begin().await?;
    if !tx.lock_event(event_id).await? {
        return Err(AppError::not_found("Event"));
    }
    let records = tx.categories_of(event_id).await?;
    let stored: Vec<StoredCategory> = records
        .iter()
        .map(|c| StoredCategory {
            id: c.id.clone(),
            name: c.name.clone(),
            price_cents: c.price_cents,
            currency: c.currency.clone(),
        })
        .collect();
    let index_of: HashMap<&str, usize> = stored
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id.as_str(), i))
        .collect();
    let matched = match_categories(&stored, &plan);
    let taken: Vec<(String, usize)> = tx
        .taken_seats(event_id)
        .await?
        .into_iter()
        .filter_map(|(seat, category)| index_of.get(category.as_str()).map(|&i| (seat, i)))
        .collect();
    let repriced = repriced_taken_seats(&stored, &plan, &matched, &by_seat, &taken);
    if !repriced.is_empty() {
        return Err(seats_taken(&repriced));
    }

    let categories: Vec<CategoryRecord> = plan
        .categories
        .iter()
        .zip(&matched)
        .enumerate()
        .map(|(position, (c, old))| CategoryRecord {
            id: old.map_or_else(new_id, |i| stored[i].id.clone()),
            event_id: event_id.to_string(),
            name: c.name.clone(),
            price_cents: c.price_cents,
            currency: plan.currency.clone(),
            position: position as i64,
        })
        .collect();
    for (category, old) in categories.iter().zip(&matched) {
        if old.is_some() {
            tx.update_category(category).await?;
        } else {
            tx.insert_category(category).await?;
        }
    }
    let current: HashMap<String, String> =
        tx.seat_categories(event_id).await?.into_iter().collect();
    let mut moves: Vec<Vec<String>> = vec![Vec::new(); categories.len()];
    for (seat, category) in &assigned {
        if current.get(seat) != Some(&categories[*category].id) {
            moves[*category].push(seat.clone());
        }
    }
    for (category, seats) in categories.iter().zip(&moves) {
        if seats.is_empty() {
            continue;
        }
        let moved = tx.move_free_seats(event_id, &category.id, seats).await?;
        if moved != seats.len() as u64 {
            // Taken since the check above: name them from this transaction's view.
            let now_taken: Vec<String> = tx
                .taken_seats(event_id)
                .await?
                .into_iter()
                .map(|(seat, _)| seat)
                .filter(|seat| seats.contains(seat))
                .collect();
            return Err(seats_taken(&now_taken));
        }
    }
    let dropped: Vec<String> = stored
        .iter()
        .enumerate()
        .filter(|(i, _)| !matched.contains(&Some(*i)))
        .map(|(_, c)| c.id.clone())
        .collect();
    tx.delete_categories(event_id, &dropped).await?;
    tx.update_event(&EventChange {
        id: event_id.clone(),
        name: plan.name.clone(),
        starts_at: plan.starts_at,
        sale_opens_at: plan.sale_opens_at,
        currency: plan.currency.clone(),
    })
    .await?;
    tx.commit().await?;
    app.catalog.forget(event_id.as_str());
    let moved: usize = moves.iter().map(Vec::len).sum();
    tracing::info!(
        event_id = %event_id,
        seats_moved = moved,
        categories = categories.len(),
        by = by,
        "event edited"
    );
    Ok(())
}

/// Publishes an event (buyers see it and may buy) or makes it a draft again (hidden from
/// buyers; their holds and orders stay as they are). 404 for an unknown event.
pub async fn set_published(
    app: &App,
    event_id: &EventId,
    published: bool,
    by: &str,
) -> AppResult<()> {
    let mut tx = app.db.begin().await?;
    let found = tx.set_event_published(event_id, published).await?;
    tx.commit().await?;
    if !found {
        return Err(AppError::not_found("Event"));
    }
    app.catalog.forget(event_id.as_str());
    tracing::info!(event_id = %event_id, published, by = by, "event publication changed");
    Ok(())
}
