//! Shared test support: the one reader of Server-Sent Events frames (`sse`), a private
//! redis-server per test (`redis`), a mail sink per test (`smtp`), a fresh database per test on
//! the backend the suite runs against (`database`), and real `boxoffice` processes with clients
//! and a live seat map (`process`, `watcher`). Used by the integration tests and by the rehearsal; never by the server.

pub mod database;
pub mod process;
pub mod redis;
pub mod smtp;
pub mod sse;
pub mod watcher;

/// A free TCP port on loopback (free when asked; the caller binds it soon after).
pub fn try_free_port() -> std::io::Result<u16> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
}

/// [`try_free_port`], for tests, which have nothing better to do than panic.
pub fn free_port() -> u16 {
    try_free_port().expect("a free port")
}
