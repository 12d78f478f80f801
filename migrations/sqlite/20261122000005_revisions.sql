-- Every version of every catalog row, as JSON: a stale edit's 409 can then say which fields both
-- sides changed since the version the edit was based on (details.conflicting_fields).
CREATE TABLE revisions (
    entity    TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    version   BIGINT NOT NULL,
    snapshot  TEXT NOT NULL,
    PRIMARY KEY (entity, entity_id, version)
);
