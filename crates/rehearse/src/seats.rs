//! The hall as a buyer sees it (seats ranked from best to worst, neighbours in a row) and how a
//! buyer picks: the best free seats most often, together in one row when it wants several.

use std::collections::HashMap;

use rand::Rng;
use serde_json::Value;

use super::scenario::Taste;

/// A picky buyer's first click lands among this many best free seats, most often the best.
const PICKY_REACH: usize = 32;

#[derive(Debug, Clone)]
pub(crate) struct Chart {
    ids: Vec<String>,
    index: HashMap<String, usize>,
    /// Seat indices of each row, in the row's order.
    rows: Vec<Vec<usize>>,
    /// For each seat: (row, position in the row).
    place: Vec<(usize, usize)>,
    /// Seat indices from best to worst.
    ranked: Vec<usize>,
}

impl Chart {
    /// Rows of `(id, x, y)` seat centres and the point the hall looks at (the stage's front
    /// centre): the nearer, the better.
    pub(crate) fn new(rows: Vec<Vec<(String, f64, f64)>>, focus: (f64, f64)) -> Chart {
        let mut chart = Chart {
            ids: Vec::new(),
            index: HashMap::new(),
            rows: Vec::new(),
            place: Vec::new(),
            ranked: Vec::new(),
        };
        let mut distance = Vec::new();
        for (r, row) in rows.into_iter().enumerate() {
            let mut members = Vec::with_capacity(row.len());
            for (pos, (id, x, y)) in row.into_iter().enumerate() {
                let i = chart.ids.len();
                chart.index.insert(id.clone(), i);
                chart.ids.push(id);
                chart.place.push((r, pos));
                distance.push((x - focus.0).hypot(y - focus.1));
                members.push(i);
            }
            chart.rows.push(members);
        }
        chart.ranked = (0..chart.ids.len()).collect();
        chart
            .ranked
            .sort_by(|a, b| distance[*a].total_cmp(&distance[*b]).then(a.cmp(b)));
        chart
    }

    /// From the `layout` of `GET /api/v1/events/{id}`.
    pub(crate) fn from_layout(layout: &Value) -> Result<Chart, String> {
        let num = |v: &Value, k: &str| v[k].as_f64().unwrap_or(0.0);
        let stage = &layout["stage"];
        let focus = (
            num(stage, "x") + num(stage, "width") / 2.0,
            num(stage, "y") + num(stage, "height"),
        );
        let mut rows = Vec::new();
        for section in layout["sections"]
            .as_array()
            .ok_or("the layout has no sections")?
        {
            for row in section["rows"].as_array().ok_or("a section has no rows")? {
                let seats = row["seats"].as_array().ok_or("a row has no seats")?;
                rows.push(
                    seats
                        .iter()
                        .filter_map(|s| {
                            Some((s["id"].as_str()?.to_owned(), num(s, "x"), num(s, "y")))
                        })
                        .collect(),
                );
            }
        }
        let chart = Chart::new(rows, focus);
        if chart.is_empty() {
            return Err("the layout has no seats".into());
        }
        Ok(chart)
    }

    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub(crate) fn id(&self, seat: usize) -> &str {
        &self.ids[seat]
    }

    pub(crate) fn index_of(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    /// The seat everyone wants.
    pub(crate) fn best(&self) -> usize {
        self.ranked[0]
    }

    /// Picks `want` seats for one attempt: an anchor by taste, then its free neighbours in the
    /// row, then the best free seats elsewhere. Empty when nothing is free. `first_attempt`
    /// matters to `HotSeat` only: that first click ignores the map (everyone clicks at once).
    pub(crate) fn choose(
        &self,
        want: usize,
        taste: Taste,
        first_attempt: bool,
        is_free: impl Fn(usize) -> bool,
        rng: &mut impl Rng,
    ) -> Vec<usize> {
        let anchor = if taste == Taste::HotSeat && first_attempt {
            Some(self.best())
        } else {
            let free: Vec<usize> = self
                .ranked
                .iter()
                .copied()
                .filter(|s| is_free(*s))
                .collect();
            match taste {
                _ if free.is_empty() => None,
                Taste::Anywhere => Some(free[rng.random_range(0..free.len())]),
                Taste::BestFirst | Taste::HotSeat => Some(free[zipf(free.len(), rng)]),
            }
        };
        let Some(anchor) = anchor else {
            return Vec::new();
        };
        let mut picked = vec![anchor];
        let (row, pos) = self.place[anchor];
        let members = &self.rows[row];
        // Neighbours outwards, right then left, stopping at the first taken seat on each side:
        // a group sits together.
        let (mut right, mut left) = (pos + 1, pos.checked_sub(1));
        let (mut right_open, mut left_open) = (true, true);
        while picked.len() < want && (right_open || left_open) {
            if right_open {
                match members.get(right) {
                    Some(&s) if is_free(s) => {
                        picked.push(s);
                        right += 1;
                    }
                    _ => right_open = false,
                }
            }
            if picked.len() < want && left_open {
                match left.map(|l| members[l]) {
                    Some(s) if is_free(s) => {
                        picked.push(s);
                        left = left.and_then(|l| l.checked_sub(1));
                    }
                    _ => left_open = false,
                }
            }
        }
        for &s in &self.ranked {
            if picked.len() >= want {
                break;
            }
            if is_free(s) && !picked.contains(&s) {
                picked.push(s);
            }
        }
        picked
    }
}

/// An index in `0..len` (within the picky reach) with weight 1/(rank+1): the best seat is
/// clicked most, the next ones a little less.
fn zipf(len: usize, rng: &mut impl Rng) -> usize {
    let reach = len.min(PICKY_REACH);
    let total: f64 = (1..=reach).map(|r| 1.0 / r as f64).sum();
    let mut roll = rng.random::<f64>() * total;
    for r in 0..reach {
        roll -= 1.0 / (r + 1) as f64;
        if roll <= 0.0 {
            return r;
        }
    }
    reach - 1
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use rand::{SeedableRng, rngs::StdRng};
    use serde_json::json;

    use super::*;

    /// Three rows of eight, the stage above row A's centre.
    fn hall() -> Chart {
        let rows = ["A", "B", "C"]
            .iter()
            .enumerate()
            .map(|(r, label)| {
                (1..=8)
                    .map(|n| {
                        (
                            format!("{label}-{n}"),
                            n as f64 * 10.0,
                            20.0 + r as f64 * 10.0,
                        )
                    })
                    .collect()
            })
            .collect();
        Chart::new(rows, (45.0, 0.0))
    }

    fn ids(chart: &Chart, seats: &[usize]) -> Vec<String> {
        seats.iter().map(|s| chart.id(*s).to_owned()).collect()
    }

    #[test]
    fn the_best_seats_are_front_row_centre() {
        let chart = hall();
        let best: HashSet<&str> = chart.ranked[..2].iter().map(|s| chart.id(*s)).collect();
        assert_eq!(best, HashSet::from(["A-4", "A-5"]));
        assert!(chart.id(*chart.ranked.last().unwrap()).starts_with('C'));
    }

    #[test]
    fn picky_buyers_mostly_click_the_best_free_seats() {
        let chart = hall();
        let mut rng = StdRng::seed_from_u64(1);
        let front = (0..1000)
            .filter(|_| {
                let s = chart.choose(1, Taste::BestFirst, true, |_| true, &mut rng);
                chart.id(s[0]).starts_with('A')
            })
            .count();
        assert!(front > 500, "{front} of 1000 in row A");
    }

    #[test]
    fn a_group_sits_together_in_one_row() {
        let chart = hall();
        let mut rng = StdRng::seed_from_u64(2);
        for _ in 0..50 {
            let picked = chart.choose(3, Taste::Anywhere, true, |_| true, &mut rng);
            let rows: HashSet<char> = ids(&chart, &picked)
                .iter()
                .map(|id| id.chars().next().unwrap())
                .collect();
            assert_eq!(
                (picked.len(), rows.len()),
                (3, 1),
                "{:?}",
                ids(&chart, &picked)
            );
        }
    }

    #[test]
    fn taken_seats_are_never_chosen() {
        let chart = hall();
        let mut rng = StdRng::seed_from_u64(3);
        let taken: HashSet<usize> = (0..chart.len()).filter(|s| s % 3 != 0).collect();
        for taste in [Taste::BestFirst, Taste::Anywhere, Taste::HotSeat] {
            let picked = chart.choose(4, taste, false, |s| !taken.contains(&s), &mut rng);
            assert_eq!(picked.len(), 4);
            assert!(picked.iter().all(|s| !taken.contains(s)), "{taste:?}");
        }
    }

    #[test]
    fn a_sold_out_hall_offers_nothing() {
        let chart = hall();
        let mut rng = StdRng::seed_from_u64(4);
        assert!(
            chart
                .choose(2, Taste::BestFirst, false, |_| false, &mut rng)
                .is_empty()
        );
    }

    #[test]
    fn the_hot_seat_is_clicked_first_even_if_the_map_shows_it_taken() {
        let chart = hall();
        let mut rng = StdRng::seed_from_u64(5);
        let best = chart.best();
        let first = chart.choose(1, Taste::HotSeat, true, |s| s != best, &mut rng);
        assert_eq!(first, vec![best]);
        let retry = chart.choose(1, Taste::HotSeat, false, |s| s != best, &mut rng);
        assert_ne!(retry, vec![best]);
    }

    #[test]
    fn a_chart_reads_the_event_layout() {
        let layout = json!({
            "stage": {"x": 0.0, "y": 0.0, "width": 100.0, "height": 10.0},
            "sections": [{"id": "s", "rows": [
                {"label": "A", "seats": [{"id": "A-1", "x": 10.0, "y": 30.0}, {"id": "A-2", "x": 50.0, "y": 30.0}]},
                {"label": "B", "seats": [{"id": "B-1", "x": 50.0, "y": 60.0}]}
            ]}]
        });
        let chart = Chart::from_layout(&layout).unwrap();
        assert_eq!(chart.len(), 3);
        assert_eq!(chart.id(chart.best()), "A-2");
        assert_eq!(chart.index_of("B-1"), Some(2));
    }
}
