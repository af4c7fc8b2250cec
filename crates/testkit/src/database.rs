//! A fresh database for each test, on the backend named by `BOXOFFICE_TEST_DATABASE`
//! (`sqlite`, the default; `postgres`; `mysql`), so that tests run in parallel without sharing state.

use sqlx::Connection;

/// Which backend the suite runs against.
pub fn backend() -> String {
    std::env::var("BOXOFFICE_TEST_DATABASE").unwrap_or_else(|_| "sqlite".to_owned())
}

fn postgres_admin_url() -> String {
    std::env::var("BOXOFFICE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn mysql_admin_url() -> String {
    std::env::var("BOXOFFICE_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".to_owned())
}

/// Creates an empty database with a unique name and returns its URL. Databases are named
/// `bo_test_…`; `scripts/test` drops leftovers before and after a run.
pub async fn fresh_database_url() -> String {
    let name = format!("bo_test_{}", uuid::Uuid::new_v4().simple());
    match backend().as_str() {
        "sqlite" => {
            let dir = std::env::temp_dir().join("boxoffice-tests").join(&name);
            std::fs::create_dir_all(&dir).expect("create a temporary directory");
            format!("sqlite://{}", dir.join("bo.db").display())
        }
        "postgres" => {
            let admin = postgres_admin_url();
            let mut conn = sqlx::PgConnection::connect(&admin)
                .await
                .expect("PostgreSQL must be reachable for this suite");
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await
                .expect("create a test database");
            conn.close().await.ok();
            boxoffice_store::replace_database(&admin, &name)
        }
        "mysql" => {
            let admin = mysql_admin_url();
            let mut conn = sqlx::MySqlConnection::connect(&admin)
                .await
                .expect("MariaDB/MySQL must be reachable for this suite");
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "CREATE DATABASE {name} CHARACTER SET utf8mb4"
            )))
            .execute(&mut conn)
            .await
            .expect("create a test database");
            conn.close().await.ok();
            boxoffice_store::replace_database(&admin, &name)
        }
        other => panic!("BOXOFFICE_TEST_DATABASE={other}: expected sqlite, postgres or mysql"),
    }
}
