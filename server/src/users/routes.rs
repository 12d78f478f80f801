//! `GET/POST /api/users`, `PATCH /api/users/{id}`: admins only.

use app::model::{NewUser, Page, Role, User, UserChanges};
use axum::{
    extract::{Path, State},
    http::StatusCode,
    routing::{get, patch},
    Json, Router,
};
use uuid::Uuid;

use super::{
    domain::{NewPassword, Username},
    repo::{self, CreateUserError},
};
use crate::{
    auth::AdminUser,
    db::now,
    http::{
        error::{ApiError, FieldErrors},
        extract::ApiJson,
        AppState,
    },
    idempotency::WriteTx,
};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/users", get(list_users).post(create_user)).route("/api/users/{id}", patch(update_user))
}

#[utoipa::path(get, path = "/api/users", tag = "users", responses((status = 200, body = Page<User>)))]
pub async fn list_users(_: AdminUser, State(state): State<AppState>) -> Result<Json<Page<User>>, ApiError> {
    let items = repo::list(&state.db).await?;
    let total = items.len() as i64;
    Ok(Json(Page { items, total, limit: total, offset: 0 }))
}

#[utoipa::path(post, path = "/api/users", tag = "users", request_body = NewUser,
    responses((status = 201, body = User), (status = 409, body = app::model::ErrorEnvelope),
              (status = 422, body = app::model::ErrorEnvelope)))]
pub async fn create_user(
    AdminUser(admin): AdminUser,
    tx: WriteTx,
    ApiJson(body): ApiJson<NewUser>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    let mut errors = FieldErrors::new();
    let username = Username::parse(&body.username).map_err(|e| errors.insert("username", e)).ok();
    let password = NewPassword::parse(&body.password).map_err(|e| errors.insert("password", e)).ok();
    let (Some(username), Some(password)) = (username, password) else {
        return Err(ApiError::Validation(errors));
    };
    let user = repo::create(&mut *tx.lock().await, &username, password, body.role).await.map_err(|e| match e {
        CreateUserError::Duplicate => ApiError::conflict("duplicate_username", "that username is taken"),
        CreateUserError::Db(e) => e.into(),
    })?;
    tracing::info!(by = %admin.username, username = %user.username, role = user.role.as_str(), "user created");
    Ok((StatusCode::CREATED, Json(user)))
}

#[utoipa::path(patch, path = "/api/users/{id}", tag = "users", request_body = UserChanges,
    responses((status = 200, body = User), (status = 404), (status = 409, body = app::model::ErrorEnvelope)))]
pub async fn update_user(
    AdminUser(admin): AdminUser,
    tx: WriteTx,
    Path(id): Path<Uuid>,
    ApiJson(changes): ApiJson<UserChanges>,
) -> Result<Json<User>, ApiError> {
    let password_hash = match &changes.password {
        Some(p) => Some(NewPassword::parse(p).map_err(|e| ApiError::invalid("password", e))?.hash().await),
        None => None,
    };
    let mut conn = tx.lock().await;
    let current = repo::find(&mut conn, id).await?.ok_or(ApiError::NotFound)?.user;
    let role = changes.role.unwrap_or(current.role);
    let active = changes.active.unwrap_or(current.active);
    // Never leave the shop without an active admin: nobody could manage accounts any more.
    if current.role == Role::Admin
        && current.active
        && (role != Role::Admin || !active)
        && repo::other_active_admins(&mut conn, id).await? == 0
    {
        return Err(ApiError::conflict("last_admin", "this is the last active admin"));
    }
    let ts = now();
    sqlx::query(
        "UPDATE users SET role = $1, active = $2, password_hash = COALESCE($3, password_hash), \
         updated_at = $4 WHERE id = $5",
    )
    .bind(role.as_str())
    .bind(active)
    .bind(password_hash)
    .bind(&ts)
    .bind(id.to_string())
    .execute(&mut *conn)
    .await?;
    if !active || changes.password.is_some() {
        // Deactivation and a new password end the user's other sessions.
        // Sessions store the id as JSON inside `data`; match it textually.
        sqlx::query("DELETE FROM sessions WHERE data LIKE $1").bind(format!("%\"{id}\"%")).execute(&mut *conn).await?;
    }
    tracing::info!(by = %admin.username, user = %current.username, "user updated");
    Ok(Json(User { role, active, updated_at: ts, ..current }))
}
