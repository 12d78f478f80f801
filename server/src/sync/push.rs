//! `POST /api/sync/push`: a device's queued writes, in order, each through the same stack as its
//! single call (auth, idempotency, transaction), so each answer is exactly what that call would get.

use axum::{
    body::Body,
    extract::{Request, State},
    http::{header, HeaderMap, Method},
    Json,
};
use serde_json::Value;
use tower::ServiceExt;

use crate::{
    auth::CurrentUser,
    http::{error::ApiError, extract::ApiJson, AppState, FullRouter},
    idempotency::IdempotencyKey,
};

pub const MAX_OPS: usize = 500;

use app::wire::{PushOp, PushRequest, PushResponse, PushResult};

/// An operation answered without being run: nothing stored, so it may be sent again.
fn not_run(op: &PushOp, status: u16, code: &str, message: String, details: Option<Value>) -> PushResult {
    let mut error = serde_json::json!({"code": code, "message": message});
    if let Some(details) = details {
        error["details"] = details;
    }
    PushResult {
        idempotency_key: op.idempotency_key.clone(),
        status,
        body: serde_json::json!({ "error": error }),
        replayed: false,
    }
}

fn refused(op: &PushOp, message: &str) -> PushResult {
    not_run(op, 400, "invalid_operation", message.to_owned(), None)
}

#[utoipa::path(post, path = "/api/sync/push", tag = "sync", request_body = PushRequest,
    responses((status = 200, body = PushResponse)))]
pub async fn push(
    CurrentUser(user): CurrentUser,
    State(state): State<AppState>,
    axum::Extension(FullRouter(router)): axum::Extension<FullRouter>,
    headers: HeaderMap,
    ApiJson(batch): ApiJson<PushRequest>,
) -> Result<Json<PushResponse>, ApiError> {
    if batch.ops.len() > MAX_OPS {
        return Err(ApiError::invalid("ops", format!("at most {MAX_OPS} operations per push")));
    }
    let mut results = Vec::with_capacity(batch.ops.len());
    let mut unsuccessful: std::collections::HashSet<&str> = std::collections::HashSet::new();
    for op in &batch.ops {
        if let Some(dep) = op.depends_on.iter().find(|k| unsuccessful.contains(k.as_str())) {
            unsuccessful.insert(op.idempotency_key.as_str());
            results.push(not_run(
                op,
                424,
                "dependency_failed",
                format!("not run: operation {dep} it depends on did not succeed"),
                Some(serde_json::json!({"depends_on": dep})),
            ));
            continue;
        }
        if let Some(author) = op.user_id.filter(|author| *author != user.id) {
            unsuccessful.insert(op.idempotency_key.as_str());
            results.push(not_run(
                op,
                409,
                "session_user_mismatch",
                "recorded by another user than the one signed in: not run".to_owned(),
                Some(serde_json::json!({"user_id": author, "signed_in": user.id})),
            ));
            continue;
        }
        let result = run_op(&router, &headers, op).await?;
        state.metrics.push_operation(result.status);
        if !(200..300).contains(&result.status) {
            unsuccessful.insert(op.idempotency_key.as_str());
        } else if let (false, Some(queued_at)) = (result.replayed, op.queued_at.as_deref()) {
            let mut conn = state.db.pool().acquire().await?;
            crate::dashboard::late::note(
                &mut conn,
                &op.idempotency_key,
                &op.method,
                &op.path,
                &user.username,
                queued_at,
            )
            .await?;
        }
        results.push(result);
    }
    Ok(Json(PushResponse { results }))
}

/// One operation through the whole stack, as the caller, under its own idempotency key.
async fn run_op(router: &axum::Router, headers: &HeaderMap, op: &PushOp) -> Result<PushResult, ApiError> {
    let method = match op.method.to_ascii_uppercase().as_str() {
        "POST" => Method::POST,
        "PATCH" => Method::PATCH,
        "DELETE" => Method::DELETE,
        _ => {
            return Ok(refused(op, "method must be POST, PATCH or DELETE"));
        }
    };
    let key_ok = IdempotencyKey::parse(&op.idempotency_key).is_some();
    let path_ok = op.path.starts_with("/api/")
        && !op.path.starts_with("/api/sync/")
        && !op.path.starts_with("/api/auth/")
        && !op.path.contains("..")
        && !op.path.contains('#');
    if !key_ok || !path_ok {
        let message = if key_ok {
            "path must be an API path outside /api/sync and /api/auth"
        } else {
            "idempotency_key must be a UUID"
        };
        return Ok(refused(op, message));
    }
    let mut request = Request::builder().method(method).uri(&op.path);
    // The operation runs as the caller: same session cookie.
    for name in [header::COOKIE, header::AUTHORIZATION] {
        if let Some(v) = headers.get(&name) {
            request = request.header(name, v.clone());
        }
    }
    request = request.header("idempotency-key", op.idempotency_key.as_str());
    let body = match &op.body {
        Some(v) if !v.is_null() => {
            request = request.header(header::CONTENT_TYPE, "application/json");
            Body::from(v.to_string())
        }
        _ => Body::empty(),
    };
    let request = match request.body(body) {
        Ok(r) => r,
        Err(_) => {
            return Ok(refused(op, "path is not a valid URI"));
        }
    };
    let Ok(response) = router.clone().oneshot(request).await;
    let status = response.status().as_u16();
    let replayed = response.headers().contains_key("idempotent-replayed");
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .map_err(|e| ApiError::Internal(format!("push: {e}")))?;
    let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
    Ok(PushResult { idempotency_key: op.idempotency_key.clone(), status, body, replayed })
}
