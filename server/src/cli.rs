//! What each subcommand does.

use std::io::{BufRead, IsTerminal};

use app::model::Role;

use crate::{
    config::{Cli, Command, MirrorCommand, ServeConfig, UserCommand},
    db::Db,
    http::{shutdown_signal, Application},
    telemetry,
    users::{
        domain::{NewPassword, Username},
        repo,
    },
};

pub type CliResult = Result<(), Box<dyn std::error::Error>>;

pub async fn run(cli: Cli) -> CliResult {
    owner_only_files();
    match cli.command {
        None => serve(cli.serve).await,
        Some(Command::Serve(config)) => serve(config).await,
        Some(Command::Backup(command)) => crate::backup::cli::run(command).await,
        Some(Command::Reconcile { from, serve }) => reconcile(&from, serve).await,
        Some(Command::Mirror(MirrorCommand::Init { db, mirror_database_url, publisher_url })) => {
            crate::ha::mirror::init(&db, &mirror_database_url, publisher_url.as_deref()).await
        }
        Some(Command::User(UserCommand::Create { username, role, db })) => {
            let username = Username::parse(&username).map_err(|e| format!("username {e}"))?;
            let role = Role::parse(&role).ok_or("role must be admin or cashier")?;
            let password = NewPassword::parse(&read_password()?).map_err(|e| format!("password {e}"))?;
            let db = Db::connect(&db).await?;
            match repo::create(&mut *db.pool().acquire().await?, &username, password, role).await {
                Ok(user) => {
                    println!("created {} ({})", user.username, user.role.as_str());
                    Ok(())
                }
                Err(repo::CreateUserError::Duplicate) => Err(format!("user {} exists", username.as_str()).into()),
                Err(e) => Err(e.into()),
            }
        }
    }
}

/// `mostrador reconcile --from URL`: the admin button's work, from the command line. The standby's
/// writes go through this binary's own router, in-process, into the configured database (the
/// server may be running or stopped).
async fn reconcile(from: &str, config: ServeConfig) -> CliResult {
    let _log_guard = telemetry::init(None);
    crate::ha::security::check_config(&config.ha)?;
    let db = Db::connect(&config.db).await?;
    let addr = config.addr;
    let state = crate::http::state(config, db, addr).await?;
    let report = crate::ha::reconcile::from_standby(&state, from, false).await?;
    println!(
        "reconciled from {}: {} applied, {} already present, {} rejected",
        report.source,
        report.applied,
        report.already_present,
        report.rejected.len()
    );
    for r in &report.rejected {
        println!(
            "  rejected #{} {} {} by {} at {}: {} {} — {}",
            r.audit_id, r.method, r.path, r.username, r.at, r.status, r.code, r.message
        );
    }
    if let Some(why) = &report.stopped {
        return Err(format!("stopped early (run it again to resume): {why}").into());
    }
    Ok(())
}

/// Asks twice on a terminal; otherwise reads the first line of stdin (for scripts).
fn read_password() -> Result<String, Box<dyn std::error::Error>> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        let again = rpassword::prompt_password("Repeat it: ")?;
        if first != again {
            return Err("the passwords differ".into());
        }
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }
}

/// Everything this process creates — the data dir, the SQLite files, logs, backups, exports, what
/// pg_dump writes for us — is readable by the service's user only (0700 directories, 0600 files):
/// they hold password hashes, sessions and the shop's books.
fn owner_only_files() {
    #[cfg(unix)]
    {
        // SAFETY: umask only swaps the process's file-creation mask; it cannot fail.
        unsafe {
            libc::umask(0o077);
        }
    }
}

/// A data dir made before files were owner-only is closed to other users at start.
fn tighten_data_dir(dir: &std::path::Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(dir) {
            if meta.permissions().mode() & 0o077 != 0 {
                match std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)) {
                    Ok(()) => tracing::info!(dir = %dir.display(), "data directory made owner-only (0700)"),
                    Err(e) => {
                        tracing::warn!(dir = %dir.display(), error = %e, "could not make the data directory owner-only")
                    }
                }
            }
        }
    }
}

async fn serve(config: ServeConfig) -> CliResult {
    let log_dir = config.db.data_dir.join("logs");
    let _log_guard = telemetry::init((!config.no_log_file).then_some(log_dir.as_path()));
    // A weak HA secret or a plain-http peer is refused before anything starts.
    crate::ha::security::check_config(&config.ha)?;
    let db = match Db::connect(&config.db).await {
        Ok(db) => db,
        Err(e) => match crate::ha::failover::connect_after_failover(&config).await {
            Some(mirror) => {
                tracing::warn!(error = %e, "the primary database is unreachable and the mirror took over: serving from the mirror");
                mirror
            }
            None => return Err(e.into()),
        },
    };
    tracing::info!(engine = db.engine.as_str(), database = db.which().as_str(), "database ready");
    tighten_data_dir(&config.db.data_dir);
    ensure_first_admin(&db, &config).await?;
    let behind_https_proxy = config.https_public_url().is_some();
    let app = Application::build(config, db).await?;
    let addr = app.local_addr();
    tracing::info!(%addr, url = %app.url(), "listening");
    println!("Mostrador listening on {}", app.url());
    if let Some(redirect) = app.redirect_addr() {
        println!("  and on http://{redirect}, which redirects to https");
    }
    // LAN mode listens on 0.0.0.0 or an address; phones need the names its certificate carries.
    for url in app.phone_urls() {
        println!("  phones open {url} (trust the shop's certificate first: admin page \"Conectar un teléfono\")");
    }
    if !app.url().starts_with("https://") && !addr.ip().is_loopback() && !behind_https_proxy {
        println!(
            "Warning: phones on this network will open plain http://, where browsers allow no offline mode and no \
             installation. Serve https: --tls-lan (no domain needed), --acme-domain NAME, --tls-cert/--tls-key, \
             or a TLS proxy with MOSTRADOR_PUBLIC_URL=https://… (README, \"Put it in a shop\")."
        );
    }
    app.serve(shutdown_signal()).await?;
    Ok(())
}

/// With no user at all, creates `admin` from MOSTRADOR_ADMIN_PASSWORD, or says how to make one.
async fn ensure_first_admin(db: &Db, config: &ServeConfig) -> CliResult {
    if repo::count(db).await? > 0 {
        return Ok(());
    }
    match &config.admin_password {
        Some(password) => {
            let password = NewPassword::parse(password).map_err(|e| format!("MOSTRADOR_ADMIN_PASSWORD {e}"))?;
            let username = Username::parse("admin").expect("valid");
            match repo::create(&mut *db.pool().acquire().await?, &username, password, Role::Admin).await {
                // Another process started at the same moment and created it: fine.
                Ok(_) | Err(repo::CreateUserError::Duplicate) => {
                    tracing::info!("created the first user: admin");
                    Ok(())
                }
                Err(e) => Err(e.into()),
            }
        }
        None => {
            let data_dir = config.db.data_dir.display();
            println!(
                "No user exists yet. Create the first admin with:\n  \
                 mostrador user create --username admin --role admin --data-dir {data_dir}\n\
                 or start with MOSTRADOR_ADMIN_PASSWORD set."
            );
            Ok(())
        }
    }
}
