//! Alerts: something an operator must know about (a backup failed, shipping aborted, a failover…).
//! Each one is logged on the `alert` target, kept in the `alerts` table for the Sistema page, and
//! sent — when configured — as JSON to a webhook and as a Telegram message (Bot API `sendMessage`,
//! send-only). Delivery runs in the background with a few retries: a dead receiver never holds up
//! the work that raised the alert.

use std::{sync::Arc, time::Duration};

use axum::{extract::State, routing::get, Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::Row;

use crate::{
    auth::AdminUser,
    config::AlertConfig,
    db::{now, Db},
    http::{error::ApiError, AppState},
};

/// What happened; the stable name receivers can filter on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    BackupFailed,
    VerificationFailed,
    ShippingAborted,
    ShippingFailed,
    Failover,
    FailoverRefused,
    Failback,
    EmergencyModeOn,
    EmergencyModeOff,
    RepeatedCrashes,
    DatabaseUnreachable,
    ReconciliationRejected,
    CertificateRenewalFailed,
    /// A sale made offline reached the server after its till was closed (accepted; the till lists it).
    LateSaleAfterClose,

    PeerAuthFailed,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::BackupFailed => "backup_failed",
            AlertKind::VerificationFailed => "verification_failed",
            AlertKind::ShippingAborted => "shipping_aborted",
            AlertKind::ShippingFailed => "shipping_failed",
            AlertKind::Failover => "failover",
            AlertKind::FailoverRefused => "failover_refused",
            AlertKind::Failback => "failback",
            AlertKind::EmergencyModeOn => "emergency_mode_on",
            AlertKind::EmergencyModeOff => "emergency_mode_off",
            AlertKind::RepeatedCrashes => "repeated_crashes",
            AlertKind::DatabaseUnreachable => "database_unreachable",
            AlertKind::ReconciliationRejected => "reconciliation_rejected",
            AlertKind::CertificateRenewalFailed => "certificate_renewal_failed",
            AlertKind::LateSaleAfterClose => "late_sale_after_close",

            AlertKind::PeerAuthFailed => "peer_auth_failed",
        }
    }
}

/// One alert as stored, shown and sent.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Alert {
    pub at: String,
    pub kind: AlertKind,
    pub message: String,
    pub node: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

#[derive(Clone)]
pub struct Alerts {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    node: String,
    config: AlertConfig,
    http: reqwest::Client,
    /// Alerts the database did not take (it may be what failed): stored on a later try.
    unstored: std::sync::Mutex<Vec<Alert>>,
}

/// How long raising an alert waits for the database before keeping it in memory instead.
const STORE_WAIT: Duration = Duration::from_secs(1);

impl Alerts {
    pub fn new(db: Db, node: String, config: AlertConfig) -> Alerts {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("HTTP client");
        Alerts { inner: Arc::new(Inner { db, node, config, http, unstored: Default::default() }) }
    }

    /// Logs, stores and sends an alert. Returns once it is stored (or after a second, when the
    /// database does not answer: it is then kept in memory and stored later); sending goes on in
    /// the background and never waits for the database.
    pub async fn raise(&self, kind: AlertKind, message: impl Into<String>, details: Option<Value>) {
        let alert = Alert { at: now(), kind, message: message.into(), node: self.inner.node.clone(), details };
        tracing::error!(target: "alert", kind = kind.as_str(), node = %alert.node, details = ?alert.details, "{}", alert.message);
        let this = self.clone();
        let (sent_tx, sent_rx) = tokio::sync::oneshot::channel();
        let to_send = alert.clone();
        tokio::spawn(async move {
            let delivered = this.deliver(to_send).await;
            let _ = sent_tx.send(delivered);
        });
        self.flush_unstored().await;
        let id = match tokio::time::timeout(STORE_WAIT, self.store(&alert)).await {
            Ok(Ok(id)) => Some(id),
            outcome => {
                let why = outcome
                    .map_or_else(|_| "no answer".to_owned(), |r| r.err().map(|e| e.to_string()).unwrap_or_default());
                tracing::warn!(error = %why, "could not store the alert now (the database may be what failed); kept in memory");
                self.inner.unstored.lock().expect("not poisoned").push(alert);
                None
            }
        };
        if let Some(id) = id {
            let db = self.inner.db.clone();
            tokio::spawn(async move {
                if let Ok(delivered) = sent_rx.await {
                    if !delivered.is_empty() {
                        let _ = sqlx::query("UPDATE alerts SET delivered = $1 WHERE id = $2")
                            .bind(delivered.join(","))
                            .bind(id)
                            .execute(&db.pool())
                            .await;
                    }
                }
            });
        }
    }

    /// Stores the alerts the database did not take earlier.
    async fn flush_unstored(&self) {
        let waiting: Vec<Alert> = std::mem::take(&mut *self.inner.unstored.lock().expect("not poisoned"));
        for (i, alert) in waiting.iter().enumerate() {
            if !matches!(tokio::time::timeout(STORE_WAIT, self.store(alert)).await, Ok(Ok(_))) {
                self.inner.unstored.lock().expect("not poisoned").extend(waiting[i..].iter().cloned());
                return;
            }
        }
    }

    async fn store(&self, alert: &Alert) -> Result<i64, sqlx::Error> {
        let details = alert.details.as_ref().map(Value::to_string);
        sqlx::query_scalar(
            "INSERT INTO alerts (at, kind, message, node, details) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(&alert.at)
        .bind(alert.kind.as_str())
        .bind(&alert.message)
        .bind(&alert.node)
        .bind(details)
        .fetch_one(&self.inner.db.pool())
        .await
    }

    /// Sends to every configured receiver, 3 attempts each (1 s, 4 s apart); says where it went.
    async fn deliver(&self, alert: Alert) -> Vec<&'static str> {
        let config = &self.inner.config;
        let mut delivered = Vec::new();
        if let Some(url) = &config.alert_webhook_url {
            let body = serde_json::json!({ "alert": alert });
            if self.send_with_retries("webhook", || self.inner.http.post(url).json(&body)).await {
                delivered.push("webhook");
            }
        }
        if let (Some(token), Some(chat)) = (&config.telegram_bot_token, &config.telegram_chat_id) {
            let url = format!("{}/bot{token}/sendMessage", config.telegram_api_url.trim_end_matches('/'));
            let text = format!("⚠ Mostrador ({}): {}\n{}", alert.node, alert.message, alert.kind.as_str());
            let body = serde_json::json!({ "chat_id": chat, "text": text, "disable_web_page_preview": true });
            if self.send_with_retries("telegram", || self.inner.http.post(&url).json(&body)).await {
                delivered.push("telegram");
            }
        }
        delivered
    }

    async fn send_with_retries(&self, to: &str, request: impl Fn() -> reqwest::RequestBuilder) -> bool {
        for (attempt, pause) in [1u64, 4, 0].into_iter().enumerate() {
            match request().send().await {
                Ok(r) if r.status().is_success() => return true,
                Ok(r) => tracing::warn!(to, status = %r.status(), attempt, "alert delivery refused"),
                // Without the URL: Telegram's carries the bot token.
                Err(e) => tracing::warn!(to, error = %e.without_url(), attempt, "alert delivery failed"),
            }
            tokio::time::sleep(Duration::from_secs(pause)).await;
        }
        false
    }

    /// The newest alerts first.
    pub async fn recent(&self, limit: i64) -> Result<Vec<StoredAlert>, sqlx::Error> {
        self.flush_unstored().await;
        let rows =
            sqlx::query("SELECT id, at, kind, message, node, details, delivered FROM alerts ORDER BY id DESC LIMIT $1")
                .bind(limit)
                .fetch_all(&self.inner.db.pool())
                .await?;
        rows.iter()
            .map(|r| {
                let details: Option<String> = r.try_get("details")?;
                Ok(StoredAlert {
                    id: r.try_get("id")?,
                    at: r.try_get("at")?,
                    kind: r.try_get("kind")?,
                    message: r.try_get("message")?,
                    node: r.try_get("node")?,
                    details: details.and_then(|d| serde_json::from_str(&d).ok()),
                    delivered: r.try_get("delivered")?,
                })
            })
            .collect()
    }
}

/// An alert from the history.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StoredAlert {
    pub id: i64,
    pub at: String,
    pub kind: String,
    pub message: String,
    pub node: String,
    pub details: Option<Value>,
    /// Receivers that accepted it (`webhook,telegram`), if any.
    pub delivered: Option<String>,
}

pub fn router() -> Router<AppState> {
    Router::new().route("/api/alerts", get(list))
}

/// The 100 newest alerts. Admins only.
#[utoipa::path(get, path = "/api/alerts", tag = "operations", responses((status = 200, body = [StoredAlert])))]
pub async fn list(_: AdminUser, State(state): State<AppState>) -> Result<Json<Vec<StoredAlert>>, ApiError> {
    Ok(Json(state.alerts.recent(100).await?))
}
