//! The cluster's own database on a PostgreSQL or MySQL server: created for the run, dropped after.

use anyhow::{Context, bail};
use sqlx::Connection;

pub(super) async fn create_database(admin_url: &str, name: &str) -> anyhow::Result<()> {
    let sql = if admin_url.starts_with("postgres") {
        format!("CREATE DATABASE {name}")
    } else {
        format!("CREATE DATABASE {name} CHARACTER SET utf8mb4")
    };
    admin_sql(admin_url, &sql)
        .await
        .with_context(|| format!("creating the database {name}"))
}

pub(super) async fn drop_database(admin_url: &str, name: &str) -> anyhow::Result<()> {
    if admin_url.starts_with("postgres") {
        // Connections of killed instances may linger for a moment.
        let forced = admin_sql(
            admin_url,
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        )
        .await;
        if forced.is_ok() {
            return Ok(());
        }
    }
    admin_sql(admin_url, &format!("DROP DATABASE IF EXISTS {name}")).await
}

pub(super) async fn admin_sql(admin_url: &str, sql: &str) -> anyhow::Result<()> {
    let redacted = boxoffice_store::redact(admin_url);
    if admin_url.starts_with("postgres") {
        let mut conn = sqlx::PgConnection::connect(admin_url)
            .await
            .with_context(|| format!("connecting to {redacted}"))?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut conn)
            .await?;
        conn.close().await.ok();
    } else if admin_url.starts_with("mysql") || admin_url.starts_with("mariadb") {
        let mut conn = sqlx::MySqlConnection::connect(admin_url)
            .await
            .with_context(|| format!("connecting to {redacted}"))?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut conn)
            .await?;
        conn.close().await.ok();
    } else {
        bail!("--database-url {redacted}: expected sqlite://, postgres:// or mysql://");
    }
    Ok(())
}
