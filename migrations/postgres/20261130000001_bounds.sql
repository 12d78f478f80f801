-- Money and quantities have bounds (issue #12): the ranges of app/src/limits.rs as CHECK constraints,
-- named <column>_range (the server reports a violation as a 422 naming the column). Keep in step with
-- limits.rs: MONEY_MAX 10^12 cents, QUANTITY_MAX 10^6, DELTA_MAX 10^9, STOCK_MAX 10^12. The SQLite
-- migration of the same name says the same with a table rebuild.
--
-- Rows that an earlier version accepted outside the ranges (only absurd values: the sale-quantity
-- and stock-movement limits are the API's old ones) are clamped to the nearest bound first, so the
-- constraints are added VALID: every row holds them, and backups, restores (which copy rows into
-- these tables) and shipments keep working. NOT VALID would keep such rows but make every later
-- restore of them, and every update of such a row, fail. The value as sent is still in the audit
-- log's request.

UPDATE products SET price_cents = LEAST(price_cents, 1000000000000) WHERE price_cents > 1000000000000;
UPDATE products SET cost_cents = LEAST(cost_cents, 1000000000000) WHERE cost_cents > 1000000000000;
UPDATE products SET stock = LEAST(GREATEST(stock, -1000000000000), 1000000000000)
    WHERE stock NOT BETWEEN -1000000000000 AND 1000000000000;
UPDATE products SET low_stock_threshold = LEAST(GREATEST(low_stock_threshold, 0), 1000000000000)
    WHERE low_stock_threshold NOT BETWEEN 0 AND 1000000000000;
ALTER TABLE products
    ADD CONSTRAINT price_cents_range CHECK (price_cents BETWEEN 0 AND 1000000000000),
    ADD CONSTRAINT cost_cents_range CHECK (cost_cents BETWEEN 0 AND 1000000000000),
    ADD CONSTRAINT stock_range CHECK (stock BETWEEN -1000000000000 AND 1000000000000),
    ADD CONSTRAINT low_stock_threshold_range CHECK (low_stock_threshold BETWEEN 0 AND 1000000000000);

UPDATE cash_sessions SET opening_float_cents = LEAST(opening_float_cents, 1000000000000)
    WHERE opening_float_cents > 1000000000000;
UPDATE cash_sessions SET counted_cents = LEAST(GREATEST(counted_cents, 0), 1000000000000)
    WHERE counted_cents NOT BETWEEN 0 AND 1000000000000;
ALTER TABLE cash_sessions
    ADD CONSTRAINT opening_float_cents_range CHECK (opening_float_cents BETWEEN 0 AND 1000000000000),
    ADD CONSTRAINT counted_cents_range CHECK (counted_cents BETWEEN 0 AND 1000000000000);

UPDATE sales SET total_cents = LEAST(total_cents, 1000000000000) WHERE total_cents > 1000000000000;
UPDATE sales SET paid_cents = LEAST(GREATEST(paid_cents, 0), 1000000000000) WHERE paid_cents NOT BETWEEN 0 AND 1000000000000;
UPDATE sales SET change_cents = LEAST(change_cents, 1000000000000) WHERE change_cents > 1000000000000;
ALTER TABLE sales
    ADD CONSTRAINT total_cents_range CHECK (total_cents BETWEEN 0 AND 1000000000000),
    ADD CONSTRAINT paid_cents_range CHECK (paid_cents BETWEEN 0 AND 1000000000000),
    ADD CONSTRAINT change_cents_range CHECK (change_cents BETWEEN 0 AND 1000000000000);

UPDATE sale_lines SET quantity = LEAST(quantity, 1000000) WHERE quantity > 1000000;
UPDATE sale_lines SET unit_price_cents = LEAST(unit_price_cents, 1000000000000) WHERE unit_price_cents > 1000000000000;
UPDATE sale_lines SET total_cents = LEAST(GREATEST(total_cents, 0), 1000000000000)
    WHERE total_cents NOT BETWEEN 0 AND 1000000000000;
ALTER TABLE sale_lines
    ADD CONSTRAINT quantity_range CHECK (quantity BETWEEN 1 AND 1000000),
    ADD CONSTRAINT unit_price_cents_range CHECK (unit_price_cents BETWEEN 0 AND 1000000000000),
    ADD CONSTRAINT total_cents_range CHECK (total_cents BETWEEN 0 AND 1000000000000);

UPDATE sale_payments SET amount_cents = LEAST(amount_cents, 1000000000000) WHERE amount_cents > 1000000000000;
ALTER TABLE sale_payments ADD CONSTRAINT amount_cents_range CHECK (amount_cents BETWEEN 1 AND 1000000000000);

UPDATE cash_movements SET amount_cents = LEAST(amount_cents, 1000000000000) WHERE amount_cents > 1000000000000;
ALTER TABLE cash_movements ADD CONSTRAINT amount_cents_range CHECK (amount_cents BETWEEN 1 AND 1000000000000);

UPDATE expenses SET amount_cents = LEAST(amount_cents, 1000000000000) WHERE amount_cents > 1000000000000;
ALTER TABLE expenses ADD CONSTRAINT amount_cents_range CHECK (amount_cents BETWEEN 1 AND 1000000000000);

UPDATE inventory_movements SET delta = LEAST(GREATEST(delta, -1000000000), 1000000000)
    WHERE delta NOT BETWEEN -1000000000 AND 1000000000;
ALTER TABLE inventory_movements ADD CONSTRAINT delta_range CHECK (delta BETWEEN -1000000000 AND 1000000000 AND delta <> 0);
