//! Operation replay: writes taken elsewhere (a standby in emergency mode, or the mirror database
//! after a failover) are run again, in their original order, through this node's own write path —
//! the whole router, as the user who made them, under their original Idempotency-Key (or one
//! derived from where they came from). A write the primary already holds replays its stored answer
//! ("already present"); a write the primary refuses (a stale version, no stock) is reported with
//! its reason for a person to look at. Running a replay twice changes nothing.

use axum::{
    body::Body,
    http::{header, Method, Request},
    Router,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::Row;
use tower::ServiceExt;
use uuid::Uuid;

use crate::{db::Db, http::error::ApiError, users::repo};

/// Marks a request as a replay (in-process only): it passes the request gate, which holds back
/// everything else while a failback replays.
#[derive(Debug, Clone, Copy)]
pub struct Replaying;

/// One write from an audit log.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReplayOp {
    /// The source's audit log id: the replay order.
    pub audit_id: i64,
    pub at: String,
    pub node: String,
    pub user_id: String,
    pub username: String,
    pub idempotency_key: Option<String>,
    pub method: String,
    pub path: String,
    pub entity: String,
    /// The row the write was about (the path's id, or the created row's).
    #[serde(default)]
    pub entity_id: Option<String>,
    pub action: String,
    pub request: Option<Value>,
    /// The `If-Match` precondition the write carried.
    #[serde(default)]
    pub if_match: Option<String>,
}

/// Audit entries that are not writes of the shop's data: the HA toggle and backup operations (they
/// are about a node).
pub const NOT_REPLAYED: &str = "('ha', 'backups')";

/// Which audit entries to load.
pub enum Selection {
    /// Emergency writes, only those not reconciled yet unless `all`.
    Emergency { all: bool },
    /// Every write (the mirror's, after a failover).
    Every,
}

/// Up to `limit` replayable entries with an id above `after`, oldest first.
pub async fn load(db: &Db, selection: Selection, after: i64, limit: i64) -> Result<Vec<ReplayOp>, sqlx::Error> {
    let filter = match selection {
        Selection::Emergency { all: false } => "mode = 'emergency' AND reconciled_at IS NULL AND",
        Selection::Emergency { all: true } => "mode = 'emergency' AND",
        Selection::Every => "",
    };
    let rows = sqlx::query(&format!(
        "SELECT id, at, node, user_id, username, idempotency_key, method, path, entity, entity_id, action, request, if_match FROM audit_log \
         WHERE {filter} entity NOT IN {NOT_REPLAYED} AND id > $1 ORDER BY id LIMIT $2"
    ))
    .bind(after)
    .bind(limit)
    .fetch_all(&db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            let request: Option<String> = r.try_get("request")?;
            Ok(ReplayOp {
                audit_id: r.try_get("id")?,
                at: r.try_get("at")?,
                node: r.try_get("node")?,
                user_id: r.try_get("user_id")?,
                username: r.try_get("username")?,
                idempotency_key: r.try_get("idempotency_key")?,
                method: r.try_get("method")?,
                path: r.try_get("path")?,
                entity: r.try_get("entity")?,
                entity_id: r.try_get("entity_id")?,
                action: r.try_get("action")?,
                request: request.and_then(|s| serde_json::from_str(&s).ok()),
                if_match: r.try_get("if_match")?,
            })
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Applied,
    AlreadyPresent,
    Rejected,
}

/// A write the target refused, with its reason.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Rejection {
    pub audit_id: i64,
    pub at: String,
    pub username: String,
    pub method: String,
    pub path: String,
    pub status: u16,
    pub code: String,
    pub message: String,
    /// The write as it was made, for the person who decides what to do with it.
    pub request: Option<Value>,
}

/// What a replay did.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReplayReport {
    pub source: String,
    pub started_at: String,
    pub finished_at: String,
    pub applied: u64,
    pub already_present: u64,
    pub rejected: Vec<Rejection>,
    /// The last source audit id handled (every one up to it is applied, present or rejected).
    pub through: Option<i64>,
    /// Set when the replay stopped early on a passing failure (it resumes from `through` next time).
    pub stopped: Option<String>,
}

impl ReplayReport {
    pub fn new(source: impl Into<String>) -> ReplayReport {
        ReplayReport { source: source.into(), started_at: crate::db::now(), ..Default::default() }
    }
    pub fn total(&self) -> u64 {
        self.applied + self.already_present + self.rejected.len() as u64
    }
}

/// The key a write replays under: its own, else one derived from where it was logged, so a second
/// replay of a keyless write still finds the first.
pub fn replay_key(op: &ReplayOp) -> Uuid {
    op.idempotency_key.as_deref().and_then(|k| Uuid::parse_str(k).ok()).unwrap_or_else(|| {
        Uuid::new_v5(&Uuid::NAMESPACE_OID, format!("mostrador-replay/{}/{}", op.node, op.audit_id).as_bytes())
    })
}

/// Runs one write through `router` (whose state writes into `target`). `Err` is a passing failure
/// (the target is busy or down): stop and try again later.
pub async fn replay_one(router: &Router, target: &Db, op: &ReplayOp, report: &mut ReplayReport) -> Result<(), String> {
    let reject = |report: &mut ReplayReport, status: u16, code: &str, message: String| {
        report.rejected.push(Rejection {
            audit_id: op.audit_id,
            at: op.at.clone(),
            username: op.username.clone(),
            method: op.method.clone(),
            path: op.path.clone(),
            status,
            code: code.into(),
            message,
            request: op.request.clone(),
        });
    };
    // Only the shop's writes, and only when the entry agrees with itself: the source (a standby)
    // is not trusted to say what it replays.
    let method = match check_operation(op) {
        Ok(method) => method,
        Err((code, message)) => {
            reject(report, 422, code, message);
            report.through = Some(op.audit_id);
            return Ok(());
        }
    };
    // As the user named, with the role and state that user has here, now: a cashier's write stays a
    // cashier's (the handlers' permission checks refuse what the table does not allow).
    let user_id = Uuid::parse_str(&op.user_id).ok();
    let user = match user_id {
        Some(user_id) => {
            let mut conn = target.pool().acquire().await.map_err(|e| e.to_string())?;
            repo::find(&mut conn, user_id).await.map_err(|e| e.to_string())?
        }
        None => None,
    };
    let Some(user) = user.filter(|u| u.user.active && u.user.username == op.username) else {
        reject(report, 401, "unknown_user", format!("user {} does not exist (or is inactive) here", op.username));
        report.through = Some(op.audit_id);
        return Ok(());
    };
    let mut request = Request::builder()
        .method(method)
        .uri(&op.path)
        .header("idempotency-key", replay_key(op).to_string())
        // The write layer takes the user from here; a network request cannot put one there.
        .extension(user.user)
        .extension(Replaying);
    if let Some(precondition) = &op.if_match {
        // Part of the request (and of its key's fingerprint) just as the body is.
        request = request.header(header::IF_MATCH, precondition);
    }
    let body = match &op.request {
        Some(v) if !v.is_null() => {
            request = request.header(header::CONTENT_TYPE, "application/json");
            Body::from(v.to_string())
        }
        _ => Body::empty(),
    };
    let request = request.body(body).map_err(|e| format!("audit entry {}: {e}", op.audit_id))?;
    let Ok(response) = router.clone().oneshot(request).await;
    let status = response.status();
    let replayed = response.headers().contains_key("idempotent-replayed");
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.map_err(|e| e.to_string())?;
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let code = body["error"]["code"].as_str().unwrap_or("").to_owned();
    let message = body["error"]["message"].as_str().unwrap_or("").to_owned();
    let passing =
        status.is_server_error() || matches!(status.as_u16(), 408 | 429) || code == "idempotency_key_in_progress";
    if passing {
        return Err(format!("{} {} answered {status} {code}: {message}", op.method, op.path));
    }
    match (status.is_success(), replayed) {
        (true, false) => report.applied += 1,
        (true, true) => report.already_present += 1,
        (false, _) => reject(report, status.as_u16(), &code, message),
    }
    report.through = Some(op.audit_id);
    Ok(())
}

/// The shop's writes (the allow-list): sales, tills and their movements, expenses, inventory
/// movements, the catalog and customers, quotes. Never users, backups, HA, auth or sync.
const CREATES: &[&str] = &[
    "sales",
    "cash-sessions",
    "cash-movements",
    "expenses",
    "inventory-movements",
    "categories",
    "products",
    "customers",
    "quotes",
];
const CATALOG: &[&str] = &["categories", "products", "customers", "quotes"];

/// Checks that `op` is a replayable shop write whose method, path, entity, action, row id and body
/// agree; answers the method to replay it with, or the code and reason to refuse it.
pub fn check_operation(op: &ReplayOp) -> Result<Method, (&'static str, String)> {
    let what = format!("{} {}", op.method, op.path);
    let not_replayed = || {
        (
            "not_replayed",
            format!("{what} is not a shop write; reconciliation replays none (make the change on the primary)"),
        )
    };
    let mismatch = |why: &str| ("operation_mismatch", format!("{what}: {why}"));
    let (path, query) = match op.path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (op.path.as_str(), None),
    };
    let Some(rest) = path.strip_prefix("/api/") else { return Err(not_replayed()) };
    let segments: Vec<&str> = rest.split('/').collect();
    let (method, entity, id, action) = match (op.method.as_str(), segments.as_slice()) {
        ("POST", [e]) if CREATES.contains(e) => (Method::POST, *e, None, "create"),
        ("PATCH", [e, id]) if CATALOG.contains(e) => (Method::PATCH, *e, Some(*id), "update"),
        ("DELETE", [e, id]) if CATALOG.contains(e) => (Method::DELETE, *e, Some(*id), "delete"),
        ("POST", ["cash-sessions", id, "close"]) => (Method::POST, "cash-sessions", Some(*id), "close"),
        ("POST", ["quotes", id, "convert"]) => (Method::POST, "quotes", Some(*id), "convert"),
        _ => return Err(not_replayed()),
    };
    // A query only on a delete, and only its version.
    match query {
        None => {}
        Some(q)
            if method == Method::DELETE
                && q.strip_prefix("version=")
                    .is_some_and(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit())) => {}
        Some(_) => return Err(mismatch("unexpected query string")),
    }
    if op.entity != entity {
        return Err(mismatch(&format!("the entry says entity {:?}", op.entity)));
    }
    if op.action != action {
        return Err(mismatch(&format!("the entry says action {:?}", op.action)));
    }
    let body_id = match op.request.as_ref() {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => match m.get("id") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(Uuid::parse_str(s).map_err(|_| mismatch("the body's id is not a UUID"))?),
            Some(_) => return Err(mismatch("the body's id is not a UUID")),
        },
        Some(_) => return Err(mismatch("the body is not a JSON object")),
    };
    let logged_id = match op.entity_id.as_deref() {
        None => None,
        Some(s) => Some(Uuid::parse_str(s).map_err(|_| mismatch("the entry's row id is not a UUID"))?),
    };
    match id {
        // /api/{entity}/{id}…: the path's id is the row; the entry and an edit's body agree with it.
        Some(id) => {
            let id = Uuid::parse_str(id).map_err(|_| mismatch("the path's id is not a UUID"))?;
            if logged_id.is_some_and(|l| l != id) {
                return Err(mismatch("the path's id is not the entry's row"));
            }
            if action == "update" && body_id.is_some_and(|b| b != id) {
                return Err(mismatch("the body's id is not the path's"));
            }
        }
        // A create: the row it made is the one its body names.
        None => {
            if let (Some(b), Some(l)) = (body_id, logged_id) {
                if b != l {
                    return Err(mismatch("the body's id is not the entry's row"));
                }
            }
        }
    }
    Ok(method)
}

/// The outcome of one op, for callers that count differently.
pub fn summary(report: &ReplayReport) -> Value {
    json!({
        "applied": report.applied,
        "already_present": report.already_present,
        "rejected": report.rejected.len(),
        "through": report.through,
        "stopped": report.stopped,
    })
}

/// Standby reconciliation, primary side: pull the standby's unreconciled emergency writes page by
/// page, replay them here, and tell the standby which ones are done.
pub async fn from_standby(state: &crate::http::AppState, from: &str, all: bool) -> Result<ReplayReport, ApiError> {
    let ha = &state.ha;
    let secret = ha.secret()?.to_owned();
    if ha.role() != crate::config::NodeRole::Primary {
        return Err(ApiError::conflict(
            "not_a_primary",
            "reconciliation replays a standby's writes into the primary: run it there",
        ));
    }
    super::security::peer_url(&ha.config, "the standby", from)?;
    let _work = ha.work.lock().await;
    let base = from.trim_end_matches('/').to_owned();
    let router = crate::http::router(state.clone());
    let mut report = ReplayReport::new(base.clone());
    let unreachable = |e: String| ApiError::Unavailable {
        code: "standby_unreachable",
        message: format!("the standby at {base} could not be read: {e}"),
    };
    let mut after = 0;
    loop {
        let url = format!("{base}/api/ha/peer/emergency-ops?after={after}&limit=200&all={all}");
        let response = ha.http.get(&url).bearer_auth(&secret).send().await.map_err(|e| unreachable(e.to_string()))?;
        if !response.status().is_success() {
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            return Err(unreachable(format!("{status}: {text}")));
        }
        let page: crate::ha::peer::EmergencyOps = response.json().await.map_err(|e| unreachable(e.to_string()))?;
        let mut stopped = false;
        // The exact ids handled: on PostgreSQL audit ids are not taken in commit order, so "every id
        // up to N" could cover a write that committed after this page was read.
        let mut handled = Vec::new();
        for op in &page.ops {
            if let Err(e) = replay_one(&router, &state.db, op, &mut report).await {
                report.stopped = Some(e);
                stopped = true;
                break;
            }
            handled.push(op.audit_id);
        }
        if !handled.is_empty() {
            let r = ha
                .http
                .post(format!("{base}/api/ha/peer/emergency-ops/reconciled"))
                .bearer_auth(&secret)
                .json(&json!({ "ids": handled }))
                .send()
                .await
                .map_err(|e| unreachable(e.to_string()))?;
            if !r.status().is_success() {
                return Err(unreachable(format!("marking reconciled answered {}", r.status())));
            }
        }
        match page.ops.last() {
            Some(last) if !stopped && page.more => after = last.audit_id,
            _ => break,
        }
    }
    report.finished_at = crate::db::now();
    let _ = crate::ha::node_state::put(
        &state.db,
        "last_reconciliation",
        &serde_json::to_value(&report).unwrap_or(Value::Null),
    )
    .await;
    if !report.rejected.is_empty() {
        // Kept in the alert history with each refused write's body: the report above is replaced
        // by the next run, and a person has to decide about these.
        let message = format!(
            "Reconciliation from {}: {} write(s) refused by the primary; see the details",
            report.source,
            report.rejected.len()
        );
        state
            .alerts
            .raise(
                crate::alerts::AlertKind::ReconciliationRejected,
                message,
                serde_json::to_value(&report.rejected).ok(),
            )
            .await;
    }
    tracing::info!(source = %report.source, applied = report.applied, present = report.already_present,
        rejected = report.rejected.len(), stopped = ?report.stopped, "reconciliation done");
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(key: Option<&str>, node: &str, audit_id: i64) -> ReplayOp {
        ReplayOp {
            audit_id,
            at: String::new(),
            node: node.into(),
            user_id: Uuid::nil().to_string(),
            username: "admin".into(),
            idempotency_key: key.map(str::to_owned),
            method: "POST".into(),
            path: "/api/categories".into(),
            entity: "categories".into(),
            entity_id: None,
            action: "create".into(),
            request: None,
            if_match: None,
        }
    }

    fn write(
        method: &str,
        path: &str,
        entity: &str,
        action: &str,
        entity_id: Option<Uuid>,
        request: Option<Value>,
    ) -> ReplayOp {
        ReplayOp {
            method: method.into(),
            path: path.into(),
            entity: entity.into(),
            action: action.into(),
            entity_id: entity_id.map(|u| u.to_string()),
            request,
            ..op(None, "reserva", 1)
        }
    }

    #[test]
    fn only_shop_writes_that_agree_with_themselves_are_replayed() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let ok = [
            write("POST", "/api/sales", "sales", "create", Some(a), Some(json!({"id": a}))),
            write("POST", "/api/categories", "categories", "create", Some(a), Some(json!({"name": "x"}))),
            write("PATCH", &format!("/api/products/{a}"), "products", "update", Some(a), Some(json!({"version": 1}))),
            write("DELETE", &format!("/api/customers/{a}?version=2"), "customers", "delete", Some(a), None),
            write(
                "POST",
                &format!("/api/cash-sessions/{a}/close"),
                "cash-sessions",
                "close",
                Some(a),
                Some(json!({"counted_cents": 1})),
            ),
            write(
                "POST",
                &format!("/api/quotes/{a}/convert"),
                "quotes",
                "convert",
                Some(a),
                Some(json!({"sale_id": b})),
            ),
        ];
        for op in &ok {
            assert!(check_operation(op).is_ok(), "{} {}: {:?}", op.method, op.path, check_operation(op));
        }
        let refused = [
            (write("POST", "/api/users", "users", "create", None, Some(json!({"username": "x"}))), "not_replayed"),
            (write("POST", "/api/users", "customers", "create", None, None), "not_replayed"),
            (write("POST", &format!("/api/backups/{a}/restore"), "products", "restore", None, None), "not_replayed"),
            (write("PUT", "/api/ha/emergency", "ha", "update", None, Some(json!({"on": true}))), "not_replayed"),
            (write("POST", "/api/sync/push", "sync", "push", None, None), "not_replayed"),
            (write("POST", "/api/auth/login", "auth", "login", None, None), "not_replayed"),
            (write("PATCH", &format!("/api/sales/{a}"), "sales", "update", Some(a), None), "not_replayed"),
            (write("POST", "/api/sales", "customers", "create", Some(a), None), "operation_mismatch"),
            (write("POST", "/api/sales", "sales", "update", Some(a), None), "operation_mismatch"),
            (write("POST", "/api/sales", "sales", "create", Some(a), Some(json!({"id": b}))), "operation_mismatch"),
            (write("PATCH", &format!("/api/products/{a}"), "products", "update", Some(b), None), "operation_mismatch"),
            (
                write("PATCH", &format!("/api/products/{a}"), "products", "update", Some(a), Some(json!({"id": b}))),
                "operation_mismatch",
            ),
            (write("PATCH", "/api/products/not-a-uuid", "products", "update", None, None), "operation_mismatch"),
            (
                write("PATCH", &format!("/api/products/{a}?x=1"), "products", "update", Some(a), None),
                "operation_mismatch",
            ),
            (write("POST", "/api/sales", "sales", "create", None, Some(json!([1]))), "operation_mismatch"),
        ];
        for (op, code) in &refused {
            assert_eq!(check_operation(op).err().map(|e| e.0), Some(*code), "{} {}", op.method, op.path);
        }
    }

    #[test]
    fn a_write_replays_under_its_own_key_or_a_stable_derived_one() {
        let own = Uuid::new_v4();
        assert_eq!(replay_key(&op(Some(&own.to_string()), "reserva", 7)), own);
        // Keyless writes: the same entry always gives the same key (a second replay finds the first),
        // and different entries or nodes give different keys.
        let a = replay_key(&op(None, "reserva", 7));
        assert_eq!(a, replay_key(&op(None, "reserva", 7)));
        assert_ne!(a, replay_key(&op(None, "reserva", 8)));
        assert_ne!(a, replay_key(&op(None, "otra", 7)));
        assert_eq!(replay_key(&op(Some("not-a-uuid"), "reserva", 7)), a);
    }
}
