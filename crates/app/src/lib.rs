//! The application layer: the catalogue of live events, the real-time seat hub and its fan-out,
//! the waiting room, password and token security, compression shared by every body, and the
//! demo seed. It sits between the HTTP server and the store and knows nothing of HTTP.

pub mod catalog;
pub mod compress;
pub mod realtime;
pub mod security;
pub mod seed;
pub mod waiting_room;
