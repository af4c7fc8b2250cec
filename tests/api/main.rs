//! Integration tests of the public API (API.md): each test starts its own application on its own
//! fresh database (SQLite, PostgreSQL or MariaDB/MySQL, chosen by `BOXOFFICE_TEST_DATABASE`) and
//! talks to it over HTTP, SSE and WebSocket.

mod abuse;
mod accounts;
mod admin;
mod catalog;
mod checkout;
#[path = "../support/database.rs"]
mod database;
mod events;
mod fuzz;
mod helpers;
mod holds;
mod interleavings;
mod map;
mod operations;
mod payments;
mod plans;
mod provider;
mod races;
mod realtime;
#[path = "../support/redis_server.rs"]
mod redis_server;
mod site;
mod waiting_room;
