//! The backends under test and the scratch databases each round gets: a temporary SQLite file,
//! or a `bo_bench_<uuid>` database created through the admin URL and dropped afterwards.

use std::{collections::HashMap, path::PathBuf, str::FromStr};

use sqlx::Connection;

use crate::{Result, fail, options::Options};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
    MySql,
}

impl Backend {
    pub(crate) fn parse(s: &str) -> Result<Backend> {
        match s.trim() {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" | "postgresql" | "pg" => Ok(Backend::Postgres),
            "mysql" | "mariadb" => Ok(Backend::MySql),
            other => Err(fail(format!(
                "unknown backend {other}: expected sqlite, postgres or mysql"
            ))),
        }
    }

    pub(crate) fn of_url(url: &str) -> Result<Backend> {
        Backend::parse(url.split(':').next().unwrap_or_default())
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
            Backend::MySql => "mysql",
        }
    }
}

pub(crate) fn temp_dir(name: &str) -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(name);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// A fresh, empty database, removed by [`ScratchDb::remove`]: a file in a temporary directory for
/// SQLite, or a database named `bo_bench_<uuid>` on the PostgreSQL or MariaDB server.
pub(crate) struct ScratchDb {
    pub(crate) backend: Backend,
    pub(crate) name: String,
    pub(crate) url: String,
    pub(crate) admin_url: String,
    pub(crate) dir: Option<PathBuf>,
}

impl ScratchDb {
    pub(crate) async fn create(backend: Backend, opts: &Options) -> Result<ScratchDb> {
        let admin = match backend {
            Backend::Sqlite => "",
            Backend::Postgres => &opts.postgres_admin,
            Backend::MySql => &opts.mysql_admin,
        };
        ScratchDb::create_at(backend, admin).await
    }

    /// [`ScratchDb::create`] on the server of this admin URL (ignored for SQLite).
    pub(crate) async fn create_at(backend: Backend, admin: &str) -> Result<ScratchDb> {
        let name = format!("bo_bench_{}", uuid::Uuid::new_v4().simple());
        let (url, admin_url, dir) = match backend {
            Backend::Sqlite => {
                let dir = temp_dir(&name)?;
                (
                    format!("sqlite://{}/bo.db", dir.display()),
                    String::new(),
                    Some(dir),
                )
            }
            Backend::Postgres => {
                let mut conn = sqlx::PgConnection::connect(admin)
                    .await
                    .map_err(|e| fail(format!("PostgreSQL at {admin}: {e}")))?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await?;
                conn.close().await.ok();
                (
                    boxoffice_store::replace_database(admin, &name),
                    admin.to_owned(),
                    None,
                )
            }
            Backend::MySql => {
                let mut conn = sqlx::MySqlConnection::connect(admin)
                    .await
                    .map_err(|e| fail(format!("MariaDB/MySQL at {admin}: {e}")))?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "CREATE DATABASE {name} CHARACTER SET utf8mb4"
                )))
                .execute(&mut conn)
                .await?;
                conn.close().await.ok();
                (
                    boxoffice_store::replace_database(admin, &name),
                    admin.to_owned(),
                    None,
                )
            }
        };
        Ok(ScratchDb {
            backend,
            name,
            url,
            admin_url,
            dir,
        })
    }

    /// Drops the database (or deletes the SQLite directory). Reports a failure, never returns one:
    /// it runs on the way out of a phase that may have failed already.
    pub(crate) async fn remove(self) {
        let outcome: Result<()> = async {
            match self.backend {
                Backend::Sqlite => {}
                Backend::Postgres => {
                    let mut conn = sqlx::PgConnection::connect(&self.admin_url).await?;
                    let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
                    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                        .execute(&mut conn)
                        .await?;
                    conn.close().await.ok();
                }
                Backend::MySql => {
                    let mut conn = sqlx::MySqlConnection::connect(&self.admin_url).await?;
                    let sql = format!("DROP DATABASE IF EXISTS {}", self.name);
                    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                        .execute(&mut conn)
                        .await?;
                    conn.close().await.ok();
                }
            }
            if let Some(dir) = &self.dir {
                std::fs::remove_dir_all(dir)?;
            }
            Ok(())
        }
        .await;
        if let Err(e) = outcome {
            eprintln!("measure: could not remove database {}: {e}", self.name);
        }
    }
}

/// The `updated_at` (database clock, ms since the epoch) of every seat of an event.
pub(crate) async fn seat_update_times(url: &str, event: &str) -> Result<HashMap<String, i64>> {
    let rows: Vec<(String, i64)> = match Backend::of_url(url)? {
        Backend::Sqlite => {
            let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)?.read_only(true);
            let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
            let rows = sqlx::query_as("SELECT id, updated_at FROM seats WHERE event_id = ?")
                .bind(event)
                .fetch_all(&mut conn)
                .await?;
            conn.close().await.ok();
            rows
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(url).await?;
            let rows = sqlx::query_as("SELECT id, updated_at FROM seats WHERE event_id = $1")
                .bind(event)
                .fetch_all(&mut conn)
                .await?;
            conn.close().await.ok();
            rows
        }
        Backend::MySql => {
            let mut conn = sqlx::MySqlConnection::connect(url).await?;
            let rows = sqlx::query_as("SELECT id, updated_at FROM seats WHERE event_id = ?")
                .bind(event)
                .fetch_all(&mut conn)
                .await?;
            conn.close().await.ok();
            rows
        }
    };
    Ok(rows.into_iter().collect())
}
