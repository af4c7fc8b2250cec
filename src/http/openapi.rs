//! The OpenAPI document served at `/api/openapi.json`, generated from the handlers themselves.

use utoipa::OpenApi;

use super::{
    admin, admin_catalog, auth, checkin, checkout, events, holds, ops, orders, payments, queue,
    stream,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "boxoffice", description = "Ticket sales for reserved-seat events. Errors are \
        {\"error\": {\"code\", \"message\", \"details\"}}; money is integer minor units; times are RFC 3339 UTC."),
    paths(
        auth::register, auth::login, auth::logout, auth::me,
        events::list_events, events::get_event, events::get_seats, events::get_my_seats,
        events::get_layout,
        stream::sse, stream::websocket,
        holds::create_hold, holds::get_hold, holds::release_hold, checkout::checkout,
        orders::list_orders, orders::get_order, orders::get_ticket, orders::ticket_qr,
        admin_catalog::create_venue, admin_catalog::create_event,
        admin::refund_order, admin::sales_report, admin::set_role, checkin::check_in,
        payments::get_payment, payments::get_provider, payments::webhook,
        queue::join_queue, queue::read_place, queue::get_room, queue::put_room,
        ops::healthz, ops::readyz, ops::metrics_text, ops::openapi_json,
    ),
    components(schemas(events::CompactSeatsResponse)),
    tags(
        (name = "accounts"), (name = "events"), (name = "holds"), (name = "orders"), (name = "admin"), (name = "waiting room"), (name = "operations"),
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
            "/api/v1/events/{event_id}/layout/{hash}",
            "/api/v1/events/{event_id}/seats/mine",
            "/api/v1/holds/{hold_id}/checkout",
            "/api/v1/tickets/{ticket_id}/qr.svg",
            "/api/v1/admin/venues",
            "/api/v1/admin/events",
            "/api/v1/admin/orders/{order_id}/refund",
            "/api/v1/admin/events/{event_id}/sales",
            "/api/v1/checkin",
            "/readyz",
        ] {
            assert!(doc["paths"].get(path).is_some(), "{path} missing");
        }
        assert!(doc["components"]["schemas"]["CompactSeatsResponse"].is_object());
        let detail = doc["components"]["schemas"]["EventDetail"].to_string();
        assert!(detail.contains("\"layout_url\""), "{detail}");
    }
}
