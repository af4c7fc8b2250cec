//! `boxoffice probe`: the health check a container runs when its image has no curl.

/// `boxoffice probe [PATH]`: GET PATH from the server bound to `listen`, reached over loopback
/// when it binds every address. Ok on a 2xx answer within two seconds.
pub async fn probe(listen: std::net::SocketAddr, path: &str) -> anyhow::Result<()> {
    let mut addr = listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let path = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    let status = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(2))
        .no_proxy()
        .build()?
        .get(format!("http://{addr}{path}"))
        .send()
        .await?
        .status();
    anyhow::ensure!(status.is_success(), "{path} answered {status}");
    Ok(())
}
