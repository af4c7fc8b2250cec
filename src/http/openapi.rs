//! The OpenAPI document served at `/api/openapi.json`, generated from the handlers themselves.

use utoipa::OpenApi;

use super::{auth, checkout, events, holds, ops, orders, stream};

#[derive(OpenApi)]
#[openapi(
    info(title = "boxoffice", description = "Ticket sales for reserved-seat events. Errors are \
        {\"error\": {\"code\", \"message\", \"details\"}}; money is integer minor units; times are RFC 3339 UTC."),
    paths(
        auth::register, auth::login, auth::logout, auth::me,
        events::list_events, events::get_event, events::get_seats,
        stream::sse, stream::websocket,
        holds::create_hold, holds::get_hold, holds::release_hold, checkout::checkout,
        orders::list_orders, orders::get_order, orders::get_ticket, orders::ticket_qr,
        ops::healthz, ops::readyz, ops::metrics_text, ops::openapi_json,
    ),
    tags(
        (name = "accounts"), (name = "events"), (name = "holds"), (name = "orders"), (name = "operations"),
    )
)]
struct ApiDoc;

pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_document_lists_every_public_path() {
        let doc = serde_json::to_value(super::document()).unwrap();
        for path in [
            "/api/v1/auth/register",
            "/api/v1/events/{event_id}/holds",
            "/api/v1/holds/{hold_id}/checkout",
            "/api/v1/tickets/{ticket_id}/qr.svg",
            "/readyz",
        ] {
            assert!(doc["paths"].get(path).is_some(), "{path} missing");
        }
    }
}
