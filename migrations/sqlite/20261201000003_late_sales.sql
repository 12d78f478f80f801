-- A sale recorded offline into a till that another device closed meanwhile is accepted, never lost:
-- it keeps its till and is marked `after_close` (the till's counted figures stay as counted; the till
-- lists its late sales beside them).
ALTER TABLE sales ADD COLUMN after_close INTEGER NOT NULL DEFAULT 0 CHECK (after_close IN (0, 1));  -- boolean; see db::get_bool
