//! High availability (issue #6): a node is the primary or a standby. A standby serves reads and
//! refuses writes (503 `standby_read_only`) unless emergency mode is on; its emergency writes are
//! tagged in the audit log. The primary ships its newest verified backup to the standby (refused
//! while the standby holds emergency writes nobody reconciled: the safety valve), and reconciliation
//! replays the standby's emergency writes through the primary's idempotent write path. With
//! PostgreSQL the server can also fail over from its database to a mirror ([`failover`]).

pub mod failover;
pub mod mirror;
pub mod node_state;
pub mod peer;
pub mod reconcile;
pub mod routes;
pub mod security;
pub mod shipping;

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc,
};

use app::model::User;
use axum::{
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde_json::json;

use crate::{
    alerts::{AlertKind, Alerts},
    audit,
    config::{HaConfig, NodeRole},
    db::{now, Db},
    http::{error::ApiError, AppState},
};

pub use routes::router;

/// How this node's writes are tagged in the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Normal,
    Emergency,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Normal => "normal",
            Mode::Emergency => "emergency",
        }
    }
}

pub struct Ha {
    pub config: HaConfig,
    pub node: String,
    emergency: AtomicBool,
    db: Db,
    pub alerts: Alerts,
    /// One shipment or reconciliation at a time on this node.
    pub work: tokio::sync::Mutex<()>,
    pub http: reqwest::Client,
    /// Failed peer authentications, per client address (rate limit and alert).
    pub peer_failures: security::PeerFailures,
}

const EMERGENCY_KEY: &str = "emergency_mode";

impl Ha {
    /// Reads the admin's emergency toggle back; `MOSTRADOR_EMERGENCY_MODE=true` forces it on.
    pub async fn new(config: HaConfig, db: Db, alerts: Alerts, node: String) -> Arc<Ha> {
        let stored =
            node_state::get(&db, EMERGENCY_KEY).await.ok().flatten().and_then(|v| v["on"].as_bool()).unwrap_or(false);
        if config.role == NodeRole::Primary && (config.emergency_mode || stored) {
            tracing::warn!("emergency mode is set on a primary: it has no effect there");
        }
        let http = security::peer_client(&config).unwrap_or_else(|e| {
            // `serve` refuses to start with a bad certificate file; an in-process caller gets a
            // client that trusts no certificate at all rather than the public roots.
            tracing::error!(error = %e, "the HA client could not be built: https peers are refused");
            reqwest::Client::builder().tls_built_in_root_certs(false).build().expect("HTTP client")
        });
        let ha = Arc::new(Ha {
            emergency: AtomicBool::new(config.emergency_mode || stored),
            config,
            node,
            db,
            alerts,
            work: tokio::sync::Mutex::new(()),
            http,
            peer_failures: Default::default(),
        });
        if ha.mode() == Mode::Emergency {
            tracing::warn!("EMERGENCY MODE: this standby takes writes; reconcile them into the primary later");
        }
        ha
    }

    pub fn role(&self) -> NodeRole {
        self.config.role
    }

    /// Emergency mode means something on a standby only.
    pub fn mode(&self) -> Mode {
        if self.config.role == NodeRole::Standby && self.emergency.load(Ordering::SeqCst) {
            Mode::Emergency
        } else {
            Mode::Normal
        }
    }

    pub fn accepts_writes(&self) -> bool {
        self.config.role == NodeRole::Primary || self.mode() == Mode::Emergency
    }

    /// Scheduled backups and verification: a standby runs none unless it is taking writes.
    pub fn runs_jobs(&self) -> bool {
        self.accepts_writes()
    }

    /// The shared secret of the two nodes, or 409 `ha_not_configured`.
    pub fn secret(&self) -> Result<&str, ApiError> {
        self.config
            .ha_secret
            .as_deref()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ApiError::conflict("ha_not_configured", "MOSTRADOR_HA_SECRET is not set on this node"))
    }

    /// True when the environment forces emergency mode (the toggle cannot turn it off).
    pub fn emergency_forced(&self) -> bool {
        self.config.emergency_mode
    }

    /// The admin toggle: stored for restarts, audited, alerted.
    pub async fn set_emergency(&self, on: bool, by: &User) -> Result<(), ApiError> {
        if self.config.role != NodeRole::Standby {
            return Err(ApiError::conflict(
                "not_a_standby",
                "emergency mode exists on a standby only; this node is the primary",
            ));
        }
        if !on && self.emergency_forced() {
            return Err(ApiError::conflict(
                "emergency_mode_forced",
                "MOSTRADOR_EMERGENCY_MODE=true forces emergency mode on; restart without it to turn it off",
            ));
        }
        let was = self.emergency.swap(on, Ordering::SeqCst);
        node_state::put(&self.db, EMERGENCY_KEY, &json!({"on": on, "by": by.username})).await?;
        if was != on {
            let entry = audit::Entry {
                at: now(),
                user_id: by.id.to_string(),
                username: by.username.clone(),
                node: self.node.clone(),
                mode: self.mode().as_str().into(),
                idempotency_key: None,
                method: "PUT".into(),
                path: "/api/ha/emergency".into(),
                entity: "ha".into(),
                entity_id: None,
                action: if on { "emergency_on" } else { "emergency_off" }.into(),
                request: Some(json!({"on": on})),
                status: 200,
                if_match: None,
            };
            let mut tx = crate::idempotency::begin(&self.db).await?;
            audit::record(&mut tx.tx, &entry).await?;
            tx.tx.commit().await?;
            let (kind, message) = if on {
                (
                    AlertKind::EmergencyModeOn,
                    format!("Emergency mode ON on standby {} (by {}): it now takes writes", self.node, by.username),
                )
            } else {
                (
                    AlertKind::EmergencyModeOff,
                    format!(
                        "Emergency mode OFF on standby {} (by {}): reconcile its writes into the primary",
                        self.node, by.username
                    ),
                )
            };
            self.alerts.raise(kind, message, None).await;
        }
        Ok(())
    }
}

/// Writes on a standby that is not in emergency mode get 503 `standby_read_only`. On the shop and
/// sync routes only (`http::api_router`): sign-in, the HA routes themselves (the emergency toggle,
/// shipments from the primary) and backups pass.
pub async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if crate::idempotency::is_write(req.method()) && !state.ha.accepts_writes() {
        return ApiError::Unavailable {
            code: "standby_read_only",
            message: "this node is a read-only standby; write to the primary (or turn emergency mode on here)".into(),
        }
        .into_response();
    }
    next.run(req).await
}

/// Crash detection for the "repeated crashes" alert: `serve` leaves a `running` mark that only a
/// clean shutdown removes. Finding it at start means the last run died (a panic that killed the
/// process, OOM, SIGKILL, power); three such starts within ten minutes raise the alert — the
/// pattern a supervisor's restart loop (systemd `Restart=on-failure`) produces.
pub mod crashes {
    use serde_json::{json, Value};

    use crate::{alerts::AlertKind, db::now, http::AppState};

    use super::node_state;

    // Per node: instances sharing one PostgreSQL database keep their own marks.
    fn running(state: &AppState) -> String {
        format!("running/{}", state.node)
    }
    fn crashes(state: &AppState) -> String {
        format!("crashes/{}", state.node)
    }
    const WINDOW_SECS: i64 = 600;
    const THRESHOLD: usize = 3;

    pub async fn on_start(state: &AppState) {
        let unclean = matches!(node_state::get(&state.db, &running(state)).await, Ok(Some(_)));
        if unclean {
            let cutoff = chrono::Utc::now() - chrono::Duration::seconds(WINDOW_SECS);
            let mut recent: Vec<String> = node_state::get(&state.db, &crashes(state))
                .await
                .ok()
                .flatten()
                .and_then(|v| serde_json::from_value(v).ok())
                .unwrap_or_default();
            recent.retain(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok_and(|t| t > cutoff));
            recent.push(now());
            let _ = node_state::put(&state.db, &crashes(state), &json!(recent)).await;
            tracing::warn!(recent = recent.len(), "the previous run did not shut down cleanly");
            if recent.len() >= THRESHOLD {
                let message = format!(
                    "Repeated crashes: {} unclean restarts of {} in the last 10 minutes",
                    recent.len(),
                    state.node
                );
                state.alerts.raise(AlertKind::RepeatedCrashes, message, Some(Value::from(recent))).await;
            }
        }
        let _ = node_state::put(&state.db, &running(state), &json!({"pid": std::process::id(), "since": now()})).await;
    }

    pub async fn on_clean_shutdown(state: &AppState) {
        let _ =
            sqlx::query("DELETE FROM node_state WHERE key = $1").bind(running(state)).execute(&state.db.pool()).await;
    }
}
