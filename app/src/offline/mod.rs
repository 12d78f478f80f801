//! The offline client: the IndexedDB copy of the catalog, the outbox of writes and the sync engine
//! that drains it. Browser only (`hydrate`); on the server these modules compile to nothing useful.

pub mod service_worker;
