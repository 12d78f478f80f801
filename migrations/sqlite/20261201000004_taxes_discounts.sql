-- Taxes and discounts (issue 14, points 2 and 3). Amounts are integers in the currency's minor unit,
-- rates in basis points (2100 = 21 %).
CREATE TABLE tax_rates (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    rate_bp     BIGINT NOT NULL CHECK (rate_bp >= 0 AND rate_bp <= 10000),
    active      INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    version     BIGINT NOT NULL DEFAULT 1,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    deleted_at  TEXT
);

-- A product's own rate; NULL: the shop's default rate.
ALTER TABLE products ADD COLUMN tax_rate_id TEXT REFERENCES tax_rates (id);

-- The tax mode, the default rate and the largest discount a cashier may give (basis points).
ALTER TABLE shop_settings ADD COLUMN prices_include_tax INTEGER NOT NULL DEFAULT 1 CHECK (prices_include_tax IN (0, 1));
ALTER TABLE shop_settings ADD COLUMN default_tax_rate_id TEXT;
ALTER TABLE shop_settings ADD COLUMN cashier_max_discount_bp BIGINT NOT NULL DEFAULT 1000
    CHECK (cashier_max_discount_bp >= 0 AND cashier_max_discount_bp <= 10000);

-- A sale keeps its figures as they were computed when it was made: later rate or mode changes never
-- rewrite it. Sales from before read as untaxed and undiscounted (subtotal = total).
ALTER TABLE sales ADD COLUMN subtotal_cents BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sales ADD COLUMN discount_cents BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sales ADD COLUMN discount_kind TEXT CHECK (discount_kind IN ('percent_bp', 'amount_cents'));
ALTER TABLE sales ADD COLUMN discount_value BIGINT;
ALTER TABLE sales ADD COLUMN discount_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE sales ADD COLUMN net_cents BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sales ADD COLUMN tax_cents BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sales ADD COLUMN prices_include_tax INTEGER NOT NULL DEFAULT 1 CHECK (prices_include_tax IN (0, 1));
UPDATE sales SET subtotal_cents = total_cents, net_cents = total_cents;

ALTER TABLE sale_lines ADD COLUMN discount_kind TEXT CHECK (discount_kind IN ('percent_bp', 'amount_cents'));
ALTER TABLE sale_lines ADD COLUMN discount_value BIGINT;
ALTER TABLE sale_lines ADD COLUMN discount_cents BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sale_lines ADD COLUMN ticket_discount_cents BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sale_lines ADD COLUMN tax_name TEXT NOT NULL DEFAULT '';
ALTER TABLE sale_lines ADD COLUMN tax_rate_bp BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sale_lines ADD COLUMN net_cents BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sale_lines ADD COLUMN tax_cents BIGINT NOT NULL DEFAULT 0;
UPDATE sale_lines SET net_cents = total_cents;
