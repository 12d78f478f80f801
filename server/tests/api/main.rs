//! Black-box API tests: each one starts the real server on port 0 with a fresh database and talks
//! HTTP to it. Every test in `ENGINE_TESTS` runs twice: on SQLite and on a throwaway PostgreSQL
//! cluster that this harness starts once and stops at the end.

mod acme;
mod auth;
mod backup;
mod bounds;
mod catalog;
mod compression;
mod dashboard;
mod durability;
mod export;
mod failover;
mod ha;
mod helpers;
mod idempotency;
mod operations;
mod permissions;
mod phone;
mod postgres;
mod pwa;
mod refunds;
mod routes;
mod sales;
mod settings;
mod sync;
mod taxes;
mod tls;
mod users;

use std::{future::Future, pin::Pin};

use helpers::{spawn_app, Engine, TestApp, CLUSTER};
use libtest_mimic::{Arguments, Trial};

type TestFn = fn(TestApp) -> Pin<Box<dyn Future<Output = ()> + Send>>;
type PlainFn = fn() -> Pin<Box<dyn Future<Output = ()> + Send>>;

macro_rules! tests {
    ($($module:ident :: $name:ident),* $(,)?) => {
        vec![$((concat!(stringify!($module), "::", stringify!($name)), (|a| Box::pin($module::$name(a))) as TestFn)),*]
    };
}
macro_rules! plain_tests {
    ($($module:ident :: $name:ident),* $(,)?) => {
        vec![$((concat!(stringify!($module), "::", stringify!($name)), (|| Box::pin($module::$name())) as PlainFn)),*]
    };
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn main() {
    let args = Arguments::from_args();
    let engine_tests: Vec<(&str, TestFn)> = tests![
        operations::health_reports_connected_database,
        operations::status_counts_rows,
        operations::openapi_document_describes_the_api,
        settings::settings_start_with_the_product_name_and_an_admin_changes_them,
        settings::a_stale_settings_edit_is_a_conflict_with_the_current_values,
        settings::bad_settings_are_refused_field_by_field_and_change_nothing,
        settings::the_currency_sets_the_minor_unit_until_amounts_exist,
        settings::the_shops_days_follow_its_time_zone,
        settings::a_logo_is_checked_by_its_bytes_and_travels_with_the_settings,
        taxes::tax_is_per_line_half_up_in_both_modes,
        taxes::discounts_are_exact_and_a_cashier_has_a_limit,
        taxes::tax_settings_and_rates_are_an_admins_and_reach_devices,
        refunds::a_refund_takes_back_units_at_the_figures_they_were_sold_at,
        refunds::two_devices_refunding_the_same_lines_at_once_one_gets_409,
        refunds::a_void_undoes_a_sale_only_while_its_till_is_open,
        refunds::the_till_report_adds_up_what_happened_in_it,
        refunds::receipt_numbers_from_two_registers_never_collide,
        operations::handler_panic_is_json_500_and_server_keeps_serving,
        operations::oversized_body_is_413,
        operations::malformed_json_is_400,
        operations::unknown_api_path_is_json_404,
        routes::a_new_shop_route_gets_every_layer,
        operations::pages_render_with_hydration_scripts,
        auth::requests_without_session_are_401,
        auth::login_me_logout,
        auth::wrong_password_is_401_and_does_not_say_which_part,
        auth::repeated_bad_logins_are_429_with_retry_after,
        auth::cashier_is_403_on_admin_routes,
        auth::cross_site_writes_are_refused,
        auth::session_cookie_is_http_only_and_strict,
        users::admin_creates_and_lists_users,
        users::duplicate_username_is_409,
        users::weak_password_and_bad_username_are_422,
        users::deactivated_user_is_signed_out,
        users::password_change_works,
        users::last_admin_cannot_be_removed,
        users::admins_demoting_each_other_leave_an_admin,
        auth::rebinding_host_origin_is_refused,
        backup::offsite_key_comes_from_our_naming,
        catalog::product_crud,
        catalog::client_chosen_id_and_duplicate_id,
        catalog::stale_patch_is_409_with_current_row,
        catalog::if_match_precondition,
        catalog::patch_without_version_is_428,
        catalog::duplicate_sku_is_409,
        catalog::validation_errors_are_422_per_field,
        catalog::stock_is_read_only,
        catalog::unknown_category_is_422,
        catalog::search_and_pagination,
        catalog::deleted_sku_can_be_reused,
        catalog::categories_and_customers_crud,
        catalog::concurrent_patches_one_wins,
        idempotency::repeat_replays_stored_response,
        idempotency::reordered_json_is_the_same_request,
        idempotency::same_key_other_request_is_422,
        idempotency::keys_are_scoped_to_the_user,
        idempotency::retried_patch_replays_200_not_409,
        idempotency::business_rejection_is_stored_and_replayed,
        idempotency::server_errors_and_refusals_are_not_stored,
        idempotency::malformed_key_is_400,
        idempotency::fifty_concurrent_duplicates_make_one_row,
        idempotency::audit_log_records_writes,
        sync::push_answers_each_operation_like_its_single_call,
        sync::push_needs_a_session_and_limits_batches,
        sync::push_skips_operations_whose_dependency_failed,
        sync::push_refuses_operations_recorded_by_another_user,
        sync::pull_returns_changes_and_tombstones,
        sync::pull_under_concurrent_writers_misses_nothing,
        sales::cash_session_lifecycle,
        sales::sale_takes_stock_and_gives_change,
        sales::sale_rules_are_422_and_change_nothing,
        sales::insufficient_stock_is_409_naming_the_product,
        sales::two_sales_race_for_the_last_unit,
        sales::concurrent_keyed_sale_applies_once,
        sales::sale_is_idempotent_by_its_id,
        sales::pull_carries_stock_and_cash_sessions,
        sales::quote_is_edited_then_converted_once,
        backup::cashier_is_403_on_every_backup_route,
        backup::create_list_get_and_download_match_the_checksum,
        backup::bad_ids_are_400_and_unknown_ids_404,
        backup::repeated_create_with_the_same_key_replays,
        backup::restore_round_trip_gives_identical_rows,
        backup::backup_during_concurrent_writes_restores_consistent,
        backup::devices_pull_the_restored_rows_and_later_changes,
        backup::flipped_byte_fails_verification_and_restore,
        backup::backup_with_a_newer_schema_is_refused,
        backup::retention_never_prunes_the_newest_verified_backup,
        backup::upload_checks_the_file_and_restores_elsewhere,
        backup::offsite_copy_and_fetch_back,
        backup::offsite_copy_is_encrypted_with_age,
        backup::schedule_takes_verifies_and_prunes,
        backup::edited_metadata_fails_the_row_count_check,
        backup::upload_over_the_limit_is_413,
        backup::requests_during_a_restore_succeed_or_get_503_restoring,
        backup::zstd_bomb_upload_is_refused,
        backup::hostile_backups_are_refused_and_nothing_runs,
        backup::stalled_upload_blocks_no_backup_and_is_cut_off,
        backup::forged_shipments_are_refused_by_the_standby,
        export::expenses_csv_has_the_rows_of_the_local_days_asked_for,
        export::sales_and_lines_export_in_csv_and_xlsx,
        export::bad_export_requests_are_clear_errors,
        export::export_days_follow_the_shop_time_zone,
        ha::audit_log_never_holds_passwords,
        ha::health_livez_metrics_and_guards,
        dashboard::summary_matches_the_sales_made,
        dashboard::late_offline_operations_are_listed_once,
        dashboard::dashboard_is_for_admins,
        bounds::oversized_cash_cannot_break_any_read,
        bounds::out_of_range_values_are_422_per_field_and_change_nothing,
        bounds::database_refuses_out_of_range_rows,
        permissions::cashier_does_counter_work_and_nothing_that_needs_an_admin,
    ];
    let plain: Vec<(&str, PlainFn)> = plain_tests![
        operations::health_is_503_when_postgres_stops,
        operations::slow_request_times_out,
        idempotency::expired_keys_run_again_and_are_reaped,
        durability::sigkill_mid_load_then_retry_applies_each_once_sqlite,
        auth::behind_tls_the_cookie_is_secure,
        operations::binary_creates_first_admin_and_stops_on_sigterm,
        users::cli_creates_a_user_from_stdin,
        pwa::service_worker_has_version_precache_list_and_headers,
        pwa::service_worker_version_follows_every_shell_file,
        pwa::without_a_usable_sw_js_there_is_no_worker,
        pwa::manifest_is_served_as_manifest_json,
        backup::sigkill_during_backups_leaves_nothing_half_made_sqlite,
        backup::sigkill_during_restore_leaves_old_or_new_sqlite,
        backup::cli_creates_lists_verifies_restores_and_prunes,
        ha::standby_emergency_valve_reconcile_and_ship,
        ha::reconcile_from_the_command_line,
        ha::repeated_crashes_raise_an_alert,
        tls::https_with_redirect_hsts_and_secure_cookie,
        tls::replaced_certificate_is_served_without_restart,
        tls::bad_certificate_or_key_stops_the_start,
        tls::lan_mode_makes_its_own_ca_and_keeps_it,
        phone::lan_certificate_carries_the_names_given,
        phone::secure_address_and_start_warnings_without_tls,
        compression::static_files_are_served_precompressed,
        compression::json_answers_are_compressed_above_a_small_size,
        acme::certificate_is_issued_served_and_renewed,
        acme::unreachable_acme_directory_stops_the_start,
        auth::public_url_name_is_accepted,
        auth::forwarded_for_counts_only_from_trusted_proxies,
        auth::login_limiter_memory_is_capped,
        auth::huge_usernames_leave_memory_flat,
        auth::failed_login_log_line_is_escaped,
        operations::metrics_stay_bounded_under_junk_requests,
        operations::metrics_token_is_required_when_set,
        operations::shutdown_has_a_deadline,
        operations::data_dir_is_owner_only,
        ha::forged_standby_operations_are_refused,
        ha::weak_secret_and_plain_http_peers_are_refused,
        ha::failed_peer_authentications_are_rate_limited_and_alerted,
        ha::the_link_runs_over_https_with_a_pinned_certificate,
    ];

    let mut trials = Vec::new();
    for (name, test) in engine_tests {
        for engine in [Engine::Sqlite, Engine::Postgres] {
            let label = format!("{name}::{}", if engine == Engine::Sqlite { "sqlite" } else { "postgres" });
            trials.push(Trial::test(label, move || {
                runtime().block_on(async move { test(spawn_app(engine).await).await });
                Ok(())
            }));
        }
    }
    // Plain tests that need the shared PostgreSQL cluster end in ::postgres, like the engine tests.
    trials.push(Trial::test("durability::sigkill_mid_load_then_retry_applies_each_once::postgres", || {
        runtime().block_on(durability::sigkill_mid_load_then_retry_applies_each_once_postgres());
        Ok(())
    }));
    trials.push(Trial::test("idempotency::two_instances_share_one_database::postgres", || {
        runtime().block_on(idempotency::two_instances_share_one_database());
        Ok(())
    }));
    trials.push(Trial::test("backup::sigkill_during_backups_leaves_nothing_half_made::postgres", || {
        runtime().block_on(backup::sigkill_during_backups_leaves_nothing_half_made_postgres());
        Ok(())
    }));
    trials.push(Trial::test("backup::sigkill_during_restore_leaves_old_or_new::postgres", || {
        runtime().block_on(backup::sigkill_during_restore_leaves_old_or_new_postgres());
        Ok(())
    }));
    trials.push(Trial::test("backup::missing_or_old_pg_dump_is_a_clear_error::postgres", || {
        runtime().block_on(backup::missing_or_old_pg_dump_is_a_clear_error());
        Ok(())
    }));
    for engine in [Engine::Sqlite, Engine::Postgres] {
        let label = if engine == Engine::Sqlite { "sqlite" } else { "postgres" };
        trials.push(Trial::test(
            format!("bounds::old_out_of_range_rows_are_clamped_by_the_migration::{label}"),
            move || {
                runtime().block_on(bounds::old_out_of_range_rows_are_clamped_by_the_migration(engine));
                Ok(())
            },
        ));
    }
    trials.push(Trial::test("failover::failover_to_the_mirror_and_failback_by_replay::postgres", || {
        runtime().block_on(failover::failover_to_the_mirror_and_failback_by_replay());
        Ok(())
    }));
    trials.push(Trial::test("failover::connections_to_a_read_only_database_are_refused::postgres", || {
        runtime().block_on(failover::connections_to_a_read_only_database_are_refused());
        Ok(())
    }));
    trials.push(Trial::test("failover::a_mirror_that_stopped_following_is_refused::postgres", || {
        runtime().block_on(failover::a_mirror_that_stopped_following_is_refused());
        Ok(())
    }));
    for (name, test) in plain {
        trials.push(Trial::test(name, move || {
            runtime().block_on(test());
            Ok(())
        }));
    }
    // The shared cluster starts only when a PostgreSQL test will run.
    let wants_pg =
        !args.list && trials.iter().any(|t| t.name().ends_with("::postgres") && !is_filtered(&args, t.name()));
    if wants_pg {
        CLUSTER.set(postgres::PgCluster::start()).ok().expect("one cluster");
    }
    let conclusion = libtest_mimic::run(&args, trials);
    // Statics are not dropped at exit: stop the cluster by hand.
    if let Some(cluster) = CLUSTER.get() {
        cluster.cleanup();
    }
    conclusion.exit();
}

fn is_filtered(args: &Arguments, name: &str) -> bool {
    match &args.filter {
        Some(f) if args.exact => name != f,
        Some(f) => !name.contains(f.as_str()),
        None => false,
    }
}
