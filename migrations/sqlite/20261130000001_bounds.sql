-- Money and quantities have bounds (issue #12): the ranges of app/src/limits.rs as CHECK constraints,
-- named <column>_range (the server reports a violation as a 422 naming the column). Keep in step with
-- limits.rs: MONEY_MAX 10^12 cents, QUANTITY_MAX 10^6, DELTA_MAX 10^9, STOCK_MAX 10^12.
--
-- SQLite cannot add a CHECK to an existing table: each table is rebuilt (lang_altertable.html, "other
-- kinds of table schema changes"). sqlx runs a SQLite migration inside a transaction, where
-- PRAGMA foreign_keys cannot be turned off, so instead of renaming a new table over the old one (which
-- would leave the old rows' children pointing at a dropped parent), every table that references a
-- rebuilt one is rebuilt too: all rows go to TEMP copies, the old tables are dropped children first,
-- the new ones are created under their own names parents first, and the rows come back parents first,
-- so every foreign key is checked, and holds, as each row is inserted. Indexes are created again
-- (there are no triggers or views on these tables). Column order is unchanged (backups copy rows by
-- position).
--
-- Rows that an earlier version accepted outside the ranges (only absurd values: the sale-quantity
-- and stock-movement limits are the API's old ones) are clamped to the nearest bound, so that every
-- constraint holds for every row and backups, restores and shipments keep working; the value as sent
-- is still in the audit log's request.

CREATE TEMP TABLE bounds_products AS SELECT * FROM products;
CREATE TEMP TABLE bounds_cash_sessions AS SELECT * FROM cash_sessions;
CREATE TEMP TABLE bounds_sales AS SELECT * FROM sales;
CREATE TEMP TABLE bounds_sale_lines AS SELECT * FROM sale_lines;
CREATE TEMP TABLE bounds_sale_payments AS SELECT * FROM sale_payments;
CREATE TEMP TABLE bounds_cash_movements AS SELECT * FROM cash_movements;
CREATE TEMP TABLE bounds_expenses AS SELECT * FROM expenses;
CREATE TEMP TABLE bounds_inventory_movements AS SELECT * FROM inventory_movements;
CREATE TEMP TABLE bounds_quotes AS SELECT * FROM quotes;

DROP TABLE quotes;
DROP TABLE sale_payments;
DROP TABLE sale_lines;
DROP TABLE inventory_movements;
DROP TABLE cash_movements;
DROP TABLE expenses;
DROP TABLE sales;
DROP TABLE cash_sessions;
DROP TABLE products;

CREATE TABLE products (
    id                  TEXT PRIMARY KEY NOT NULL,
    sku                 TEXT NOT NULL,
    name                TEXT NOT NULL,
    barcode             TEXT,
    category_id         TEXT REFERENCES categories (id),
    price_cents         BIGINT NOT NULL CONSTRAINT price_cents_range CHECK (price_cents BETWEEN 0 AND 1000000000000),
    cost_cents          BIGINT NOT NULL CONSTRAINT cost_cents_range CHECK (cost_cents BETWEEN 0 AND 1000000000000),
    stock               BIGINT NOT NULL DEFAULT 0 CONSTRAINT stock_range CHECK (stock BETWEEN -1000000000000 AND 1000000000000),
    low_stock_threshold BIGINT CONSTRAINT low_stock_threshold_range CHECK (low_stock_threshold BETWEEN 0 AND 1000000000000),
    active              INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    version             BIGINT NOT NULL DEFAULT 1,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    deleted_at          TEXT
);
CREATE UNIQUE INDEX products_sku_live ON products (sku) WHERE deleted_at IS NULL;
CREATE INDEX products_barcode ON products (barcode);

CREATE TABLE cash_sessions (
    id                  TEXT PRIMARY KEY NOT NULL,
    register            TEXT NOT NULL,
    opening_float_cents BIGINT NOT NULL CONSTRAINT opening_float_cents_range CHECK (opening_float_cents BETWEEN 0 AND 1000000000000),
    opened_by           TEXT NOT NULL,
    opened_at           TEXT NOT NULL,
    closed_at           TEXT,
    closed_by           TEXT,
    counted_cents       BIGINT CONSTRAINT counted_cents_range CHECK (counted_cents BETWEEN 0 AND 1000000000000),
    expected_cents      BIGINT,
    difference_cents    BIGINT,
    request_hash        TEXT NOT NULL,
    version             BIGINT NOT NULL DEFAULT 1,
    updated_at          TEXT NOT NULL
);
CREATE UNIQUE INDEX cash_sessions_one_open ON cash_sessions (register) WHERE closed_at IS NULL;

CREATE TABLE sales (
    id              TEXT PRIMARY KEY NOT NULL,
    cash_session_id TEXT NOT NULL REFERENCES cash_sessions (id),
    customer_id     TEXT REFERENCES customers (id),
    total_cents     BIGINT NOT NULL CONSTRAINT total_cents_range CHECK (total_cents BETWEEN 0 AND 1000000000000),
    paid_cents      BIGINT NOT NULL CONSTRAINT paid_cents_range CHECK (paid_cents BETWEEN 0 AND 1000000000000),
    change_cents    BIGINT NOT NULL CONSTRAINT change_cents_range CHECK (change_cents BETWEEN 0 AND 1000000000000),
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
    quantity         BIGINT NOT NULL CONSTRAINT quantity_range CHECK (quantity BETWEEN 1 AND 1000000),
    unit_price_cents BIGINT NOT NULL CONSTRAINT unit_price_cents_range CHECK (unit_price_cents BETWEEN 0 AND 1000000000000),
    total_cents      BIGINT NOT NULL CONSTRAINT total_cents_range CHECK (total_cents BETWEEN 0 AND 1000000000000),
    PRIMARY KEY (sale_id, line_no)
);

CREATE TABLE sale_payments (
    sale_id      TEXT NOT NULL REFERENCES sales (id),
    line_no      BIGINT NOT NULL,
    method       TEXT NOT NULL CHECK (method IN ('cash', 'card', 'transfer', 'other')),
    amount_cents BIGINT NOT NULL CONSTRAINT amount_cents_range CHECK (amount_cents BETWEEN 1 AND 1000000000000),
    PRIMARY KEY (sale_id, line_no)
);

CREATE TABLE cash_movements (
    id              TEXT PRIMARY KEY NOT NULL,
    cash_session_id TEXT NOT NULL REFERENCES cash_sessions (id),
    kind            TEXT NOT NULL CHECK (kind IN ('in', 'out')),
    amount_cents    BIGINT NOT NULL CONSTRAINT amount_cents_range CHECK (amount_cents BETWEEN 1 AND 1000000000000),
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
    amount_cents    BIGINT NOT NULL CONSTRAINT amount_cents_range CHECK (amount_cents BETWEEN 1 AND 1000000000000),
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
    delta        BIGINT NOT NULL CONSTRAINT delta_range CHECK (delta BETWEEN -1000000000 AND 1000000000 AND delta <> 0),
    reason       TEXT NOT NULL CHECK (reason IN ('purchase', 'adjustment', 'waste', 'return')),
    note         TEXT,
    created_by   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    request_hash TEXT NOT NULL
);
CREATE INDEX inventory_movements_product ON inventory_movements (product_id);

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

-- Two-argument MIN/MAX clamp; they give NULL for NULL, so an unset value stays unset.
INSERT INTO products
SELECT id, sku, name, barcode, category_id,
       MIN(MAX(price_cents, 0), 1000000000000), MIN(MAX(cost_cents, 0), 1000000000000),
       MIN(MAX(stock, -1000000000000), 1000000000000), MIN(MAX(low_stock_threshold, 0), 1000000000000),
       active, version, created_at, updated_at, deleted_at
FROM temp.bounds_products;

INSERT INTO cash_sessions
SELECT id, register, MIN(MAX(opening_float_cents, 0), 1000000000000), opened_by, opened_at, closed_at, closed_by,
       MIN(MAX(counted_cents, 0), 1000000000000), expected_cents, difference_cents, request_hash, version, updated_at
FROM temp.bounds_cash_sessions;

INSERT INTO sales
SELECT id, cash_session_id, customer_id, MIN(MAX(total_cents, 0), 1000000000000), MIN(MAX(paid_cents, 0), 1000000000000),
       MIN(MAX(change_cents, 0), 1000000000000), created_by, created_at, request_hash
FROM temp.bounds_sales;

INSERT INTO sale_lines
SELECT sale_id, line_no, product_id, MIN(MAX(quantity, 1), 1000000), MIN(MAX(unit_price_cents, 0), 1000000000000),
       MIN(MAX(total_cents, 0), 1000000000000)
FROM temp.bounds_sale_lines;

INSERT INTO sale_payments
SELECT sale_id, line_no, method, MIN(MAX(amount_cents, 1), 1000000000000) FROM temp.bounds_sale_payments;

INSERT INTO cash_movements
SELECT id, cash_session_id, kind, MIN(MAX(amount_cents, 1), 1000000000000), reason, created_by, created_at, request_hash
FROM temp.bounds_cash_movements;

INSERT INTO expenses
SELECT id, spent_on, category, MIN(MAX(amount_cents, 1), 1000000000000), description, cash_session_id, created_by,
       created_at, request_hash
FROM temp.bounds_expenses;

INSERT INTO inventory_movements
SELECT id, product_id, MIN(MAX(delta, -1000000000), 1000000000), reason, note, created_by, created_at, request_hash
FROM temp.bounds_inventory_movements;

INSERT INTO quotes SELECT * FROM temp.bounds_quotes;

DROP TABLE temp.bounds_products;
DROP TABLE temp.bounds_cash_sessions;
DROP TABLE temp.bounds_sales;
DROP TABLE temp.bounds_sale_lines;
DROP TABLE temp.bounds_sale_payments;
DROP TABLE temp.bounds_cash_movements;
DROP TABLE temp.bounds_expenses;
DROP TABLE temp.bounds_inventory_movements;
DROP TABLE temp.bounds_quotes;
