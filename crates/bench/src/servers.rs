//! The servers under test: a boxoffice process on a fresh database, the audit of that database
//! when it goes, and the deployment (started here, or the `--target`) the HTTP phases measure.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;

use crate::{
    BoxError, Result,
    databases::{Backend, ScratchDb, temp_dir},
    fail,
    options::Options,
    stats::round2,
};

/// A server process this tool started; its log goes to a temporary directory.
pub(crate) struct Instance {
    pub(crate) base: String,
    pub(crate) child: tokio::process::Child,
    pub(crate) dir: PathBuf,
}

impl Instance {
    /// Starts `bin serve` on a free loopback port and waits for its `listening on` line.
    pub(crate) async fn start(
        bin: &Path,
        database_url: &str,
        redis_url: Option<&str>,
    ) -> Result<Instance> {
        Instance::start_with(bin, database_url, redis_url, &[]).await
    }

    /// [`Instance::start`] with more environment (the admin account, say).
    pub(crate) async fn start_with(
        bin: &Path,
        database_url: &str,
        redis_url: Option<&str>,
        env: &[(&str, &str)],
    ) -> Result<Instance> {
        if !bin.exists() {
            return Err(fail(format!(
                "{} not found: build it first with `cargo build --release --bins`, or pass --target",
                bin.display()
            )));
        }
        let dir = temp_dir(&format!(
            "boxoffice-measure-{}",
            uuid::Uuid::new_v4().simple()
        ))?;
        let log = std::fs::File::create(dir.join("server.log"))?;
        let mut command = tokio::process::Command::new(bin);
        command
            .env("BOXOFFICE_LISTEN", "127.0.0.1:0")
            .env("DATABASE_URL", database_url)
            .env("BOXOFFICE_DEMO", "true")
            .envs(boxoffice_rehearse::CROWD_FROM_ONE_ADDRESS.iter().copied())
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true);
        match redis_url {
            Some(url) => command.env("REDIS_URL", url),
            None => command.env_remove("REDIS_URL"),
        };
        let mut child = command.spawn()?;
        let stdout = child.stdout.take().ok_or_else(|| fail("no stdout"))?;
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        // The server logs to stdout and prints its address there; keep what came before the
        // address for the error message.
        let mut printed = Vec::new();
        let found = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await? {
                if let Some((_, url)) = line.split_once("listening on ") {
                    return Ok::<_, BoxError>(Some(url.trim().trim_end_matches('/').to_owned()));
                }
                printed.push(line);
            }
            Ok(None)
        })
        .await;
        let base = match found {
            Ok(Ok(Some(url))) => url,
            other => {
                let _ = child.kill().await;
                let stderr = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
                let _ = std::fs::remove_dir_all(&dir);
                return Err(fail(format!(
                    "the server did not print its address ({other:?}); its stdout:\n{}\nits stderr:\n{stderr}",
                    printed.join("\n")
                )));
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Instance { base, child, dir })
    }

    /// SIGTERM, then SIGKILL after 10 s; removes the log.
    pub(crate) async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = tokio::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await;
        }
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `boxoffice audit` on a database: `{ok, exit_code, violations, failed_checks}`.
pub(crate) async fn audit(bin: &Path, database_url: &str) -> Value {
    let started = Instant::now();
    let out = tokio::process::Command::new(bin)
        .arg("audit")
        .env("DATABASE_URL", database_url)
        .env_remove("REDIS_URL")
        .stdin(Stdio::null())
        .output()
        .await;
    match out {
        Ok(out) => {
            let report: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
            let failed: Vec<&str> = report["checks"]
                .as_array()
                .map(|checks| {
                    checks
                        .iter()
                        .filter(|c| c["violations"].as_u64().unwrap_or(0) > 0)
                        .filter_map(|c| c["name"].as_str())
                        .collect()
                })
                .unwrap_or_default();
            let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
            json!({
                "ok": out.status.success(),
                "exit_code": out.status.code(),
                "violations": report["violations"],
                "failed_checks": failed,
                "seconds": round2(started.elapsed().as_secs_f64()),
                "stderr": if out.status.success() || stderr.is_empty() { Value::Null } else { stderr.into() },
            })
        }
        Err(e) => json!({"ok": Value::Null, "error": e.to_string()}),
    }
}

/// What `buy`, `read` and `fanout` measure: a server this tool started on a fresh database, or
/// the `--target`.
pub(crate) struct Deployment {
    pub(crate) base: String,
    pub(crate) own: Option<(Instance, ScratchDb)>,
}

impl Deployment {
    pub(crate) async fn start(opts: &Options, backend: Backend) -> Result<Deployment> {
        if let Some(t) = &opts.target {
            return Ok(Deployment {
                base: t.clone(),
                own: None,
            });
        }
        let db = ScratchDb::create(backend, opts).await?;
        match Instance::start(&opts.server_bin, &db.url, None).await {
            Ok(instance) => Ok(Deployment {
                base: instance.base.clone(),
                own: Some((instance, db)),
            }),
            Err(e) => {
                db.remove().await;
                Err(e)
            }
        }
    }

    pub(crate) fn database_url(&self) -> Option<&str> {
        self.own.as_ref().map(|(_, db)| db.url.as_str())
    }

    /// The server's process id, when this tool started it.
    pub(crate) fn pids(&self) -> Vec<u32> {
        self.own.iter().filter_map(|(i, _)| i.child.id()).collect()
    }

    /// Stops the server, audits its database when asked to, and removes the database.
    pub(crate) async fn finish(self, bin: &Path, with_audit: bool) -> Option<Value> {
        let (instance, db) = self.own?;
        instance.stop().await;
        let verdict = if with_audit {
            Some(audit(bin, &db.url).await)
        } else {
            None
        };
        db.remove().await;
        verdict
    }
}
