//! The catalog's HTTP handlers, generic over the entity.

use app::model::{Category, Customer, Page, Product, Quote, TaxRate};
use axum::{
    extract::{Path, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use serde::Deserialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use sqlx::AnyConnection;

use super::{fields::Body, repo, CatalogEntity};
use crate::{
    auth::CurrentUser,
    db::is_unique_violation,
    http::{
        error::{ApiError, FieldErrors},
        extract::{ApiJson, ApiQuery},
        AppState,
    },
    idempotency::WriteTx,
    permissions,
};

pub fn router() -> Router<AppState> {
    fn routes<E: CatalogEntity>(router: Router<AppState>) -> Router<AppState> {
        router
            .route(&format!("/api/{}", E::PATH), get(list::<E>).post(create::<E>))
            .route(&format!("/api/{}/{{id}}", E::PATH), get(get_one::<E>).patch(update::<E>).delete(delete::<E>))
    }
    let router = Router::new();
    let router = routes::<Category>(router);
    let router = routes::<Product>(router);
    let router = routes::<Quote>(router);
    let router = routes::<TaxRate>(router);
    routes::<Customer>(router)
}

#[derive(Debug, Deserialize)]
pub struct ListParams {
    q: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
    /// Created on or after this day (YYYY-MM-DD).
    from: Option<String>,
    /// Created on or before this day.
    to: Option<String>,
}

const MAX_PAGE: i64 = 200;

fn parse_count(raw: Option<&str>, field: &'static str, default: i64, max: i64) -> Result<i64, ApiError> {
    match raw {
        None | Some("") => Ok(default),
        Some(s) => match s.parse::<i64>() {
            Ok(n) if (0..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::invalid(field, format!("must be a whole number from 0 to {max}"))),
        },
    }
}

async fn list<E: CatalogEntity>(
    _: CurrentUser,
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<Page<E>>, ApiError> {
    let limit = parse_count(params.limit.as_deref(), "limit", 50, MAX_PAGE)?;
    let offset = parse_count(params.offset.as_deref(), "offset", 0, i64::MAX)?;
    let period = crate::period::PeriodParams { from: params.from, to: params.to, ..Default::default() }
        .in_shop_days(&state)
        .await?;
    let range = (period.start.as_str(), period.end.as_str());
    Ok(Json(repo::list::<E>(&state.db, params.q.as_deref(), range, limit, offset).await?))
}

fn etag(version: i64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).expect("digits are a valid header")
}

/// The row with its version as a strong ETag.
fn with_etag<E: CatalogEntity>(status: StatusCode, entity: E) -> Response {
    let tag = etag(entity.version());
    let mut response = (status, Json(entity)).into_response();
    response.headers_mut().insert(header::ETAG, tag);
    response
}

fn to_json<E: CatalogEntity>(entity: &E) -> Value {
    serde_json::to_value(entity).unwrap_or(Value::Null)
}

/// Loads a row that is not deleted, or 404.
async fn load_live<E: CatalogEntity>(conn: &mut AnyConnection, id: Uuid) -> Result<E, ApiError> {
    match repo::get::<E>(conn, id).await? {
        Some(e) if !e.is_deleted() => Ok(e),
        _ => Err(ApiError::NotFound),
    }
}

async fn get_one<E: CatalogEntity>(
    _: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    let mut conn = state.db.pool().acquire().await?;
    Ok(with_etag(StatusCode::OK, load_live::<E>(&mut conn, id).await?))
}

/// Checks that referenced rows exist (a product's category), as field errors.
async fn check_references<E: CatalogEntity>(conn: &mut AnyConnection, entity: &E) -> Result<(), ApiError> {
    let values = serde_json::to_value(entity).unwrap_or(Value::Null);
    let mut errors = FieldErrors::new();
    for (field, table) in E::REFERENCES {
        if let Some(Value::String(id)) = values.get(*field) {
            if !repo::exists(&mut *conn, table, id).await? {
                errors.insert(field, format!("no such {}", table.trim_end_matches('s')));
            }
        }
    }
    ApiError::unless_any(errors)
}

fn unique_conflict<E: CatalogEntity>(err: sqlx::Error) -> ApiError {
    match (E::UNIQUE_CONFLICT, is_unique_violation(&err)) {
        (Some((code, field)), true) => ApiError::Conflict {
            code,
            message: format!("another record already has this {field}"),
            details: Some(serde_json::json!({ "field": field })),
        },
        _ => err.into(),
    }
}

async fn create<E: CatalogEntity>(
    CurrentUser(user): CurrentUser,
    tx: WriteTx,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> Result<Response, ApiError> {
    permissions::require(&user, permissions::catalog_write(E::TABLE, "POST"))?;
    let id = match body.get("id") {
        None | Some(Value::Null) => Uuid::new_v4(),
        Some(Value::String(s)) => Uuid::parse_str(s).map_err(|_| ApiError::invalid("id", "must be a UUID"))?,
        Some(_) => return Err(ApiError::invalid("id", "must be a UUID")),
    };
    let mut fields = Body::new(&body);
    let mut allowed = vec!["id"];
    allowed.extend(E::FIELDS);
    fields.only(&allowed, E::READ_ONLY);
    let entity = E::parse(id, &mut fields);
    let entity = match entity {
        Some(e) if fields.errors.is_empty() => e,
        _ => return Err(ApiError::Validation(fields.errors)),
    };
    let mut conn = tx.lock().await;
    if let Some(existing) = repo::get::<E>(&mut conn, id).await? {
        // The same create again (its key expired, or it had none): answer with the row.
        let first = repo::revision::<E>(&mut conn, id, 1).await?;
        let sent = to_json(&entity);
        if first.is_some_and(|first| E::FIELDS.iter().all(|f| first[*f] == sent[*f])) {
            return Ok(crate::idempotency::by_id::replayed(existing));
        }
        return Err(ApiError::Conflict {
            code: "duplicate_id",
            message: "a record with this id already exists".into(),
            details: Some(serde_json::json!({ "current": to_json(&existing) })),
        });
    }
    check_references(&mut conn, &entity).await?;
    let created = repo::insert(&mut conn, &entity).await.map_err(unique_conflict::<E>)?;
    repo::save_revision(&mut conn, &created).await?;
    tx.changed(E::TABLE, id);
    Ok(with_etag(StatusCode::CREATED, created))
}

/// The version an edit is based on, from `If-Match` or the body's `version`; checked against the row.
/// If-Match is the HTTP precondition (412); the body version is the app's (409 with the current row).
async fn check_precondition<E: CatalogEntity>(
    conn: &mut AnyConnection,
    headers: &HeaderMap,
    body_version: Option<i64>,
    changes: &Map<String, Value>,
    current: &E,
) -> Result<(), ApiError> {
    let if_match = headers.get(header::IF_MATCH).map(|v| v.to_str().unwrap_or("").trim().to_owned());
    if if_match.is_none() && body_version.is_none() {
        return Err(ApiError::PreconditionRequired);
    }
    if let Some(tag) = if_match.filter(|t| t != "*") {
        let wanted = tag.trim_start_matches("W/").trim_matches('"').parse::<i64>().ok();
        if wanted != Some(current.version()) {
            return Err(ApiError::PreconditionFailed { current_version: current.version(), current: to_json(current) });
        }
    }
    match body_version {
        Some(v) if v != current.version() => Err(version_conflict(conn, current, v, changes).await?),
        _ => Ok(()),
    }
}

/// A 409 that lets the client merge: the current row, and the fields that both the client (in
/// `changes`) and someone else (since version `base`) changed to different values.
async fn version_conflict<E: CatalogEntity>(
    conn: &mut AnyConnection,
    current: &E,
    base: i64,
    changes: &Map<String, Value>,
) -> Result<ApiError, ApiError> {
    let now = to_json(current);
    let then = repo::revision::<E>(conn, current.id(), base).await?;
    let conflicting_fields = changes
        .iter()
        .filter(|(field, _)| E::FIELDS.contains(&field.as_str()))
        .filter(|(field, mine)| {
            let theirs = &now[field.as_str()];
            match &then {
                // Both moved away from the base, to different values.
                Some(base) => &base[field.as_str()] != theirs && *mine != theirs,
                // Base unknown: any difference from what is there now.
                None => *mine != theirs,
            }
        })
        .map(|(field, _)| field.clone())
        .collect();
    Ok(ApiError::VersionConflict {
        current_version: current.version(),
        your_version: base,
        current: now,
        conflicting_fields,
    })
}

fn body_version(body: &Map<String, Value>) -> Result<Option<i64>, ApiError> {
    match body.get("version") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_i64() {
            Some(n) if n >= 1 => Ok(Some(n)),
            _ => Err(ApiError::invalid("version", "must be a whole number ≥ 1")),
        },
    }
}

async fn update<E: CatalogEntity>(
    CurrentUser(user): CurrentUser,
    tx: WriteTx,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    ApiJson(changes): ApiJson<Map<String, Value>>,
) -> Result<Response, ApiError> {
    permissions::require(&user, permissions::catalog_write(E::TABLE, "PATCH"))?;
    let version = body_version(&changes)?;
    let mut check = Body::new(&changes);
    let mut allowed = vec!["version"];
    allowed.extend(E::FIELDS);
    check.only(&allowed, E::READ_ONLY);
    if changes.get("id").is_some_and(|v| v.as_str() != Some(&id.to_string())) {
        check.errors.insert("id", "cannot be changed".into());
    }
    if !check.errors.is_empty() {
        return Err(ApiError::Validation(check.errors));
    }
    let mut conn = tx.lock().await;
    let current = match repo::get::<E>(&mut conn, id).await? {
        None => return Err(ApiError::NotFound),
        Some(c) if c.is_deleted() => {
            return Err(ApiError::Conflict {
                code: "record_deleted",
                message: "this record was deleted".into(),
                details: Some(serde_json::json!({ "current": to_json(&c) })),
            })
        }
        Some(c) => c,
    };
    check_precondition(&mut conn, &headers, version, &changes, &current).await?;
    // The new row = the current one with the sent fields laid over it, parsed by the same rules as a
    // create, so an edit can never produce a row a create would refuse.
    let mut merged = match to_json(&current) {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    for (k, v) in changes.iter().filter(|(k, _)| E::FIELDS.contains(&k.as_str())) {
        merged.insert(k.clone(), v.clone());
    }
    let mut fields = Body::new(&merged);
    let entity = E::parse(id, &mut fields);
    let entity = match entity {
        Some(e) if fields.errors.is_empty() => e,
        _ => return Err(ApiError::Validation(fields.errors)),
    };
    if entity.values() == current.values() {
        return Ok(with_etag(StatusCode::OK, current));
    }
    check_references(&mut conn, &entity).await?;
    match repo::update(&mut conn, &entity, current.version()).await.map_err(unique_conflict::<E>)? {
        Some(updated) => {
            repo::save_revision(&mut conn, &updated).await?;
            tx.changed(E::TABLE, id);
            Ok(with_etag(StatusCode::OK, updated))
        }
        // Someone wrote between our read and our write: report what is there now.
        None => {
            let now = load_live::<E>(&mut conn, id).await?;
            Err(version_conflict(&mut conn, &now, version.unwrap_or(current.version()), &changes).await?)
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct DeleteParams {
    version: Option<String>,
}

async fn delete<E: CatalogEntity>(
    CurrentUser(user): CurrentUser,
    tx: WriteTx,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<DeleteParams>,
) -> Result<Response, ApiError> {
    permissions::require(&user, permissions::catalog_write(E::TABLE, "DELETE"))?;
    let version = match params.version.as_deref() {
        None | Some("") => None,
        Some(s) => Some(
            s.parse::<i64>()
                .ok()
                .filter(|v| *v >= 1)
                .ok_or_else(|| ApiError::invalid("version", "must be a whole number ≥ 1"))?,
        ),
    };
    let mut conn = tx.lock().await;
    let current = match repo::get::<E>(&mut conn, id).await? {
        None => return Err(ApiError::NotFound),
        // Deleting twice is not an error: the second answer is the tombstone.
        Some(c) if c.is_deleted() => return Ok(with_etag(StatusCode::OK, c)),
        Some(c) => c,
    };
    check_precondition(&mut conn, &headers, version, &Map::new(), &current).await?;
    match repo::soft_delete::<E>(&mut conn, id, current.version()).await? {
        Some(deleted) => {
            repo::save_revision(&mut conn, &deleted).await?;
            tx.changed(E::TABLE, id);
            Ok(with_etag(StatusCode::OK, deleted))
        }
        None => {
            let now = repo::get::<E>(&mut conn, id).await?.ok_or(ApiError::NotFound)?;
            Err(version_conflict(&mut conn, &now, version.unwrap_or(current.version()), &Map::new()).await?)
        }
    }
}
