-- The shop's transactions: create-only, ids chosen by the device that recorded them (often offline).
-- request_hash is the SHA-256 of the canonical request body: a create retried after its idempotency
-- key expired is recognised by its id and answered with the row instead of being applied twice.

CREATE TABLE cash_sessions (
    id                  TEXT PRIMARY KEY NOT NULL,
    register            TEXT NOT NULL,
    opening_float_cents BIGINT NOT NULL CHECK (opening_float_cents >= 0),
    opened_by           TEXT NOT NULL,
    opened_at           TEXT NOT NULL,
    closed_at           TEXT,
    closed_by           TEXT,
    counted_cents       BIGINT,
    expected_cents      BIGINT,
    difference_cents    BIGINT,
    request_hash        TEXT NOT NULL,
    version             BIGINT NOT NULL DEFAULT 1,
    updated_at          TEXT NOT NULL
);
-- One open session per register.
CREATE UNIQUE INDEX cash_sessions_one_open ON cash_sessions (register) WHERE closed_at IS NULL;

CREATE TABLE sales (
    id              TEXT PRIMARY KEY NOT NULL,
    cash_session_id TEXT NOT NULL REFERENCES cash_sessions (id),
    customer_id     TEXT REFERENCES customers (id),
    total_cents     BIGINT NOT NULL CHECK (total_cents >= 0),
    paid_cents      BIGINT NOT NULL,
    change_cents    BIGINT NOT NULL CHECK (change_cents >= 0),
    created_by      TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    request_hash    TEXT NOT NULL
);
CREATE INDEX sales_created_at ON sales (created_at);
CREATE INDEX sales_cash_session ON sales (cash_session_id);

CREATE TABLE sale_lines (
    sale_id          TEXT NOT NULL REFERENCES sales (id),
    line_no          BIGINT NOT NULL,
    product_id       TEXT NOT NULL REFERENCES products (id),
    quantity         BIGINT NOT NULL CHECK (quantity > 0),
    unit_price_cents BIGINT NOT NULL CHECK (unit_price_cents >= 0),
    total_cents      BIGINT NOT NULL,
    PRIMARY KEY (sale_id, line_no)
);

CREATE TABLE sale_payments (
    sale_id      TEXT NOT NULL REFERENCES sales (id),
    line_no      BIGINT NOT NULL,
    method       TEXT NOT NULL CHECK (method IN ('cash', 'card', 'transfer', 'other')),
    amount_cents BIGINT NOT NULL CHECK (amount_cents > 0),
    PRIMARY KEY (sale_id, line_no)
);

CREATE TABLE cash_movements (
    id              TEXT PRIMARY KEY NOT NULL,
    cash_session_id TEXT NOT NULL REFERENCES cash_sessions (id),
    kind            TEXT NOT NULL CHECK (kind IN ('in', 'out')),
    amount_cents    BIGINT NOT NULL CHECK (amount_cents > 0),
    reason          TEXT NOT NULL,
    created_by      TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    request_hash    TEXT NOT NULL
);
CREATE INDEX cash_movements_session ON cash_movements (cash_session_id);

CREATE TABLE expenses (
    id              TEXT PRIMARY KEY NOT NULL,
    spent_on        TEXT NOT NULL,
    category        TEXT NOT NULL,
    amount_cents    BIGINT NOT NULL CHECK (amount_cents > 0),
    description     TEXT NOT NULL,
    cash_session_id TEXT REFERENCES cash_sessions (id),
    created_by      TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    request_hash    TEXT NOT NULL
);
CREATE INDEX expenses_spent_on ON expenses (spent_on);

CREATE TABLE inventory_movements (
    id           TEXT PRIMARY KEY NOT NULL,
    product_id   TEXT NOT NULL REFERENCES products (id),
    delta        BIGINT NOT NULL CHECK (delta <> 0),
    reason       TEXT NOT NULL CHECK (reason IN ('purchase', 'adjustment', 'waste', 'return')),
    note         TEXT,
    created_by   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    request_hash TEXT NOT NULL
);
CREATE INDEX inventory_movements_product ON inventory_movements (product_id);
