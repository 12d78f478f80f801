-- Idempotency keys: one row per (user, key); status/headers/body are NULL only inside the claiming
-- transaction, so other transactions never see an unfinished row.
CREATE TABLE idempotency_keys (
    user_id      TEXT NOT NULL,
    idem_key     TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status       BIGINT,
    headers      TEXT,
    body         TEXT,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    PRIMARY KEY (user_id, idem_key)
);
CREATE INDEX idempotency_keys_expires_at ON idempotency_keys (expires_at);

-- Every write that took effect; also the operation log that reconciliation replays.
CREATE TABLE audit_log (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    at              TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    username        TEXT NOT NULL,
    node            TEXT NOT NULL,
    mode            TEXT NOT NULL CHECK (mode IN ('normal', 'emergency')),
    idempotency_key TEXT,
    method          TEXT NOT NULL,
    path            TEXT NOT NULL,
    entity          TEXT NOT NULL,
    entity_id       TEXT,
    action          TEXT NOT NULL,
    request         TEXT,
    status          BIGINT NOT NULL
);
CREATE INDEX audit_log_entity ON audit_log (entity, entity_id);
CREATE INDEX audit_log_mode ON audit_log (mode, at);
