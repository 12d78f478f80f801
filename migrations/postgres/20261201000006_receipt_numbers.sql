-- Receipt numbers that work offline (issue 14, point 5). A device sets up its register online once and
-- gets a code (C1, C2, …) no other device has; offline it numbers its own sales and refunds
-- C1-000001, C1-000002, … with a counter kept beside its outbox. Two devices can never produce the
-- same number because their codes differ; the server also refuses a number used twice.
CREATE TABLE registers (
    n          BIGINT PRIMARY KEY NOT NULL,
    code       TEXT NOT NULL UNIQUE,
    device_id  TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- Every number given, sale or refund alike, so one number is never on two documents.
CREATE TABLE receipt_numbers (
    receipt_no    TEXT PRIMARY KEY NOT NULL,
    register_code TEXT NOT NULL REFERENCES registers (code),
    seq           BIGINT NOT NULL CHECK (seq >= 1),
    kind          TEXT NOT NULL CHECK (kind IN ('sale', 'refund')),
    document_id   TEXT NOT NULL,
    UNIQUE (register_code, seq)
);

ALTER TABLE sales ADD COLUMN receipt_no TEXT;
ALTER TABLE refunds ADD COLUMN receipt_no TEXT;
