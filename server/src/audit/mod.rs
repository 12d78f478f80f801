//! The audit log: every write that took effect, with who, when, which node, which mode, which
//! idempotency key, and the request as applied. It doubles as the operation log that reconciliation
//! replays, so it keeps method, path and body exactly.

use app::model::{Page, User};
use axum::{
    extract::State,
    http::{request::Parts, StatusCode},
    routing::get,
    Json, Router,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{AnyConnection, Row};

use crate::{
    auth::AdminUser,
    db::now,
    http::{error::ApiError, extract::ApiQuery, AppState},
    idempotency::IdempotencyKey,
};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/audit", get(list))
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Entry {
    pub at: String,
    pub user_id: String,
    pub username: String,
    pub node: String,
    /// `normal`, or `emergency` on a standby taking writes.
    pub mode: String,
    pub idempotency_key: Option<String>,
    pub method: String,
    pub path: String,
    /// `products`, `sales`…
    pub entity: String,
    pub entity_id: Option<String>,
    /// `create`, `update`, `delete`, or the last path segment of an action (`close`, `convert`).
    pub action: String,
    pub request: Option<Value>,
    pub status: u16,
    /// The `If-Match` precondition the write carried (a replay sends it again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub if_match: Option<String>,
}

impl Entry {
    pub fn for_request(
        parts: &Parts,
        user: &User,
        key: Option<IdempotencyKey>,
        request: Option<&Value>,
        status: StatusCode,
        response_body: &[u8],
        state: &AppState,
    ) -> Entry {
        // /api/{entity}[/{id}[/{action}]]
        let segments: Vec<&str> = parts.uri.path().trim_start_matches("/api/").split('/').collect();
        let entity = segments.first().copied().unwrap_or("").to_owned();
        let response_id = || {
            serde_json::from_slice::<Value>(response_body)
                .ok()
                .and_then(|v| v.get("id").and_then(Value::as_str).map(str::to_owned))
        };
        let entity_id = segments.get(1).map(|s| (*s).to_owned()).or_else(response_id);
        let action = match (parts.method.as_str(), segments.len()) {
            (_, n) if n >= 3 => segments[n - 1].to_owned(),
            ("POST", _) => "create".into(),
            ("DELETE", _) => "delete".into(),
            _ => "update".into(),
        };
        Entry {
            at: now(),
            user_id: user.id.to_string(),
            username: user.username.clone(),
            node: state.node.to_string(),
            // A standby takes writes only in emergency mode: every write that got through on one is
            // an emergency write, even if the toggle went off while it ran.
            mode: if state.ha.role() == crate::config::NodeRole::Standby { "emergency" } else { "normal" }.into(),
            idempotency_key: key.map(|k| k.0.to_string()),
            method: parts.method.to_string(),
            path: parts.uri.path_and_query().map_or(parts.uri.path(), |p| p.as_str()).to_owned(),
            entity,
            entity_id,
            action,
            request: request.map(redacted),
            status: status.as_u16(),
            if_match: parts.headers.get(axum::http::header::IF_MATCH).and_then(|v| v.to_str().ok()).map(str::to_owned),
        }
    }
}

/// The request as logged: passwords never reach the log (it is kept, exported and replayed).
fn redacted(request: &Value) -> Value {
    match request {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = if k.contains("password") { Value::String("[redacted]".into()) } else { redacted(v) };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redacted).collect()),
        other => other.clone(),
    }
}

/// Appends `entry` in the request's transaction: the log has exactly the writes that committed.
pub async fn record(conn: &mut AnyConnection, entry: &Entry) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_log (at, user_id, username, node, mode, idempotency_key, method, path, \
         entity, entity_id, action, request, status, if_match) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(&entry.at)
    .bind(&entry.user_id)
    .bind(&entry.username)
    .bind(&entry.node)
    .bind(&entry.mode)
    .bind(&entry.idempotency_key)
    .bind(&entry.method)
    .bind(&entry.path)
    .bind(&entry.entity)
    .bind(&entry.entity_id)
    .bind(&entry.action)
    .bind(entry.request.as_ref().map(Value::to_string))
    .bind(entry.status as i64)
    .bind(&entry.if_match)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Deserialize)]
pub struct AuditParams {
    entity: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

/// Newest first. Admins only.
#[utoipa::path(get, path = "/api/audit", tag = "operations", responses((status = 200, body = Page<Entry>)))]
pub async fn list(
    _: AdminUser,
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> Result<Json<Page<Entry>>, ApiError> {
    let limit = params.limit.unwrap_or(100).clamp(1, 500);
    let offset = params.offset.unwrap_or(0).max(0);
    let filter = if params.entity.is_some() { "WHERE entity = $3" } else { "" };
    let sql = format!(
        "SELECT at, user_id, username, node, mode, idempotency_key, method, path, entity, entity_id, action, \
         request, status FROM audit_log {filter} ORDER BY id DESC LIMIT $1 OFFSET $2"
    );
    let mut q = sqlx::query(&sql).bind(limit).bind(offset);
    let mut count = sqlx::query_scalar::<_, i64>(if params.entity.is_some() {
        "SELECT COUNT(*) FROM audit_log WHERE entity = $1"
    } else {
        "SELECT COUNT(*) FROM audit_log"
    });
    if let Some(e) = &params.entity {
        q = q.bind(e.clone());
        count = count.bind(e.clone());
    }
    let rows = q.fetch_all(&state.db.pool()).await?;
    let total = count.fetch_one(&state.db.pool()).await?;
    let items = rows
        .iter()
        .map(|r| -> Result<Entry, sqlx::Error> {
            let request: Option<String> = r.try_get("request")?;
            Ok(Entry {
                at: r.try_get("at")?,
                user_id: r.try_get("user_id")?,
                username: r.try_get("username")?,
                node: r.try_get("node")?,
                mode: r.try_get("mode")?,
                idempotency_key: r.try_get("idempotency_key")?,
                method: r.try_get("method")?,
                path: r.try_get("path")?,
                entity: r.try_get("entity")?,
                entity_id: r.try_get("entity_id")?,
                action: r.try_get("action")?,
                request: request.and_then(|s| serde_json::from_str(&s).ok()),
                status: r.try_get::<i64, _>("status")? as u16,
                if_match: None,
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(Json(Page { items, total, limit, offset }))
}
