//! The OpenAPI document served at `/api/openapi.json`, generated from the handlers themselves.

use serde::Serialize;
use utoipa::{
    Modify, OpenApi, ToSchema,
    openapi::{Content, HttpMethod, Ref, RefOr, Response, ResponseBuilder, path::Operation},
};

use super::{
    admin, admin_catalog, admin_events, admin_orders, auth, checkin, checkout, events, holds, ops,
    orders, payments, queue, stream,
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
        admin_catalog::list_venues, admin_catalog::get_venue,
        admin_events::list_events, admin_events::get_event, admin_events::update_event,
        admin_events::set_published,
        admin_orders::search_orders, admin_orders::get_order, admin_orders::orders_csv,
        admin_orders::attendees_csv, admin_orders::list_people,
        admin::refund_order, admin::sales_report, admin::set_role,
        checkin::check_in, checkin::check_in_batch, checkin::door_key, checkin::checkin_counts,
        payments::get_payment, payments::get_provider, payments::webhook,
        queue::join_queue, queue::read_place, queue::get_room, queue::put_room,
        ops::healthz, ops::readyz, ops::metrics_text, ops::openapi_json,
    ),
    components(schemas(ErrorBody, ErrorObject, events::CompactSeatsResponse)),
    modifiers(&EveryStatus),
    tags(
        (name = "accounts"), (name = "events"), (name = "holds"), (name = "orders"), (name = "admin"), (name = "door"), (name = "waiting room"), (name = "operations"),
    )
)]
struct ApiDoc;

pub(crate) fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The one error format (crates/server/src/http/error.rs), as the document describes every error answer.
#[derive(Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    pub error: ErrorObject,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct ErrorObject {
    /// A stable `snake_case` code, such as `seat_unavailable` or `rate_limited`.
    pub code: String,
    pub message: String,
    /// Particulars of some errors (the seats that were taken, the field that was refused).
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
}

/// Adds the statuses the layers in front of every handler can answer, which no handler's own
/// annotation would think of: the JSON extractor's 400/413/415/422, the cross-origin 403, the
/// rate limits' 429, the path extractor's 404, overload's 503; and gives every error answer the
/// error format's schema.
struct EveryStatus;

const RATE_LIMITED: &[(HttpMethod, &str)] = &[
    (HttpMethod::Post, "/api/v1/auth/login"),
    (HttpMethod::Post, "/api/v1/auth/register"),
    (HttpMethod::Post, "/api/v1/events/{event_id}/holds"),
    (HttpMethod::Post, "/api/v1/holds/{hold_id}/checkout"),
];

/// Statuses particular to one route that its handler returns from deeper down.
const PARTICULAR: &[(HttpMethod, &str, u16, &str)] = &[
    (
        HttpMethod::Post,
        "/api/v1/holds/{hold_id}/checkout",
        401,
        "unauthorized: sign in to continue",
    ),
    (
        HttpMethod::Get,
        "/api/v1/events/{event_id}/ws",
        400,
        "websocket_upgrade_required: not a WebSocket handshake",
    ),
    (
        HttpMethod::Post,
        "/api/v1/events/{event_id}/holds",
        429,
        "rate_limited: too many holds from this address, by this account per minute, or in this event this hour",
    ),
];

impl Modify for EveryStatus {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            for (method, operation) in operations(item) {
                let mut add = |status: u16, description: &str| {
                    operation
                        .responses
                        .responses
                        .entry(status.to_string())
                        .or_insert_with(|| RefOr::T(error_response(description)));
                };
                for (m, p, status, description) in PARTICULAR {
                    if *m == method && p == path {
                        add(*status, description);
                    }
                }
                if RATE_LIMITED.contains(&(method.clone(), path.as_str())) {
                    add(429, "rate_limited: try again after Retry-After seconds");
                }
                let api = path.starts_with("/api/v1/");
                let stream = path.ends_with("/stream") || path.ends_with("/ws");
                let reads_json = operation
                    .request_body
                    .as_ref()
                    .is_some_and(|b| b.content.contains_key("application/json"));
                if reads_json {
                    add(400, "malformed_json: the body is not valid JSON");
                    add(413, "payload_too_large");
                    add(
                        415,
                        "unsupported_media_type: send Content-Type: application/json",
                    );
                    add(
                        422,
                        "invalid_request or invalid_characters: a field is missing, of the wrong type, or holds a control, bidirectional or invisible character",
                    );
                }
                if path.contains('{') {
                    add(404, "not_found");
                }
                if api && method != HttpMethod::Get {
                    add(
                        403,
                        "cross_origin_request: a state change from another site",
                    );
                }
                if api && !stream {
                    add(
                        503,
                        "unavailable: overloaded or busy; try again after Retry-After seconds",
                    );
                }
                for (status, response) in operation.responses.responses.iter_mut() {
                    if status.starts_with('4') || status.starts_with('5') {
                        with_error_schema(response);
                    }
                }
            }
        }
    }
}

fn operations(
    item: &mut utoipa::openapi::PathItem,
) -> impl Iterator<Item = (HttpMethod, &mut Operation)> {
    [
        (HttpMethod::Get, item.get.as_mut()),
        (HttpMethod::Put, item.put.as_mut()),
        (HttpMethod::Post, item.post.as_mut()),
        (HttpMethod::Delete, item.delete.as_mut()),
        (HttpMethod::Patch, item.patch.as_mut()),
    ]
    .into_iter()
    .filter_map(|(m, op)| op.map(|op| (m, op)))
}

fn error_content() -> Content {
    Content::new(Some(Ref::from_schema_name("ErrorBody")))
}

fn error_response(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content("application/json", error_content())
        .build()
}

/// An error answer the handler documented without a body gets the error format's.
fn with_error_schema(response: &mut RefOr<Response>) {
    if let RefOr::T(response) = response
        && response.content.is_empty()
    {
        response
            .content
            .insert("application/json".to_owned(), error_content());
    }
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
            "/api/v1/checkin/batch",
            "/api/v1/events/{event_id}/door-key",
            "/api/v1/events/{event_id}/checkins",
            "/readyz",
        ] {
            assert!(doc["paths"].get(path).is_some(), "{path} missing");
        }
        assert!(doc["components"]["schemas"]["CompactSeatsResponse"].is_object());
        let detail = doc["components"]["schemas"]["EventDetail"].to_string();
        assert!(detail.contains("\"layout_url\""), "{detail}");
    }

    #[test]
    fn the_statuses_the_layers_answer_are_documented() {
        let doc = serde_json::to_value(super::document()).unwrap();
        let statuses = |path: &str, method: &str| -> Vec<String> {
            doc["paths"][path][method]["responses"]
                .as_object()
                .unwrap_or_else(|| panic!("{method} {path} missing"))
                .keys()
                .cloned()
                .collect()
        };
        for (path, method) in [
            ("/api/v1/auth/register", "post"),
            ("/api/v1/checkin", "post"),
            ("/api/v1/admin/users/role", "put"),
        ] {
            let got = statuses(path, method);
            for status in ["400", "403", "413", "415", "422", "503"] {
                assert!(
                    got.contains(&status.to_owned()),
                    "{method} {path}: {status} in {got:?}"
                );
            }
        }
        assert!(statuses("/api/v1/holds/{hold_id}/checkout", "post").contains(&"401".to_owned()));
        assert!(statuses("/api/v1/auth/login", "post").contains(&"429".to_owned()));
        assert!(statuses("/api/v1/events/{event_id}/ws", "get").contains(&"400".to_owned()));
        let error = &doc["paths"]["/api/v1/auth/login"]["post"]["responses"]["401"];
        assert_eq!(
            error["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/ErrorBody"
        );
    }
}
