//! Integration tests of the public API (API.md): each test starts its own application on its own
//! SQLite file and talks to it over HTTP, SSE and WebSocket.

mod accounts;
mod checkout;
mod events;
mod helpers;
mod holds;
mod operations;
mod races;
mod realtime;
