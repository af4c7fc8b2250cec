//! The boxoffice HTTP server: configuration, one module per resource under [`http`], the
//! background tasks, the embedded buyer's site, telemetry, and [`startup::Application`], which
//! wires the store, the payment provider and the application layer together.

pub mod config;
pub mod http;
pub mod probe;
pub mod site;
pub mod startup;
pub mod tasks;
pub mod telemetry;
