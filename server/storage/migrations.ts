// SQLite schema migrations: a numbered list applied in order; SQLite's `user_version` records how
// many have run. Append only: never edit a migration that has shipped. PostgreSQL has its own list
// (pg-migrations.ts) describing the same tables in its dialect.

export const MIGRATIONS: string[] = [
  // 1: initial schema
  `
  CREATE TABLE restricted (
    token BLOB PRIMARY KEY,
    bin TEXT,
    last4 TEXT,
    reason TEXT NOT NULL,
    source TEXT NOT NULL,
    added_at INTEGER NOT NULL,
    expires_at INTEGER
  ) WITHOUT ROWID;

  CREATE TABLE known_good (
    merchant TEXT NOT NULL,
    token BLOB NOT NULL,
    first_at INTEGER NOT NULL,
    last_at INTEGER NOT NULL,
    PRIMARY KEY (merchant, token)
  ) WITHOUT ROWID;
  CREATE INDEX known_good_token ON known_good (token);

  CREATE TABLE outcomes (
    id INTEGER PRIMARY KEY,
    idempotency_key TEXT,
    fingerprint TEXT,
    merchant TEXT NOT NULL,
    token BLOB NOT NULL,
    bin TEXT NOT NULL,
    last4 TEXT NOT NULL,
    brand TEXT,
    order_id TEXT NOT NULL,
    amount INTEGER NOT NULL,
    currency TEXT NOT NULL,
    gateway TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('success', 'failure')),
    code TEXT,
    type TEXT,
    advice TEXT,
    at INTEGER NOT NULL,
    hard INTEGER NOT NULL DEFAULT 0,
    response TEXT
  );
  CREATE UNIQUE INDEX outcomes_idem ON outcomes (merchant, idempotency_key) WHERE idempotency_key IS NOT NULL;
  CREATE INDEX outcomes_token_at ON outcomes (token, at);
  CREATE INDEX outcomes_at ON outcomes (at);
  CREATE INDEX outcomes_hard ON outcomes (token) WHERE hard = 1;

  CREATE TABLE gateway_stats (
    gateway TEXT NOT NULL,
    brand TEXT NOT NULL,
    currency TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    successes INTEGER NOT NULL,
    PRIMARY KEY (gateway, brand, currency)
  ) WITHOUT ROWID;

  CREATE TABLE bin_rules (
    prefix TEXT PRIMARY KEY,
    action TEXT NOT NULL,
    reason TEXT NOT NULL
  );

  CREATE TABLE prompts (
    code TEXT NOT NULL,
    lang TEXT NOT NULL,
    message TEXT NOT NULL,
    PRIMARY KEY (code, lang)
  );

  CREATE TABLE gateways (
    name TEXT PRIMARY KEY,
    fee_per_attempt INTEGER NOT NULL,
    fee_bps INTEGER NOT NULL
  );

  CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('bridge', 'admin')),
    merchant TEXT,
    label TEXT,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
  );

  CREATE TABLE devices (
    id TEXT PRIMARY KEY,
    merchant TEXT NOT NULL,
    kind TEXT NOT NULL,
    label TEXT,
    public_key TEXT,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE device_hosts (
    device_id TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    host_id TEXT NOT NULL,
    public_key TEXT,
    paired_at INTEGER NOT NULL,
    PRIMARY KEY (device_id, host_id)
  );

  CREATE TABLE datasets (
    version INTEGER PRIMARY KEY,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    chunk_count INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    manifest BLOB NOT NULL
  );
  CREATE TABLE dataset_chunks (
    version INTEGER NOT NULL REFERENCES datasets (version) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (version, idx)
  ) WITHOUT ROWID;
  CREATE TABLE deltas (
    from_version INTEGER NOT NULL,
    to_version INTEGER NOT NULL,
    manifest BLOB NOT NULL,
    PRIMARY KEY (from_version, to_version)
  );
  CREATE TABLE delta_chunks (
    from_version INTEGER NOT NULL,
    to_version INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (from_version, to_version, idx),
    FOREIGN KEY (from_version, to_version) REFERENCES deltas (from_version, to_version) ON DELETE CASCADE
  ) WITHOUT ROWID;

  CREATE TABLE firmware (
    version INTEGER PRIMARY KEY,
    name TEXT,
    created_at INTEGER NOT NULL,
    chunk_count INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    manifest BLOB NOT NULL
  );
  CREATE TABLE firmware_chunks (
    version INTEGER NOT NULL REFERENCES firmware (version) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (version, idx)
  ) WITHOUT ROWID;

  CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );
  `,
  // 2: token-less outcomes (no device answered: the bridge has no card key), the order's country and
  // cross-border flag (routing segments), and a lookup of an order's earlier outcomes. SQLite cannot
  // drop NOT NULL in place, so the table is rebuilt; ids are kept.
  `
  CREATE TABLE outcomes_v2 (
    id INTEGER PRIMARY KEY,
    idempotency_key TEXT,
    fingerprint TEXT,
    merchant TEXT NOT NULL,
    token BLOB,
    bin TEXT NOT NULL,
    last4 TEXT NOT NULL,
    brand TEXT,
    order_id TEXT NOT NULL,
    amount INTEGER NOT NULL,
    currency TEXT NOT NULL,
    gateway TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('success', 'failure')),
    code TEXT,
    type TEXT,
    advice TEXT,
    at INTEGER NOT NULL,
    hard INTEGER NOT NULL DEFAULT 0,
    response TEXT,
    country TEXT,
    cross_border INTEGER
  );
  INSERT INTO outcomes_v2 (id, idempotency_key, fingerprint, merchant, token, bin, last4, brand, order_id, amount,
    currency, gateway, status, code, type, advice, at, hard, response)
    SELECT id, idempotency_key, fingerprint, merchant, token, bin, last4, brand, order_id, amount,
    currency, gateway, status, code, type, advice, at, hard, response FROM outcomes;
  DROP TABLE outcomes;
  ALTER TABLE outcomes_v2 RENAME TO outcomes;
  CREATE UNIQUE INDEX outcomes_idem ON outcomes (merchant, idempotency_key) WHERE idempotency_key IS NOT NULL;
  CREATE INDEX outcomes_token_at ON outcomes (token, at) WHERE token IS NOT NULL;
  CREATE INDEX outcomes_at ON outcomes (at);
  CREATE INDEX outcomes_hard ON outcomes (token) WHERE hard = 1 AND token IS NOT NULL;
  CREATE INDEX outcomes_order ON outcomes (merchant, order_id);

  -- What the network authentication of an order knew about it (country, cross-border), so the
  -- order's outcomes, which the bridge reports without them, are routed in the right segment.
  CREATE TABLE order_context (
    merchant TEXT NOT NULL,
    order_id TEXT NOT NULL,
    country TEXT,
    cross_border INTEGER,
    at INTEGER NOT NULL,
    PRIMARY KEY (merchant, order_id)
  ) WITHOUT ROWID;
  CREATE INDEX order_context_at ON order_context (at);
  `,
  // 3: new-card trust signals and models, formerly created ad hoc by server/trust on the SQLite
  // handle (IF NOT EXISTS: databases from before this migration already have them).
  `
  CREATE TABLE IF NOT EXISTS trust_attempts (
    id INTEGER PRIMARY KEY,
    merchant TEXT NOT NULL,
    order_id TEXT NOT NULL,
    token BLOB NOT NULL,
    account TEXT,
    device TEXT,
    ip TEXT,
    ip_country TEXT,
    card_country TEXT,
    at INTEGER NOT NULL,
    features TEXT NOT NULL,
    model_version TEXT,
    status TEXT,
    type TEXT,
    label INTEGER,
    labelled_at INTEGER
  );
  CREATE INDEX IF NOT EXISTS trust_attempts_order ON trust_attempts (merchant, order_id);
  CREATE INDEX IF NOT EXISTS trust_attempts_account ON trust_attempts (account, at) WHERE account IS NOT NULL;
  CREATE INDEX IF NOT EXISTS trust_attempts_device ON trust_attempts (device, account) WHERE device IS NOT NULL;
  CREATE INDEX IF NOT EXISTS trust_attempts_ip ON trust_attempts (ip, at) WHERE ip IS NOT NULL;
  CREATE INDEX IF NOT EXISTS trust_attempts_token ON trust_attempts (token, at);
  CREATE INDEX IF NOT EXISTS trust_attempts_labelled ON trust_attempts (labelled_at) WHERE label IS NOT NULL;
  CREATE TABLE IF NOT EXISTS trust_models (
    seq INTEGER PRIMARY KEY,
    version TEXT NOT NULL UNIQUE,
    trained_at INTEGER NOT NULL,
    auc REAL, precision REAL, recall REAL, n INTEGER NOT NULL,
    model TEXT NOT NULL
  );
  `,
  // 4: the trust answer that decided an attempt (new card), for the false-decline report.
  `
  ALTER TABLE trust_attempts ADD COLUMN decision TEXT;
  ALTER TABLE trust_attempts ADD COLUMN reason TEXT;
  CREATE INDEX trust_attempts_decided ON trust_attempts (decision, at) WHERE decision IS NOT NULL;
  `,
  // 5 (PostgreSQL migration 3): only declines are ever looked up by decision (the false-decline report), and
  // nearly every attempt of a new card has a decision: an index of all of them cost every
  // attempt's write one more B-tree insert.
  `
  DROP INDEX trust_attempts_decided;
  CREATE INDEX trust_attempts_declined ON trust_attempts (at) WHERE decision = 'decline';
  `,
  // 6: the trust counts are held in memory (trust-counts-memory.ts), so the indexes that served only
  // the counting statement go — four B-tree inserts with random keys less per attempt written; the
  // false-decline report looks attempts up by token and account among labelled rows only.
  `
  DROP INDEX IF EXISTS trust_attempts_account;
  DROP INDEX IF EXISTS trust_attempts_device;
  DROP INDEX IF EXISTS trust_attempts_ip;
  DROP INDEX IF EXISTS trust_attempts_token;
  CREATE INDEX trust_attempts_labelled_token ON trust_attempts (token) WHERE status IS NOT NULL;
  CREATE INDEX trust_attempts_labelled_account ON trust_attempts (account) WHERE status IS NOT NULL AND account IS NOT NULL;
  `,
  // 7: the in-memory trust counts load the last day's attempts one by one and the older ones grouped
  // (trust-counts-memory.ts loadOlder): the newest attempt and the last day are an index range, not
  // a scan of the table at every start. Times only grow, so each insert lands on the index's last page.
  `
  CREATE INDEX trust_attempts_at ON trust_attempts (at);
  `,
  // 8: trust_attempts.features is written as float64 bytes (rows.ts featuresBlob; rows written
  // before stay JSON text and read the same). No statement: the version alone makes older software,
  // which would read the bytes as JSON, refuse the file.
  `
  SELECT 1;
  `,
];
