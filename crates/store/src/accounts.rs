//! Accounts and sessions: users, their roles and their signed-in sessions.

use super::{
    StoreError, StoreResult, UserRecord,
    sql::{Dialect, Sql, Tx, fetch_optional},
};
use boxoffice_domain::{account::Role, ids::UserId, time::Timestamp};

#[derive(sqlx::FromRow)]
pub(super) struct UserRow {
    id: String,
    email: String,
    name: String,
    role: String,
    password_hash: String,
    created_at: i64,
}

impl TryFrom<UserRow> for UserRecord {
    type Error = StoreError;

    fn try_from(r: UserRow) -> StoreResult<Self> {
        Ok(UserRecord {
            role: Role::parse(&r.role).ok_or_else(|| super::corrupt("role", &r.role))?,
            id: super::stored_id(UserId::parse, r.id)?,
            email: r.email,
            name: r.name,
            password_hash: r.password_hash,
            created_at: Timestamp(r.created_at),
        })
    }
}

const USER_COLUMNS: &str = "id, email, name, role, password_hash, created_at FROM users";

/// The signed-in user of a session token's digest. A single statement: asked on every
/// signed-in request, it runs on a pooled connection without a transaction around it.
pub(super) async fn session_user<D: Dialect>(
    conn: &mut D::Connection,
    token_hash: &str,
    now: Timestamp,
) -> StoreResult<Option<UserRecord>> {
    let q = Sql::<D>::new(
        "SELECT u.id, u.email, u.name, u.role, u.password_hash, u.created_at FROM sessions s \
         JOIN users u ON u.id = s.user_id WHERE s.token_hash = ? AND s.expires_at > ?",
    );
    let row: Option<UserRow> = fetch_optional(conn, q.bind(token_hash).bind(now.millis())).await?;
    row.map(UserRecord::try_from).transpose()
}

impl<D: Dialect> Tx<D> {
    pub(crate) async fn insert_user(&mut self, u: &UserRecord) -> StoreResult<()> {
        let q = Sql::new(
            "INSERT INTO users (id, email, name, password_hash, role, created_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
        );
        let q = q
            .bind(&u.id)
            .bind(&u.email)
            .bind(&u.name)
            .bind(&u.password_hash);
        self.execute(q.bind(u.role.as_str()).bind(u.created_at.millis()))
            .await?;
        Ok(())
    }

    pub(crate) async fn users_by_ids(
        &mut self,
        user_ids: &[UserId],
    ) -> StoreResult<Vec<UserRecord>> {
        let q = Sql::new(format!("SELECT {USER_COLUMNS} WHERE ")).list("id", user_ids);
        let rows: Vec<UserRow> = self.all(q).await?;
        rows.into_iter().map(UserRecord::try_from).collect()
    }

    pub(crate) async fn users_with_roles(
        &mut self,
        roles: &[String],
    ) -> StoreResult<Vec<UserRecord>> {
        let q = Sql::new(format!("SELECT {USER_COLUMNS} WHERE ")).list("role", roles);
        let rows: Vec<UserRow> = self.all(q.then(" ORDER BY role, email")).await?;
        rows.into_iter().map(UserRecord::try_from).collect()
    }

    pub(crate) async fn user_by_email(&mut self, email: &str) -> StoreResult<Option<UserRecord>> {
        let q = Sql::new(format!("SELECT {USER_COLUMNS} WHERE email = ?")).bind(email);
        let row: Option<UserRow> = self.optional(q).await?;
        row.map(UserRecord::try_from).transpose()
    }

    pub(crate) async fn update_user_credentials(&mut self, u: &UserRecord) -> StoreResult<()> {
        let q = Sql::new("UPDATE users SET name = ?, password_hash = ?, role = ? WHERE id = ?");
        let q = q.bind(&u.name).bind(&u.password_hash);
        self.execute(q.bind(u.role.as_str()).bind(&u.id)).await?;
        Ok(())
    }

    pub(crate) async fn set_user_role(
        &mut self,
        email: &str,
        role: Role,
    ) -> StoreResult<Option<UserRecord>> {
        let q = Sql::new("UPDATE users SET role = ? WHERE email = ?");
        self.execute(q.bind(role.as_str()).bind(email)).await?;
        self.user_by_email(email).await
    }

    pub(crate) async fn insert_session(
        &mut self,
        token_hash: &str,
        user_id: &UserId,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> StoreResult<()> {
        let q = Sql::new(
            "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
        );
        let q = q.bind(token_hash).bind(user_id);
        self.execute(q.bind(now.millis()).bind(expires_at.millis()))
            .await?;
        Ok(())
    }

    pub(crate) async fn user_for_session(
        &mut self,
        token_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<UserRecord>> {
        session_user::<D>(&mut self.0, token_hash, now).await
    }

    pub(crate) async fn delete_session(&mut self, token_hash: &str) -> StoreResult<()> {
        let q = Sql::new("DELETE FROM sessions WHERE token_hash = ?").bind(token_hash);
        self.execute(q).await?;
        Ok(())
    }

    pub(crate) async fn purge_sessions(&mut self, now: Timestamp) -> StoreResult<u64> {
        let q = Sql::new("DELETE FROM sessions WHERE expires_at <= ?").bind(now.millis());
        self.execute(q).await
    }
}
