CREATE TABLE quotes (
    id          TEXT PRIMARY KEY NOT NULL,
    customer_id TEXT REFERENCES customers (id),
    lines       TEXT NOT NULL,
    notes       TEXT,
    valid_until TEXT,
    status      TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'converted')),
    sale_id     TEXT REFERENCES sales (id),
    version     BIGINT NOT NULL DEFAULT 1,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    deleted_at  TEXT
);
