//! The named crowds (`flash-sale`, `hot-seat`, `fan-out`, `soak`), the flags that vary them, and
//! what each arriving buyer intends to do. Pure: the driver rolls the dice with a seeded generator.

use std::time::Duration;

use rand::Rng;
use serde::Serialize;

/// Hard bounds, whatever the flags say: a rehearsal must always stop by itself.
pub(crate) const MAX_BUYERS: usize = 100_000;
pub(crate) const MAX_BOTS_OF_A_KIND: usize = 100;
pub(crate) const MAX_WATCHERS: usize = 10_000;
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(3600);
/// The server's default per-user limit; asking for more only earns 422s.
pub(crate) const MAX_SEATS_PER_BUYER: usize = 8;

/// The rehearsal presets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// Many buyers at the opening second, more demand than seats.
    FlashSale,
    /// Everyone clicks the same seat first.
    HotSeat,
    /// Many open maps, a steady trickle of sales.
    FanOut,
    /// Steady mixed load.
    Soak,
    /// A flash sale with hostile clients in it: password guessers, an account farm and a
    /// hoarder, each from addresses of its own, against the server's real limits.
    Bots,
}

impl Scenario {
    /// The name as written on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::FlashSale => "flash-sale",
            Scenario::HotSeat => "hot-seat",
            Scenario::FanOut => "fan-out",
            Scenario::Soak => "soak",
            Scenario::Bots => "bots",
        }
    }
}

/// How arrivals are spread over time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Arrival {
    /// Everyone within the first fraction of a second: the sale opens.
    Spike,
    /// A Poisson stream at a fixed rate.
    Steady,
    /// A rate that climbs linearly from zero over the whole duration.
    Ramp,
}

/// How the live maps connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// Server-sent events.
    Sse,
    /// WebSocket.
    Ws,
    /// Alternate: half the live maps on each.
    Mixed,
}

/// How a buyer picks seats on the map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Taste {
    /// The best seats still free (front rows, centre), most often the very best.
    BestFirst,
    /// Any free seat: the buyer who only wants to be there.
    Anywhere,
    /// The single best seat of the hall on the first click, then like `BestFirst`.
    HotSeat,
}

/// What the buyer does once the payment window is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Ending {
    Pay,
    Cancel,
    /// Leaves without a word: the hold runs until it expires.
    Abandon,
}

/// A whole rehearsal's crowd: who arrives when, and what each buyer does.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// The preset it came from.
    pub scenario: Scenario,
    /// How long arrivals keep coming.
    #[serde(rename = "duration_secs", serialize_with = "seconds")]
    pub duration: Duration,
    /// How they are spread.
    pub arrival: Arrival,
    /// With a rate: the cap on arrivals. Without: how many arrive over the duration.
    pub buyers: Option<usize>,
    /// Arrivals per second (for `ramp`, the rate reached at the end).
    pub rate: Option<f64>,
    /// Live maps that only watch.
    pub watchers: usize,
    /// Each buyer wants between these many seats (inclusive), uniformly.
    pub(crate) seats_per_buyer: (usize, usize),
    /// Of the buyers holding seats, the share who pay.
    pub pay_ratio: f64,
    /// Of the buyers holding seats, the share who cancel; the rest abandon.
    pub cancel_ratio: f64,
    /// Of the payers, the share whose first card is declined (then they pay with a good one).
    pub(crate) decline_ratio: f64,
    /// Of the payers, the share who send the same payment twice (a double click).
    pub(crate) replay_ratio: f64,
    /// Of the buyers, the share who go for the best seats rather than any seat.
    pub(crate) picky_ratio: f64,
    pub(crate) hot_seat: bool,
    /// Hold attempts before a buyer gives up (each 409 costs one).
    pub max_attempts: u32,
    /// A human pause before each click lasts between these.
    #[serde(rename = "think_secs", serialize_with = "seconds_range")]
    pub think: (Duration, Duration),
    /// How the live maps connect.
    pub transport: Transport,
    /// Sign every buyer in before the sale opens (they wait on the page for the opening).
    pub(crate) early_sign_in: bool,
    /// Seeds every draw: the same seed replays the same crowd.
    pub seed: u64,
    /// Every buyer from an address of its own (through `X-Forwarded-For`, which the server
    /// must trust from this machine), so that the server's per-address limits can stay on.
    pub spread_addresses: bool,
    /// The hostile clients among the buyers.
    pub bots: Bots,
}

/// The hostile clients in the sale, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Bots {
    /// Each guesses the passwords of a few buyers' accounts, from one address.
    pub guessers: usize,
    /// Each registers as many accounts as it can from one address, and holds with all of them.
    pub(crate) farms: usize,
    /// Each holds all an account may, never pays, and holds again when it can.
    pub(crate) hoarders: usize,
}

impl Bots {
    pub fn any(&self) -> bool {
        self.guessers + self.farms + self.hoarders > 0
    }
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

fn seconds_range<S: serde::Serializer>(r: &(Duration, Duration), s: S) -> Result<S::Ok, S::Error> {
    serde::Serialize::serialize(&[r.0.as_secs_f64(), r.1.as_secs_f64()], s)
}

/// The flags that vary a preset; `None` keeps the preset's value.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// How long arrivals keep coming.
    pub duration: Option<Duration>,
    /// How they are spread.
    pub arrival: Option<Arrival>,
    /// With a rate, the cap on arrivals; without, how many arrive.
    pub buyers: Option<usize>,
    /// Arrivals per second.
    pub rate: Option<f64>,
    /// Live maps that only watch.
    pub watchers: Option<usize>,
    /// The range of seats each buyer wants.
    pub seats_per_buyer: Option<(usize, usize)>,
    /// Of the buyers holding seats, the share who pay.
    pub pay_ratio: Option<f64>,
    /// Of the buyers holding seats, the share who cancel.
    pub cancel_ratio: Option<f64>,
    /// Of the payers, the share whose first card is declined.
    pub decline_ratio: Option<f64>,
    /// Of the payers, the share who send the same payment twice.
    pub replay_ratio: Option<f64>,
    /// Hold attempts before a buyer gives up.
    pub max_attempts: Option<u32>,
    /// The longest pause between clicks, in milliseconds.
    pub think_ms: Option<u64>,
    /// How the live maps connect.
    pub transport: Option<Transport>,
    /// Whether buyers sign in before the opening.
    pub early_sign_in: Option<bool>,
    /// Seeds every draw.
    pub seed: Option<u64>,
    /// Every buyer from an address of its own.
    pub spread_addresses: Option<bool>,
    /// Password guessers.
    pub guessers: Option<usize>,
    /// Account farms.
    pub farms: Option<usize>,
    /// Hoarders.
    pub hoarders: Option<usize>,
}

/// One buyer's intentions, decided when it arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Intent {
    pub seats: usize,
    pub(crate) taste: Taste,
    pub(crate) ending: Ending,
    pub(crate) declined_first: bool,
    pub replay: bool,
}

impl Plan {
    /// The preset's crowd, before any flag.
    pub fn preset(scenario: Scenario) -> Plan {
        let base = Plan {
            scenario,
            duration: Duration::from_secs(30),
            arrival: Arrival::Steady,
            buyers: None,
            rate: None,
            watchers: 20,
            seats_per_buyer: (1, 4),
            pay_ratio: 0.8,
            cancel_ratio: 0.1,
            decline_ratio: 0.05,
            replay_ratio: 0.1,
            picky_ratio: 0.7,
            hot_seat: false,
            max_attempts: 4,
            think: (Duration::from_millis(100), Duration::from_millis(800)),
            transport: Transport::Mixed,
            early_sign_in: false,
            seed: 1,
            spread_addresses: false,
            bots: Bots::default(),
        };
        let flash_sale = Plan {
            arrival: Arrival::Spike,
            buyers: Some(300),
            pay_ratio: 0.85,
            cancel_ratio: 0.05,
            picky_ratio: 0.8,
            early_sign_in: true,
            ..base.clone()
        };
        match scenario {
            Scenario::Bots => Plan {
                spread_addresses: true,
                bots: Bots {
                    guessers: 2,
                    farms: 1,
                    hoarders: 1,
                },
                ..flash_sale
            },
            Scenario::FlashSale => flash_sale,
            Scenario::HotSeat => Plan {
                arrival: Arrival::Spike,
                buyers: Some(100),
                watchers: 10,
                seats_per_buyer: (1, 1),
                pay_ratio: 0.9,
                cancel_ratio: 0.05,
                picky_ratio: 1.0,
                hot_seat: true,
                max_attempts: 3,
                early_sign_in: true,
                ..base
            },
            Scenario::FanOut => Plan {
                rate: Some(2.0),
                watchers: 500,
                seats_per_buyer: (1, 2),
                pay_ratio: 0.75,
                cancel_ratio: 0.2,
                ..base
            },
            Scenario::Soak => Plan {
                rate: Some(4.0),
                watchers: 50,
                pay_ratio: 0.7,
                cancel_ratio: 0.15,
                picky_ratio: 0.5,
                ..base
            },
        }
    }

    /// The preset with the flags applied, checked against the hard bounds.
    pub fn with(mut self, o: &Overrides) -> Result<Plan, String> {
        macro_rules! set {
            ($($field:ident),*) => { $( if let Some(v) = o.$field { self.$field = v; } )* };
        }
        set!(
            duration,
            arrival,
            watchers,
            seats_per_buyer,
            pay_ratio,
            cancel_ratio
        );
        set!(
            decline_ratio,
            replay_ratio,
            max_attempts,
            transport,
            early_sign_in,
            seed
        );
        set!(spread_addresses);
        for (kind, n) in [
            (&mut self.bots.guessers, o.guessers),
            (&mut self.bots.farms, o.farms),
            (&mut self.bots.hoarders, o.hoarders),
        ] {
            if let Some(n) = n {
                *kind = n;
            }
        }
        if self.bots.any() && o.spread_addresses.is_none() {
            // Bots are told apart from buyers by address only, as the server tells them.
            self.spread_addresses = true;
        }
        if let Some(n) = o.buyers {
            self.buyers = Some(n);
        }
        if let Some(r) = o.rate {
            self.rate = Some(r);
        }
        if o.arrival.is_some() && o.early_sign_in.is_none() {
            // Only a crowd waiting for the opening second signs in beforehand.
            self.early_sign_in = self.arrival == Arrival::Spike;
        }
        if let Some(ms) = o.think_ms {
            self.think = (Duration::from_millis(ms / 4), Duration::from_millis(ms));
        }
        self.validate()?;
        Ok(self)
    }

    fn validate(&self) -> Result<(), String> {
        if self.duration.is_zero() || self.duration > MAX_DURATION {
            return Err(format!(
                "the duration must be between 1 ms and {MAX_DURATION:?}"
            ));
        }
        if self.buyers.is_some_and(|n| n > MAX_BUYERS) {
            return Err(format!("at most {MAX_BUYERS} buyers"));
        }
        if self.watchers > MAX_WATCHERS {
            return Err(format!("at most {MAX_WATCHERS} watchers"));
        }
        if self.rate.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
            return Err("the rate must be a positive number of arrivals per second".into());
        }
        let (lo, hi) = self.seats_per_buyer;
        if lo == 0 || lo > hi || hi > MAX_SEATS_PER_BUYER {
            return Err(format!(
                "seats per buyer must be within 1..={MAX_SEATS_PER_BUYER}"
            ));
        }
        for (name, r) in [
            ("pay ratio", self.pay_ratio),
            ("cancel ratio", self.cancel_ratio),
            ("decline ratio", self.decline_ratio),
            ("replay ratio", self.replay_ratio),
        ] {
            if !(0.0..=1.0).contains(&r) {
                return Err(format!("the {name} must be between 0 and 1"));
            }
        }
        if self.pay_ratio + self.cancel_ratio > 1.0 + 1e-9 {
            return Err("the pay and cancel ratios add up to more than 1".into());
        }
        let b = self.bots;
        if [b.guessers, b.farms, b.hoarders]
            .iter()
            .any(|n| *n > MAX_BOTS_OF_A_KIND)
        {
            return Err(format!("at most {MAX_BOTS_OF_A_KIND} bots of each kind"));
        }
        if self.max_attempts == 0 {
            return Err("a buyer needs at least one attempt".into());
        }
        Ok(())
    }

    pub(crate) fn abandon_ratio(&self) -> f64 {
        (1.0 - self.pay_ratio - self.cancel_ratio).max(0.0)
    }

    /// Rolls one arriving buyer's intentions.
    pub fn intent(&self, rng: &mut impl Rng) -> Intent {
        let (lo, hi) = self.seats_per_buyer;
        let roll: f64 = rng.random();
        let ending = if roll < self.pay_ratio {
            Ending::Pay
        } else if roll < self.pay_ratio + self.cancel_ratio {
            Ending::Cancel
        } else {
            Ending::Abandon
        };
        let taste = if self.hot_seat {
            Taste::HotSeat
        } else if rng.random::<f64>() < self.picky_ratio {
            Taste::BestFirst
        } else {
            Taste::Anywhere
        };
        let paying = ending == Ending::Pay;
        Intent {
            seats: rng.random_range(lo..=hi),
            taste,
            ending,
            declined_first: paying && rng.random::<f64>() < self.decline_ratio,
            replay: paying && rng.random::<f64>() < self.replay_ratio,
        }
    }

    /// A think pause, uniformly within the plan's range.
    pub(crate) fn think_time(&self, rng: &mut impl Rng) -> Duration {
        let (lo, hi) = self.think;
        if hi <= lo {
            return lo;
        }
        lo + (hi - lo).mul_f64(rng.random::<f64>())
    }
}

#[cfg(test)]
mod tests {
    use rand::{SeedableRng, rngs::StdRng};

    use super::*;

    fn tally(plan: &Plan, n: usize) -> (usize, usize, usize) {
        let mut rng = StdRng::seed_from_u64(7);
        let (mut pay, mut cancel, mut abandon) = (0, 0, 0);
        for _ in 0..n {
            match plan.intent(&mut rng).ending {
                Ending::Pay => pay += 1,
                Ending::Cancel => cancel += 1,
                Ending::Abandon => abandon += 1,
            }
        }
        (pay, cancel, abandon)
    }

    #[test]
    fn the_endings_follow_the_pay_and_cancel_ratios() {
        let plan = Plan::preset(Scenario::Soak); // 70 % pay, 15 % cancel, 15 % abandon
        let (pay, cancel, abandon) = tally(&plan, 10_000);
        assert!((6_700..7_300).contains(&pay), "{pay}");
        assert!((1_300..1_700).contains(&cancel), "{cancel}");
        assert!((1_300..1_700).contains(&abandon), "{abandon}");
    }

    #[test]
    fn a_pay_ratio_of_one_makes_every_buyer_pay() {
        let plan = Plan::preset(Scenario::FlashSale)
            .with(&Overrides {
                pay_ratio: Some(1.0),
                cancel_ratio: Some(0.0),
                ..Overrides::default()
            })
            .unwrap();
        assert_eq!(tally(&plan, 1_000), (1_000, 0, 0));
    }

    #[test]
    fn every_hot_seat_buyer_wants_one_seat_and_the_hot_one_first() {
        let plan = Plan::preset(Scenario::HotSeat);
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..100 {
            let intent = plan.intent(&mut rng);
            assert_eq!((intent.seats, intent.taste), (1, Taste::HotSeat));
        }
    }

    #[test]
    fn seat_counts_stay_within_the_requested_range() {
        let plan = Plan::preset(Scenario::Soak)
            .with(&Overrides {
                seats_per_buyer: Some((2, 3)),
                ..Overrides::default()
            })
            .unwrap();
        let mut rng = StdRng::seed_from_u64(3);
        let counts: Vec<usize> = (0..500).map(|_| plan.intent(&mut rng).seats).collect();
        assert!(counts.iter().all(|n| (2..=3).contains(n)));
        assert!(counts.contains(&2) && counts.contains(&3));
    }

    #[test]
    fn only_payers_are_declined_or_replay() {
        let plan = Plan::preset(Scenario::Soak)
            .with(&Overrides {
                decline_ratio: Some(1.0),
                replay_ratio: Some(1.0),
                ..Overrides::default()
            })
            .unwrap();
        let mut rng = StdRng::seed_from_u64(5);
        for _ in 0..500 {
            let i = plan.intent(&mut rng);
            assert_eq!(i.declined_first, i.ending == Ending::Pay);
            assert_eq!(i.replay, i.ending == Ending::Pay);
        }
    }

    #[test]
    fn flags_out_of_bounds_are_refused() {
        let preset = || Plan::preset(Scenario::Soak);
        let bad = [
            Overrides {
                seats_per_buyer: Some((1, 9)),
                ..Overrides::default()
            },
            Overrides {
                pay_ratio: Some(0.8),
                cancel_ratio: Some(0.3),
                ..Overrides::default()
            },
            Overrides {
                rate: Some(0.0),
                ..Overrides::default()
            },
            Overrides {
                buyers: Some(MAX_BUYERS + 1),
                ..Overrides::default()
            },
            Overrides {
                duration: Some(Duration::from_secs(7200)),
                ..Overrides::default()
            },
        ];
        for o in bad {
            assert!(preset().with(&o).is_err(), "{o:?} was accepted");
        }
    }

    #[test]
    fn choosing_a_spike_signs_buyers_in_before_the_opening() {
        let plan = Plan::preset(Scenario::Soak)
            .with(&Overrides {
                arrival: Some(Arrival::Spike),
                ..Overrides::default()
            })
            .unwrap();
        assert!(plan.early_sign_in);
    }
}
