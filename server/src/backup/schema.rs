//! What a backup may hold (issue #12: backups from outside are data, never code). A backup file can
//! come from anyone with an admin password, from a forged primary, or from a bucket someone else
//! can write: before it is used, its schema is compared with the one this binary's own migrations
//! make, and nothing found in it is ever pasted into SQL. Table and column names always come from
//! the server's own list (a reference built from the migrations, or the live database).
//!
//! - SQLite: every object of `sqlite_master` (tables, indexes, views, triggers, with their SQL) must
//!   be exactly what the migrations up to the backup's version make; anything else is refused
//!   before the file is used at all.
//! - PostgreSQL: the archive's DDL is never run. Its table of contents is checked against an
//!   allow-list, the scratch database is made by our migrations, and only the rows of our tables
//!   are streamed into it with COPY statements we write ourselves (`pg_restore` only reads the
//!   archive and prints the data; it never connects to a database).

use std::{borrow::Cow, collections::BTreeSet, path::Path, time::Duration};

use sqlx::{
    migrate::Migrator,
    sqlite::{SqliteConnectOptions, SqliteConnection},
    ConnectOptions, Connection, Row,
};

use crate::{db, db::Engine, http::error::ApiError};

/// `name` as a quoted SQL identifier (both engines).
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// 422 `backup_unexpected_objects`: the file holds things our migrations do not make.
pub fn unexpected(what: Vec<String>) -> ApiError {
    let shown: Vec<String> = what.iter().take(10).map(|w| shorten(w)).collect();
    let more = if what.len() > shown.len() { format!(" and {} more", what.len() - shown.len()) } else { String::new() };
    ApiError::Unprocessable {
        code: "backup_unexpected_objects",
        message: format!(
            "the backup's schema is not the one Mostrador makes ({}{more}); it was refused and nothing in it was run",
            shown.join(", ")
        ),
        details: Some(serde_json::json!({ "unexpected": shown })),
    }
}

/// A name from a hostile file, safe to show: at most 80 characters, control characters escaped.
fn shorten(s: &str) -> String {
    let mut out: String = s.chars().take(80).flat_map(char::escape_default).collect();
    if s.chars().count() > 80 {
        out.push('…');
    }
    out
}

fn corrupt(message: impl Into<String>) -> ApiError {
    super::engine::corrupt(message)
}

/// The migrations up to `version` (a backup of that version was made by exactly these).
pub fn migrator_upto(engine: Engine, version: i64) -> Migrator {
    let all = db::migrator(engine);
    Migrator {
        migrations: Cow::Owned(all.iter().filter(|m| m.version <= version).cloned().collect()),
        ignore_missing: false,
        locking: false,
        no_tx: false,
    }
}

/// The schema version of a backup whose `_sqlx_migrations` holds `applied` (version, checksum,
/// success): they must be the first migrations of this binary, byte for byte.
pub fn applied_version(engine: Engine, applied: &[(i64, Vec<u8>, bool)]) -> Result<i64, ApiError> {
    let ours: Vec<_> = db::migrator(engine).iter().collect();
    let newest = applied.iter().map(|a| a.0).max().unwrap_or(0);
    let code = db::code_schema_version(engine);
    if newest > code {
        return Err(super::schema_too_new(newest, code));
    }
    if applied.is_empty() {
        return Err(corrupt("not a Mostrador database: no migration was ever applied to it"));
    }
    for (i, (version, checksum, success)) in applied.iter().enumerate() {
        match ours.get(i) {
            Some(m) if m.version == *version && m.checksum.as_ref() == checksum.as_slice() && *success => {}
            _ => {
                return Err(unexpected(vec![format!(
                    "migration {version} is not this binary's migration number {}",
                    i + 1
                )]));
            }
        }
    }
    Ok(newest)
}

// ---------------------------------------------------------------------------------------------
// SQLite

/// One row of `sqlite_master`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Object {
    pub kind: String,
    pub name: String,
    pub table: String,
    pub sql: Option<String>,
}

impl Object {
    fn describe(&self) -> String {
        format!("{} {:?}", self.kind, self.name)
    }
}

async fn objects(conn: &mut SqliteConnection) -> Result<Vec<Object>, sqlx::Error> {
    let rows =
        sqlx::query("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name").fetch_all(conn).await?;
    rows.iter()
        .map(|r| Ok(Object { kind: r.try_get(0)?, name: r.try_get(1)?, table: r.try_get(2)?, sql: r.try_get(3)? }))
        .collect()
}

/// `sqlite_master` of an in-memory database made by our migrations up to `version`.
pub async fn sqlite_reference(version: i64) -> Result<Vec<Object>, ApiError> {
    let failed = |e: String| ApiError::Internal(format!("reference schema: {e}"));
    let mut conn = SqliteConnectOptions::new().in_memory(true).connect().await.map_err(|e| failed(e.to_string()))?;
    migrator_upto(Engine::Sqlite, version).run_direct(&mut conn).await.map_err(|e| failed(e.to_string()))?;
    let out = objects(&mut conn).await.map_err(|e| failed(e.to_string()));
    let _ = conn.close().await;
    out
}

/// The tables of a reference schema, as a backup's rows are counted and copied.
pub fn tables_of(reference: &[Object]) -> Vec<String> {
    reference.iter().filter(|o| o.kind == "table" && !o.name.starts_with("sqlite_")).map(|o| o.name.clone()).collect()
}

/// Makes every statement on `conn` fail (SQLITE_INTERRUPT) once `limit` has passed: a hostile
/// file's query cannot run forever.
pub async fn sqlite_deadline(conn: &mut SqliteConnection, limit: Duration) -> Result<(), sqlx::Error> {
    let deadline = std::time::Instant::now() + limit;
    conn.lock_handle().await?.set_progress_handler(10_000, move || std::time::Instant::now() < deadline);
    Ok(())
}

/// Checks a decompressed SQLite backup before anything else touches it: its `sqlite_master` must
/// be exactly what our migrations up to its version make. Returns that version and its tables.
pub async fn inspect_sqlite(path: &Path, limit: Duration) -> Result<(i64, Vec<String>), ApiError> {
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .create_if_missing(false)
        .connect()
        .await
        .map_err(|e| corrupt(format!("not a readable SQLite database: {e}")))?;
    let result = async {
        sqlite_deadline(&mut conn, limit).await.map_err(|e| corrupt(e.to_string()))?;
        let found = objects(&mut conn).await.map_err(|e| corrupt(format!("cannot read the schema: {e}")))?;
        // The migrations table first (its definition is sqlx's, the same at every version): only
        // then is it read, to learn which reference to compare with.
        let newest = sqlite_reference(db::code_schema_version(Engine::Sqlite)).await?;
        let of = |list: &[Object]| list.iter().find(|o| o.name == "_sqlx_migrations").cloned();
        match (of(&found), of(&newest)) {
            (Some(f), Some(n)) if f == n => {}
            (None, _) => return Err(corrupt("not a Mostrador database (no migrations table)")),
            _ => return Err(unexpected(vec!["a migrations table of another shape".into()])),
        }
        let applied: Vec<(i64, Vec<u8>, bool)> =
            sqlx::query("SELECT version, checksum, success FROM _sqlx_migrations ORDER BY version")
                .fetch_all(&mut conn)
                .await
                .map_err(|e| corrupt(format!("cannot read the migrations table: {e}")))?
                .iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
                .collect::<Result<_, sqlx::Error>>()
                .map_err(|e| corrupt(format!("cannot read the migrations table: {e}")))?;
        let version = applied_version(Engine::Sqlite, &applied)?;
        let reference = sqlite_reference(version).await?;
        let expected: BTreeSet<&Object> = reference.iter().collect();
        let got: BTreeSet<&Object> = found.iter().collect();
        let mut wrong: Vec<String> = got.difference(&expected).map(|o| o.describe()).collect();
        wrong.extend(expected.difference(&got).map(|o| format!("missing or altered {}", o.describe())));
        if !wrong.is_empty() {
            return Err(unexpected(wrong));
        }
        Ok((version, tables_of(&reference)))
    }
    .await;
    let _ = conn.close().await;
    result
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

/// Entries of a pg_dump archive that a backup of ours may hold. None of their DDL is run: the
/// schema comes from our migrations and only TABLE DATA is read. Anything else (a function, a
/// trigger, a view, a rule, a large object, an extension…) refuses the file.
const PG_ALLOWED: &[&str] = &[
    "TABLE DATA",
    "TABLE",
    "SEQUENCE OWNED BY",
    "SEQUENCE SET",
    "SEQUENCE",
    "DEFAULT",
    "FK CONSTRAINT",
    "CONSTRAINT",
    "INDEX",
    "SCHEMA",
    "COMMENT",
    "PUBLICATION TABLE",
    "PUBLICATION",
    "SUBSCRIPTION",
];

/// Types pg_restore -l can print, longest first (so "TABLE DATA" is not read as "TABLE").
const PG_TYPES: &[&str] = &[
    "MATERIALIZED VIEW DATA",
    "SEQUENCE OWNED BY",
    "PUBLICATION TABLE",
    "PUBLICATION TABLES IN SCHEMA",
    "MATERIALIZED VIEW",
    "LARGE OBJECT",
    "FK CONSTRAINT",
    "DEFAULT ACL",
    "EVENT TRIGGER",
    "SEQUENCE SET",
    "TABLE DATA",
    "BLOB DATA",
    "BLOBS",
];

/// One line of `pg_restore -l`: `123; 1259 16390 TABLE public products owner`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TocEntry {
    pub kind: String,
    /// Schema, name and owner as printed (names are for messages and for matching our tables).
    pub rest: Vec<String>,
}

pub fn parse_toc(listing: &str) -> Vec<TocEntry> {
    let mut out = Vec::new();
    for line in listing.lines() {
        let line = line.trim_end();
        if line.is_empty() || line.starts_with(';') {
            continue;
        }
        // "<id>; <catalog oid> <oid> <TYPE> <schema> <name> <owner>"
        let Some((_, after)) = line.split_once("; ") else {
            out.push(TocEntry { kind: "?".into(), rest: vec![line.into()] });
            continue;
        };
        let mut words = after.splitn(3, ' ');
        let (_, _, tail) = (words.next(), words.next(), words.next().unwrap_or(""));
        let kind = PG_TYPES
            .iter()
            .find(|t| tail.starts_with(*t) && tail[t.len()..].starts_with(' '))
            .map(|t| t.to_string())
            .unwrap_or_else(|| tail.split(' ').next().unwrap_or("").to_owned());
        let rest = tail[kind.len().min(tail.len())..].split(' ').filter(|w| !w.is_empty()).map(str::to_owned).collect();
        out.push(TocEntry { kind, rest });
    }
    out
}

/// Refuses an archive with entries outside the allow-list, or tables that are not ours; returns
/// the names of the tables it has data for.
pub fn check_toc(toc: &[TocEntry], ours: &[String]) -> Result<BTreeSet<String>, ApiError> {
    let mut wrong = Vec::new();
    let mut data = BTreeSet::new();
    for e in toc {
        let name = e.rest.get(1).cloned().unwrap_or_default();
        if !PG_ALLOWED.contains(&e.kind.as_str()) {
            wrong.push(format!(
                "{} {}",
                e.kind.to_lowercase(),
                e.rest.iter().take(2).cloned().collect::<Vec<_>>().join(".")
            ));
            continue;
        }
        if e.kind == "TABLE" || e.kind == "TABLE DATA" {
            if !ours.contains(&name) {
                wrong.push(format!("table {name:?}"));
            } else if e.kind == "TABLE DATA" && !data.insert(name.clone()) {
                wrong.push(format!("a second copy of table {name:?}"));
            }
        }
    }
    if !wrong.is_empty() {
        return Err(unexpected(wrong));
    }
    Ok(data)
}

/// The column names of a `COPY <schema>.<table> (<columns>) FROM stdin;` line as pg_restore prints
/// it (names quoted only when needed).
pub fn copy_columns(line: &str) -> Option<Vec<String>> {
    let line = line.strip_prefix("COPY ")?.strip_suffix(" FROM stdin;")?;
    let open = line.find(" (")?;
    let list = line[open + 2..].strip_suffix(')')?;
    let mut out = Vec::new();
    let mut chars = list.chars().peekable();
    loop {
        let mut name = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next()? {
                    '"' if chars.peek() == Some(&'"') => {
                        chars.next();
                        name.push('"');
                    }
                    '"' => break,
                    c => name.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                name.push(c);
                chars.next();
            }
        }
        out.push(name);
        match chars.next() {
            None => return Some(out),
            Some(',') if chars.next() == Some(' ') => {}
            _ => return None,
        }
    }
}

/// `(version, checksum, success)` from the text-format COPY rows of `_sqlx_migrations`, whose
/// columns are `columns`.
pub fn parse_applied(columns: &[String], rows: &[Vec<u8>]) -> Result<Vec<(i64, Vec<u8>, bool)>, ApiError> {
    let at = |name: &str| {
        columns
            .iter()
            .position(|c| c == name)
            .ok_or_else(|| unexpected(vec![format!("a migrations table without {name}")]))
    };
    let (v, c, s) = (at("version")?, at("checksum")?, at("success")?);
    let bad = || corrupt("the migrations table of the archive cannot be read");
    let mut out = Vec::new();
    for row in rows {
        let text = std::str::from_utf8(row).map_err(|_| bad())?;
        let fields: Vec<&str> = text.trim_end_matches('\n').split('\t').collect();
        if fields.len() != columns.len() {
            return Err(bad());
        }
        let version = fields[v].parse::<i64>().map_err(|_| bad())?;
        // bytea in COPY text: "\\x0a1b…" (the backslash itself escaped).
        let checksum = hex::decode(fields[c].strip_prefix("\\\\x").ok_or_else(bad)?).map_err(|_| bad())?;
        out.push((version, checksum, fields[s] == "t"));
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toc_lines_are_read_by_type() {
        let toc = parse_toc(
            ";\n; Archive created at 2026-11-30\n;\n215; 1259 16390 TABLE public products postgres\n\
             3390; 0 16390 TABLE DATA public products postgres\n216; 1255 16400 FUNCTION public evil() postgres\n\
             3200; 2606 16401 FK CONSTRAINT public sales sales_cash_session_id_fkey postgres\n",
        );
        let kinds: Vec<&str> = toc.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["TABLE", "TABLE DATA", "FUNCTION", "FK CONSTRAINT"]);
        assert_eq!(toc[1].rest, ["public", "products", "postgres"]);
        let ours = vec!["products".to_owned()];
        let err = check_toc(&toc, &ours).unwrap_err().to_string();
        assert!(err.contains("function public.evil()"), "{err}");
        assert_eq!(check_toc(&toc[..2], &ours).unwrap().len(), 1);
    }

    #[test]
    fn copy_lines_give_their_columns() {
        assert_eq!(
            copy_columns("COPY public.t (id, \"order\", \"a\"\"b\") FROM stdin;").unwrap(),
            ["id", "order", "a\"b"]
        );
        assert!(copy_columns("DROP TABLE x; COPY public.t (id) FROM stdin").is_none());
        assert_eq!(ident("a\"; DROP"), "\"a\"\"; DROP\"");
    }
}
