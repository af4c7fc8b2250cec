//! Integration tests of the public API (API.md): each test starts its own application on its own
//! fresh database (SQLite, PostgreSQL or MariaDB/MySQL, chosen by `BOXOFFICE_TEST_DATABASE`) and
//! talks to it over HTTP, SSE and WebSocket.

mod abuse;
mod accounts;
mod admin;
mod best_available;
mod catalog;
mod checkout;
mod door;
mod events;
mod fuzz;
mod helpers;
mod holds;
mod interleavings;
mod mail;
mod map;
mod operations;
mod organiser;
mod payments;
mod plans;
mod provider;
mod races;
mod realtime;
mod site;
mod waiting_room;

// The fresh database per test, on the backend this run is for (`scripts/test` runs a binary that
// uses it once per backend).
use boxoffice_testkit::database;
