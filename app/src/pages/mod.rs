//! One module per screen.

pub mod backups;
pub mod categories;
pub mod customers;
pub mod login;
pub mod not_found;
pub mod pending;
pub mod products;
pub mod sale;
pub mod settings;
pub mod system;
pub mod users;
