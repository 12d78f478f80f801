//! `/api/backups…`, admins only (a cashier gets 403 from the `AdminUser` extractor).
//!
//! These routes are outside the one-transaction-per-write layer (see `idempotency::middleware`): a
//! backup writes files, not rows; a restore replaces the very database such a transaction would be
//! open on; an upload is a stream far larger than a JSON body. Long operations run in their own task,
//! so a client that disconnects (or the request timeout) never cuts one in half.
//!
//! `POST /api/backups` still honours `Idempotency-Key`: the key is recorded in the new backup's
//! metadata, and a repeat returns that backup with `Idempotent-Replayed: true` instead of taking
//! another one.

use std::sync::Arc;

use axum::{
    body::Body,
    extract::{Path, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use futures::StreamExt;
use tokio::io::AsyncWriteExt;

use super::{files, Actor, BackupId, BackupList, BackupView, Backups, RestoreReport, Trigger, VerifyReport};
use crate::{
    auth::AdminUser,
    http::{error::ApiError, AppState},
    idempotency::IdempotencyKey,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/backups", get(list).post(create))
        .route("/api/backups/upload", post(upload))
        .route("/api/backups/prune", post(prune))
        .route("/api/backups/{id}", get(get_one).delete(delete))
        .route("/api/backups/{id}/download", get(download))
        .route("/api/backups/{id}/verify", post(verify))
        .route("/api/backups/{id}/restore", post(restore))
}

fn parse_id(raw: &str) -> Result<BackupId, ApiError> {
    BackupId::parse(raw)
        .ok_or_else(|| ApiError::BadRequest(format!("{raw:?} is not a backup id (YYYYMMDD-HHMMSS-xxxxxx)")))
}

/// Runs `f` in its own task: it finishes even if the request is dropped.
async fn detached<T: Send + 'static>(
    f: impl std::future::Future<Output = Result<T, ApiError>> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::spawn(f).await.map_err(|e| ApiError::Internal(format!("backup task: {e}")))?
}

/// Every backup, local and off-site, newest first, with totals.
#[utoipa::path(get, path = "/api/backups", tag = "backups", responses((status = 200, body = BackupList)))]
pub async fn list(_: AdminUser, State(state): State<AppState>) -> Result<Json<BackupList>, ApiError> {
    Ok(Json(state.backups.list().await?))
}

/// Takes a backup now (trigger `manual`).
#[utoipa::path(post, path = "/api/backups", tag = "backups", responses((status = 201, body = BackupView)))]
pub async fn create(
    AdminUser(user): AdminUser,
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let key = IdempotencyKey::from_headers(&headers).map_err(|m| ApiError::InvalidIdempotencyKey(m.into()))?;
    let key = key.map(|IdempotencyKey(k)| format!("{}:{k}", user.id));
    if let Some(k) = &key {
        if let Some(existing) = state.backups.find_by_key(k) {
            let mut r = (StatusCode::CREATED, Json(state.backups.view(existing))).into_response();
            r.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
            return Ok(r);
        }
    }
    let backups = state.backups.clone();
    let meta = detached(async move { backups.create(Trigger::Manual, &Actor::User(user), key).await }).await?;
    Ok((StatusCode::CREATED, Json(state.backups.view(meta))).into_response())
}

#[utoipa::path(get, path = "/api/backups/{id}", tag = "backups", responses((status = 200, body = BackupView), (status = 404)))]
pub async fn get_one(
    _: AdminUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<BackupView>, ApiError> {
    let id = parse_id(&id)?;
    Ok(Json(state.backups.view(state.backups.find(&id).await?)))
}

/// Deletes the backup here and off-site.
#[utoipa::path(delete, path = "/api/backups/{id}", tag = "backups", responses((status = 204), (status = 404)))]
pub async fn delete(
    AdminUser(user): AdminUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id)?;
    let backups = state.backups.clone();
    detached(async move { backups.delete(&id, &Actor::User(user)).await }).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The compressed backup file, streamed; `X-Backup-Sha256` is its recorded checksum.
#[utoipa::path(get, path = "/api/backups/{id}/download", tag = "backups",
    responses((status = 200, description = "application/zstd"), (status = 404)))]
pub async fn download(
    _: AdminUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let backups = state.backups.clone();
    let meta = {
        let b = backups.clone();
        let id = id.clone();
        detached(async move {
            let _guard = b.lock().await?;
            b.ensure_local(&id).await
        })
        .await?
    };
    let engine = backups.check_engine(&meta)?;
    let path = files::data_path(&backups.dir, &id, engine);
    let file = tokio::fs::File::open(&path).await.map_err(|_| ApiError::NotFound)?;
    let name = backups.download_name(&meta, engine);
    let body = Body::from_stream(tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024));
    let mut r = Response::new(body);
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/zstd"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(meta.size_bytes));
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
            .map_err(|e| ApiError::Internal(e.to_string()))?,
    );
    h.insert("x-backup-sha256", HeaderValue::from_str(&meta.sha256).map_err(|e| ApiError::Internal(e.to_string()))?);
    h.insert("x-backup-id", HeaderValue::from_str(id.as_str()).map_err(|e| ApiError::Internal(e.to_string()))?);
    Ok(r)
}

/// Checksum, restore into a scratch database, integrity check and row counts.
#[utoipa::path(post, path = "/api/backups/{id}/verify", tag = "backups", responses((status = 200, body = VerifyReport)))]
pub async fn verify(
    _: AdminUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<VerifyReport>, ApiError> {
    let id = parse_id(&id)?;
    let backups = state.backups.clone();
    Ok(Json(detached(async move { backups.verify(&id).await }).await?))
}

/// Restores the backup into the running server (a `pre-restore` backup is taken first).
#[utoipa::path(post, path = "/api/backups/{id}/restore", tag = "backups",
    responses((status = 200, body = RestoreReport), (status = 409, description = "backup_schema_too_new, backup_engine_mismatch"),
              (status = 422, description = "backup_corrupt")))]
pub async fn restore(
    AdminUser(user): AdminUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<RestoreReport>, ApiError> {
    let id = parse_id(&id)?;
    let backups = state.backups.clone();
    Ok(Json(detached(async move { backups.restore(&id, &Actor::User(user)).await }).await?))
}

/// Applies retention now: keeps the newest `--backup-keep` and the newest verified backup.
#[utoipa::path(post, path = "/api/backups/prune", tag = "backups", responses((status = 200, description = "{\"removed\": [ids]}")))]
pub async fn prune(
    AdminUser(user): AdminUser,
    State(state): State<AppState>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let backups = state.backups.clone();
    let removed = detached(async move { backups.prune(&Actor::User(user)).await }).await?;
    Ok(Json(serde_json::json!({ "removed": removed })))
}

/// Takes in a backup file taken elsewhere (the body is the `.db.zst`/`.pgdump.zst` file as
/// downloaded); it is checked by restoring it into a scratch database and listed with trigger `upload`.
/// The file is received in full before the backup lock is taken: a slow or stalled upload holds up
/// no backup, and one that sends nothing for `--stall-timeout` seconds is cut off.
#[utoipa::path(post, path = "/api/backups/upload", tag = "backups",
    responses((status = 201, body = BackupView), (status = 413), (status = 409, description = "backup_engine_mismatch, backup_schema_too_new"),
              (status = 422, description = "invalid_backup, backup_too_large, backup_unexpected_objects, backup_corrupt"),
              (status = 503, description = "upload_stalled")))]
pub async fn upload(
    AdminUser(user): AdminUser,
    State(state): State<AppState>,
    body: Body,
) -> Result<Response, ApiError> {
    let backups: Arc<Backups> = state.backups.clone();
    let tmp = receive_to_temp(&backups, body).await?;
    let b = backups.clone();
    let t = tmp.clone();
    let result = detached(async move {
        let guard = b.lock().await?;
        let meta = b.adopt_upload(&guard, &t, Trigger::Upload, &Actor::User(user)).await;
        drop(guard);
        meta
    })
    .await;
    let _ = tokio::fs::remove_file(&tmp).await;
    let meta = result?;
    let meta = backups.upload_remote(meta).await;
    Ok((StatusCode::CREATED, Json(backups.view(meta))).into_response())
}

/// Streams a request body into a file of the backup directory named `.incoming-…` (no lock needed:
/// no other operation touches those), at most `--backup-upload-limit` bytes, each chunk within
/// `--stall-timeout`; the file is removed again when anything goes wrong.
pub(crate) async fn receive_to_temp(backups: &Backups, body: Body) -> Result<std::path::PathBuf, ApiError> {
    let limit = backups.config.backup_upload_limit;
    let stall = backups.config.stall_timeout();
    let tmp = backups.dir.join(format!("{}{:08x}", files::INCOMING_PREFIX, rand::random::<u32>()));
    let received = async {
        let mut file = tokio::fs::File::create(&tmp).await.map_err(|e| ApiError::Internal(e.to_string()))?;
        let mut stream = body.into_data_stream();
        let mut total: u64 = 0;
        loop {
            let chunk = match tokio::time::timeout(stall, stream.next()).await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(_) => {
                    tracing::warn!(received = total, "upload stalled; cut off");
                    return Err(ApiError::Unavailable {
                        code: "upload_stalled",
                        message: format!(
                            "no data arrived for {} s after {total} bytes; the upload was cut off",
                            stall.as_secs()
                        ),
                    });
                }
            };
            let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("upload interrupted: {e}")))?;
            total += chunk.len() as u64;
            if total > limit {
                return Err(ApiError::PayloadTooLarge);
            }
            file.write_all(&chunk).await.map_err(|e| ApiError::Internal(e.to_string()))?;
        }
        if total == 0 {
            return Err(ApiError::Unprocessable {
                code: "invalid_backup",
                message: "the upload is empty".into(),
                details: None,
            });
        }
        file.sync_all().await.map_err(|e| ApiError::Internal(e.to_string()))?;
        Ok(())
    }
    .await;
    match received {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = tokio::fs::remove_file(&tmp).await;
            Err(e)
        }
    }
}
