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
        crate::settings::get_settings, crate::settings::put_settings, crate::settings::put_logo, crate::settings::put_taxes,
        crate::cash::sessions::open, crate::cash::sessions::close, crate::cash::sessions::get_one, crate::cash::sessions::list,
        crate::cash::movements::create, crate::cash::movements::list,
        crate::cash::expenses::create, crate::cash::expenses::list,
        crate::inventory::create, crate::inventory::list,
        crate::sales::create, crate::sales::get_one, crate::sales::list, crate::sales::convert::convert,
        crate::refunds::create, crate::refunds::get_one, crate::refunds::list, crate::refunds::void::void, crate::cash::report::get_report,
        crate::registers::create, crate::registers::list,
        crate::ha::routes::status, crate::ha::routes::set_emergency, crate::ha::routes::ship, crate::ha::routes::reconcile,
        crate::ha::peer::valve, crate::ha::peer::receive_shipment, crate::ha::peer::emergency_ops, crate::ha::peer::mark_reconciled,
        crate::alerts::list, health::livez, crate::metrics::scrape,
        crate::tls::routes::phone, crate::tls::routes::address,
    ),
    components(schemas(
        app::model::ErrorEnvelope, app::model::ErrorBody, app::model::User, app::model::Role,
        app::model::LoginRequest, app::model::NewUser, app::model::UserChanges,
        app::model::Category, app::model::Product, app::model::Customer,
        app::model::Quote, app::model::QuoteLine, app::model::CashSession, app::model::Sale, app::model::SaleLine,
        app::model::Payment, app::model::CashMovement, app::model::Expense, app::model::InventoryMovement,
        app::model::Page<serde_json::Value>, app::model::Health, app::model::Status, app::model::StatusCounts,
        crate::audit::Entry, app::wire::PullResponse, app::wire::PushRequest, app::wire::PushOp,
        app::wire::PushResult, app::wire::PushResponse,
        app::wire::NewSale, app::wire::NewLine, app::wire::PaymentMethod, app::wire::OpenTill, app::wire::CloseTill,
        app::wire::NewCashMovement, app::wire::CashMovementKind, app::wire::NewExpense,
        app::wire::NewStockMovement, app::wire::StockReason,
        app::model::ShopSettings, app::wire::SettingsUpdate, app::wire::LogoUpdate, app::wire::TaxSettingsUpdate,
        app::model::TaxRate, app::model::TaxAmount, app::wire::Discount,
        app::model::Refund, app::model::RefundLine, app::model::TillReport, app::model::Register, app::wire::NewRegister, app::wire::NewRefund, app::wire::NewRefundLine, app::wire::VoidSale,
        crate::backup::BackupList, crate::backup::BackupView, crate::backup::Totals, crate::backup::Metadata,
        crate::backup::meta::RemoteCopy, crate::backup::meta::LastVerification, crate::backup::Trigger,
        crate::backup::VerifyReport, crate::backup::Check, crate::backup::RestoreReport,
        app::model::Dashboard, app::model::MethodTotal, app::model::DayTotal, app::model::TopProduct,
        app::model::OpenSession, app::model::LowStockProduct, app::model::LateOperation,
        app::model::PhoneSetup, app::model::CaInfo, app::model::SecureAddress,
    ))
)]
struct ApiDoc;

pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.paths.paths.extend(crate::catalog::openapi_paths().paths);
    add_common_errors(&mut doc);
    doc
}

/// The errors the layers in front of every handler can answer (session, origin check, idempotency,
/// body limit, time limit, restore gate, standby guard), each with the JSON envelope. Written once
/// here rather than on every handler; a handler's own, more specific description wins.
fn add_common_errors(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{path::HttpMethod, ContentBuilder, Ref, ResponseBuilder};
    let envelope = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorEnvelope"))).build(),
            )
            .build()
    };
    let any: &[(&str, &str)] = &[
        ("400", "bad_request / malformed_json / invalid_idempotency_key: a parameter or body that cannot be read"),
        ("401", "unauthenticated: no valid session"),
        ("403", "forbidden (role) / cross_origin_request"),
        ("404", "not_found"),
        ("429", "too_many_attempts, with Retry-After"),
        ("503", "timeout / busy / restoring / standby_read_only / database_unavailable, with Retry-After"),
    ];
    let writes: &[(&str, &str)] = &[
        ("409", "a conflict with a stable code, or idempotency_key_in_progress"),
        ("413", "payload_too_large"),
        ("422", "validation_failed (details.fields) or idempotency_key_reused"),
    ];
    let reads: &[(&str, &str)] = &[("422", "validation_failed: a query parameter out of range")];
    for (path, item) in doc.paths.paths.iter_mut() {
        if !path.starts_with("/api/") {
            continue;
        }
        for (method, op) in [
            (HttpMethod::Get, &mut item.get),
            (HttpMethod::Post, &mut item.post),
            (HttpMethod::Put, &mut item.put),
            (HttpMethod::Patch, &mut item.patch),
            (HttpMethod::Delete, &mut item.delete),
        ] {
            let Some(op) = op else { continue };
            let extra = if method == HttpMethod::Get { reads } else { writes };
            for (status, description) in any.iter().chain(extra) {
                op.responses.responses.entry((*status).to_owned()).or_insert_with(|| envelope(description).into());
            }
        }
    }
}

pub fn router() -> Router<AppState> {
    let doc = document();
    Router::new().route("/api/openapi.json", get(move || async move { Json(doc) }))
}
