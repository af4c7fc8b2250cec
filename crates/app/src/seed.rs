//! Data created at start: the demo venue and event (sold through the same code paths as any other
//! event) and the operator's admin account.

use std::time::Duration;

use crate::security::PasswordHasher;
use boxoffice_domain::{
    account::{DisplayName, Email, Password, Role},
    ids::{EventId, UserId},
    money::DEFAULT_CURRENCY,
    new_id,
    time::Timestamp,
    venue::{DEMO_CATEGORIES, demo_category_of, demo_hall},
};
use boxoffice_store::{CategoryRecord, Database, NewEvent, StoreResult, UserRecord, VenueRecord};

/// Creates the reference hall and an on-sale event in it, unless the database has events already
/// (so a restart keeps everything sold so far).
pub async fn demo_event_if_empty(db: &dyn Database) -> StoreResult<()> {
    let mut tx = db.begin().await?;
    if tx.count_events().await? > 0 {
        return Ok(());
    }
    // Instances starting together must create one demo event, not one each: the first to claim
    // the marker row wins, the others wait on its key and then see it taken.
    let claim = new_id();
    if tx.setting_or_insert("demo_event_claim", &claim).await? != claim {
        return Ok(());
    }
    let now = Timestamp::now();
    let layout = demo_hall();
    let venue = VenueRecord {
        id: new_id(),
        name: "The Reference Hall".to_owned(),
        layout: serde_json::to_string(&layout).expect("a layout serialises"),
        created_at: now,
    };
    tx.insert_venue(&venue).await?;
    let event = NewEvent {
        id: EventId::generate(),
        venue_id: venue.id.clone(),
        name: "Opening Night: The Boxoffice Orchestra".to_owned(),
        starts_at: now.plus(Duration::from_secs(30 * 24 * 3600)),
        sale_opens_at: now.minus(Duration::from_secs(3600)),
        currency: DEFAULT_CURRENCY.to_owned(),
        created_at: now,
        published: true,
    };
    tx.insert_event(&event).await?;
    let mut category_ids = std::collections::HashMap::new();
    for (position, c) in DEMO_CATEGORIES.iter().enumerate() {
        let record = CategoryRecord {
            id: new_id(),
            event_id: event.id.to_string(),
            name: c.name.to_owned(),
            price_cents: c.price_cents,
            currency: event.currency.clone(),
            position: position as i64,
        };
        tx.insert_category(&record).await?;
        category_ids.insert(c.name, record.id);
    }
    let seats: Vec<(String, String)> = layout
        .seats()
        .filter_map(|(_, _, s)| {
            demo_category_of(&s.id).map(|c| (s.id.clone(), category_ids[c].clone()))
        })
        .collect();
    tx.insert_seats(&event.id, &seats, now).await?;
    tx.commit().await?;
    tracing::info!(event_id = %event.id, seats = seats.len(), "created the demo event");
    Ok(())
}

/// Creates the admin account, or resets its password and role if it exists.
pub async fn ensure_admin(
    db: &dyn Database,
    hasher: &PasswordHasher,
    email: &str,
    password: &str,
) -> anyhow::Result<()> {
    let email = Email::parse(email)?;
    let password = Password::parse(password)?;
    let password_hash = hasher.hash(&password).await?;
    let mut tx = db.begin().await?;
    match tx.user_by_email(email.as_str()).await? {
        Some(mut user) => {
            user.password_hash = password_hash;
            user.role = Role::Admin;
            tx.update_user_credentials(&user).await?;
        }
        None => {
            let user = UserRecord {
                id: UserId::generate(),
                email: email.as_str().to_owned(),
                name: DisplayName::parse("Administrator")?.as_str().to_owned(),
                role: Role::Admin,
                password_hash,
                created_at: Timestamp::now(),
            };
            tx.insert_user(&user).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}
