//! Operations and hygiene: health, readiness, metrics, the OpenAPI document, cross-origin
//! refusal, body limits, the error format for bad input, overload, graceful shutdown, restart.

mod lifecycle;
mod monitoring;
mod requests;
