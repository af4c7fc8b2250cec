//! Best available: which block of seats a buyer gets who asks for "the best N" instead of
//! picking. N adjacent free seats in one row, all of one category, nearest the stage's centre,
//! and never a block that would strand a single free seat between taken ones.

use super::{
    InvalidInput,
    hold::{no_seats, too_many},
    venue::{Layout, SeatPlace},
};

/// What the buyer asked for: how many seats, and optionally of which category.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wanted<'a> {
    /// How many seats, side by side.
    pub count: usize,
    /// Only seats of this category; any one category when `None`.
    pub category_id: Option<&'a str>,
}

/// A validated ask for the best seats: at least one and at most the per-hold maximum. Whether the
/// category is one of the event's is for the caller, who knows the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BestAvailable {
    count: usize,
    category_id: Option<String>,
}

impl BestAvailable {
    /// Checks the count against `max_seats` (the same limit a pick has).
    pub fn parse(
        count: u64,
        category_id: Option<String>,
        max_seats: u32,
    ) -> Result<Self, InvalidInput> {
        if count == 0 {
            return Err(no_seats());
        }
        if count > u64::from(max_seats) {
            return Err(too_many(max_seats));
        }
        Ok(BestAvailable {
            // At most `max_seats`, a u32: it fits.
            count: count as usize,
            category_id,
        })
    }

    /// How many seats.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The category asked for, if any.
    pub fn category_id(&self) -> Option<&str> {
        self.category_id.as_deref()
    }

    /// The ask as [`best_block`] takes it.
    pub fn wanted(&self) -> Wanted<'_> {
        Wanted {
            count: self.count,
            category_id: self.category_id(),
        }
    }
}

/// A gap this many times a row's usual seat pitch is an aisle: the seats either side of it are
/// not adjacent, and a seat beside it is at an edge.
const AISLE_FACTOR: f64 = 1.6;

/// The best block for `wanted`, as the seat ids in row order, or `None` when no row has one.
///
/// `is_free` says whether a seat may be handed out now (available in the live map). Wheelchair
/// spaces are never chosen: they are for the buyers who pick them. Ties go to the earlier row in
/// the layout, then to the earlier seat, so the answer is the same on every instance.
pub fn best_block(
    layout: &Layout,
    wanted: Wanted<'_>,
    is_free: impl Fn(&str) -> bool,
) -> Option<Vec<String>> {
    if wanted.count == 0 {
        return None;
    }
    let centre = (
        layout.stage.x + layout.stage.width / 2.0,
        layout.stage.y + layout.stage.height / 2.0,
    );
    let mut best: Option<(f64, Vec<String>)> = None;
    for row in layout.sections.iter().flat_map(|s| s.rows.iter()) {
        for stretch in stretches(&row.seats) {
            let free: Vec<bool> = stretch
                .iter()
                .map(|s| !s.accessible && !s.companion && is_free(&s.id))
                .collect();
            for start in 0..=stretch.len().saturating_sub(wanted.count) {
                let end = start + wanted.count;
                if end > stretch.len() || !fits(&stretch, &free, start, end, wanted) {
                    continue;
                }
                let block = &stretch[start..end];
                let distance = distance_to(block, centre);
                // Strictly nearer only: the first block found keeps a tie.
                if best.as_ref().is_none_or(|(d, _)| distance < *d - 1e-9) {
                    best = Some((distance, block.iter().map(|s| s.id.clone()).collect()));
                }
            }
        }
    }
    best.map(|(_, ids)| ids)
}

/// Whether seats `start..end` of a stretch are a block the rules allow.
fn fits(
    stretch: &[&SeatPlace],
    free: &[bool],
    start: usize,
    end: usize,
    wanted: Wanted<'_>,
) -> bool {
    if !free[start..end].iter().all(|&f| f) {
        return false;
    }
    let category = stretch[start].category_id.as_deref();
    if category.is_none() || wanted.category_id.is_some_and(|c| Some(c) != category) {
        return false;
    }
    if stretch[start..end]
        .iter()
        .any(|s| s.category_id.as_deref() != category)
    {
        return false;
    }
    !strands_one(free, start.checked_sub(1), Side::Left)
        && !strands_one(free, Some(end), Side::Right)
}

#[derive(Clone, Copy)]
enum Side {
    Left,
    Right,
}

/// Whether the seat at `next` (just outside the block) would be a free seat alone between the
/// block and a taken seat or the stretch's edge.
fn strands_one(free: &[bool], next: Option<usize>, side: Side) -> bool {
    let Some(i) = next.filter(|&i| i < free.len()) else {
        return false;
    };
    if !free[i] {
        return false;
    }
    let beyond = match side {
        Side::Left => i.checked_sub(1),
        Side::Right => Some(i + 1).filter(|&j| j < free.len()),
    };
    beyond.is_none_or(|j| !free[j])
}

/// A row cut at its aisles into runs of seats that sit side by side.
fn stretches(seats: &[SeatPlace]) -> Vec<Vec<&SeatPlace>> {
    let gaps: Vec<f64> = seats.windows(2).map(|w| gap(&w[0], &w[1])).collect();
    let pitch = median(&gaps);
    let mut out: Vec<Vec<&SeatPlace>> = Vec::new();
    let mut current: Vec<&SeatPlace> = Vec::new();
    for (i, seat) in seats.iter().enumerate() {
        if i > 0 && pitch.is_some_and(|p| gaps[i - 1] > p * AISLE_FACTOR) {
            out.push(std::mem::take(&mut current));
        }
        current.push(seat);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

fn gap(a: &SeatPlace, b: &SeatPlace) -> f64 {
    (a.x - b.x).hypot(a.y - b.y)
}

fn median(values: &[f64]) -> Option<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    Some(sorted[sorted.len() / 2])
}

/// From the block's middle to the stage's centre.
fn distance_to(block: &[&SeatPlace], (cx, cy): (f64, f64)) -> f64 {
    let n = block.len() as f64;
    let x = block.iter().map(|s| s.x).sum::<f64>() / n;
    let y = block.iter().map(|s| s.y).sum::<f64>() / n;
    (x - cx).hypot(y - cy)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::venue::{Row, Section, Stage};

    /// Rows of `width` seats 10 apart, row 0 nearest the stage at the top, one category per row
    /// given by `categories`; a seat id is `"{row}-{n}"` with n from 1.
    fn hall(width: usize, categories: &[&str]) -> Layout {
        let rows = categories
            .iter()
            .enumerate()
            .map(|(r, cat)| Row {
                label: r.to_string(),
                seats: (1..=width)
                    .map(|n| {
                        place(
                            &format!("{r}-{n}"),
                            n as f64 * 10.0,
                            100.0 + r as f64 * 10.0,
                            cat,
                        )
                    })
                    .collect(),
            })
            .collect();
        Layout {
            width: (width as f64 + 1.0) * 10.0,
            height: 400.0,
            stage: Stage {
                x: 0.0,
                y: 0.0,
                width: (width as f64 + 1.0) * 10.0,
                height: 20.0,
                label: "Stage".into(),
            },
            sections: vec![Section {
                id: "main".into(),
                name: "Main".into(),
                rows,
            }],
        }
    }

    fn place(id: &str, x: f64, y: f64, category: &str) -> SeatPlace {
        SeatPlace {
            id: id.into(),
            label: id.into(),
            x,
            y,
            category_id: Some(category.into()),
            accessible: false,
            companion: false,
        }
    }

    fn taken<'a>(ids: &'a [&'a str]) -> impl Fn(&str) -> bool + 'a {
        let set: HashSet<&str> = ids.iter().copied().collect();
        move |id| !set.contains(id)
    }

    fn want(count: usize) -> Wanted<'static> {
        Wanted {
            count,
            category_id: None,
        }
    }

    #[test]
    fn an_empty_hall_gives_the_middle_of_the_front_row() {
        let layout = hall(9, &["a", "a", "a"]);
        assert_eq!(
            best_block(&layout, want(3), |_| true),
            Some(vec!["0-4".into(), "0-5".into(), "0-6".into()])
        );
    }

    #[test]
    fn the_block_is_adjacent_seats_of_one_row_even_when_rows_are_fragmented() {
        // Front row free only every other seat: no two adjacent there, so the second row.
        let layout = hall(6, &["a", "a"]);
        let block = best_block(&layout, want(2), taken(&["0-1", "0-3", "0-5"])).unwrap();
        assert!(block.iter().all(|id| id.starts_with("1-")), "{block:?}");
    }

    #[test]
    fn a_block_that_would_strand_a_single_seat_is_passed_over() {
        // Front row: 1 and 7 taken, 2..=6 free. The pairs nearest the middle, 3-4 and 4-5, would
        // each strand a seat against a taken one; 2-3 and 5-6 strand nothing and tie.
        let layout = hall(7, &["a"]);
        assert_eq!(
            best_block(&layout, want(2), taken(&["0-1", "0-7"])),
            Some(vec!["0-2".into(), "0-3".into()])
        );
        // With exactly three free seats between taken ones, two would always strand the third.
        let layout = hall(5, &["a"]);
        assert_eq!(best_block(&layout, want(2), taken(&["0-1", "0-5"])), None);
        // All three together leave nothing stranded.
        assert_eq!(
            best_block(&layout, want(3), taken(&["0-1", "0-5"])),
            Some(vec!["0-2".into(), "0-3".into(), "0-4".into()])
        );
    }

    #[test]
    fn the_row_end_counts_as_taken_for_stranding() {
        // Seats 1..=3 free, 4 taken: taking 2-3 would strand seat 1 against the wall.
        let layout = hall(4, &["a"]);
        assert_eq!(
            best_block(&layout, want(2), taken(&["0-4"])),
            None,
            "1-2 strands 3 and 2-3 strands 1"
        );
    }

    #[test]
    fn a_category_asked_for_is_the_only_one_given_and_a_block_never_mixes_categories() {
        let layout = hall(4, &["vip", "std"]);
        let block = best_block(
            &layout,
            Wanted {
                count: 2,
                category_id: Some("std"),
            },
            |_| true,
        )
        .unwrap();
        assert!(block.iter().all(|id| id.starts_with("1-")));
        // One row whose halves differ: a block of 4 would mix them, so there is none.
        let mut mixed = hall(4, &["vip"]);
        for seat in &mut mixed.sections[0].rows[0].seats[2..] {
            seat.category_id = Some("std".into());
        }
        assert_eq!(best_block(&mixed, want(4), |_| true), None);
        assert!(best_block(&mixed, want(2), |_| true).is_some());
    }

    #[test]
    fn an_aisle_splits_a_row_into_blocks_that_are_not_adjacent() {
        let mut layout = hall(6, &["a"]);
        // Seats 4..=6 move 40 to the right: an aisle between 3 and 4.
        for seat in &mut layout.sections[0].rows[0].seats[3..] {
            seat.x += 40.0;
        }
        assert_eq!(best_block(&layout, want(6), |_| true), None);
        let block = best_block(&layout, want(3), |_| true).unwrap();
        assert!(block == ["0-1", "0-2", "0-3"] || block == ["0-4", "0-5", "0-6"]);
    }

    #[test]
    fn wheelchair_spaces_are_never_handed_out_and_no_block_means_none() {
        let mut layout = hall(3, &["a"]);
        layout.sections[0].rows[0].seats[1].accessible = true;
        assert_eq!(best_block(&layout, want(2), |_| true), None);
        assert_eq!(best_block(&hall(3, &["a"]), want(4), |_| true), None);
        assert_eq!(best_block(&hall(3, &["a"]), want(0), |_| true), None);
        assert_eq!(best_block(&hall(3, &["a"]), want(1), |_| false), None);
    }

    #[test]
    fn companion_seats_are_kept_for_the_wheelchair_user_they_sit_beside() {
        let mut layout = hall(3, &["a"]);
        layout.sections[0].rows[0].seats[1].companion = true;
        assert_eq!(best_block(&layout, want(2), |_| true), None);
        assert_eq!(best_block(&layout, want(1), |_| true).unwrap(), ["0-1"]);
    }

    #[test]
    fn nearer_rows_win_and_ties_go_to_the_earlier_seat() {
        let layout = hall(4, &["a", "a"]);
        // Front row: only 1-2 free as a pair if 3 and 4 are taken; that strands nothing.
        let block = best_block(&layout, want(2), taken(&["0-3", "0-4"])).unwrap();
        assert_eq!(block, ["0-1", "0-2"]);
        // Seven seats: the pairs 3-4 and 4-5 are equally near the middle; the earlier one wins.
        let layout = hall(7, &["a"]);
        assert_eq!(
            best_block(&layout, want(2), |_| true),
            Some(vec!["0-3".into(), "0-4".into()])
        );
    }

    #[test]
    fn an_ask_keeps_its_count_and_category_for_the_pick() {
        let ask = BestAvailable::parse(3, Some("std".into()), 8).unwrap();
        assert_eq!(
            ask.wanted(),
            Wanted {
                count: 3,
                category_id: Some("std")
            }
        );
        assert_eq!(
            BestAvailable::parse(0, None, 8).unwrap_err().code,
            "no_seats"
        );
        assert_eq!(
            BestAvailable::parse(9, None, 8).unwrap_err().code,
            "too_many_seats"
        );
    }

    /// The reference hall with its demo categories filled in, as the catalogue does.
    fn demo() -> Layout {
        let mut layout = crate::venue::demo_hall();
        for row in layout.sections.iter_mut().flat_map(|s| s.rows.iter_mut()) {
            for seat in &mut row.seats {
                seat.category_id = crate::venue::demo_category_of(&seat.id).map(str::to_owned);
            }
        }
        layout
    }

    #[test]
    fn in_the_curved_demo_hall_the_best_seats_face_the_stage_from_row_a() {
        let layout = demo();
        assert_eq!(
            best_block(&layout, want(2), |_| true),
            Some(vec!["A-16".into(), "A-17".into()])
        );
        let four = best_block(&layout, want(4), |_| true).unwrap();
        assert_eq!(four, ["A-15", "A-16", "A-17", "A-18"]);
        // A category further back starts from its own front row.
        let value = best_block(
            &layout,
            Wanted {
                count: 2,
                category_id: Some("Value"),
            },
            |_| true,
        )
        .unwrap();
        assert!(value.iter().all(|id| id.starts_with("L-")), "{value:?}");
    }

    #[test]
    fn the_demo_hall_aisles_after_seats_8_and_24_are_never_crossed() {
        let layout = demo();
        // Only seats 5..=12 of row A are free: eight in a line on the drawing, but with the
        // aisle after seat 8 the most side by side is four.
        let free = |id: &str| {
            id.strip_prefix("A-")
                .and_then(|n| n.parse::<u32>().ok())
                .is_some_and(|n| (5..=12).contains(&n))
        };
        assert_eq!(best_block(&layout, want(5), free), None);
        let four = best_block(&layout, want(4), free).unwrap();
        assert!(
            four == ["A-5", "A-6", "A-7", "A-8"] || four == ["A-9", "A-10", "A-11", "A-12"],
            "{four:?}"
        );
    }

    /// Free seats with no free neighbour in the row (an edge counts as taken).
    fn isolated(free: &[bool]) -> HashSet<usize> {
        (0..free.len())
            .filter(|&i| {
                free[i] && (i == 0 || !free[i - 1]) && (i + 1 == free.len() || !free[i + 1])
            })
            .collect()
    }

    proptest::proptest! {
        /// Against a second, independent statement of the rule: a window is allowed when all its
        /// seats are free and taking it makes no seat isolated that was not isolated before.
        /// The answer exists exactly when such a window does, and is one of the nearest.
        #[test]
        fn the_answer_is_a_nearest_window_that_isolates_no_free_seat(
            free in proptest::collection::vec(proptest::bool::ANY, 1..14),
            count in 1usize..5,
        ) {
            let layout = hall(free.len(), &["a"]);
            let ids: Vec<String> = (1..=free.len()).map(|n| format!("0-{n}")).collect();
            let is_free = |id: &str| free[ids.iter().position(|i| i == id).unwrap()];
            let before = isolated(&free);
            let allowed: Vec<usize> = (0..=free.len().saturating_sub(count))
                .filter(|&start| start + count <= free.len())
                .filter(|&start| {
                    let mut after = free.clone();
                    after[start..start + count].iter_mut().for_each(|f| *f = false);
                    free[start..start + count].iter().all(|&f| f)
                        && isolated(&after).is_subset(&before)
                })
                .collect();
            let answer = best_block(&layout, want(count), is_free);
            proptest::prop_assert_eq!(answer.is_some(), !allowed.is_empty());
            if let Some(block) = answer {
                let start = ids.iter().position(|i| *i == block[0]).unwrap();
                proptest::prop_assert_eq!(&block[..], &ids[start..start + count]);
                proptest::prop_assert!(allowed.contains(&start));
                // Seat n sits at x = 10n and the stage's centre at x = 5(len + 1).
                let off = |s: usize| ((s + 1) as f64 * 10.0 + (count - 1) as f64 * 5.0
                    - (free.len() + 1) as f64 * 5.0).abs();
                proptest::prop_assert!(allowed.iter().all(|&s| off(start) <= off(s) + 1e-9));
            }
        }
    }
}
