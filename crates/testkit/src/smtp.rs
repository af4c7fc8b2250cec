//! A mail sink of a test's own: aiosmtpd (Python, from PyPI; `scripts/lib/aiosmtpd.sh` installs
//! it into a cached virtualenv) on a port of its own, writing every message it accepts, parsed,
//! into a directory the test reads. Started and stopped at will, so that a test can have the mail
//! server down, then up. Killed when dropped.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use anyhow::{Context, bail};
use serde_json::Value;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

const SINK: &str = include_str!("smtp_sink.py");

/// The Python that has aiosmtpd: `$BOXOFFICE_AIOSMTPD_PYTHON`, else the newest
/// `aiosmtpd-*` virtualenv under the cache `scripts/lib/aiosmtpd.sh` installs into.
pub fn aiosmtpd_python() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("BOXOFFICE_AIOSMTPD_PYTHON") {
        return Ok(PathBuf::from(p));
    }
    // The caches scripts/lib uses: $BOXOFFICE_CACHE, else /var/cache/boxoffice as root and
    // ~/.cache/boxoffice otherwise.
    let caches: Vec<PathBuf> = match std::env::var_os("BOXOFFICE_CACHE") {
        Some(dir) => vec![PathBuf::from(dir)],
        None => vec![
            PathBuf::from("/var/cache/boxoffice"),
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/boxoffice"),
        ],
    };
    let mut found: Vec<PathBuf> = caches
        .iter()
        .flat_map(|cache| std::fs::read_dir(cache).into_iter().flatten().flatten())
        .filter(|e| e.file_name().to_string_lossy().starts_with("aiosmtpd-"))
        .map(|e| e.path().join("bin/python"))
        .filter(|p| p.exists())
        .collect();
    found.sort();
    found.pop().with_context(|| {
        format!(
            "no aiosmtpd virtualenv under {caches:?}: run `source scripts/lib/aiosmtpd.sh && \
             ensure_aiosmtpd` (scripts/test does) or set BOXOFFICE_AIOSMTPD_PYTHON"
        )
    })
}

/// A running sink and the messages it has received.
pub struct SmtpSink {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

/// One message as the sink received and parsed it.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    /// The SMTP envelope's sender.
    pub mail_from: String,
    /// The SMTP envelope's recipients.
    pub rcpt_tos: Vec<String>,
    /// Header name (lower case) → value, decoded.
    pub headers: serde_json::Map<String, Value>,
    /// The content type of every part, the multiparts included, in tree order.
    pub structure: Vec<String>,
    /// Every leaf part: `content_type`, `content_id`, `disposition`, `filename`, and `text`
    /// (text parts, decoded) or `base64` (the others).
    pub parts: Vec<Value>,
}

impl ReceivedMail {
    /// A header's value, or `""`.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(&name.to_ascii_lowercase())
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// The text of the first leaf part of this content type.
    pub fn text(&self, content_type: &str) -> Option<&str> {
        self.parts_of(content_type)
            .next()
            .and_then(|p| p["text"].as_str())
    }

    /// The leaf parts of this content type.
    pub fn parts_of<'a>(&'a self, content_type: &str) -> impl Iterator<Item = &'a Value> + use<'a> {
        let wanted = content_type.to_owned();
        self.parts
            .iter()
            .filter(move |p| p["content_type"] == wanted.as_str())
    }
}

impl SmtpSink {
    /// Starts a sink on `port`, writing into a fresh directory; panics when it cannot.
    pub async fn start(port: u16) -> SmtpSink {
        let dir = std::env::temp_dir().join(format!("bo-mail-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("a directory for the mail sink");
        Self::launch(port, &dir)
            .await
            .unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// Starts a sink on `port` writing into `dir`, and waits until it accepts connections.
    async fn launch(port: u16, dir: &Path) -> anyhow::Result<SmtpSink> {
        let python = aiosmtpd_python()?;
        let mut child = Command::new(&python)
            .arg("-c")
            .arg(SINK)
            .arg(port.to_string())
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting the mail sink with {}", python.display()))?;
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(Duration::from_secs(20), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.starts_with("listening on ") {
                    return true;
                }
            }
            false
        })
        .await;
        if ready != Ok(true) {
            let _ = child.start_kill();
            bail!("the mail sink did not start on port {port}");
        }
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(SmtpSink {
            port,
            dir: dir.to_owned(),
            child: Some(child),
        })
    }

    /// The port it listens on, on loopback.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `smtp://127.0.0.1:PORT`, for `BOXOFFICE_SMTP_URL`.
    pub fn url(&self) -> String {
        smtp_url(self.port)
    }

    /// Every message received so far, in arrival order.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| {
                let text = std::fs::read_to_string(p).expect("a message file");
                let v: Value = serde_json::from_str(&text).expect("a message record");
                ReceivedMail {
                    mail_from: v["mail_from"].as_str().unwrap_or_default().to_owned(),
                    rcpt_tos: v["rcpt_tos"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|r| r.as_str().map(str::to_owned))
                        .collect(),
                    headers: v["headers"].as_object().cloned().unwrap_or_default(),
                    structure: v["structure"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|s| s.as_str().map(str::to_owned))
                        .collect(),
                    parts: v["parts"].as_array().cloned().unwrap_or_default(),
                }
            })
            .collect()
    }

    /// Waits (up to `within`) until at least `n` messages have arrived, and returns them all.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<ReceivedMail> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let got = self.messages();
            if got.len() >= n || tokio::time::Instant::now() >= deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL, then waits (bounded) for the process to be gone.
    pub async fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(5), c.wait()).await;
        }
    }
}

/// `smtp://127.0.0.1:PORT`: plain SMTP on loopback, whether or not anything listens there.
pub fn smtp_url(port: u16) -> String {
    format!("smtp://127.0.0.1:{port}")
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.start_kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
