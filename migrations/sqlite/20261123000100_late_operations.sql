-- Operations a device recorded offline that reached the server late (the dashboard lists them).
-- queued_at is the device's clock, received_at the server's.
CREATE TABLE late_operations (
    idempotency_key TEXT PRIMARY KEY NOT NULL,
    method          TEXT NOT NULL,
    path            TEXT NOT NULL,
    username        TEXT NOT NULL,
    queued_at       TEXT NOT NULL,
    received_at     TEXT NOT NULL,
    minutes_late    BIGINT NOT NULL
);
CREATE INDEX late_operations_received_at ON late_operations (received_at);
