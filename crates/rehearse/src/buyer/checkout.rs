//! Paying for a hold: the checkout (a decline first, if the buyer is to meet one), a 202
//! `confirming` followed until the payment is final, the double click, and the paid order recorded.

use std::time::Duration;

use rand::{Rng, rngs::StdRng};
use reqwest::Method;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::{Crowd, pause};
use crate::{
    api::Api,
    record::{Confirming, Step, Visit},
    scenario::Intent,
    seats::Chart,
    verdict::{OrderRecord, ReplayRecord},
};

const GOOD_CARD: &str = "4242424242424242";
const DECLINED_CARD: &str = "4000000000000002";

#[allow(clippy::too_many_arguments)]
pub(super) async fn pay(
    crowd: &Crowd,
    api: &Api,
    intent: Intent,
    token: &str,
    index: usize,
    hold_id: &str,
    rng: &mut StdRng,
    stop: &CancellationToken,
) -> Visit {
    let path = format!("/api/v1/holds/{hold_id}/checkout");
    let method = crowd.payment_method;
    let payment = |card: &str| json!({"payment": {"method": method, "card_number": card}});
    let key = |rng: &mut StdRng| format!("rehearse-{:032x}", rng.random::<u128>());
    let checkout = Checkout {
        api,
        path: &path,
        token,
        hold: index,
        stop,
    };
    if intent.declined_first {
        let declined = checkout
            .settle(Step::Checkout, &payment(DECLINED_CARD), &key(rng))
            .await;
        if !matches!(declined, Settled::Declined) {
            return Visit::Failed;
        }
        pause(&crowd.plan, rng, stop).await;
    }
    let good = payment(GOOD_CARD);
    let key = key(rng);
    let (order_id, seats, at, direct) = match checkout.settle(Step::Checkout, &good, &key).await {
        Settled::Paid {
            order_id,
            seats,
            at,
            direct,
        } => (order_id, seats, at, direct),
        Settled::HoldLost => {
            api.recorder.update_hold(index, |h| h.lost = true);
            return Visit::Failed;
        }
        _ => return Visit::Failed,
    };
    record_paid(&crowd.chart, api, index, &order_id, &seats, token, at);
    // The double click: the same key again must answer with the same order, not a second one.
    // (Only after a direct 201: a payment that went through 202 `confirming` replays that.)
    if intent.replay && direct {
        let again = api
            .call(
                Step::Replay,
                Method::POST,
                &path,
                Some(token),
                Some(&good),
                Some(&key),
            )
            .await;
        let replay_order_id = again
            .filter(|r| r.is(201) || r.is(200))
            .and_then(|r| r.body["order"]["id"].as_str().map(str::to_owned));
        api.recorder.lock().replays.push(ReplayRecord {
            first_order_id: order_id,
            replay_order_id,
        });
    }
    Visit::Paid
}

/// Records a paid order: the hold converted, its seats sold, the order to read back at the end.
pub(crate) fn record_paid(
    chart: &Chart,
    api: &Api,
    hold: usize,
    order_id: &str,
    seats: &[String],
    token: &str,
    at: Duration,
) {
    {
        let mut r = api.recorder.lock();
        if let Some(h) = r.holds.get_mut(hold) {
            h.converted = true;
        }
        for s in seats {
            if let Some(i) = chart.index_of(s) {
                r.sales.push((i, at));
            }
        }
        r.orders.push(OrderRecord {
            order_id: order_id.to_owned(),
            seats: seats.to_vec(),
            read_back: None,
        });
        r.order_tokens.push(token.to_owned());
    }
    api.recorder
        .counters
        .paid_seats
        .fetch_add(seats.len() as u64, std::sync::atomic::Ordering::Relaxed);
}

/// What a payment came to, once the server said.
pub(crate) enum Settled {
    Paid {
        order_id: String,
        seats: Vec<String>,
        /// When the buyer learned it.
        at: Duration,
        /// Paid at the first answer (201), not after a 202 `confirming`.
        direct: bool,
    },
    Declined,
    /// 409 `hold_not_active`, or paid too late and refunded.
    HoldLost,
    /// Still confirming when the buyer stopped following it.
    Pending,
    Failed,
}

/// One checkout of a hold, followed through a 202 `confirming` until the payment is final.
struct Checkout<'a> {
    api: &'a Api,
    path: &'a str,
    token: &'a str,
    hold: usize,
    stop: &'a CancellationToken,
}

const PAYMENT_POLL: Duration = Duration::from_millis(500);

impl Checkout<'_> {
    async fn settle(&self, step: Step, body: &Value, key: &str) -> Settled {
        let Some(reply) = self
            .api
            .call(
                step,
                Method::POST,
                self.path,
                Some(self.token),
                Some(body),
                Some(key),
            )
            .await
        else {
            return Settled::Failed;
        };
        match reply.status {
            201 => {
                let order = &reply.body["order"];
                Settled::Paid {
                    order_id: order["id"].as_str().unwrap_or_default().to_owned(),
                    seats: strings(&order["seat_ids"]),
                    at: reply.received_at,
                    direct: true,
                }
            }
            402 if reply.code() == "payment_declined" => Settled::Declined,
            409 if reply.code() == "hold_not_active" => Settled::HoldLost,
            202 => {
                let Some(id) = reply.body["payment"]["id"].as_str() else {
                    return Settled::Failed;
                };
                let seats = self
                    .api
                    .recorder
                    .lock()
                    .holds
                    .get(self.hold)
                    .map(|h| h.seats.clone())
                    .unwrap_or_default();
                {
                    let mut r = self.api.recorder.lock();
                    r.confirming_seen += 1;
                    r.confirming.insert(
                        id.to_owned(),
                        Confirming {
                            token: self.token.to_owned(),
                            hold: self.hold,
                            seats: seats.clone(),
                        },
                    );
                }
                loop {
                    tokio::select! {
                        _ = self.stop.cancelled() => return Settled::Pending,
                        _ = tokio::time::sleep(PAYMENT_POLL) => {}
                    }
                    match follow_payment(self.api, id, self.token, &seats).await {
                        Settled::Pending => continue,
                        settled => {
                            self.api.recorder.lock().confirming.remove(id);
                            return settled;
                        }
                    }
                }
            }
            _ => Settled::Failed,
        }
    }
}

/// Asks once what became of a payment that was confirming.
pub(crate) async fn follow_payment(
    api: &Api,
    payment_id: &str,
    token: &str,
    seats: &[String],
) -> Settled {
    let path = format!("/api/v1/payments/{payment_id}");
    let Some(reply) = api
        .call(Step::Payment, Method::GET, &path, Some(token), None, None)
        .await
        .filter(|r| r.is(200))
    else {
        return Settled::Pending;
    };
    let payment = &reply.body["payment"];
    match payment["status"].as_str().unwrap_or_default() {
        "paid" => match payment["order_id"].as_str() {
            Some(order_id) => Settled::Paid {
                order_id: order_id.to_owned(),
                seats: seats.to_vec(),
                at: reply.received_at,
                direct: false,
            },
            None => Settled::Failed,
        },
        "declined" => Settled::Declined,
        "refunded" => Settled::HoldLost,
        "failed" => Settled::Failed,
        _ => Settled::Pending,
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}
