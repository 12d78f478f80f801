//! `GET /api/sync/pull`: the rows the change log (`crate::changelog`) lists after a cursor.

use axum::{extract::State, Json};
use serde::Deserialize;
use sqlx::{AnyConnection, Row};
use uuid::Uuid;

use crate::{
    auth::CurrentUser,
    catalog::{self, CatalogEntity},
    http::{error::ApiError, extract::ApiQuery, AppState},
};

#[derive(Debug, Deserialize)]
pub struct PullParams {
    since: Option<String>,
    limit: Option<String>,
}

use app::wire::PullResponse;

const DEFAULT_LIMIT: i64 = 500;
const MAX_LIMIT: i64 = 5000;

#[utoipa::path(get, path = "/api/sync/pull", tag = "sync",
    params(("since" = Option<String>, Query, description = "cursor from the last pull; absent = from the start"),
           ("limit" = Option<i64>, Query, description = "transactions per page (500, at most 5000)")),
    responses((status = 200, body = PullResponse)))]
pub async fn pull(
    _: CurrentUser,
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<PullParams>,
) -> Result<Json<PullResponse>, ApiError> {
    let since = match params.since.as_deref() {
        None | Some("") => 0,
        Some(s) => s
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| ApiError::invalid("since", "is not a cursor from this server"))?,
    };
    let limit = match params.limit.as_deref() {
        None | Some("") => DEFAULT_LIMIT,
        Some(s) => s
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| ApiError::invalid("limit", format!("must be 1 to {MAX_LIMIT}")))?,
    };
    let mut conn = state.db.pool().acquire().await?;
    // Whole transactions only: a page ends at a sequence number, never inside one.
    let seqs: Vec<i64> = sqlx::query_scalar("SELECT DISTINCT seq FROM change_log WHERE seq > $1 ORDER BY seq LIMIT $2")
        .bind(since)
        .bind(limit + 1)
        .fetch_all(&mut *conn)
        .await?;
    let has_more = seqs.len() as i64 > limit;
    let Some(&upto) = seqs.iter().take(limit as usize).next_back() else {
        return Ok(Json(PullResponse {
            cursor: since.to_string(),
            has_more: false,
            categories: vec![],
            products: vec![],
            customers: vec![],
            quotes: vec![],
            cash_sessions: vec![],
            tax_rates: vec![],
        }));
    };
    let rows = sqlx::query("SELECT DISTINCT entity, entity_id FROM change_log WHERE seq > $1 AND seq <= $2")
        .bind(since)
        .bind(upto)
        .fetch_all(&mut *conn)
        .await?;
    let mut ids: std::collections::HashMap<String, Vec<Uuid>> = Default::default();
    for row in rows {
        let entity: String = row.try_get("entity")?;
        let id: String = row.try_get("entity_id")?;
        if let Ok(id) = Uuid::parse_str(&id) {
            ids.entry(entity).or_default().push(id);
        }
    }
    async fn load<E: CatalogEntity>(
        conn: &mut AnyConnection,
        ids: &std::collections::HashMap<String, Vec<Uuid>>,
    ) -> Result<Vec<E>, sqlx::Error> {
        match ids.get(E::TABLE) {
            Some(ids) => catalog::get_many::<E>(conn, ids).await,
            None => Ok(vec![]),
        }
    }
    Ok(Json(PullResponse {
        cursor: upto.to_string(),
        has_more,
        categories: load(&mut conn, &ids).await?,
        products: load(&mut conn, &ids).await?,
        customers: load(&mut conn, &ids).await?,
        quotes: load(&mut conn, &ids).await?,
        cash_sessions: {
            let mut sessions = Vec::new();
            for id in ids.get("cash_sessions").into_iter().flatten() {
                if let Some(s) = crate::cash::load_session(&mut conn, *id).await? {
                    sessions.push(s);
                }
            }
            sessions
        },
        tax_rates: load(&mut conn, &ids).await?,
    }))
}
