// Schema migrations, applied in order by database.ts (PRAGMA user_version = how many ran).
// Never edit a shipped migration; append a new one.

export type Slot = 'a' | 'b';
export const SLOTS: readonly Slot[] = ['a', 'b'];
export const otherSlot = (s: Slot): Slot => (s === 'a' ? 'b' : 'a');

/** Per-slot dataset tables (one set per slot, so clearing a slot is a fast whole-table delete). */
function slotTables(s: Slot): string {
  return `
    CREATE TABLE restricted_${s} (token BLOB PRIMARY KEY, reason TEXT NOT NULL) WITHOUT ROWID;
    CREATE TABLE known_good_${s} (token BLOB PRIMARY KEY) WITHOUT ROWID;
    -- events: JSON array (a card's history is replaced whole by deltas)
    CREATE TABLE history_${s} (token BLOB PRIMARY KEY, brand TEXT, events TEXT NOT NULL) WITHOUT ROWID;
    CREATE TABLE bin_rules_${s} (prefix TEXT PRIMARY KEY, action TEXT NOT NULL, reason TEXT NOT NULL) WITHOUT ROWID;
    CREATE TABLE prompts_${s} (code TEXT NOT NULL, lang TEXT NOT NULL, message TEXT NOT NULL, PRIMARY KEY (code, lang)) WITHOUT ROWID;
    CREATE TABLE routes_${s} (brand TEXT NOT NULL, currency TEXT NOT NULL, gateway TEXT NOT NULL, success_rate REAL NOT NULL,
                              PRIMARY KEY (brand, currency, gateway)) WITHOUT ROWID;
  `;
}

export const DATASET_TABLES = ['restricted', 'known_good', 'history', 'bin_rules', 'prompts', 'routes', 'filter', 'health', 'floor'] as const;

/** v3: routes per segment (region, amount band: '*' = any; rank) and the gateway health section. */
function segmentRoutes(s: Slot): string {
  return `
  CREATE TABLE routes3_${s} (brand TEXT NOT NULL, currency TEXT NOT NULL, region TEXT NOT NULL, band TEXT NOT NULL, gateway TEXT NOT NULL,
                             success_rate REAL NOT NULL, rank INTEGER,
                             PRIMARY KEY (brand, currency, region, band, gateway)) WITHOUT ROWID;
  INSERT INTO routes3_${s} (brand, currency, region, band, gateway, success_rate, rank)
    SELECT brand, currency, '*', '*', gateway, success_rate, NULL FROM routes_${s};
  DROP TABLE routes_${s};
  ALTER TABLE routes3_${s} RENAME TO routes_${s};
  CREATE TABLE health_${s} (gateway TEXT PRIMARY KEY, eliminated_until INTEGER NOT NULL) WITHOUT ROWID;
  `;
}

export const MIGRATIONS: readonly string[] = [
  // v1
  `
  ${slotTables('a')}
  ${slotTables('b')}
  -- a row exists only while the slot holds a complete, verified dataset
  CREATE TABLE slot_meta (
    slot TEXT PRIMARY KEY CHECK (slot IN ('a', 'b')),
    version INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    content_hash BLOB NOT NULL,
    installed_at INTEGER NOT NULL
  );
  -- key/value device state: active_slot, merchant_country, ...
  CREATE TABLE device_state (key TEXT PRIMARY KEY, value TEXT);
  -- in-progress transfers (kind 'dataset' or 'firmware'); chunks kept until commit/abort
  CREATE TABLE transfer (
    kind TEXT PRIMARY KEY CHECK (kind IN ('dataset', 'firmware')),
    manifest BLOB NOT NULL,
    version INTEGER NOT NULL,
    total_chunks INTEGER NOT NULL,
    next_chunk INTEGER NOT NULL,
    next_hash BLOB,
    started_at INTEGER NOT NULL
  );
  CREATE TABLE transfer_chunk (kind TEXT NOT NULL, idx INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (kind, idx)) WITHOUT ROWID;
  CREATE TABLE paired_host (public_key BLOB PRIMARY KEY, name TEXT NOT NULL, paired_at INTEGER NOT NULL) WITHOUT ROWID;
  -- never the card number: token, decision, reason only
  CREATE TABLE journal (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    token BLOB NOT NULL,
    decision TEXT NOT NULL,
    reason TEXT NOT NULL,
    dataset_version INTEGER NOT NULL
  );
  CREATE TABLE counter (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
  CREATE TABLE firmware_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    active_slot TEXT,            -- NULL: the factory image
    active_version INTEGER NOT NULL,
    previous_slot TEXT,
    previous_version INTEGER,
    state TEXT NOT NULL CHECK (state IN ('confirmed', 'trial')),
    trial_booted INTEGER NOT NULL DEFAULT 0,
    last_rollback_reason TEXT,
    last_rollback_at INTEGER
  );
  `,
  // v2: the optional restricted filter (binary fuse filter) of each slot, at most one row
  `
  CREATE TABLE filter_a (id INTEGER PRIMARY KEY CHECK (id = 1), seed INTEGER NOT NULL, segment_length INTEGER NOT NULL,
                         segment_count INTEGER NOT NULL, fingerprints BLOB NOT NULL);
  CREATE TABLE filter_b (id INTEGER PRIMARY KEY CHECK (id = 1), seed INTEGER NOT NULL, segment_length INTEGER NOT NULL,
                         segment_count INTEGER NOT NULL, fingerprints BLOB NOT NULL);
  `,
  // v3: dataset format 2 — routes per segment and gateway health
  `
  ${segmentRoutes('a')}
  ${segmentRoutes('b')}
  `,
  // v4: each history row's canonical CBOR entry (as inside the content's history array), so the
  // content hash after a delta hashes stored bytes instead of re-encoding every card's history;
  // NULL until computed (a snapshot install leaves it; the first delta after it fills it)
  `
  ALTER TABLE history_a ADD COLUMN enc BLOB;
  ALTER TABLE history_b ADD COLUMN enc BLOB;
  `,
  // v5: dataset format 3 — the floor-limit section of each slot (at most one row; limits as JSON,
  // a few hundred segments at most), and the device's floor budget: one row per unknown card it
  // approved under a floor limit (never a token or card data: time and a hash of the order id)
  `
  CREATE TABLE floor_a (id INTEGER PRIMARY KEY CHECK (id = 1), max_approvals INTEGER NOT NULL, window_seconds INTEGER NOT NULL, limits TEXT NOT NULL);
  CREATE TABLE floor_b (id INTEGER PRIMARY KEY CHECK (id = 1), max_approvals INTEGER NOT NULL, window_seconds INTEGER NOT NULL, limits TEXT NOT NULL);
  CREATE TABLE floor_spend (id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, order_hash BLOB NOT NULL);
  CREATE INDEX floor_spend_at ON floor_spend (at);
  `,
  // v6: deltas are applied in place (dataset-slots.ts); finding the history rows still without
  // their encoding (those a delta just upserted, or all of them once after a snapshot) must not
  // scan every card on every delta: a partial index holds exactly those rows.
  `
  CREATE INDEX history_a_enc_null ON history_a (token) WHERE enc IS NULL;
  CREATE INDEX history_b_enc_null ON history_b (token) WHERE enc IS NULL;
  `,
];
