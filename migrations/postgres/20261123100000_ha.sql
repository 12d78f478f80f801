-- High availability (issue #6).

-- Reconciliation marks a standby's emergency writes once the primary has replayed them.
ALTER TABLE audit_log ADD COLUMN reconciled_at TEXT;
-- The If-Match precondition a write carried: a replay must send it again.
ALTER TABLE audit_log ADD COLUMN if_match TEXT;

-- This node's own state (emergency toggle, last shipment, last reconciliation, failover). A restore
-- leaves it as it is, and it is not replicated to a mirror: it describes the node, not the shop.
CREATE TABLE node_state (
    key        TEXT PRIMARY KEY NOT NULL,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- Alert history for the Sistema page (node-local, like node_state).
CREATE TABLE alerts (
    id        BIGSERIAL PRIMARY KEY,
    at        TEXT NOT NULL,
    kind      TEXT NOT NULL,
    message   TEXT NOT NULL,
    node      TEXT NOT NULL,
    details   TEXT,
    delivered TEXT
);
CREATE INDEX alerts_at ON alerts (at);
