//! Accounts: login, logout, the current user, and the extractors that guard every route.

pub mod client_ip;
mod rate_limit;
pub mod session_store;

use std::{net::SocketAddr, time::Duration};

use app::model::{LoginRequest, Role, User};
use axum::{
    extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts, State},
    http::{request::Parts, HeaderMap, StatusCode},
    routing::{get, post},
    Json, Router,
};
use tower_sessions::Session;
use uuid::Uuid;

pub use rate_limit::{LoginLimiter, MAX_USERNAME_BYTES};

use crate::{
    http::{
        error::{ApiError, FieldErrors},
        extract::ApiJson,
        AppState,
    },
    users::{domain, repo},
};

const USER_ID_KEY: &str = "user_id";

/// The longest password a login hashes (new passwords stop at 256 characters; 1024 bytes leaves room
/// for any multi-byte ones).
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// A login body holds a username and a password, escaped: anything larger is refused while it
/// arrives, before it is parsed or kept.
const LOGIN_BODY_LIMIT: usize = 8 * 1024;
/// How long a login waits for a free hashing slot before it is answered 429.
const HASHING_WAIT: Duration = Duration::from_secs(3);

pub fn router() -> Router<AppState> {
    let login_route = post(login)
        .layer(DefaultBodyLimit::max(LOGIN_BODY_LIMIT))
        .layer(axum::middleware::from_fn(|req, next| crate::http::middleware::limit_body(LOGIN_BODY_LIMIT, req, next)));
    Router::new()
        .route("/api/auth/login", login_route)
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
        let user_id: Option<Uuid> =
            session.get(USER_ID_KEY).await.map_err(|e| ApiError::Internal(format!("session store: {e}")))?;
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

/// Whether `session` belongs to an active user; any failure counts as no.
pub async fn signed_in(state: &AppState, session: &Session) -> bool {
    let Ok(Some(user_id)) = session.get::<Uuid>(USER_ID_KEY).await else { return false };
    let Ok(mut conn) = state.db.pool().acquire().await else { return false };
    matches!(repo::find(&mut conn, user_id).await, Ok(Some(record)) if record.user.active)
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

/// A username as a log field: Debug-escaped (a newline or an ANSI escape cannot forge a log line)
/// and cut to 64 characters.
pub fn loggable(username: &str) -> String {
    let cut: String = username.chars().take(64).collect();
    if cut.len() < username.len() {
        format!("{cut:?}…")
    } else {
        format!("{cut:?}")
    }
}

/// Sign in; sets the session cookie. The username (≤ 64 bytes) and password (≤ 1024 bytes) are
/// checked before anything is hashed or remembered; password checks share one hashing slot per core.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = User), (status = 401, body = app::model::ErrorEnvelope),
              (status = 413, description = "body over 8 KiB", body = app::model::ErrorEnvelope),
              (status = 422, description = "username or password too long", body = app::model::ErrorEnvelope),
              (status = 429, description = "too many attempts, or every hashing slot busy; see Retry-After", body = app::model::ErrorEnvelope)))]
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    session: Session,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<Json<User>, ApiError> {
    let mut errors = FieldErrors::new();
    if body.username.len() > MAX_USERNAME_BYTES {
        errors.insert("username", format!("must be at most {MAX_USERNAME_BYTES} bytes"));
    }
    if body.password.len() > MAX_PASSWORD_BYTES {
        errors.insert("password", format!("must be at most {MAX_PASSWORD_BYTES} bytes"));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let client = client_ip::client_ip(peer.ip(), &headers, &state.config.ops.trusted_proxies);
    state
        .login_limiter
        .check(client, &body.username)
        .map_err(|wait| ApiError::TooManyAttempts { retry_after_secs: wait.as_secs().max(1) })?;
    let record = repo::find_by_username(&state.db, &body.username).await?;
    let hash = record.as_ref().map_or_else(|| domain::dummy_hash().to_owned(), |r| r.password_hash.clone());
    let password_ok = domain::verify_password_within(body.password, hash, HASHING_WAIT)
        .await
        .map_err(|_| ApiError::TooManyAttempts { retry_after_secs: 1 })?;
    let user = match record {
        Some(r) if password_ok && r.user.active => r.user,
        _ => {
            tracing::info!(username = %loggable(&body.username), %client, "failed login");
            return Err(ApiError::InvalidCredentials);
        }
    };
    // A new session id at login defeats session fixation.
    session.cycle_id().await.map_err(|e| ApiError::Internal(format!("session: {e}")))?;
    session.insert(USER_ID_KEY, user.id).await.map_err(|e| ApiError::Internal(format!("session: {e}")))?;
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
