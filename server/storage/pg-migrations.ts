// PostgreSQL schema migrations: the same tables as the SQLite list (migrations.ts) in PostgreSQL's
// dialect — BYTEA tokens, BIGINT times and amounts, BOOLEAN flags. Applied in order under an
// advisory lock (several instances may start at once); `schema_migrations` records each one.
// Append only: never edit a migration that has shipped.

export const PG_MIGRATIONS: string[] = [
  // 1: the schema of SQLite migrations 1-3
  `
  CREATE TABLE restricted (
    token BYTEA PRIMARY KEY,
    bin TEXT,
    last4 TEXT,
    reason TEXT NOT NULL,
    source TEXT NOT NULL,
    added_at BIGINT NOT NULL,
    expires_at BIGINT
  );
  CREATE TABLE known_good (
    merchant TEXT NOT NULL,
    token BYTEA NOT NULL,
    first_at BIGINT NOT NULL,
    last_at BIGINT NOT NULL,
    PRIMARY KEY (merchant, token)
  );
  CREATE INDEX known_good_token ON known_good (token);

  CREATE TABLE outcomes (
    id BIGSERIAL PRIMARY KEY,
    idempotency_key TEXT,
    fingerprint TEXT,
    merchant TEXT NOT NULL,
    token BYTEA,
    bin TEXT NOT NULL,
    last4 TEXT NOT NULL,
    brand TEXT,
    order_id TEXT NOT NULL,
    amount BIGINT NOT NULL,
    currency TEXT NOT NULL,
    gateway TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('success', 'failure')),
    code TEXT,
    type TEXT,
    advice TEXT,
    at BIGINT NOT NULL,
    hard BOOLEAN NOT NULL DEFAULT false,
    response TEXT,
    country TEXT,
    cross_border BOOLEAN
  );
  -- Idempotency across every instance on the database: a unique constraint, not process memory.
  CREATE UNIQUE INDEX outcomes_idem ON outcomes (merchant, idempotency_key) WHERE idempotency_key IS NOT NULL;
  CREATE INDEX outcomes_token_at ON outcomes (token, at) WHERE token IS NOT NULL;
  CREATE INDEX outcomes_at ON outcomes (at);
  CREATE INDEX outcomes_hard ON outcomes (token) WHERE hard AND token IS NOT NULL;
  CREATE INDEX outcomes_order ON outcomes (merchant, order_id);

  CREATE TABLE order_context (
    merchant TEXT NOT NULL,
    order_id TEXT NOT NULL,
    country TEXT,
    cross_border BOOLEAN,
    at BIGINT NOT NULL,
    PRIMARY KEY (merchant, order_id)
  );
  CREATE INDEX order_context_at ON order_context (at);

  CREATE TABLE gateway_stats (
    gateway TEXT NOT NULL,
    brand TEXT NOT NULL,
    currency TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    successes BIGINT NOT NULL,
    PRIMARY KEY (gateway, brand, currency)
  );
  CREATE TABLE bin_rules (prefix TEXT PRIMARY KEY, action TEXT NOT NULL, reason TEXT NOT NULL);
  CREATE TABLE prompts (code TEXT NOT NULL, lang TEXT NOT NULL, message TEXT NOT NULL, PRIMARY KEY (code, lang));
  CREATE TABLE gateways (name TEXT PRIMARY KEY, fee_per_attempt BIGINT NOT NULL, fee_bps BIGINT NOT NULL);
  CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('bridge', 'admin')),
    merchant TEXT,
    label TEXT,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
  );
  CREATE TABLE devices (
    id TEXT PRIMARY KEY,
    merchant TEXT NOT NULL,
    kind TEXT NOT NULL,
    label TEXT,
    public_key TEXT,
    created_at BIGINT NOT NULL
  );
  CREATE TABLE device_hosts (
    device_id TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    host_id TEXT NOT NULL,
    public_key TEXT,
    paired_at BIGINT NOT NULL,
    PRIMARY KEY (device_id, host_id)
  );
  CREATE TABLE datasets (
    version BIGINT PRIMARY KEY,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    content_hash TEXT NOT NULL,
    chunk_count INTEGER NOT NULL,
    bytes BIGINT NOT NULL,
    manifest BYTEA NOT NULL
  );
  CREATE TABLE dataset_chunks (
    version BIGINT NOT NULL REFERENCES datasets (version) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    data BYTEA NOT NULL,
    PRIMARY KEY (version, idx)
  );
  CREATE TABLE deltas (
    from_version BIGINT NOT NULL,
    to_version BIGINT NOT NULL,
    manifest BYTEA NOT NULL,
    PRIMARY KEY (from_version, to_version)
  );
  CREATE TABLE delta_chunks (
    from_version BIGINT NOT NULL,
    to_version BIGINT NOT NULL,
    idx INTEGER NOT NULL,
    data BYTEA NOT NULL,
    PRIMARY KEY (from_version, to_version, idx),
    FOREIGN KEY (from_version, to_version) REFERENCES deltas (from_version, to_version) ON DELETE CASCADE
  );
  CREATE TABLE firmware (
    version BIGINT PRIMARY KEY,
    name TEXT,
    created_at BIGINT NOT NULL,
    chunk_count INTEGER NOT NULL,
    bytes BIGINT NOT NULL,
    manifest BYTEA NOT NULL
  );
  CREATE TABLE firmware_chunks (
    version BIGINT NOT NULL REFERENCES firmware (version) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    data BYTEA NOT NULL,
    PRIMARY KEY (version, idx)
  );
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

  CREATE TABLE trust_attempts (
    id BIGSERIAL PRIMARY KEY,
    merchant TEXT NOT NULL,
    order_id TEXT NOT NULL,
    token BYTEA NOT NULL,
    account TEXT,
    device TEXT,
    ip TEXT,
    ip_country TEXT,
    card_country TEXT,
    at BIGINT NOT NULL,
    features TEXT NOT NULL,
    model_version TEXT,
    status TEXT,
    type TEXT,
    label SMALLINT,
    labelled_at BIGINT
  );
  CREATE INDEX trust_attempts_order ON trust_attempts (merchant, order_id);
  CREATE INDEX trust_attempts_account ON trust_attempts (account, at) WHERE account IS NOT NULL;
  CREATE INDEX trust_attempts_device ON trust_attempts (device, account) WHERE device IS NOT NULL;
  CREATE INDEX trust_attempts_ip ON trust_attempts (ip, at) WHERE ip IS NOT NULL;
  CREATE INDEX trust_attempts_token ON trust_attempts (token, at);
  CREATE INDEX trust_attempts_labelled ON trust_attempts (labelled_at) WHERE label IS NOT NULL;
  CREATE SEQUENCE trust_models_seq;
  CREATE TABLE trust_models (
    seq BIGINT NOT NULL DEFAULT nextval('trust_models_seq'),
    version TEXT PRIMARY KEY,
    trained_at BIGINT NOT NULL,
    auc DOUBLE PRECISION, precision DOUBLE PRECISION, recall DOUBLE PRECISION, n INTEGER NOT NULL,
    model TEXT NOT NULL
  );
  CREATE INDEX trust_models_seq_idx ON trust_models (seq);
  `,
  // 2: the trust answer that decided an attempt (SQLite migration 4), for the false-decline report.
  `
  ALTER TABLE trust_attempts ADD COLUMN decision TEXT;
  ALTER TABLE trust_attempts ADD COLUMN reason TEXT;
  CREATE INDEX trust_attempts_decided ON trust_attempts (decision, at) WHERE decision IS NOT NULL;
  `,
  // 3 (SQLite migration 5): only declines are ever looked up by decision (the false-decline report), and
  // nearly every attempt of a new card has a decision: an index of all of them cost every
  // attempt's write one more B-tree insert.
  `
  DROP INDEX trust_attempts_decided;
  CREATE INDEX trust_attempts_declined ON trust_attempts (at) WHERE decision = 'decline';
  `,
  // 4: no gateway_stats counters: every outcome of a gateway × brand × currency updated the same
  // row, so concurrent outcomes (from every instance) queued on its row lock until each commit's
  // WAL flush — record-outcome took ~5 ms in the database instead of ~0.2 ms. Nothing on the
  // service's paths reads the counters; gatewayStats() counts the outcomes instead.
  `
  DROP TABLE gateway_stats;
  `,
  // 5: the transaction that wrote each outcome, so a dataset build can read the history from where
  // the previous build's snapshot stood (readDatasetTablesSince): ids are handed out before commit,
  // so an id cursor would skip a row that committed after a larger id was read; a transaction id
  // at or above the snapshot's xmin catches every row that snapshot could not see. Rows from before
  // this migration keep NULL: they committed before any snapshot a cursor comes from (ALTER waits
  // for the writers in flight). Set in a second step so the table is not rewritten.
  `
  ALTER TABLE outcomes ADD COLUMN xact BIGINT;
  ALTER TABLE outcomes ALTER COLUMN xact SET DEFAULT (pg_current_xact_id()::text::bigint);
  CREATE INDEX outcomes_xact ON outcomes (xact);
  `,
];
