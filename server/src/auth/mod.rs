//! Accounts: login, logout, the current user, and the extractors that guard every route.

mod rate_limit;
pub mod session_store;

use std::net::SocketAddr;

use app::model::{LoginRequest, Role, User};
use axum::{
    extract::{ConnectInfo, FromRequestParts, State},
    http::{request::Parts, StatusCode},
    routing::{get, post},
    Json, Router,
};
use tower_sessions::Session;
use uuid::Uuid;

pub use rate_limit::LoginLimiter;

use crate::{
    http::{error::ApiError, extract::ApiJson, AppState},
    users::{domain, repo},
};

const USER_ID_KEY: &str = "user_id";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/auth/login", post(login))
        .route("/api/auth/logout", post(logout))
        .route("/api/auth/me", get(me))
}

/// The signed-in, active user. Loaded from the database on every request, so deactivating a user or
/// changing their role takes effect at once, in every process.
pub struct CurrentUser(pub User);

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        // The write layer resolved the user already; a second lookup would need a second connection
        // while the write transaction holds one.
        if let Some(user) = parts.extensions.get::<User>() {
            return Ok(CurrentUser(user.clone()));
        }
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::Internal("session layer missing".into()))?;
        let user_id: Option<Uuid> = session
            .get(USER_ID_KEY)
            .await
            .map_err(|e| ApiError::Internal(format!("session store: {e}")))?;
        let Some(user_id) = user_id else { return Err(ApiError::Unauthenticated) };
        let mut conn = state.db.pool().acquire().await?;
        match repo::find(&mut conn, user_id).await? {
            Some(record) if record.user.active => {
                parts.extensions.insert(record.user.clone());
                Ok(CurrentUser(record.user))
            }
            _ => Err(ApiError::Unauthenticated),
        }
    }
}

/// A signed-in admin; a cashier gets 403. Guards the admin-only areas of the permission table
/// (`app::permissions`: users, backups, reports, exports, system).
pub struct AdminUser(pub User);

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let CurrentUser(user) = CurrentUser::from_request_parts(parts, state).await?;
        if user.role != Role::Admin {
            return Err(ApiError::Forbidden);
        }
        Ok(AdminUser(user))
    }
}

/// Sign in; sets the session cookie.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = User), (status = 401, body = app::model::ErrorEnvelope),
              (status = 429, description = "too many attempts; see Retry-After")))]
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    session: Session,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<Json<User>, ApiError> {
    state
        .login_limiter
        .check(peer.ip(), &body.username)
        .map_err(|wait| ApiError::TooManyAttempts { retry_after_secs: wait.as_secs().max(1) })?;
    let record = repo::find_by_username(&state.db, &body.username).await?;
    let hash = record.as_ref().map_or_else(|| domain::dummy_hash().to_owned(), |r| r.password_hash.clone());
    let password_ok = domain::verify_password(body.password, hash).await;
    let user = match record {
        Some(r) if password_ok && r.user.active => r.user,
        _ => {
            tracing::info!(username = %body.username, client = %peer.ip(), "failed login");
            return Err(ApiError::InvalidCredentials);
        }
    };
    // A new session id at login defeats session fixation.
    session.cycle_id().await.map_err(|e| ApiError::Internal(format!("session: {e}")))?;
    session
        .insert(USER_ID_KEY, user.id)
        .await
        .map_err(|e| ApiError::Internal(format!("session: {e}")))?;
    tracing::info!(username = %user.username, "login");
    Ok(Json(user))
}

/// Sign out; the session is deleted on the server, not only forgotten by the browser.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth", responses((status = 204)))]
pub async fn logout(session: Session) -> Result<StatusCode, ApiError> {
    session.flush().await.map_err(|e| ApiError::Internal(format!("session: {e}")))?;
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in user.
#[utoipa::path(get, path = "/api/auth/me", tag = "auth",
    responses((status = 200, body = User), (status = 401, body = app::model::ErrorEnvelope)))]
pub async fn me(CurrentUser(user): CurrentUser) -> Json<User> {
    Json(user)
}
