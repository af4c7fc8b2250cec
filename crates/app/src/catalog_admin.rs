//! Administration of the catalogue: creating venues and the events sold in them. Input is
//! checked once by the domain rules (`venue_rules`, `event_plan`); an event and all its
//! categories and seats are stored in one transaction, so buyers never see half of one.

use std::{collections::HashMap, time::Instant};

use serde_json::json;

use crate::{App, AppError, AppResult, ErrorCode};
use boxoffice_domain::{
    event_plan::{CategoryInput, EventPlan},
    ids::EventId,
    new_id,
    time::Timestamp,
    venue::Layout,
    venue_rules::{NewVenue, is_well_formed_id},
};
use boxoffice_store::{CategoryRecord, NewEvent, VenueRecord};

/// Stores a venue with its layout once both pass the venue rules. Returns the venue and its
/// layout as checked. `by` names the admin, for the log.
pub async fn create_venue(
    app: &App,
    name: &str,
    layout: Layout,
    by: &str,
) -> AppResult<(VenueRecord, Layout)> {
    let venue = NewVenue::parse(name, layout)?;
    let record = VenueRecord {
        id: new_id(),
        name: venue.name,
        layout: serde_json::to_string(&venue.layout).map_err(AppError::internal)?,
        created_at: Timestamp::now(),
    };
    let mut tx = app.db.begin().await?;
    tx.insert_venue(&record).await?;
    tx.commit().await?;
    tracing::info!(venue_id = %record.id, seats = venue.layout.seat_count(), by = by, "venue created");
    Ok((record, venue.layout))
}

/// An event as an admin describes it, before any rule has looked at it.
pub struct NewEventRequest<'a> {
    /// The venue it is sold in.
    pub venue_id: &'a str,
    /// Its name.
    pub name: &'a str,
    /// RFC 3339, in the future.
    pub starts_at: &'a str,
    /// RFC 3339, before `starts_at`.
    pub sale_opens_at: &'a str,
    /// Its price categories.
    pub categories: &'a [CategoryInput],
    /// Seat id to category name, for every seat of the venue.
    pub seat_categories: &'a HashMap<String, String>,
    /// Listed and sold at once, or a draft only admins see until it is published.
    pub published: bool,
}

/// Stores an event with its categories and every seat's category, in one transaction. Returns
/// the new event's id. `by` names the admin, for the log.
pub async fn create_event(app: &App, request: NewEventRequest<'_>, by: &str) -> AppResult<EventId> {
    let now = Timestamp::now();
    let plan = EventPlan::parse(
        request.name,
        request.starts_at,
        request.sale_opens_at,
        request.categories,
        now,
    )?;
    // A venue never changes once stored, so it is read before the write transaction begins (which
    // then stays short); the foreign key still ties the event to it.
    let venue = if is_well_formed_id(request.venue_id) {
        let mut tx = app.db.read().await?;
        let venue = tx.venue_by_id(request.venue_id).await?;
        tx.commit().await?;
        venue
    } else {
        None
    };
    let venue = venue.ok_or_else(|| {
        AppError::refused(ErrorCode::UnknownVenue).details(json!({ "field": "venue_id" }))
    })?;
    let layout: Layout = serde_json::from_str(&venue.layout)
        .map_err(|e| AppError::internal(anyhow::anyhow!("layout of venue {}: {e}", venue.id)))?;
    let seats = plan.assign_seats(&layout, request.seat_categories)?;

    let event_id = EventId::generate();
    let categories: Vec<CategoryRecord> = plan
        .categories
        .iter()
        .enumerate()
        .map(|(position, c)| CategoryRecord {
            id: new_id(),
            event_id: event_id.to_string(),
            name: c.name.clone(),
            price_cents: c.price_cents,
            currency: plan.currency.clone(),
            position: position as i64,
        })
        .collect();
    let seats: Vec<(String, String)> = seats
        .into_iter()
        .map(|(seat_id, category)| (seat_id, categories[category].id.clone()))
        .collect();

    let started = Instant::now();
    let mut tx = app.db.begin().await?;
    tx.insert_event(&NewEvent {
        id: event_id.clone(),
        venue_id: venue.id.clone(),
        name: plan.name.clone(),
        starts_at: plan.starts_at,
        sale_opens_at: plan.sale_opens_at,
        currency: plan.currency.clone(),
        created_at: now,
        published: request.published,
    })
    .await?;
    for category in &categories {
        tx.insert_category(category).await?;
    }
    tx.insert_seats(&event_id, &seats, now).await?;
    tx.commit().await?;
    tracing::info!(
        event_id = %event_id,
        venue_id = %venue.id,
        seats = seats.len(),
        stored_ms = started.elapsed().as_millis() as u64,
        by = by,
        "event created"
    );

    Ok(event_id)
}
