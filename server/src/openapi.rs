//! The OpenAPI document served at `/api/openapi.json`, generated from the handlers' annotations and
//! the shared model types.

use axum::{routing::get, Json, Router};
use utoipa::OpenApi;

use crate::{auth, health, http::AppState, users};

#[derive(OpenApi)]
#[openapi(
    info(title = "Mostrador API", description = "Offline-first point of sale. Errors are \
        {\"error\":{\"code\",\"message\",\"details\"}}; catalog writes are versioned."),
    paths(
        health::health, health::status,
        auth::login, auth::logout, auth::me,
        users::list_users, users::create_user, users::update_user,
        crate::audit::list,
        crate::sync::pull, crate::sync::push,
        crate::backup::routes::list, crate::backup::routes::create, crate::backup::routes::get_one,
        crate::backup::routes::delete, crate::backup::routes::download, crate::backup::routes::verify,
        crate::backup::routes::restore, crate::backup::routes::upload, crate::backup::routes::prune,
        crate::export::export,
        crate::dashboard::summary,
        crate::tls::routes::phone,
    ),
    components(schemas(
        app::model::ErrorEnvelope, app::model::ErrorBody, app::model::User, app::model::Role,
        app::model::LoginRequest, app::model::NewUser, app::model::UserChanges,
        app::model::Category, app::model::Product, app::model::Customer,
        app::model::Quote, app::model::QuoteLine, app::model::CashSession, app::model::Sale, app::model::SaleLine,
        app::model::Payment, app::model::CashMovement, app::model::Expense, app::model::InventoryMovement,
        app::model::Page<serde_json::Value>, app::model::Health, app::model::Status, app::model::StatusCounts,
        crate::audit::Entry, crate::sync::PullResponse, crate::sync::PushRequest, crate::sync::PushOp,
        crate::sync::PushResult, crate::sync::PushResponse,
        crate::backup::BackupList, crate::backup::BackupView, crate::backup::Totals, crate::backup::Metadata,
        crate::backup::meta::RemoteCopy, crate::backup::meta::LastVerification, crate::backup::Trigger,
        crate::backup::VerifyReport, crate::backup::Check, crate::backup::RestoreReport,
        app::model::Dashboard, app::model::MethodTotal, app::model::DayTotal, app::model::TopProduct,
        app::model::OpenSession, app::model::LowStockProduct, app::model::LateOperation,
        crate::tls::lan::PhoneSetup, crate::tls::lan::CaInfo,
    ))
)]
struct ApiDoc;

pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.paths.paths.extend(crate::catalog::openapi_paths().paths);
    doc
}

pub fn router() -> Router<AppState> {
    let doc = document();
    Router::new().route("/api/openapi.json", get(move || async move { Json(doc) }))
}
