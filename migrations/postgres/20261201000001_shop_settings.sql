-- The shop's own details, printed on every receipt: one row, edited by an admin with its version
-- (a stale edit is refused with the current row, as for the catalog).
CREATE TABLE shop_settings (
    id             TEXT PRIMARY KEY NOT NULL CHECK (id = 'shop'),
    name           TEXT NOT NULL,
    address        TEXT NOT NULL DEFAULT '',
    tax_id         TEXT NOT NULL DEFAULT '',
    phone          TEXT NOT NULL DEFAULT '',
    receipt_header TEXT NOT NULL DEFAULT '',
    receipt_footer TEXT NOT NULL DEFAULT '',
    version        BIGINT NOT NULL DEFAULT 1,
    updated_at     TEXT NOT NULL
);
INSERT INTO shop_settings (id, name, updated_at) VALUES ('shop', 'Mostrador', '2026-12-01T00:00:00.000Z');
