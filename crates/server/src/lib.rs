//! The boxoffice HTTP server: configuration, one module per resource under `http`, the
//! background tasks, the embedded buyer's site, telemetry, and [`Application`], which wires the
//! store, the payment provider and the application layer together.
//!
//! Everything is crate-private but what the `boxoffice` command and the integration tests use,
//! re-exported here.

mod config;
mod http;
mod probe;
mod site;
mod startup;
mod tasks;
mod telemetry;

pub use config::{LimitSettings, PaymentSettings, Settings, SettingsArgs, StripeBrowser};
pub use probe::probe;
pub use site::{Site, site};
pub use startup::{Application, shutdown_signal};
pub use telemetry::init as init_telemetry;
