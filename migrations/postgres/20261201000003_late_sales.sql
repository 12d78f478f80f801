-- A sale recorded offline into a till that another device closed meanwhile is accepted, never lost:
-- it keeps its till and is marked `after_close` (the till's counted figures stay as counted; the till
-- lists its late sales beside them).
ALTER TABLE sales ADD COLUMN after_close BOOLEAN NOT NULL DEFAULT FALSE;
