//! The sandbox's stand-in for Stripe.js, so that tests and rehearsals run the buyer's page exactly
//! as in production. Served at `/v3/` like Stripe.js, with the same entry points and result
//! shapes that Stripe documents: `Stripe(publishableKey)`, `elements({mode, amount, currency})`
//! or `elements({clientSecret})`, `create('payment')`, `mount`, `submit`, `confirmPayment`,
//! `handleNextAction` and `retrievePaymentIntent`, resolving to `{paymentIntent}` or `{error}`.
//!
//! As with Stripe, card details are typed into a frame of the provider's origin
//! (`/sandbox/element`), which makes the payment method and confirms from there: they never
//! touch the merchant's page or server. A 3-D Secure intent opens the challenge frame
//! (`/sandbox/3ds`), where the buyer completes or fails authentication.

use std::sync::Arc;

use axum::{Router, http::header, response::IntoResponse, routing::get};

use super::Shared;

const STRIPE_JS: &str = include_str!("stand_in/stripe.js");
const ELEMENT_HTML: &str = include_str!("stand_in/element.html");
const ELEMENT_JS: &str = include_str!("stand_in/element.js");
const CHALLENGE_HTML: &str = include_str!("stand_in/3ds.html");
const CHALLENGE_JS: &str = include_str!("stand_in/3ds.js");

pub(super) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/v3", get(|| async { script(STRIPE_JS) }))
        .route("/v3/", get(|| async { script(STRIPE_JS) }))
        .route("/sandbox/element", get(|| async { page(ELEMENT_HTML) }))
        .route("/sandbox/element.js", get(|| async { script(ELEMENT_JS) }))
        .route("/sandbox/3ds", get(|| async { page(CHALLENGE_HTML) }))
        .route("/sandbox/3ds.js", get(|| async { script(CHALLENGE_JS) }))
}

fn script(body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
}

fn page(body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
}
