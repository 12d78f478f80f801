//! Users in the database.

use app::model::{Role, User};
use sqlx::{any::AnyRow, AnyConnection, Row};
use uuid::Uuid;

use super::domain::{NewPassword, Username};
use crate::db::{is_unique_violation, now, Db};

/// A user row with its password hash (never serialised to clients).
pub struct UserRecord {
    pub user: User,
    pub password_hash: String,
}

const COLUMNS: &str = "id, username, password_hash, role, active, created_at, updated_at";

fn from_row(row: &AnyRow) -> Result<UserRecord, sqlx::Error> {
    let role: String = row.try_get("role")?;
    Ok(UserRecord {
        user: User {
            id: crate::db::get_uuid(row, "id")?,
            username: row.try_get("username")?,
            role: Role::parse(&role).ok_or_else(|| sqlx::Error::Decode(format!("bad role {role}").into()))?,
            active: crate::db::get_bool(row, "active")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        },
        password_hash: row.try_get("password_hash")?,
    })
}

pub async fn count(db: &Db) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(&db.pool()).await
}

pub async fn find_by_username(db: &Db, username: &str) -> Result<Option<UserRecord>, sqlx::Error> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM users WHERE username = $1"))
        .bind(username.trim().to_lowercase())
        .fetch_optional(&db.pool())
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn find(conn: &mut AnyConnection, id: Uuid) -> Result<Option<UserRecord>, sqlx::Error> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM users WHERE id = $1"))
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Active admins other than `id`, inside the caller's write transaction. On PostgreSQL the active
/// admins' rows are locked (in id order, so two callers cannot deadlock) until the transaction ends:
/// two admins demoting each other at once then run one after the other, and the second sees that
/// the first is no longer an admin. SQLite's write transactions are serial already.
pub async fn other_active_admins(conn: &mut AnyConnection, id: Uuid) -> Result<i64, sqlx::Error> {
    let lock = if conn.backend_name() == "PostgreSQL" { " FOR UPDATE" } else { "" };
    let admins: Vec<String> =
        sqlx::query_scalar(&format!("SELECT id FROM users WHERE role = 'admin' AND active = TRUE ORDER BY id{lock}"))
            .fetch_all(&mut *conn)
            .await?;
    let id = id.to_string();
    Ok(admins.iter().filter(|a| **a != id).count() as i64)
}

pub async fn list(db: &Db) -> Result<Vec<User>, sqlx::Error> {
    let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM users ORDER BY username")).fetch_all(&db.pool()).await?;
    rows.iter().map(|r| from_row(r).map(|u| u.user)).collect()
}

#[derive(Debug, thiserror::Error)]
pub enum CreateUserError {
    #[error("the username is taken")]
    Duplicate,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

pub async fn create(
    conn: &mut AnyConnection,
    username: &Username,
    password: NewPassword,
    role: Role,
) -> Result<User, CreateUserError> {
    let hash = password.hash().await;
    let id = Uuid::new_v4();
    let ts = now();
    let inserted = sqlx::query(
        "INSERT INTO users (id, username, password_hash, role, active, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, TRUE, $5, $5)",
    )
    .bind(id.to_string())
    .bind(username.as_str())
    .bind(hash)
    .bind(role.as_str())
    .bind(&ts)
    .execute(conn)
    .await;
    match inserted {
        Ok(_) => Ok(User {
            id,
            username: username.as_str().to_owned(),
            role,
            active: true,
            created_at: ts.clone(),
            updated_at: ts,
        }),
        Err(e) if is_unique_violation(&e) => Err(CreateUserError::Duplicate),
        Err(e) => Err(e.into()),
    }
}
