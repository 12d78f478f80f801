-- The change feed behind GET /api/sync/pull. Each write transaction that changes syncable rows takes
-- the next number from sync_state just before it commits; the row lock on sync_state is held until
-- the commit, so numbers are handed out in commit order and a reader's cursor can never pass a change
-- that commits later with a smaller number.
CREATE TABLE sync_state (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    last_seq BIGINT NOT NULL
);
INSERT INTO sync_state (id, last_seq) VALUES (1, 0);

CREATE TABLE change_log (
    seq       BIGINT NOT NULL,
    entity    TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    PRIMARY KEY (seq, entity, entity_id)
);
