//! boxoffice: a ticket sales server for reserved-seat events.
//!
//! Layers: `domain` (pure rules), `storage` (a repository per SQL dialect), `realtime` (seat fan-out),
//! `payments` (provider boundary), `http` (one module per resource), `tasks` (background work),
//! and `startup` which wires them into an [`startup::Application`].

pub mod audit;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod domain;
pub mod http;
pub mod payments;
pub mod realtime;
pub mod rehearse;
pub mod security;
pub mod seed;
pub mod startup;
pub mod storage;
pub mod tasks;
pub mod telemetry;
pub mod waiting_room;
