//! Live seat status: each instance keeps the seat states of live events in memory, fed by changes
//! after every commit and healed by reconciliation, and fans them out to subscribers.

mod claims;
pub mod fanout;
pub mod feed;
pub mod hub;

pub use fanout::FanOut;
pub use feed::{FeedItem, SeatFeed};
pub use hub::{CompactSnapshot, LiveEvent, SeatHub};
