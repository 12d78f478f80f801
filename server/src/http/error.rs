//! The one error type of the API and its mapping to the JSON envelope
//! `{"error": {"code", "message", "details"}}`. Internal causes are logged, never sent to clients.

use std::collections::BTreeMap;

use app::model::{ErrorBody, ErrorEnvelope};
use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde_json::{json, Value};

/// Field name → human message, for 422 responses.
pub type FieldErrors = BTreeMap<&'static str, String>;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("malformed JSON body: {0}")]
    MalformedJson(String),
    #[error("authentication required")]
    Unauthenticated,
    #[error("wrong username or password")]
    InvalidCredentials,
    #[error("you are not allowed to do this")]
    Forbidden,
    #[error("cross-origin request refused")]
    CrossOrigin,
    #[error("not found")]
    NotFound,
    #[error("the request body is too large")]
    PayloadTooLarge,
    #[error("invalid fields")]
    Validation(FieldErrors),
    /// A business conflict with a stable code, e.g. `duplicate_sku`.
    #[error("{message}")]
    Conflict { code: &'static str, message: String, details: Option<Value> },
    /// The row changed since the version the client based its edit on.
    #[error("this record was changed by someone else (now version {current_version})")]
    VersionConflict { current_version: i64, your_version: i64, current: Value, conflicting_fields: Vec<String> },
    #[error("the If-Match precondition failed: the record is at version {current_version}")]
    PreconditionFailed { current_version: i64, current: Value },
    #[error("an update needs the version it was based on: send \"version\" or If-Match")]
    PreconditionRequired,
    #[error("too many attempts; try again in {retry_after_secs} s")]
    TooManyAttempts { retry_after_secs: u64 },
    #[error("{0}")]
    InvalidIdempotencyKey(String),
    #[error("this Idempotency-Key was already used with a different request")]
    IdempotencyKeyReused,
    #[error("a request with this Idempotency-Key is still being processed; retry shortly")]
    IdempotencyKeyInProgress,
    #[error("the database is busy; retry shortly")]
    Busy,
    #[error("the request took too long")]
    Timeout,
    #[error("the database is unavailable")]
    DatabaseUnavailable,
    #[error("internal error")]
    Internal(String),
    /// 422 with a stable code: the request was understood but its content is unusable
    /// (e.g. `invalid_backup`, `backup_corrupt`).
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String, details: Option<Value> },
    /// 403 with a stable code: allowed to this role only within a limit (e.g. `discount_above_limit`).
    #[error("{message}")]
    ForbiddenBecause { code: &'static str, message: String },
    /// 503 with a stable code and Retry-After: try again shortly (e.g. `restoring`).
    #[error("{message}")]
    Unavailable { code: &'static str, message: String },
    /// 500 with a stable code and a message meant for the operator (admin routes only), e.g.
    /// `pg_dump_missing`, `pg_dump_too_old`, `backup_failed`.
    #[error("{message}")]
    OperationFailed { code: &'static str, message: String },
}

impl ApiError {
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Conflict { code, message: message.into(), details: None }
    }
    /// A 422 listing `errors`, or Ok when there are none.
    pub fn unless_any(errors: FieldErrors) -> Result<(), ApiError> {
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(errors))
        }
    }
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        ApiError::Validation(FieldErrors::from([(field, message.into())]))
    }

    fn status_code(&self) -> StatusCode {
        use ApiError::*;
        match self {
            BadRequest(_) | MalformedJson(_) | InvalidIdempotencyKey(_) => StatusCode::BAD_REQUEST,
            IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            IdempotencyKeyInProgress => StatusCode::CONFLICT,
            Busy => StatusCode::SERVICE_UNAVAILABLE,
            Unauthenticated | InvalidCredentials => StatusCode::UNAUTHORIZED,
            Forbidden | CrossOrigin | ForbiddenBecause { .. } => StatusCode::FORBIDDEN,
            NotFound => StatusCode::NOT_FOUND,
            PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Conflict { .. } | VersionConflict { .. } => StatusCode::CONFLICT,
            PreconditionFailed { .. } => StatusCode::PRECONDITION_FAILED,
            PreconditionRequired => StatusCode::PRECONDITION_REQUIRED,
            TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
            Timeout | DatabaseUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Internal(_) | OperationFailed { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn code(&self) -> &'static str {
        use ApiError::*;
        match self {
            BadRequest(_) => "bad_request",
            InvalidIdempotencyKey(_) => "invalid_idempotency_key",
            IdempotencyKeyReused => "idempotency_key_reused",
            IdempotencyKeyInProgress => "idempotency_key_in_progress",
            Busy => "busy",
            MalformedJson(_) => "malformed_json",
            Unauthenticated => "unauthenticated",
            InvalidCredentials => "invalid_credentials",
            Forbidden => "forbidden",
            CrossOrigin => "cross_origin_request",
            NotFound => "not_found",
            PayloadTooLarge => "payload_too_large",
            Validation(_) => "validation_failed",
            Conflict { code, .. } => code,
            VersionConflict { .. } => "version_conflict",
            PreconditionFailed { .. } => "precondition_failed",
            PreconditionRequired => "precondition_required",
            TooManyAttempts { .. } => "too_many_attempts",
            Timeout => "timeout",
            DatabaseUnavailable => "database_unavailable",
            Internal(_) => "internal_error",
            Unprocessable { code, .. }
            | Unavailable { code, .. }
            | OperationFailed { code, .. }
            | ForbiddenBecause { code, .. } => code,
        }
    }

    fn details(&self) -> Option<Value> {
        use ApiError::*;
        match self {
            Validation(fields) => Some(json!({ "fields": fields })),
            Conflict { details, .. } | Unprocessable { details, .. } => details.clone(),
            VersionConflict { current_version, your_version, current, conflicting_fields } => Some(json!({
                "current": current,
                "current_version": current_version,
                "your_version": your_version,
                "conflicting_fields": conflicting_fields,
            })),
            PreconditionFailed { current, current_version } => {
                Some(json!({ "current": current, "current_version": current_version }))
            }
            TooManyAttempts { retry_after_secs } => Some(json!({ "retry_after_secs": retry_after_secs })),
            _ => None,
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        if let Some(out_of_range) = crate::bounds::check_violation(&err) {
            return out_of_range;
        }
        match err {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                tracing::warn!(error = %err, "database unavailable");
                ApiError::DatabaseUnavailable
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status_code();
        if let ApiError::Internal(cause) = &self {
            tracing::error!(%cause, "internal error");
        }
        if let ApiError::OperationFailed { code, message } = &self {
            tracing::error!(%code, %message, "operation failed");
        }
        let body = ErrorEnvelope {
            error: ErrorBody { code: self.code().to_owned(), message: self.to_string(), details: self.details() },
        };
        let mut response = (status, Json(body)).into_response();
        let retry_after = match self {
            ApiError::TooManyAttempts { retry_after_secs } => Some(retry_after_secs),
            ApiError::IdempotencyKeyInProgress | ApiError::Busy | ApiError::DatabaseUnavailable => Some(1),
            ApiError::Unavailable { .. } => Some(2),
            _ => None,
        };
        if let Some(secs) = retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
