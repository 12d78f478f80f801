//! One module per screen.

pub mod backups;
pub mod cash;
pub mod categories;
pub mod customers;
pub mod dashboard;
pub mod login;
pub mod not_found;
pub mod pending;
pub mod phone;
pub mod products;
pub mod refund;
pub mod report;
pub mod sale;
pub mod sales;
pub mod settings;
pub mod shop;
pub mod system;
pub mod taxes;
pub mod users;
