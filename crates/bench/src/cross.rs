//! The `cross` phase: two instances on one database sharing Redis, subscribers on the first and
//! holds through the second.

use std::time::Duration;

use serde_json::{Value, json};

use crate::{
    Result,
    databases::ScratchDb,
    fail,
    fanout::{FanoutPlan, Transport, measure_fanout},
    options::Options,
    servers::{Instance, audit},
};

pub(crate) async fn phase_cross(opts: &Options) -> Result<Value> {
    if opts.target.is_some() {
        return Ok(json!({
            "skipped": "cross needs two fresh instances on a fresh database: not run with --target"
        }));
    }
    require_redis(&opts.redis_url).await?;
    let db = ScratchDb::create(opts.cross_backend, opts).await?;
    let outcome = cross_on(opts, &db).await;
    db.remove().await;
    outcome
}

/// Fails fast when nothing listens at the Redis address: the server itself would wait for it
/// without printing anything.
async fn require_redis(url: &str) -> Result<()> {
    let authority = url
        .split_once("://")
        .map_or(url, |(_, r)| r)
        .split(['/', '?'])
        .next()
        .unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let address = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:6379")
    };
    match tokio::time::timeout(
        Duration::from_secs(3),
        tokio::net::TcpStream::connect(&address),
    )
    .await
    {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(fail(format!("Redis at {address} does not answer: {e}"))),
        Err(_) => Err(fail(format!(
            "Redis at {address} does not answer within 3 s"
        ))),
    }
}

async fn cross_on(opts: &Options, db: &ScratchDb) -> Result<Value> {
    let bin = &opts.server_bin;
    let redis = Some(opts.redis_url.as_str());
    // One after the other: the first migrates and creates the demo event.
    let one = Instance::start(bin, &db.url, redis).await?;
    let two = match Instance::start(bin, &db.url, redis).await {
        Ok(two) => two,
        Err(e) => {
            one.stop().await;
            return Err(e);
        }
    };
    let sse = opts.cross_subscribers / 2;
    let mut transports = vec![Transport::Sse; sse];
    transports.extend(vec![Transport::WebSocket; opts.cross_subscribers - sse]);
    eprintln!(
        "cross: {} subscribers ({sse} SSE) on {}, {} holds {} ms apart through {}",
        opts.cross_subscribers, one.base, opts.cross_holds, opts.cross_spacing_ms, two.base
    );
    let plan = FanoutPlan {
        watch_base: &one.base,
        hold_base: &two.base,
        transports,
        holds: opts.cross_holds,
        spacing_ms: opts.cross_spacing_ms,
        database_url: Some(&db.url),
        server_pids: [&one, &two].iter().filter_map(|i| i.child.id()).collect(),
    };
    let result = measure_fanout(&plan).await;
    let instances = json!([one.base, two.base]);
    one.stop().await;
    two.stop().await;
    let verdict = audit(bin, &db.url).await;
    let mut v = result?;
    v["backend"] = opts.cross_backend.name().into();
    v["redis_url"] = opts.redis_url.clone().into();
    v["instances"] = instances;
    v["sse_subscribers"] = sse.into();
    v["websocket_subscribers"] = (opts.cross_subscribers - sse).into();
    v["audit"] = verdict;
    Ok(v)
}
