-- Refunds and voids (issue 14, point 4). A refund takes back some or all of a sale's lines at the
-- figures they were sold at; a void undoes a sale made by mistake while its till is still open.
CREATE TABLE refunds (
    id              TEXT PRIMARY KEY NOT NULL,
    sale_id         TEXT NOT NULL REFERENCES sales (id),
    cash_session_id TEXT NOT NULL REFERENCES cash_sessions (id),
    method          TEXT NOT NULL CHECK (method IN ('cash', 'card', 'transfer', 'other')),
    reason          TEXT NOT NULL,
    net_cents       BIGINT NOT NULL CHECK (net_cents >= 0),
    tax_cents       BIGINT NOT NULL CHECK (tax_cents >= 0),
    total_cents     BIGINT NOT NULL CHECK (total_cents >= 0 AND total_cents <= 1000000000000),
    created_by      TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    request_hash    TEXT NOT NULL
);
CREATE INDEX refunds_sale ON refunds (sale_id);
CREATE INDEX refunds_cash_session ON refunds (cash_session_id);
CREATE INDEX refunds_created_at ON refunds (created_at);

CREATE TABLE refund_lines (
    refund_id    TEXT NOT NULL REFERENCES refunds (id),
    line_no      BIGINT NOT NULL,
    sale_line_no BIGINT NOT NULL,
    product_id   TEXT NOT NULL REFERENCES products (id),
    quantity     BIGINT NOT NULL CHECK (quantity > 0 AND quantity <= 1000000),
    damaged      INTEGER NOT NULL DEFAULT 0 CHECK (damaged IN (0, 1)),
    net_cents    BIGINT NOT NULL,
    tax_cents    BIGINT NOT NULL,
    total_cents  BIGINT NOT NULL,
    PRIMARY KEY (refund_id, line_no)
);

-- What has been refunded of a sale (the sum of its refunds' totals), and its void.
ALTER TABLE sales ADD COLUMN refunded_cents BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sales ADD COLUMN voided_at TEXT;
ALTER TABLE sales ADD COLUMN voided_by TEXT;
ALTER TABLE sales ADD COLUMN void_reason TEXT NOT NULL DEFAULT '';
