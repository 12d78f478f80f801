//! Mostrador's server: the HTTP API, the pages (Leptos SSR), accounts, the catalog and the database.

pub mod alerts;
pub mod audit;
pub mod auth;
pub mod backup;
pub mod cash;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod dashboard;
pub mod db;
pub mod export;
pub mod ha;
pub mod health;
pub mod http;
pub mod inventory;
pub mod metrics;
pub mod idempotency;
pub mod openapi;
pub mod permissions;
pub mod period;
pub mod pwa;
pub mod sales;
pub mod sync;
pub mod telemetry;
pub mod users;
