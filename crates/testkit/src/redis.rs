//! A redis-server of a caller's own, on a port of its own, so that stopping it (to test an outage
//! or inject one) disturbs nobody else. Killed when dropped.

use std::{path::Path, process::Stdio, time::Duration};

use anyhow::{Context, bail};
use tokio::process::{Child, Command};

/// A private redis-server: no persistence, loopback only.
pub struct PrivateRedis {
    port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    /// Starts one on `port` and waits (bounded) until it accepts connections; panics otherwise.
    pub async fn start(port: u16) -> PrivateRedis {
        Self::launch(port, None)
            .await
            .unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// Starts one on `port`, its output appended to `log` (discarded when `None`), and waits
    /// until it accepts connections.
    pub async fn launch(port: u16, log: Option<&Path>) -> anyhow::Result<PrivateRedis> {
        let (stdout, stderr) = match log {
            Some(path) => {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .with_context(|| format!("opening {}", path.display()))?;
                (Stdio::from(file.try_clone()?), Stdio::from(file))
            }
            None => (Stdio::null(), Stdio::null()),
        };
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .context("starting redis-server (is it installed?)")?;
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Ok(PrivateRedis {
                    port,
                    child: Some(child),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("the private redis did not start on port {port}")
    }

    /// The port it listens on, on loopback.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// SIGKILL, without waiting for the process to go.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.start_kill();
        }
    }

    /// SIGKILL, then waits up to `within` for the process to be gone (its port free again).
    pub async fn stop_and_wait(&mut self, within: Duration) {
        if let Some(mut c) = self.child.take() {
            let _ = c.start_kill();
            let _ = tokio::time::timeout(within, c.wait()).await;
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}
