//! The admin API calls every phase that builds its own venue and event goes through: the admin's
//! sign-in and a create that must answer 201.

use serde_json::{Value, json};

use crate::{Result, client::PASSWORD, fail};

/// Signs in the admin account the server was started with; returns its bearer token.
pub(crate) async fn admin_token_for(
    c: &reqwest::Client,
    base: &str,
    email: &str,
) -> Result<String> {
    let r = c
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await?;
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    body["token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| fail(format!("admin login: {status} {body}")))
}

pub(crate) async fn admin_post(
    c: &reqwest::Client,
    url: String,
    token: &str,
    body: &Value,
) -> Result<Value> {
    let r = c.post(url).bearer_auth(token).json(body).send().await?;
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    if status.as_u16() != 201 {
        return Err(fail(format!("admin create: {status} {body}")));
    }
    Ok(body)
}
