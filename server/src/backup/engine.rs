//! What differs between the engines: taking a consistent copy of the live database, restoring a copy
//! into a scratch database, checking it, and copying a checked scratch database into the live one.
//!
//! Restore is done *in place*: the scratch database's rows replace the live database's rows in ONE
//! transaction of the live database (SQLite: ATTACH + DELETE/INSERT under BEGIN IMMEDIATE with
//! deferred foreign keys; PostgreSQL: TRUNCATE + binary COPY from the scratch database). The
//! database's own atomicity then gives the guarantee: a crash (even SIGKILL) at any point leaves
//! either the old rows or the new ones, never a mix, and no file swap, no stale -wal/-shm, no
//! renamed database to put back. Every pool (this server's, another instance's, the CLI's) keeps
//! working and sees the restored data as soon as the transaction commits.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    process::Stdio,
    str::FromStr,
    time::Duration,
};

use futures::StreamExt;
use sqlx::{
    postgres::{PgConnectOptions, PgConnection},
    sqlite::{SqliteConnectOptions, SqliteConnection},
    ConnectOptions, Connection, Row,
};

use super::schema::{self, ident};
use crate::{
    db::{self, Db, Engine},
    http::error::ApiError,
};

/// Tables that a restore leaves as they are: who is signed in is not part of the shop's books
/// (restoring them would sign everyone out, or back in as of the backup). The migrations table is
/// the same on both sides once the scratch copy is migrated. node_state and alerts describe this node
/// (emergency toggle, shipments, alert history), not the shop.
pub const NOT_RESTORED: &[&str] = &["sessions", "_sqlx_migrations", "node_state", "alerts"];

pub type Counts = BTreeMap<String, i64>;

fn failed(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::OperationFailed { code, message: message.into() }
}

fn sqlx_failed(what: &str) -> impl Fn(sqlx::Error) -> ApiError + '_ {
    move |e| failed("backup_failed", format!("{what}: {e}"))
}

/// What a copy holds, read from the copy itself.
pub struct Snapshot {
    pub schema_version: i64,
    pub row_counts: Counts,
}

/// Where the live database is and how the PostgreSQL tools are found.
#[derive(Clone)]
pub struct Target {
    pub engine: Engine,
    /// SQLite: the live file.
    pub sqlite_file: PathBuf,
    /// PostgreSQL: the live database's URL.
    pub database_url: Option<String>,
    pub pg_bin_dir: Option<PathBuf>,
}

impl Target {
    fn url(&self) -> Result<&str, ApiError> {
        self.database_url.as_deref().ok_or_else(|| failed("backup_failed", "no DATABASE_URL"))
    }

    fn pg_options(&self) -> Result<PgConnectOptions, ApiError> {
        PgConnectOptions::from_str(self.url()?).map_err(sqlx_failed("DATABASE_URL"))
    }

    fn tool(&self, name: &str) -> PathBuf {
        if let Some(dir) = &self.pg_bin_dir {
            return dir.join(name);
        }
        // Debian keeps each major version's tools in /usr/lib/postgresql/N/bin; take the newest.
        let mut best: Option<(u32, PathBuf)> = None;
        if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
            for e in entries.flatten() {
                if let Ok(v) = e.file_name().to_string_lossy().parse::<u32>() {
                    let p = e.path().join("bin").join(name);
                    if p.exists() && best.as_ref().is_none_or(|(b, _)| v > *b) {
                        best = Some((v, p));
                    }
                }
            }
        }
        best.map(|(_, p)| p).unwrap_or_else(|| PathBuf::from(name))
    }

    /// A PostgreSQL tool with the connection in its arguments and the password in its environment
    /// (never on the command line, where `ps` would show it).
    fn pg_tool(&self, name: &str, database: Option<&str>) -> Result<tokio::process::Command, ApiError> {
        let mut url =
            url::Url::parse(self.url()?).map_err(|e| failed("backup_failed", format!("DATABASE_URL: {e}")))?;
        let password = url.password().map(str::to_owned);
        let _ = url.set_password(None);
        if let Some(db) = database {
            url.set_path(&format!("/{db}"));
        }
        let mut cmd = tokio::process::Command::new(self.tool(name));
        cmd.arg(format!("--dbname={url}")).stdin(Stdio::null()).kill_on_drop(true);
        if let Some(p) = password {
            cmd.env("PGPASSWORD", percent_decode(&p));
        }
        Ok(cmd)
    }
}

impl Target {
    /// A PostgreSQL tool that reads a file and connects to nothing (no URL, no password given to
    /// it); killed if the operation is dropped (a time limit).
    fn pg_tool_offline(&self, name: &str) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(self.tool(name));
        cmd.stdin(Stdio::null()).kill_on_drop(true);
        for var in ["PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD", "PGSERVICE"] {
            cmd.env_remove(var);
        }
        cmd
    }
}

fn tool_missing(e: std::io::Error, what: &str) -> ApiError {
    if e.kind() == std::io::ErrorKind::NotFound {
        failed(
            "pg_dump_missing",
            format!("{what} is not installed (install the PostgreSQL client tools, or set MOSTRADOR_PG_BIN_DIR)"),
        )
    } else {
        failed("backup_failed", format!("cannot run {what}: {e}"))
    }
}

/// A tool's standard output; its failure means the file it read is not usable.
async fn tool_output(mut cmd: tokio::process::Command, what: &str) -> Result<String, ApiError> {
    let out = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).output().await.map_err(|e| tool_missing(e, what))?;
    if !out.status.success() {
        return Err(corrupt(format!(
            "{what} cannot read the archive: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn run_tool(mut cmd: tokio::process::Command, what: &str) -> Result<(), ApiError> {
    let out = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).output().await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            failed(
                "pg_dump_missing",
                format!("{what} is not installed (install the PostgreSQL client tools, or set MOSTRADOR_PG_BIN_DIR)"),
            )
        } else {
            failed("backup_failed", format!("cannot run {what}: {e}"))
        }
    })?;
    if !out.status.success() {
        return Err(failed("backup_failed", format!("{what} failed: {}", String::from_utf8_lossy(&out.stderr).trim())));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Taking a copy

/// Writes a consistent, uncompressed copy of the live database to `raw` while writes go on.
pub async fn dump(db: &Db, target: &Target, raw: &Path) -> Result<Snapshot, ApiError> {
    match target.engine {
        Engine::Sqlite => {
            // VACUUM INTO reads one snapshot (a read transaction; WAL lets writers go on) and writes
            // a compact, complete database file. It needs a connection outside any transaction.
            let path = raw.to_str().ok_or_else(|| failed("backup_failed", "backup path is not UTF-8"))?;
            sqlx::query("VACUUM INTO $1").bind(path).execute(&db.pool()).await.map_err(sqlx_failed("VACUUM INTO"))?;
            let mut conn = open_sqlite(raw, true).await?;
            let tables = sqlite_tables(&mut conn, "main").await?;
            let snapshot = Snapshot {
                schema_version: sqlite_schema_version(&mut conn).await?,
                row_counts: sqlite_counts(&mut conn, "main", &tables).await?,
            };
            conn.close().await.map_err(sqlx_failed("close"))?;
            Ok(snapshot)
        }
        Engine::Postgres => {
            check_pg_dump_version(db, target).await?;
            // The counts and the dump read the same snapshot: exported from a repeatable-read
            // transaction that stays open until pg_dump is done.
            let mut conn = PgConnection::connect_with(&target.pg_options()?).await.map_err(sqlx_failed("connect"))?;
            sqlx::query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .execute(&mut conn)
                .await
                .map_err(sqlx_failed("begin"))?;
            let snap: String = sqlx::query_scalar("SELECT pg_export_snapshot()")
                .fetch_one(&mut conn)
                .await
                .map_err(sqlx_failed("snapshot"))?;
            let snapshot = Snapshot {
                schema_version: pg_schema_version(&mut conn).await?,
                row_counts: pg_counts(&mut conn).await?,
            };
            let mut cmd = target.pg_tool("pg_dump", None)?;
            cmd.args(["--format=custom", "--compress=0", "--no-owner", "--no-acl"])
                .arg(format!("--snapshot={snap}"))
                .arg("--file")
                .arg(raw);
            run_tool(cmd, "pg_dump").await?;
            let _ = sqlx::query("COMMIT").execute(&mut conn).await;
            let _ = conn.close().await;
            Ok(snapshot)
        }
    }
}

fn major_of(version_line: &str) -> Option<u32> {
    // "pg_dump (PostgreSQL) 15.10 (Debian 15.10-0+deb12u1)"
    version_line.split_whitespace().find_map(|w| w.split('.').next()?.parse::<u32>().ok().filter(|v| *v >= 9))
}

/// pg_dump refuses a server newer than itself; say so plainly before trying.
async fn check_pg_dump_version(db: &Db, target: &Target) -> Result<(), ApiError> {
    let tool = target.tool("pg_dump");
    let out = tokio::process::Command::new(&tool).arg("--version").output().await.map_err(|e| {
        failed(
            "pg_dump_missing",
            format!(
                "pg_dump ({}) cannot be run: {e}; install the PostgreSQL client tools or set MOSTRADOR_PG_BIN_DIR",
                tool.display()
            ),
        )
    })?;
    let line = String::from_utf8_lossy(&out.stdout).into_owned();
    let tool_major =
        major_of(&line).ok_or_else(|| failed("pg_dump_missing", format!("unexpected pg_dump --version: {line}")))?;
    let server: String = sqlx::query_scalar("SELECT current_setting('server_version_num')")
        .fetch_one(&db.pool())
        .await
        .map_err(sqlx_failed("server version"))?;
    let server_major = server.trim().parse::<u32>().unwrap_or(0) / 10000;
    if tool_major < server_major {
        return Err(failed(
            "pg_dump_too_old",
            format!("pg_dump {tool_major} cannot dump a PostgreSQL {server_major} server; install pg_dump {server_major} or newer (MOSTRADOR_PG_BIN_DIR)"),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Scratch databases

/// A restored copy, not yet live: checked, migrated, then copied into the live database. `tables`
/// is the server's own list (from the migrations), never names read from the backup.
pub enum Scratch {
    Sqlite { path: PathBuf, conn: Option<SqliteConnection>, tables: Vec<String> },
    Postgres { name: String, conn: Option<PgConnection>, target: Target, tables: Vec<String> },
}

/// Restores the uncompressed copy `raw` into a scratch database, each step within `limit`.
/// SQLite: `raw` itself becomes the scratch database (the caller owns it as a temp file), once its
/// schema proved to be exactly ours. PostgreSQL: a new database `<live>_scr_<random>` made by our
/// migrations, into which only our tables' rows are copied from the archive.
pub async fn scratch_restore(target: &Target, raw: &Path, limit: Duration) -> Result<Scratch, ApiError> {
    match target.engine {
        Engine::Sqlite => {
            let (_, tables) = within(limit, "schema check", schema::inspect_sqlite(raw, limit)).await?;
            let mut conn =
                open_sqlite(raw, false).await.map_err(|e| corrupt(format!("not a readable SQLite database: {e}")))?;
            schema::sqlite_deadline(&mut conn, limit).await.map_err(sqlx_failed("progress handler"))?;
            Ok(Scratch::Sqlite { path: raw.to_owned(), conn: Some(conn), tables })
        }
        Engine::Postgres => {
            let options = target.pg_options()?;
            let live = options.get_database().unwrap_or("postgres").to_owned();
            let mut name: String = format!("{live}_scr_{:08x}", rand::random::<u32>());
            if name.len() > 63 {
                name = format!("mostrador_scr_{:08x}", rand::random::<u32>());
            }
            let mut scratch =
                Scratch::Postgres { name: name.clone(), conn: None, target: target.clone(), tables: Vec::new() };
            let loaded =
                within(limit, "restore into a scratch database", pg_scratch(target, raw, &name, limit, &mut scratch))
                    .await;
            match loaded {
                Ok(()) => Ok(scratch),
                Err(e) => {
                    scratch.drop_scratch().await;
                    Err(e)
                }
            }
        }
    }
}

/// `fut`, or 422 `backup_check_timeout` once `limit` has passed (the tools it runs are killed).
pub async fn within<T>(
    limit: Duration,
    what: &str,
    fut: impl std::future::Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    match tokio::time::timeout(limit, fut).await {
        Ok(r) => r,
        Err(_) => Err(ApiError::Unprocessable {
            code: "backup_check_timeout",
            message: format!(
                "{what} took longer than {} s (MOSTRADOR_BACKUP_CHECK_TIMEOUT); the backup was not used",
                limit.as_secs()
            ),
            details: None,
        }),
    }
}

/// PostgreSQL: check the archive's table of contents, read its migrations, make the scratch
/// database with our migrations up to that version, and stream each of our tables' rows into it.
/// `pg_restore` only reads the archive and prints; none of the archive's SQL reaches a database.
async fn pg_scratch(
    target: &Target,
    raw: &Path,
    name: &str,
    limit: Duration,
    scratch: &mut Scratch,
) -> Result<(), ApiError> {
    let mut list = target.pg_tool_offline("pg_restore");
    list.arg("--list").arg(raw);
    let toc = schema::parse_toc(&tool_output(list, "pg_restore --list").await?);
    let (columns, rows) = pg_archive_rows(target, raw, "_sqlx_migrations").await?;
    let version = schema::applied_version(Engine::Postgres, &schema::parse_applied(&columns, &rows)?)?;

    let options = target.pg_options()?;
    let mut admin = PgConnection::connect_with(&options).await.map_err(sqlx_failed("connect"))?;
    sqlx::query(&format!("CREATE DATABASE {}", ident(name))).execute(&mut admin).await.map_err(|e| {
        failed("backup_failed", format!("cannot create a scratch database (the database user needs CREATEDB): {e}"))
    })?;
    let _ = admin.close().await;
    let mut conn =
        PgConnection::connect_with(&options.clone().database(name)).await.map_err(sqlx_failed("connect to scratch"))?;
    sqlx::query(&format!("SET statement_timeout = {}", limit.as_millis()))
        .execute(&mut conn)
        .await
        .map_err(sqlx_failed("statement timeout"))?;
    schema::migrator_upto(Engine::Postgres, version)
        .run_direct(&mut conn)
        .await
        .map_err(|e| failed("backup_failed", format!("cannot make the scratch schema: {e}")))?;
    let tables = pg_tables(&mut conn).await.map_err(sqlx_failed("tables"))?;
    let with_data = schema::check_toc(&toc, &tables)?;
    let ours: Vec<String> = tables.iter().filter(|t| *t != "_sqlx_migrations").cloned().collect();
    let missing: Vec<String> =
        ours.iter().filter(|t| !with_data.contains(*t)).map(|t| format!("no data for table {t:?}")).collect();
    if !missing.is_empty() {
        return Err(schema::unexpected(missing));
    }
    // Rows the migrations seed (sync_state …) give way to the archive's.
    let list = ours.iter().map(|t| ident(t)).collect::<Vec<_>>().join(", ");
    sqlx::query(&format!("TRUNCATE {list}")).execute(&mut conn).await.map_err(sqlx_failed("truncate"))?;
    for t in fk_order(&mut conn, &ours).await? {
        pg_load_table(target, raw, &mut conn, &t).await?;
    }
    // Owned sequences (audit_log ids) continue after the restored rows.
    for (seq, table, column) in pg_owned_sequences(&mut conn).await? {
        sqlx::query(&format!(
            "SELECT setval($1::regclass, COALESCE(MAX({}), 0) + 1, false) FROM {}",
            ident(&column),
            ident(&table)
        ))
        .bind(ident(&seq))
        .execute(&mut conn)
        .await
        .map_err(sqlx_failed("setval"))?;
    }
    if let Scratch::Postgres { conn: c, tables: t, .. } = scratch {
        *c = Some(conn);
        *t = tables;
    }
    Ok(())
}

/// Longest line pg_restore may print for one row (a row of ours is far smaller).
const MAX_LINE: u64 = 256 * 1024 * 1024;

/// One table's COPY block of an archive, as `pg_restore --data-only --table=<t> --file=-` prints it
/// (the archive is only read; pg_restore connects to nothing). The SET statements and comments
/// before the block are skipped, never run.
struct ArchiveCopy {
    child: tokio::process::Child,
    out: tokio::io::BufReader<tokio::process::ChildStdout>,
    errors: tokio::task::JoinHandle<String>,
    line: Vec<u8>,
}

impl ArchiveCopy {
    /// Starts pg_restore and reads up to the block's COPY line; returns the columns it names.
    async fn open(target: &Target, raw: &Path, table: &str) -> Result<(ArchiveCopy, Vec<String>), ApiError> {
        use tokio::io::AsyncReadExt;
        let mut cmd = target.pg_tool_offline("pg_restore");
        cmd.args(["--data-only", "--no-owner", "--no-privileges"])
            .arg(format!("--table={table}"))
            .args(["--file", "-"])
            .arg(raw);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| tool_missing(e, "pg_restore"))?;
        let mut stderr = child.stderr.take().expect("piped");
        let errors = tokio::spawn(async move {
            let mut buf = Vec::new();
            let _ = (&mut stderr).take(4096).read_to_end(&mut buf).await;
            let _ = tokio::io::copy(&mut stderr, &mut tokio::io::sink()).await;
            String::from_utf8_lossy(&buf).into_owned()
        });
        let out = tokio::io::BufReader::with_capacity(256 * 1024, child.stdout.take().expect("piped"));
        let mut copy = ArchiveCopy { child, out, errors, line: Vec::new() };
        loop {
            if !copy.read_line(table).await? {
                copy.finish().await?;
                return Err(schema::unexpected(vec![format!("no data for table {table:?}")]));
            }
            if copy.line.starts_with(b"COPY ") {
                let text = String::from_utf8_lossy(&copy.line[..copy.line.len() - 1]).into_owned();
                let columns = schema::copy_columns(&text)
                    .ok_or_else(|| schema::unexpected(vec![format!("a data block for {table:?} of another form")]))?;
                return Ok((copy, columns));
            }
        }
    }

    /// The next line into `self.line`; false at the end of the output.
    async fn read_line(&mut self, table: &str) -> Result<bool, ApiError> {
        use tokio::io::{AsyncBufReadExt, AsyncReadExt};
        self.line.clear();
        let n = (&mut self.out)
            .take(MAX_LINE)
            .read_until(b'\n', &mut self.line)
            .await
            .map_err(|e| failed("backup_failed", format!("pg_restore: {e}")))?;
        if n > 0 && !self.line.ends_with(b"\n") {
            return Err(schema::unexpected(vec![format!("a line of table {table:?} longer than {MAX_LINE} bytes")]));
        }
        Ok(n > 0)
    }

    /// The next row (a text-format COPY line, newline included); None at the block's end.
    async fn next_row(&mut self, table: &str) -> Result<Option<&[u8]>, ApiError> {
        if !self.read_line(table).await? {
            return Err(corrupt(format!("the data of table {table:?} ends early")));
        }
        if self.line == b"\\.\n" {
            return Ok(None);
        }
        Ok(Some(&self.line))
    }

    /// Reads what is left (not used) and waits for pg_restore: its failure is the archive's.
    async fn finish(mut self) -> Result<(), ApiError> {
        let _ = tokio::io::copy(&mut self.out, &mut tokio::io::sink()).await;
        let status = self.child.wait().await.map_err(|e| failed("backup_failed", format!("pg_restore: {e}")))?;
        let stderr = self.errors.await.unwrap_or_default();
        if !status.success() {
            return Err(corrupt(format!("pg_restore cannot read the archive: {}", stderr.trim())));
        }
        Ok(())
    }
}

/// The migrations table's rows (small), in memory.
async fn pg_archive_rows(target: &Target, raw: &Path, table: &str) -> Result<(Vec<String>, Vec<Vec<u8>>), ApiError> {
    let (mut copy, columns) = ArchiveCopy::open(target, raw, table).await.map_err(|e| match e {
        ApiError::Unprocessable { code: "backup_unexpected_objects", message, .. }
            if message.contains("no data for table") =>
        {
            corrupt("not a Mostrador database (no migrations table)")
        }
        other => other,
    })?;
    let mut rows = Vec::new();
    while let Some(row) = copy.next_row(table).await? {
        if rows.len() >= 100_000 {
            return Err(corrupt("the archive's migrations table is far too long"));
        }
        rows.push(row.to_vec());
    }
    copy.finish().await?;
    Ok((columns, rows))
}

/// Streams one of our tables' rows from the archive into the scratch database with a COPY we
/// write: our table name, and the archive's column order once it proved to be our columns.
async fn pg_load_table(target: &Target, raw: &Path, conn: &mut PgConnection, table: &str) -> Result<(), ApiError> {
    let ours: Vec<String> = sqlx::query_scalar(
        "SELECT column_name::text FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1",
    )
    .bind(table)
    .fetch_all(&mut *conn)
    .await
    .map_err(sqlx_failed("columns"))?;
    let (mut rows, columns) = ArchiveCopy::open(target, raw, table).await?;
    let (a, b): (BTreeSet<&String>, BTreeSet<&String>) = (columns.iter().collect(), ours.iter().collect());
    if a != b || columns.len() != ours.len() {
        return Err(schema::unexpected(vec![format!("table {table:?} with other columns ({})", columns.join(", "))]));
    }
    let list = columns.iter().map(|c| ident(c)).collect::<Vec<_>>().join(", ");
    let mut copy = conn
        .copy_in_raw(&format!("COPY {} ({list}) FROM STDIN", ident(table)))
        .await
        .map_err(sqlx_failed("copy in"))?;
    let mut pending: Vec<u8> = Vec::with_capacity(512 * 1024);
    let sent = async {
        while let Some(row) = rows.next_row(table).await? {
            pending.extend_from_slice(row);
            if pending.len() >= 256 * 1024 {
                copy.send(std::mem::take(&mut pending))
                    .await
                    .map_err(|e| corrupt(format!("rows of {table:?}: {e}")))?;
            }
        }
        if !pending.is_empty() {
            copy.send(std::mem::take(&mut pending)).await.map_err(|e| corrupt(format!("rows of {table:?}: {e}")))?;
        }
        Ok::<_, ApiError>(())
    }
    .await;
    match sent {
        Ok(()) => {
            copy.finish().await.map_err(|e| corrupt(format!("rows of {table:?}: {e}")))?;
        }
        Err(e) => {
            let _ = copy.abort("the archive's rows were refused").await;
            return Err(e);
        }
    }
    rows.finish().await
}

/// Sequences owned by a column of ours: (sequence, table, column).
async fn pg_owned_sequences(conn: &mut PgConnection) -> Result<Vec<(String, String, String)>, ApiError> {
    let rows = sqlx::query(
        "SELECT s.relname::text AS seq, t.relname::text AS tbl, a.attname::text AS col \
         FROM pg_class s \
         JOIN pg_depend d ON d.objid = s.oid AND d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') \
         JOIN pg_class t ON t.oid = d.refobjid \
         JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid \
         WHERE s.relkind = 'S' AND s.relnamespace = current_schema()::regnamespace ORDER BY 1",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(sqlx_failed("sequences"))?;
    Ok(rows.iter().map(|r| (r.get("seq"), r.get("tbl"), r.get("col"))).collect())
}

/// Our tables, parents before children (so each COPY's foreign keys find their rows).
async fn fk_order(conn: &mut PgConnection, wanted: &[String]) -> Result<Vec<String>, ApiError> {
    let edges: Vec<(String, String)> = sqlx::query(
        "SELECT c.conrelid::regclass::text AS child, c.confrelid::regclass::text AS parent \
         FROM pg_constraint c WHERE c.contype = 'f' AND c.connamespace = current_schema()::regnamespace",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(sqlx_failed("foreign keys"))?
    .iter()
    .map(|r| {
        (
            r.get::<String, _>("child").trim_matches('"').to_owned(),
            r.get::<String, _>("parent").trim_matches('"').to_owned(),
        )
    })
    .collect();
    let mut order: Vec<String> = Vec::new();
    let mut left = wanted.to_vec();
    while !left.is_empty() {
        let before = left.len();
        left.retain(|t| {
            let ready =
                edges.iter().filter(|(c, p)| c == t && p != t).all(|(_, p)| order.contains(p) || !wanted.contains(p));
            if ready {
                order.push(t.clone());
            }
            !ready
        });
        if left.len() == before {
            order.append(&mut left); // a cycle: let the database say what is wrong
        }
    }
    Ok(order)
}

pub fn corrupt(message: impl Into<String>) -> ApiError {
    ApiError::Unprocessable { code: "backup_corrupt", message: message.into(), details: None }
}

impl Scratch {
    /// Engine-level integrity. SQLite: `PRAGMA integrity_check` and `foreign_key_check` (under the
    /// connection's deadline). PostgreSQL: the rows went in through COPY into tables our migrations
    /// made, so every constraint held as they arrived.
    pub async fn integrity(&mut self) -> Result<(), String> {
        match self {
            Scratch::Sqlite { conn, .. } => {
                let conn = conn.as_mut().expect("open");
                let rows: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(|e| e.to_string())?;
                if rows != ["ok"] {
                    return Err(format!("integrity_check: {}", rows.join("; ")));
                }
                let fk =
                    sqlx::query("PRAGMA foreign_key_check").fetch_all(&mut *conn).await.map_err(|e| e.to_string())?;
                if !fk.is_empty() {
                    return Err(format!("foreign_key_check: {} violations", fk.len()));
                }
                Ok(())
            }
            Scratch::Postgres { .. } => Ok(()),
        }
    }

    pub async fn schema_version(&mut self) -> Result<i64, ApiError> {
        match self {
            Scratch::Sqlite { conn, .. } => sqlite_schema_version(conn.as_mut().expect("open")).await,
            Scratch::Postgres { conn, .. } => pg_schema_version(conn.as_mut().expect("open")).await,
        }
    }

    pub async fn counts(&mut self) -> Result<Counts, ApiError> {
        match self {
            Scratch::Sqlite { conn, tables, .. } => sqlite_counts(conn.as_mut().expect("open"), "main", tables).await,
            Scratch::Postgres { conn, tables, .. } => pg_counts_of(conn.as_mut().expect("open"), tables).await,
        }
    }

    /// Brings an older backup up to this binary's schema (the table list follows).
    pub async fn migrate(&mut self, engine: Engine) -> Result<(), ApiError> {
        let migrator = db::migrator(engine);
        let result = match self {
            Scratch::Sqlite { conn, .. } => migrator.run_direct(conn.as_mut().expect("open")).await,
            Scratch::Postgres { conn, .. } => migrator.run_direct(conn.as_mut().expect("open")).await,
        };
        result.map_err(|e| {
            failed("backup_failed", format!("the backup's schema cannot be migrated to this version: {e}"))
        })?;
        match self {
            Scratch::Sqlite { tables, .. } => {
                *tables = schema::tables_of(&schema::sqlite_reference(db::code_schema_version(engine)).await?)
            }
            Scratch::Postgres { conn, tables, .. } => {
                *tables = pg_tables(conn.as_mut().expect("open")).await.map_err(sqlx_failed("tables"))?
            }
        }
        Ok(())
    }

    /// Removes the scratch database (PostgreSQL) and closes connections; the SQLite file is the
    /// caller's temp file.
    pub async fn drop_scratch(&mut self) {
        match self {
            Scratch::Sqlite { conn, .. } => {
                if let Some(c) = conn.take() {
                    let _ = c.close().await;
                }
            }
            Scratch::Postgres { name, conn, target, .. } => {
                if let Some(c) = conn.take() {
                    let _ = c.close().await;
                }
                if let Ok(options) = target.pg_options() {
                    if let Ok(mut admin) = PgConnection::connect_with(&options).await {
                        if let Err(e) = sqlx::query(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", ident(name)))
                            .execute(&mut admin)
                            .await
                        {
                            tracing::warn!(database = %name, error = %e, "could not drop scratch database");
                        }
                        let _ = admin.close().await;
                    }
                }
            }
        }
    }
}

/// Drops scratch databases left by an interrupted verify or restore (PostgreSQL). Call only while
/// holding the backup directory lock.
pub async fn sweep_scratch(target: &Target) {
    if target.engine != Engine::Postgres {
        return;
    }
    let Ok(options) = target.pg_options() else { return };
    let live = options.get_database().unwrap_or("postgres").to_owned();
    let Ok(mut admin) = PgConnection::connect_with(&options).await else { return };
    let pattern = format!("{}\\_scr\\_%", live.replace('_', "\\_"));
    let names: Vec<String> = sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE $1")
        .bind(pattern)
        .fetch_all(&mut admin)
        .await
        .unwrap_or_default();
    for name in names {
        tracing::info!(database = %name, "dropping a scratch database left by an interrupted operation");
        let _ =
            sqlx::query(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", ident(&name))).execute(&mut admin).await;
    }
    let _ = admin.close().await;
}

// ---------------------------------------------------------------------------------------------
// Copying a checked scratch database into the live one

/// Replaces the live database's rows with the scratch database's, in one transaction. Returns the
/// live row counts read inside that transaction just before it commits.
/// `expected` (rows per restored table) is compared inside the transaction before it commits: a
/// difference rolls everything back.
pub async fn copy_into_live(
    db: &Db,
    target: &Target,
    scratch: &mut Scratch,
    expected: &Counts,
) -> Result<Counts, ApiError> {
    match scratch {
        Scratch::Sqlite { path, conn, .. } => {
            if let Some(c) = conn.take() {
                let _ = c.close().await;
            }
            // In-process writers queue on the writer gate rather than time out on SQLite's lock.
            let _writer = db.sqlite_writers.clone().acquire_owned().await.expect("never closed");
            let mut live = SqliteConnection::connect_with(
                &SqliteConnectOptions::new().filename(&target.sqlite_file).busy_timeout(Duration::from_secs(30)),
            )
            .await
            .map_err(sqlx_failed("open live database"))?;
            let scratch_path = path.to_str().ok_or_else(|| failed("backup_failed", "path is not UTF-8"))?.to_owned();
            sqlx::query("ATTACH DATABASE $1 AS restored")
                .bind(scratch_path)
                .execute(&mut live)
                .await
                .map_err(sqlx_failed("attach"))?;
            let result = sqlite_copy(&mut live, expected).await;
            if result.is_err() {
                let _ = sqlx::query("ROLLBACK").execute(&mut live).await;
            }
            let _ = sqlx::query("DETACH DATABASE restored").execute(&mut live).await;
            let _ = live.close().await;
            result
        }
        Scratch::Postgres { conn, .. } => {
            let source = conn.as_mut().expect("open");
            let mut live = PgConnection::connect_with(&target.pg_options()?).await.map_err(sqlx_failed("connect"))?;
            let result = pg_copy(source, &mut live, expected).await;
            if result.is_err() {
                let _ = sqlx::query("ROLLBACK").execute(&mut live).await;
            }
            let _ = live.close().await;
            result
        }
    }
}

async fn sqlite_copy(live: &mut SqliteConnection, expected: &Counts) -> Result<Counts, ApiError> {
    let main = sqlite_tables(live, "main").await?;
    let restored = sqlite_tables(live, "restored").await?;
    let wanted: Vec<&String> = main.iter().filter(|t| !NOT_RESTORED.contains(&t.as_str())).collect();
    for t in &wanted {
        if !restored.contains(t) {
            return Err(failed("backup_failed", format!("the restored copy has no table {t}")));
        }
    }
    sqlx::query("BEGIN IMMEDIATE").execute(&mut *live).await.map_err(sqlx_failed("begin"))?;
    // Foreign keys are checked at COMMIT: a violation there rolls everything back.
    sqlx::query("PRAGMA defer_foreign_keys = ON").execute(&mut *live).await.map_err(sqlx_failed("pragma"))?;
    let last_seq = live_last_seq(
        &wanted,
        sqlx::query_scalar("SELECT last_seq FROM main.sync_state WHERE id = 1").fetch_optional(&mut *live).await,
    );
    for t in &wanted {
        let columns: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info($1, 'main') ORDER BY cid")
            .bind(t.as_str())
            .fetch_all(&mut *live)
            .await
            .map_err(sqlx_failed("columns"))?;
        let cols = columns.iter().map(|c| ident(c)).collect::<Vec<_>>().join(", ");
        sqlx::query(&format!("DELETE FROM main.{}", ident(t)))
            .execute(&mut *live)
            .await
            .map_err(sqlx_failed("delete"))?;
        sqlx::query(&format!("INSERT INTO main.{} ({cols}) SELECT {cols} FROM restored.{}", ident(t), ident(t)))
            .execute(&mut *live)
            .await
            .map_err(sqlx_failed("insert"))?;
    }
    let has_seq = |tables: &[String]| tables.iter().any(|t| t == "sqlite_sequence");
    let all_main: Vec<String> = sqlx::query_scalar("SELECT name FROM main.sqlite_master WHERE type = 'table'")
        .fetch_all(&mut *live)
        .await
        .map_err(sqlx_failed("tables"))?;
    let all_restored: Vec<String> = sqlx::query_scalar("SELECT name FROM restored.sqlite_master WHERE type = 'table'")
        .fetch_all(&mut *live)
        .await
        .map_err(sqlx_failed("tables"))?;
    if has_seq(&all_main) && has_seq(&all_restored) {
        sqlx::query("DELETE FROM main.sqlite_sequence").execute(&mut *live).await.map_err(sqlx_failed("sequence"))?;
        sqlx::query("INSERT INTO main.sqlite_sequence (name, seq) SELECT name, seq FROM restored.sqlite_sequence")
            .execute(&mut *live)
            .await
            .map_err(sqlx_failed("sequence"))?;
    }
    let tables: Vec<String> = wanted.iter().map(|t| (*t).clone()).collect();
    for statement in crate::changelog::republish(&tables, last_seq) {
        sqlx::query(&statement).execute(&mut *live).await.map_err(sqlx_failed("republish"))?;
    }
    let counts = sqlite_counts(live, "main", &main).await?;
    check_counts(expected, &counts)?;
    sqlx::query("COMMIT").execute(&mut *live).await.map_err(sqlx_failed("commit"))?;
    Ok(counts)
}

async fn pg_copy(source: &mut PgConnection, live: &mut PgConnection, expected: &Counts) -> Result<Counts, ApiError> {
    let tables: Vec<String> = pg_tables(live).await.map_err(sqlx_failed("tables"))?;
    let source_tables = pg_tables(source).await.map_err(sqlx_failed("tables"))?;
    let wanted: Vec<String> = tables.iter().filter(|t| !NOT_RESTORED.contains(&t.as_str())).cloned().collect();
    for t in &wanted {
        if !source_tables.contains(t) {
            return Err(failed("backup_failed", format!("the restored copy has no table {t}")));
        }
    }
    let order = fk_order(live, &wanted).await?;

    sqlx::query("BEGIN").execute(&mut *live).await.map_err(sqlx_failed("begin"))?;
    sqlx::query("SET LOCAL lock_timeout = '30s'").execute(&mut *live).await.map_err(sqlx_failed("lock timeout"))?;
    let last_seq = live_last_seq(
        &wanted,
        sqlx::query_scalar("SELECT last_seq FROM sync_state WHERE id = 1").fetch_optional(&mut *live).await,
    );
    let list = wanted.iter().map(|t| ident(t)).collect::<Vec<_>>().join(", ");
    sqlx::query(&format!("TRUNCATE {list}")).execute(&mut *live).await.map_err(sqlx_failed("truncate"))?;
    for t in &order {
        let columns: Vec<String> = sqlx::query_scalar(
            "SELECT column_name::text FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 \
             ORDER BY ordinal_position",
        )
        .bind(t)
        .fetch_all(&mut *live)
        .await
        .map_err(sqlx_failed("columns"))?;
        let cols = columns.iter().map(|c| ident(c)).collect::<Vec<_>>().join(", ");
        let mut out = source
            .copy_out_raw(&format!("COPY {} ({cols}) TO STDOUT (FORMAT binary)", ident(t)))
            .await
            .map_err(sqlx_failed("copy out"))?;
        let mut copy_in = live
            .copy_in_raw(&format!("COPY {} ({cols}) FROM STDIN (FORMAT binary)", ident(t)))
            .await
            .map_err(sqlx_failed("copy in"))?;
        let mut failure = None;
        while let Some(chunk) = out.next().await {
            match chunk {
                Ok(bytes) => {
                    if let Err(e) = copy_in.send(bytes).await {
                        failure = Some(e);
                        break;
                    }
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        // Read what is left so the source connection stays usable.
        while out.next().await.is_some() {}
        drop(out);
        match failure {
            None => {
                copy_in.finish().await.map_err(sqlx_failed("copy"))?;
            }
            Some(e) => {
                let _ = copy_in.abort("source failed").await;
                return Err(failed("backup_failed", format!("copy {t}: {e}")));
            }
        }
    }
    // Sequences of the restored tables (audit_log ids) continue where the scratch copy's do; a
    // table a restore leaves alone (alerts) keeps its own.
    for (seq, table, _) in pg_owned_sequences(live).await? {
        if !wanted.contains(&table) {
            continue;
        }
        let row = sqlx::query(&format!("SELECT last_value, is_called FROM {}", ident(&seq)))
            .fetch_optional(&mut *source)
            .await
            .map_err(sqlx_failed("sequence"))?;
        let Some(row) = row else { continue };
        let (last, called): (i64, bool) = (row.get(0), row.get(1));
        sqlx::query("SELECT setval($1::regclass, $2, $3)")
            .bind(ident(&seq))
            .bind(last)
            .bind(called)
            .execute(&mut *live)
            .await
            .map_err(sqlx_failed("setval"))?;
    }
    for statement in crate::changelog::republish(&wanted, last_seq) {
        sqlx::query(&statement).execute(&mut *live).await.map_err(sqlx_failed("republish"))?;
    }
    let counts = pg_counts(live).await?;
    check_counts(expected, &counts)?;
    sqlx::query("COMMIT").execute(&mut *live).await.map_err(sqlx_failed("commit"))?;
    Ok(counts)
}

// ---------------------------------------------------------------------------------------------
// Small queries

async fn open_sqlite(path: &Path, read_only: bool) -> Result<SqliteConnection, ApiError> {
    SqliteConnectOptions::new()
        .filename(path)
        .read_only(read_only)
        .create_if_missing(false)
        .busy_timeout(Duration::from_secs(30))
        .connect()
        .await
        .map_err(sqlx_failed("open"))
}

async fn sqlite_tables(conn: &mut SqliteConnection, schema: &str) -> Result<Vec<String>, ApiError> {
    sqlx::query_scalar(&format!(
        "SELECT name FROM {schema}.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
    ))
    .fetch_all(conn)
    .await
    .map_err(|e| corrupt(format!("cannot read the table list: {e}")))
}

/// Rows per table of `tables` (the server's own list), the migrations table left out.
async fn sqlite_counts(conn: &mut SqliteConnection, schema: &str, tables: &[String]) -> Result<Counts, ApiError> {
    let mut counts = Counts::new();
    for t in tables {
        if t == "_sqlx_migrations" {
            continue;
        }
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {schema}.{}", ident(t)))
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| corrupt(format!("cannot count {t}: {e}")))?;
        counts.insert(t.clone(), n);
    }
    Ok(counts)
}

async fn sqlite_schema_version(conn: &mut SqliteConnection) -> Result<i64, ApiError> {
    sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
        .fetch_one(conn)
        .await
        .map(|v| v.unwrap_or(0))
        .map_err(|e| corrupt(format!("not a Mostrador database (no migrations table): {e}")))
}

async fn pg_tables(conn: &mut PgConnection) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename")
        .fetch_all(conn)
        .await
}

async fn pg_counts(conn: &mut PgConnection) -> Result<Counts, ApiError> {
    let tables = pg_tables(conn).await.map_err(sqlx_failed("tables"))?;
    pg_counts_of(conn, &tables).await
}

/// Rows per table of `tables` (the server's own list), the migrations table left out.
async fn pg_counts_of(conn: &mut PgConnection, tables: &[String]) -> Result<Counts, ApiError> {
    let mut counts = Counts::new();
    for t in tables {
        if t == "_sqlx_migrations" {
            continue;
        }
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {}", ident(t)))
            .fetch_one(&mut *conn)
            .await
            .map_err(sqlx_failed("count"))?;
        counts.insert(t.clone(), n);
    }
    Ok(counts)
}

async fn pg_schema_version(conn: &mut PgConnection) -> Result<i64, ApiError> {
    sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
        .fetch_one(conn)
        .await
        .map(|v| v.unwrap_or(0))
        .map_err(|e| corrupt(format!("not a Mostrador database (no migrations table): {e}")))
}

/// The live change feed's position before the restore (None when there is no feed).
fn live_last_seq<S: AsRef<str>>(tables: &[S], read: Result<Option<i64>, sqlx::Error>) -> Option<i64> {
    if !tables.iter().any(|t| t.as_ref() == "sync_state") {
        return None;
    }
    read.ok().flatten()
}

fn check_counts(expected: &Counts, live: &Counts) -> Result<(), ApiError> {
    let live = comparable(live);
    if &live != expected {
        return Err(failed("restore_mismatch", format!("after copying, the live row counts {live:?} differ from the backup's {expected:?}; nothing was changed")));
    }
    Ok(())
}

/// Rows per table of the live database (tables a restore leaves alone are not compared).
pub fn comparable(counts: &Counts) -> Counts {
    counts
        .iter()
        .filter(|(t, _)| !NOT_RESTORED.contains(&t.as_str()) && *t != "change_log")
        .map(|(t, n)| (t.clone(), *n))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn pg_dump_major() {
        assert_eq!(super::major_of("pg_dump (PostgreSQL) 15.10 (Debian 15.10-0+deb12u1)"), Some(15));
        assert_eq!(super::major_of("pg_dump (PostgreSQL) 9.6.24"), Some(9));
        assert_eq!(super::percent_decode("p%40ss"), "p@ss");
    }
}
