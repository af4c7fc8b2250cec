//! The application layer: the use cases of a sale (hold, release, expire, checkout, settle,
//! refund, check-in, e-mail) and what they stand on: the catalogue of live events, the real-time
//! seat hub and its fan-out, the waiting room, password and token security, compression shared
//! by every body, and the demo seed. The HTTP server and the background tasks call the same use cases; this
//! crate knows nothing of HTTP beyond the status each refusal code is answered with.

pub mod accounts;
pub mod admin_orders;
pub mod catalog;
pub mod catalog_admin;
pub mod catalog_edit;
pub mod checkin;
pub mod checkout;
pub mod compress;
mod context;
pub mod error;
pub mod holds;
pub mod mail;
pub mod realtime;
pub mod reconcile;
pub mod refunds;
pub mod sales;
pub mod security;
pub mod seed;
pub mod settlement;
pub mod views;
pub mod waiting_room;

pub use context::{App, SaleRules};
pub use error::{AppError, AppResult, ErrorCode};
