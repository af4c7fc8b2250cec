//! The live seat feed as a client reads it: the JSON messages shared by SSE and the WebSocket
//! (SSE framing is `boxoffice_testkit::sse`'s), and a seat map that applies only newer versions.
//! Pure.

use std::collections::BTreeMap;

use super::seats::Chart;
use boxoffice_domain::{
    compact_seats::{self, CompactSeats},
    seat::SeatState,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SeatChange {
    pub id: String,
    pub state: SeatState,
    pub version: i64,
    /// The caller's own hold or purchase.
    pub mine: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FeedMessage {
    Snapshot(Vec<SeatChange>),
    Changes(Vec<SeatChange>),
    /// The caller's own seats, sent apart from a compact snapshot.
    Mine(Vec<SeatChange>),
    /// The instance drains: reconnect and resync.
    Reconnect,
    Other,
}

/// Both transports carry `{"type": …}`; SSE also names the event, which is used when the JSON
/// has no type.
///
/// Parsed into borrowed, typed fields rather than a `serde_json::Value`: every buyer of a crowd
/// receives the whole hall in its snapshot, and building a tree of maps for each one made this
/// generator, not the server, the bottleneck of a big rehearsal.
pub(crate) fn parse_message(event_name: Option<&str>, data: &str) -> FeedMessage {
    parse(None, event_name, data)
}

/// [`parse_message`], also reading compact snapshots (`format: "compact"`, one character per
/// seat in the layout's order, which is the chart's) and the `mine` frames that follow them.
pub(crate) fn parse_map_message(
    chart: &Chart,
    event_name: Option<&str>,
    data: &str,
) -> FeedMessage {
    parse(Some(chart), event_name, data)
}

fn parse(chart: Option<&Chart>, event_name: Option<&str>, data: &str) -> FeedMessage {
    let Ok(frame) = serde_json::from_str::<WireFrame<'_>>(data) else {
        return FeedMessage::Other;
    };
    match frame.kind.as_deref().or(event_name).unwrap_or("") {
        "snapshot" if frame.format.as_deref() == Some("compact") => match chart {
            Some(chart) => compact(chart, frame),
            None => FeedMessage::Other,
        },
        "snapshot" => FeedMessage::Snapshot(changes(frame.seats)),
        "seats" => FeedMessage::Changes(changes(frame.changes)),
        "mine" => FeedMessage::Mine(changes(frame.seats)),
        "reconnect" => FeedMessage::Reconnect,
        _ => FeedMessage::Other,
    }
}

/// A compact snapshot as the seats of the chart; `Other` when it does not fit the chart.
fn compact(chart: &Chart, frame: WireFrame<'_>) -> FeedMessage {
    let encoded = CompactSeats {
        version_base: frame.version_base.unwrap_or(0),
        states: frame
            .states
            .map(std::borrow::Cow::into_owned)
            .unwrap_or_default(),
        versions: frame
            .versions
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(i, v)| Some((i.parse().ok()?, v)))
            .collect(),
    };
    match compact_seats::decode(&encoded) {
        Some(seats) if seats.len() == chart.len() => FeedMessage::Snapshot(
            seats
                .into_iter()
                .enumerate()
                .map(|(i, (state, version))| SeatChange {
                    id: chart.id(i).to_owned(),
                    state,
                    version,
                    mine: false,
                })
                .collect(),
        ),
        _ => FeedMessage::Other,
    }
}

#[derive(serde::Deserialize)]
struct WireFrame<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    seats: Option<Vec<WireSeat<'a>>>,
    #[serde(borrow, default)]
    changes: Option<Vec<WireSeat<'a>>>,
    #[serde(borrow, default)]
    format: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    version_base: Option<i64>,
    #[serde(borrow, default)]
    states: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    versions: Option<BTreeMap<String, i64>>,
}

/// A seat as the server sends it; anything malformed is skipped, as before.
#[derive(serde::Deserialize)]
struct WireSeat<'a> {
    #[serde(borrow)]
    id: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    state: Option<std::borrow::Cow<'a, str>>,
    version: Option<i64>,
    #[serde(default)]
    mine: Option<bool>,
}

fn changes(list: Option<Vec<WireSeat<'_>>>) -> Vec<SeatChange> {
    list.unwrap_or_default()
        .into_iter()
        .filter_map(|c| {
            Some(SeatChange {
                id: c.id?.into_owned(),
                state: SeatState::parse(&c.state?)?,
                version: c.version?,
                mine: c.mine.unwrap_or(false),
            })
        })
        .collect()
}

/// A seat that changed in a map: (seat index, new state, version, mine).
pub(crate) type Applied = (usize, SeatState, i64, bool);

/// One client's copy of the seat states, by chart index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LiveMap {
    seats: Vec<Option<(SeatState, i64)>>,
}

impl LiveMap {
    pub(crate) fn new(chart: &Chart) -> LiveMap {
        LiveMap {
            seats: vec![None; chart.len()],
        }
    }

    /// Replaces everything; returns the seats whose state or version differ from before.
    pub(crate) fn apply_snapshot(&mut self, chart: &Chart, seats: &[SeatChange]) -> Vec<Applied> {
        let mut fresh = vec![None; self.seats.len()];
        let mut mine = vec![false; self.seats.len()];
        for s in seats {
            if let Some(i) = chart.index_of(&s.id) {
                fresh[i] = Some((s.state, s.version));
                mine[i] = s.mine;
            }
        }
        let applied = (0..fresh.len())
            .filter(|i| fresh[*i] != self.seats[*i])
            .filter_map(|i| fresh[i].map(|(st, v)| (i, st, v, mine[i])))
            .collect();
        self.seats = fresh;
        applied
    }

    /// Applies the strictly newer changes (duplicates and reordering are harmless); returns them.
    pub(crate) fn apply_changes(&mut self, chart: &Chart, changes: &[SeatChange]) -> Vec<Applied> {
        let mut applied = Vec::new();
        for c in changes {
            let Some(i) = chart.index_of(&c.id) else {
                continue;
            };
            if self.seats[i].is_none_or(|(_, v)| c.version > v) {
                self.seats[i] = Some((c.state, c.version));
                applied.push((i, c.state, c.version, c.mine));
            }
        }
        applied
    }

    pub(crate) fn state(&self, seat: usize) -> Option<SeatState> {
        self.seats.get(seat).copied().flatten().map(|(s, _)| s)
    }

    pub(crate) fn is_free(&self, seat: usize) -> bool {
        self.state(seat) == Some(SeatState::Available)
    }

    pub(crate) fn count(&self, state: SeatState) -> usize {
        self.seats
            .iter()
            .filter(|s| s.is_some_and(|(st, _)| st == state))
            .count()
    }

    /// The caller's own seats: those at least as new as what the map has are applied and
    /// returned as the caller's (the snapshot before them could not say so).
    pub(crate) fn apply_mine(&mut self, chart: &Chart, seats: &[SeatChange]) -> Vec<Applied> {
        let mut applied = Vec::new();
        for c in seats {
            let Some(i) = chart.index_of(&c.id) else {
                continue;
            };
            if self.seats[i].is_none_or(|(_, v)| c.version >= v) {
                self.seats[i] = Some((c.state, c.version));
                applied.push((i, c.state, c.version, true));
            }
        }
        applied
    }

    /// How many seats differ (in state or version) from `other`.
    pub(crate) fn differences(&self, other: &LiveMap) -> usize {
        self.seats
            .iter()
            .zip(&other.seats)
            .filter(|(a, b)| a != b)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart() -> Chart {
        Chart::new(
            vec![vec![("A-1".into(), 0.0, 0.0), ("A-2".into(), 1.0, 0.0)]],
            (0.0, 0.0),
        )
    }

    fn change(id: &str, state: SeatState, version: i64) -> SeatChange {
        SeatChange {
            id: id.into(),
            state,
            version,
            mine: false,
        }
    }

    #[test]
    fn messages_are_read_from_either_transport() {
        let ws =
            r#"{"type":"seats","changes":[{"id":"A-1","state":"held","version":2,"mine":true}]}"#;
        let FeedMessage::Changes(c) = parse_message(None, ws) else {
            panic!("not changes")
        };
        assert!(c[0].mine && c[0].state == SeatState::Held);
        let sse = r#"{"event_id":"e","seats":[{"id":"A-1","state":"sold","version":3}]}"#;
        assert!(
            matches!(parse_message(Some("snapshot"), sse), FeedMessage::Snapshot(s) if s.len() == 1)
        );
        assert_eq!(
            parse_message(None, r#"{"type":"reconnect"}"#),
            FeedMessage::Reconnect
        );
    }

    #[test]
    fn a_compact_snapshot_reads_in_chart_order_and_mine_frames_mark_the_callers_seats() {
        let chart = chart();
        let frame = r#"{"type":"snapshot","event_id":"e","format":"compact","layout_hash":"h","version_base":1,"states":"Ab","versions":{}}"#;
        let FeedMessage::Snapshot(seats) = parse_map_message(&chart, None, frame) else {
            panic!("not a snapshot")
        };
        assert_eq!(
            seats,
            vec![
                change("A-1", SeatState::Available, 1),
                change("A-2", SeatState::Held, 2)
            ]
        );
        assert_eq!(
            parse_message(None, frame),
            FeedMessage::Other,
            "needs the chart"
        );
        let short = frame.replace("\"Ab\"", "\"A\"");
        assert_eq!(parse_map_message(&chart, None, &short), FeedMessage::Other);
        let mut map = LiveMap::new(&chart);
        map.apply_snapshot(&chart, &seats);
        let mine =
            r#"{"type":"mine","seats":[{"id":"A-2","state":"held","version":2,"mine":true}]}"#;
        let FeedMessage::Mine(m) = parse_map_message(&chart, Some("mine"), mine) else {
            panic!("not mine")
        };
        assert_eq!(
            map.apply_mine(&chart, &m),
            vec![(1, SeatState::Held, 2, true)]
        );
    }

    #[test]
    fn only_newer_versions_change_the_map() {
        let chart = chart();
        let mut map = LiveMap::new(&chart);
        map.apply_snapshot(&chart, &[change("A-1", SeatState::Available, 1)]);
        let applied = map.apply_changes(
            &chart,
            &[
                change("A-1", SeatState::Sold, 3),
                change("A-1", SeatState::Held, 2),
            ],
        );
        assert_eq!(applied.len(), 1);
        assert_eq!(map.state(0), Some(SeatState::Sold));
    }

    #[test]
    fn a_fresh_snapshot_reports_what_it_changed_and_maps_compare_seat_by_seat() {
        let chart = chart();
        let mut a = LiveMap::new(&chart);
        let all_free = [
            change("A-1", SeatState::Available, 1),
            change("A-2", SeatState::Available, 1),
        ];
        a.apply_snapshot(&chart, &all_free);
        let mut b = a.clone();
        let applied = b.apply_snapshot(
            &chart,
            &[
                change("A-1", SeatState::Available, 1),
                change("A-2", SeatState::Held, 2),
            ],
        );
        assert_eq!(applied, vec![(1, SeatState::Held, 2, false)]);
        assert_eq!(a.differences(&b), 1);
        assert_eq!((b.count(SeatState::Available), b.is_free(1)), (1, false));
    }
}
