//! The offline client: the IndexedDB copy of the catalog (`store`), the outbox of writes (`outbox`),
//! how the outbox is laid over the copy (`overlay`), what pages read and write (`data`), how a typed
//! write becomes an outbox item (`write`), the sync engine that drains the outbox and pulls changes
//! (`sync`), and who may use this device's data (`device`: a shared phone). Browser only at run
//! time; on the server these compile to stubs that nothing calls.

pub mod data;
pub mod device;
pub mod outbox;
pub mod overlay;
pub mod service_worker;
pub mod store;
pub mod sync;
pub mod write;
