//! `boxoffice rehearse` against a fresh in-process server on its own SQLite file: a short,
//! bounded run of each scenario ends with a clean verdict (the database audit included) and
//! without a single 5xx.

use std::{path::PathBuf, time::Duration};

use boxoffice_rehearse::{
    Options, Overrides, Plan, Report, Scenario, Transport, Visit, check_target, rehearse,
    render_text,
};
use boxoffice_server::{Application, LimitSettings, Settings};
use tokio::{sync::oneshot, task::JoinHandle};

/// One rehearsal at a time: each is a small load test, and the machine is shared.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

struct Server {
    url: String,
    database_url: String,
    dir: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Server {
    async fn start(configure: impl FnOnce(&mut Settings)) -> Server {
        let dir = std::env::temp_dir().join(format!("boxoffice-rehearse-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let database_url = format!("sqlite://{}", dir.join("bo.db").display());
        let mut settings = Settings::for_tests(database_url.clone());
        configure(&mut settings);
        let app = Application::build(settings)
            .await
            .expect("the application builds");
        let url = format!("http://127.0.0.1:{}", app.port());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until(async move {
            let _ = stopped.await;
        }));
        Server {
            url,
            database_url,
            dir,
            stop: Some(stop),
            task,
        }
    }

    async fn shut_down(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), &mut self.task).await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A few seconds of the scenario, small enough for a shared machine.
fn small(scenario: Scenario, server: &Server, overrides: Overrides) -> Options {
    let plan = Plan::preset(scenario)
        .with(&Overrides {
            duration: Some(Duration::from_secs(2)),
            think_ms: Some(200),
            seed: Some(11),
            ..overrides
        })
        .expect("a valid plan");
    Options {
        target: server.url.clone(),
        plan,
        event_id: None,
        grace: Duration::from_secs(10),
        allow_remote: false,
        progress: false,
        audit_database_url: Some(server.database_url.clone()),
        cluster: None,
    }
}

async fn rehearse_small(
    scenario: Scenario,
    overrides: Overrides,
    configure: impl FnOnce(&mut Settings),
) -> Report {
    let _turn = ONE_AT_A_TIME.lock().await;
    let server = Server::start(configure).await;
    let options = small(scenario, &server, overrides);
    let report = tokio::time::timeout(Duration::from_secs(60), rehearse(options))
        .await
        .expect("the rehearsal stops by itself")
        .expect("the rehearsal runs");
    server.shut_down().await;
    let text = boxoffice_rehearse::render_text(&report);
    assert!(report.clean, "the verdict is not clean:\n{text}");
    assert!(
        report.verdict.counters().iter().all(|(_, n)| *n == 0),
        "{text}"
    );
    assert_eq!(report.requests.server_errors, 0, "5xx answers:\n{text}");
    assert_eq!(
        report.buyers.arrived as usize, report.buyers.planned,
        "{text}"
    );
    assert!(
        report.audit.as_ref().is_some_and(|a| a["ok"] == true),
        "{text}"
    );
    assert_eq!(
        report.delivery.live_maps, report.delivery.live_maps_converged,
        "{text}"
    );
    report
}

fn paid(report: &Report) -> u64 {
    report.buyers.visits.get(&Visit::Paid).copied().unwrap_or(0)
}

/// `boxoffice rehearse ARGS` as its own process, its cluster its own (no database or Redis from
/// this environment), killed if it is still running after `limit`.
async fn rehearse_spawned(args: &[&str], limit: Duration, too_long: &str) -> std::process::Output {
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_boxoffice"))
        .arg("rehearse")
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(limit, run)
        .await
        .expect(too_long)
        .expect("the rehearsal runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_flash_sale_ends_with_a_clean_verdict_and_no_server_errors() {
    let report = rehearse_small(
        Scenario::FlashSale,
        Overrides {
            buyers: Some(40),
            watchers: Some(6),
            ..Overrides::default()
        },
        |_| {},
    )
    .await;
    assert!(
        paid(&report) > 0,
        "{}",
        boxoffice_rehearse::render_text(&report)
    );
    assert!(report.seats.sold_to_the_crowd > 0);
    assert!(report.delivery.held.count > 0, "watchers saw holds");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flash_sale_through_the_waiting_room_lets_the_crowd_in_in_order_and_stays_clean() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let (email, password) = ("admin@rehearse.test", "admin password 1");
    let server = Server::start(|s| s.admin = Some((email.to_owned(), password.to_owned()))).await;
    let http = reqwest::Client::new();
    let login: serde_json::Value = http
        .post(format!("{}/api/v1/auth/login", server.url))
        .json(&serde_json::json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().unwrap();
    let events: serde_json::Value = http
        .get(format!("{}/api/v1/events", server.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let event = events["events"][0]["id"].as_str().unwrap().to_owned();
    // Twenty a second: the forty are let in over about two seconds, in order.
    let r = http
        .put(format!(
            "{}/api/v1/admin/events/{event}/waiting-room",
            server.url
        ))
        .bearer_auth(token)
        .json(&serde_json::json!({"enabled": true, "admit_per_minute": 1200}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut options = small(
        Scenario::FlashSale,
        &server,
        Overrides {
            buyers: Some(40),
            watchers: Some(4),
            ..Overrides::default()
        },
    );
    options.event_id = Some(event);
    let report = tokio::time::timeout(Duration::from_secs(90), rehearse(options))
        .await
        .expect("the rehearsal stops by itself")
        .expect("the rehearsal runs");
    server.shut_down().await;
    let text = boxoffice_rehearse::render_text(&report);
    assert!(report.clean, "{text}");
    assert_eq!(report.requests.server_errors, 0, "{text}");
    let room = report
        .waiting_room
        .as_ref()
        .expect("the report has the room");
    assert_eq!(room.joined, 40, "{text}");
    assert_eq!(room.admitted, 40, "{text}");
    assert_eq!(room.fifo_inversions, 0, "{text}");
    // Let in at twenty a second: the last waited about two seconds.
    assert!(room.queue_time.max_ms >= 1_000.0, "{text}");
    assert!(paid(&report) > 0, "{text}");
    assert!(
        text.contains("waiting room: 40 joined, 40 let in"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hot_seat_rush_sells_the_hot_seat_to_exactly_one_buyer() {
    let report = rehearse_small(
        Scenario::HotSeat,
        Overrides {
            buyers: Some(30),
            watchers: Some(4),
            pay_ratio: Some(1.0),
            cancel_ratio: Some(0.0),
            ..Overrides::default()
        },
        |_| {},
    )
    .await;
    let refused: u64 = report
        .answers
        .iter()
        .filter(|a| a.status == 409 && a.code == "seat_unavailable")
        .map(|a| a.count)
        .sum();
    assert!(refused > 0, "the others were refused the hot seat");
    assert_eq!(report.verdict.double_sale_violations, 0);
    assert!(paid(&report) >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fan_out_delivers_changes_to_every_watcher_over_sse_and_websocket() {
    let report = rehearse_small(
        Scenario::FanOut,
        Overrides {
            rate: Some(5.0),
            watchers: Some(40),
            transport: Some(Transport::Mixed),
            ..Overrides::default()
        },
        |_| {},
    )
    .await;
    assert_eq!(
        report.delivery.live_maps, 41,
        "40 watchers and the progress map"
    );
    assert!(report.delivery.held.count + report.delivery.sold.count > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_soak_with_holds_that_expire_during_the_run_stays_clean() {
    rehearse_small(
        Scenario::Soak,
        Overrides {
            rate: Some(8.0),
            watchers: Some(5),
            pay_ratio: Some(0.5),
            cancel_ratio: Some(0.2),
            ..Overrides::default()
        },
        |s| s.hold_ttl = Duration::from_secs(1),
    )
    .await;
}

#[test]
fn a_target_off_this_machine_is_refused_without_allow_remote() {
    assert!(check_target("http://192.0.2.10:8080", false).is_err());
    assert!(check_target("http://192.0.2.10:8080", true).is_ok());
    assert!(check_target("http://127.0.0.1:8080", false).is_ok());
}

/// `rehearse --spawn-cluster 2 --chaos` on SQLite: two instances of the real binary, a private
/// Redis and the sandbox provider; an instance is SIGKILLed and restarted, Redis restarted, the
/// provider made slow and failing, and the verdict stays clean. Bounded: the whole run is
/// killed after 20 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chaos_rehearsal_on_a_spawned_cluster_stays_clean() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let out = rehearse_spawned(
        &[
            "--spawn-cluster",
            "2",
            "--chaos",
            "--scenario",
            "soak",
            "--duration",
            "5s",
            "--rate",
            "5",
            "--watchers",
            "4",
            "--think-ms",
            "150",
            "--grace",
            "3s",
            "--seed",
            "7",
            "--json",
            "--quiet",
        ],
        Duration::from_secs(20),
        "the chaos rehearsal ends within 20 s",
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("a JSON report ({e}); stderr:\n{stderr}"));
    let pretty = serde_json::to_string_pretty(&report["verdict"]).unwrap_or_default();
    assert!(
        out.status.success() && report["clean"] == true,
        "the verdict is not clean: {pretty}\nanswers: {}\nstderr:\n{stderr}",
        report["answers"]
    );
    assert_eq!(report["audit"]["ok"], true, "{}", report["audit"]);
    assert_eq!(
        report["delivery"]["live_maps"],
        report["delivery"]["live_maps_converged"]
    );
    let chaos = report["chaos"].as_array().expect("a chaos array");
    let happened = |kind: &str| chaos.iter().any(|e| e["kind"] == kind);
    for kind in [
        "instance_killed",
        "instance_restarted",
        "redis_killed",
        "redis_restarted",
        "psp_faulty",
        "psp_healed",
    ] {
        assert!(happened(kind), "no {kind} in {chaos:?}");
    }
    assert!(
        chaos
            .iter()
            .all(|e| e["at_ms"].is_u64() && e["target"].is_string())
    );
    let cluster = &report["cluster"];
    assert_eq!(cluster["instances"].as_array().map(Vec::len), Some(2));
    assert!(
        report["buyers"]["visits"]["paid"].as_u64().unwrap_or(0) > 0,
        "buyers paid through the cluster: {}",
        report["buyers"]
    );
}

/// The server's production limits, trusting this machine's `X-Forwarded-For` as a load
/// balancer's: the crowd and the bots then each come from addresses of their own.
fn real_limits(s: &mut Settings) {
    s.limits = LimitSettings::defaults();
    s.limits.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
}

fn hold_p99_ms(report: &Report) -> f64 {
    report
        .steps
        .iter()
        .find(|s| s.step.name() == "hold")
        .map_or(0.0, |s| s.latency.p99_ms)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bots_in_a_flash_sale_hold_under_5_percent_of_the_hall_and_cost_honest_buyers_nothing() {
    let crowd = Overrides {
        buyers: Some(60),
        watchers: Some(4),
        spread_addresses: Some(true),
        ..Overrides::default()
    };
    let without = rehearse_small(Scenario::FlashSale, crowd.clone(), real_limits).await;
    let with = rehearse_small(Scenario::Bots, crowd, real_limits).await;
    let text = render_text(&with);
    let bots = with.bots.as_ref().expect("the bots' figures");
    assert!(
        bots.seats_held_peak > 0,
        "the bots got seats, or this proves nothing:\n{text}"
    );
    assert!(bots.within_target, "{text}");
    assert!(bots.seats_held_peak_share < 0.05, "{text}");
    assert_eq!(bots.guesses_right, 0, "{text}");
    assert!(
        bots.guesses_rate_limited > 0,
        "the guessers were locked out:\n{text}"
    );
    assert_eq!(
        bots.victims_signed_in_after, bots.victims,
        "every victim still signs in:\n{text}"
    );
    assert!(bots.farm_accounts <= 20, "the registration limit:\n{text}");
    assert_eq!(bots.honest_rate_limited, 0, "{text}");
    assert!(without.bots.is_none());
    // Not a benchmark (scripts/bench measures), a bound on harm: a bot that slowed every hold
    // down, by hammering the hashers or the database, would show here.
    let (before, after) = (hold_p99_ms(&without), hold_p99_ms(&with));
    assert!(
        after <= 2.0 * before + 100.0,
        "honest hold p99 {after:.1} ms with bots, {before:.1} ms without:\n{text}"
    );
    assert_eq!(paid(&with) > 0, paid(&without) > 0, "{text}");
}

/// Issue 13: our side of autoscaling. Behind HAProxy on MariaDB and Redis, a second and a third
/// instance join mid-sale through HAProxy's runtime API, then the first is drained and removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_added_and_drained_mid_sale_behind_haproxy_lose_no_request_and_no_live_map() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let mysql = std::env::var("BOXOFFICE_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".to_owned());
    let out = rehearse_spawned(
        &[
            "--spawn-cluster",
            "1",
            "--database-url",
            &mysql,
            "--scale",
            "2s:+1,4s:+1,7s:-1",
            "--scenario",
            "soak",
            "--duration",
            "10s",
            "--rate",
            "5",
            "--watchers",
            "6",
            "--think-ms",
            "300",
            "--grace",
            "4s",
            "--seed",
            "5",
            "--json",
            "--quiet",
        ],
        Duration::from_secs(90),
        "the scaling rehearsal ends within 90 s",
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("a JSON report ({e}); stderr:\n{stderr}"));
    let scaling = &report["scaling"];
    let context = format!(
        "scaling: {scaling:#}\nanswers: {}\nverdict: {}\nstderr:\n{stderr}",
        report["answers"], report["verdict"]
    );
    assert!(out.status.success() && report["clean"] == true, "{context}");
    assert_eq!(report["audit"]["ok"], true, "{context}");
    let kinds: Vec<&str> = scaling["events"]
        .as_array()
        .expect("the scaling events")
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert_eq!(
        kinds,
        [
            "instance_added",
            "instance_added",
            "instance_draining",
            "instance_removed"
        ],
        "{context}"
    );
    // Nothing failed but what the client retried: no unexpected answer, not one 5xx.
    assert_eq!(report["requests"]["unexpected"], 0, "{context}");
    assert_eq!(report["requests"]["server_errors"], 0, "{context}");
    // New instances served current maps the moment they took traffic.
    assert_eq!(scaling["new_instances_checked"], 2, "{context}");
    assert_eq!(scaling["stale_seats_on_new_instances"], 0, "{context}");
    // The drained instance's live maps came back elsewhere, each within 5 s.
    assert!(scaling["reconnects"].as_u64().unwrap_or(0) > 0, "{context}");
    assert!(
        scaling["reconnect_gap_max_ms"].as_f64().unwrap_or(f64::MAX) <= 5000.0,
        "{context}"
    );
    assert_eq!(scaling["ok"], true, "{context}");
    assert_eq!(
        report["delivery"]["live_maps"], report["delivery"]["live_maps_converged"],
        "{context}"
    );
}
