//! User accounts: the newtypes, the table, and the admin API.

pub mod domain;
pub mod repo;
mod routes;

pub use routes::router;
pub(crate) use routes::{__path_create_user, __path_list_users, __path_update_user};
