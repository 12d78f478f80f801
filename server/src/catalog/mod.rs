//! The versioned catalog: categories, products and customers share one implementation of list,
//! get (with ETag), create (client-chosen UUIDs), PATCH with optimistic concurrency, and soft delete.

mod entities;
mod fields;
mod openapi;
mod repo;
mod routes;

pub use openapi::paths as openapi_paths;
pub use repo::{count_live, get as get_one, get_many, live_rows, save_revision};
pub use routes::router;

use sqlx::any::AnyRow;
use uuid::Uuid;

use fields::{Body, SqlValue};

/// What a catalog table must say about itself for the generic code to serve it.
pub trait CatalogEntity: serde::Serialize + Send + Sync + Unpin + Sized + 'static {
    /// Table name, and the URL segment unless `PATH` says otherwise: `products`.
    const TABLE: &'static str;
    /// URL segment when it is not the table's name (`tax-rates`).
    const PATH: &'static str = Self::TABLE;
    /// Editable columns, in the order `values()` returns them.
    const FIELDS: &'static [&'static str];
    /// Fields clients see but may not write here (`stock`).
    const READ_ONLY: &'static [&'static str] = &[];
    /// Columns `?q=` searches (case-insensitive substring).
    const SEARCH: &'static [&'static str];
    /// How lists are sorted.
    const ORDER_BY: &'static str = "LOWER(name)";
    /// Reference columns and the table they point to, checked before writing.
    const REFERENCES: &'static [(&'static str, &'static str)] = &[];
    /// Code and field reported when a unique index other than the id rejects a write.
    const UNIQUE_CONFLICT: Option<(&'static str, &'static str)> = None;

    /// Builds the entity from a complete JSON body; bad fields are recorded in `body.errors`.
    fn parse(id: Uuid, body: &mut Body) -> Option<Self>;
    fn values(&self) -> Vec<SqlValue>;
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error>;
    fn id(&self) -> Uuid;
    fn version(&self) -> i64;
    fn is_deleted(&self) -> bool;
}

/// Columns every catalog table has besides its own.
const META: &[&str] = &["id", "version", "created_at", "updated_at", "deleted_at"];
