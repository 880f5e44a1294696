// SQLite implementation of Storage (better-sqlite3): WAL journal, foreign keys on, migrations by
// `user_version`, prepared statements compiled once, multi-row changes in transactions.
// Durability: the connection runs synchronous=NORMAL (a commit reaches the WAL, which survives a
// crash of this process but not necessarily a power loss until the next checkpoint) — right for
// the learning-only writes of the auth path. An acknowledged outcome must survive a power loss
// (the bridge deletes it from its outbox once acknowledged), so outcomes are group-committed with
// synchronous=FULL: every outcome that arrived in the same event-loop turn shares one transaction
// and one fsync of the WAL, and each caller is answered only after it.
import Database from 'better-sqlite3';
import { MIGRATIONS } from './migrations.ts';
import { TrustCountsMemory, type OlderGroup } from './trust-counts-memory.ts';
import { CardKeys, type CardFilter } from './card-filter.ts';
import { type Row, apiKeyRow, blobOf, buf, bytes, featuresBlob, featuresText, datasetInfo, deviceRow, firmwareInfo, flag, historyRow, restrictedRow, trimHistory } from './rows.ts';
import { ServiceError } from '../errors.ts';
import type {
  ApiKeyRecord,
  AuthFacts,
  AuthFactsQuery,
  BinRule,
  DatasetTableChanges,
  DatasetTables,
  DatasetVersionInfo,
  DeviceRecord,
  FirmwareInfo,
  Gateway,
  GatewayStat,
  HistoryCursor,
  HistoryRow,
  OutcomeEffects,
  OrderContext,
  OutcomeRow,
  Prompt,
  RecordOutcomeResult,
  RestrictedEntry,
  RoutingRow,
  Storage,
  StoredRelease,
  StoredTrustModel,
  TrustAttemptRow,
  TrustCounts,
  TrustDeclineReport,
  TrustKeys,
} from './storage.ts';
import { ROUTING_CARD_KEY_BYTES } from './storage.ts';



// Every trust count of an attempt in one statement, single-row aggregates cross-joined. The
// service answers them from memory (trust-counts-memory.ts): this statement is what those answers
// equal (tests compare), never asked on the request path; since migration 6 no index serves it. Parameters: @account @device @ip
// @token @at and the window starts @hour @day @month; a null key matches no row. The same counts
// as PostgreSQL's TRUST_FROM (pg-storage.ts).
const TRUST_SQL = `
  (SELECT min(at) AS first_at, sum(status = 'success') AS successes, sum(status = 'failure') AS failures,
          sum(type = 'fraud') AS fraud, sum(type = 'chargeback') AS chargebacks,
          sum(at >= @day) AS ad, sum(at >= @hour) AS ah,
          count(DISTINCT CASE WHEN at >= @day THEN token END) AS ca_n, max(at >= @day AND token = @token) AS ca_mine
     FROM trust_attempts WHERE account = @account AND at < @at) a,
  (SELECT count(DISTINCT CASE WHEN at < @at THEN account END) AS d_accounts, max(at < @at AND account = @account) AS d_mine,
          sum(type IN ('fraud', 'chargeback')) AS d_fraud,
          count(DISTINCT CASE WHEN at >= @day AND at < @at THEN token END) AS cdv_n, max(at >= @day AND at < @at AND token = @token) AS cdv_mine
     FROM trust_attempts WHERE device = @device) d,
  (SELECT count(DISTINCT account) AS i_accounts, max(account = @account) AS i_mine,
          sum(at >= @day) AS id, sum(at >= @hour) AS ih,
          count(DISTINCT CASE WHEN at >= @hour THEN token END) AS ci_n, max(at >= @hour AND token = @token) AS ci_mine
     FROM trust_attempts WHERE ip = @ip AND at >= @month AND at < @at) i,
  (SELECT count(*) AS cd, sum(at >= @hour) AS ch FROM trust_attempts WHERE token = @token AND at >= @day AND at < @at) vc`;

const trustParams = (k: TrustKeys): Record<string, unknown> => ({
  account: k.account,
  device: k.device,
  ip: k.ip,
  token: buf(k.token),
  at: k.at,
  hour: k.at - 3600,
  day: k.at - 86_400,
  month: k.at - 30 * 86_400,
});

function trustCountsOf(r: Row, k: TrustKeys): TrustCounts {
  const n = (v: unknown) => Number(v ?? 0);
  const yes = (v: unknown) => Number(v ?? 0) > 0;
  return {
    account: k.account === null ? null : { firstAt: (r.first_at as number | null) ?? null, successes: n(r.successes), failures: n(r.failures), fraud: n(r.fraud), chargebacks: n(r.chargebacks) },
    device: k.device === null ? null : { withAccount: k.account !== null && yes(r.d_mine), accounts: n(r.d_accounts), mine: yes(r.d_mine), fraud: n(r.d_fraud) },
    ip: k.ip === null ? null : { accounts: n(r.i_accounts), mine: yes(r.i_mine) },
    attempts: {
      accountHour: k.account === null ? 0 : n(r.ah),
      accountDay: k.account === null ? 0 : n(r.ad),
      cardHour: n(r.ch),
      cardDay: n(r.cd),
      ipHour: k.ip === null ? 0 : n(r.ih),
      ipDay: k.ip === null ? 0 : n(r.id),
    },
    cards: {
      accountDay: k.account === null ? { n: 0, mine: false } : { n: n(r.ca_n), mine: yes(r.ca_mine) },
      deviceDay: k.device === null ? { n: 0, mine: false } : { n: n(r.cdv_n), mine: yes(r.cdv_mine) },
      ipHour: k.ip === null ? { n: 0, mine: false } : { n: n(r.ci_n), mine: yes(r.ci_mine) },
    },
  };
}

function outcomeParams(r: OutcomeRow, fingerprint: string | null, response: string | null): Record<string, unknown> {
  return {
    ...r,
    advice: r.advice ?? null,
    idempotencyKey: r.idempotencyKey || null,
    token: r.token ? buf(r.token) : null,
    hard: r.hard ? 1 : 0,
    country: r.country ?? null,
    crossBorder: r.crossBorder === undefined || r.crossBorder === null ? null : r.crossBorder ? 1 : 0,
    fingerprint,
    response,
  };
}




interface QueuedOutcome {
  row: OutcomeRow;
  fingerprint: string;
  effects: OutcomeEffects;
  response: unknown;
  resolve(r: RecordOutcomeResult): void;
  reject(e: unknown): void;
}

/** Outcome rows ordered by token, then time, as history entries: the newest events per token, never dropping a hard decline. */
function groupHistory(rows: Iterable<Row>, maxEventsPerToken: number): DatasetTables['history'] {
  const history: DatasetTables['history'] = [];
  let cur: DatasetTables['history'][number] | null = null;
  let curKey: Buffer | null = null;
  for (const r of rows) {
    const key = r.token as Buffer;
    if (curKey === null || !key.equals(curKey)) {
      if (cur) history.push(cur);
      cur = { token: bytes(r.token), brand: (r.brand as string | null) ?? null, events: [] };
      curKey = key;
    }
    cur!.events.push(historyRow(r));
    if (!cur!.brand && r.brand) cur!.brand = r.brand as string;
  }
  if (cur) history.push(cur);
  trimHistory(history, maxEventsPerToken);
  return history;
}

export class SqliteStorage implements Storage {
  readonly dialect = 'sqlite';
  readonly db: Database.Database;
  private readonly s: Record<string, Database.Statement>;
  private orderContextWrites = 0;
  private outcomeQueue: QueuedOutcome[] = [];
  /** Trust counts in memory, loaded on first use (a build child or a CLI command never counts). */
  private trustMemory: TrustCountsMemory | null = null;
  /**
   * Noted attempts (counted by noteTrustAttempts) not written yet, in the order noted, from
   * `trustUnwrittenHead`; a slot is null once written out of order. The SQL counts (older times)
   * and a reload see them too; their insert does not count them again. An array, not a Set and a
   * WeakSet per attempt: the write-behind inserts them in the order noted, so the written ones
   * are its head (two hash insertions per attempt and the ephemeron tables' GC work gone).
   */
  private trustUnwritten: (TrustAttemptRow | null)[] = [];
  private trustUnwrittenHead = 0;
  private trustUnwrittenLive = 0;
  /** How many trust counts were answered by the statement instead of memory (tests, operations). */
  trustCountsFromSqlCalls = 0;
  /** Attempts the in-memory counts were loaded from one by one (tests: a start reads the last day's only). */
  trustRowsLoaded = 0;
  /**
   * The cards and orders this file knows (card-filter.ts), while this process serves (watchCards):
   * authFacts skips its probe statement for a card and order the filter has never seen. null
   * while it is (re)built or after another process changed the tables: the probe answers then.
   */
  private cards: CardFilter | null = null;
  /** The keys of the filter being built (own writes go into it as well), or null. */
  private cardsNext: CardKeys | null = null;
  /** The generation (meta `cards.generation`) the filter holds every row of. */
  private cardsGen: string | null = null;
  private cardsTimer: NodeJS.Timeout | null = null;
  private cardsBuild: Promise<void> | null = null;
  private cardsChecked: Array<() => void> = [];
  private closing = false;
  /** authFacts answers by probe statement (tests, operations: the filter's hit rate). */
  cardProbes = 0;

  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    // Tokens are random keys: inserts and lookups touch random B-tree pages, so a page cache that
    // holds the indexes of a few million cards (64 MiB) matters more than anything else here.
    this.db.pragma('cache_size = -65536');
    this.db.pragma('temp_store = MEMORY');
    this.migrate();
    const p = (sql: string) => this.db.prepare(sql);
    this.s = {
      getRestricted: p('SELECT * FROM restricted WHERE token = ? AND (expires_at IS NULL OR expires_at > ?)'),
      addRestricted: p(`INSERT INTO restricted (token, bin, last4, reason, source, added_at, expires_at)
        VALUES (@token, @bin, @last4, @reason, @source, @addedAt, @expiresAt)
        ON CONFLICT (token) DO UPDATE SET reason = excluded.reason, source = excluded.source,
          expires_at = excluded.expires_at, bin = coalesce(excluded.bin, restricted.bin),
          last4 = coalesce(excluded.last4, restricted.last4)`),
      restrictedExists: p('SELECT 1 FROM restricted WHERE token = ?'),
      removeRestricted: p('DELETE FROM restricted WHERE token = ?'),
      countRestricted: p('SELECT count(*) AS n FROM restricted'),
      isKnownGood: p('SELECT 1 FROM known_good WHERE merchant = ? AND token = ?'),
      knownGoodAnywhere: p('SELECT 1 FROM known_good WHERE token = ? LIMIT 1'),
      outcomeAnywhere: p('SELECT 1 FROM outcomes WHERE token = ? LIMIT 1'),
      addKnownGood: p(`INSERT INTO known_good (merchant, token, first_at, last_at) VALUES (?, ?, ?, ?)
        ON CONFLICT (merchant, token) DO UPDATE SET last_at = max(last_at, excluded.last_at)`),
      outcomeByKey: p('SELECT fingerprint, response FROM outcomes WHERE merchant = ? AND idempotency_key = ?'),
      insertOutcome: p(`INSERT INTO outcomes (idempotency_key, fingerprint, merchant, token, bin, last4, brand,
        order_id, amount, currency, gateway, status, code, type, advice, at, hard, response, country, cross_border)
        VALUES (@idempotencyKey, @fingerprint, @merchant, @token, @bin, @last4, @brand, @orderId, @amount,
        @currency, @gateway, @status, @code, @type, @advice, @at, @hard, @response, @country, @crossBorder)`),
      bumpStat: p(`INSERT INTO gateway_stats (gateway, brand, currency, attempts, successes) VALUES (?, ?, ?, 1, ?)
        ON CONFLICT (gateway, brand, currency) DO UPDATE SET attempts = attempts + 1, successes = successes + excluded.successes`),
      bumpStatBy: p(`INSERT INTO gateway_stats (gateway, brand, currency, attempts, successes) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (gateway, brand, currency) DO UPDATE SET attempts = attempts + excluded.attempts, successes = successes + excluded.successes`),
      restrictFromOutcome: p(`INSERT INTO restricted (token, bin, last4, reason, source, added_at, expires_at)
        VALUES (?, ?, ?, ?, 'outcome', ?, NULL)
        ON CONFLICT (token) DO UPDATE SET expires_at = NULL`),
      history: p(`SELECT at, merchant, amount, currency, gateway, status, code, type, advice, hard, brand, cross_border FROM outcomes
        WHERE token = ? AND at >= ? ORDER BY at DESC LIMIT ?`),
      hardDeclines: p(`SELECT at, merchant, amount, currency, gateway, status, code, type, advice, hard, brand, cross_border FROM outcomes
        WHERE token = ? AND hard = 1 ORDER BY at`),
      countOutcomes: p('SELECT count(*) AS n FROM outcomes'),
      outcomesSince: p(`SELECT at, merchant, amount, currency, gateway, status, code, type, advice, hard, brand, country, cross_border,
        lower(hex(substr(token, 1, ${ROUTING_CARD_KEY_BYTES}))) FROM outcomes WHERE at >= ? ORDER BY at, id`),
      orderOutcomes: p(`SELECT at, merchant, amount, currency, gateway, status, code, type, advice, hard, brand, country, cross_border,
        bin, last4 FROM outcomes WHERE merchant = ? AND order_id = ? ORDER BY at, id LIMIT 256`),
      saveOrderContext: p(`INSERT INTO order_context (merchant, order_id, country, cross_border, at) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (merchant, order_id) DO UPDATE SET country = excluded.country, cross_border = excluded.cross_border, at = excluded.at`),
      orderContext: p('SELECT country, cross_border FROM order_context WHERE merchant = ? AND order_id = ?'),
      pruneOrderContext: p('DELETE FROM order_context WHERE at < ?'),
      gatewayStats: p('SELECT * FROM gateway_stats ORDER BY gateway, brand, currency'),
      upsertBinRule: p(`INSERT INTO bin_rules (prefix, action, reason) VALUES (@prefix, @action, @reason)
        ON CONFLICT (prefix) DO UPDATE SET action = excluded.action, reason = excluded.reason`),
      listBinRules: p('SELECT prefix, action, reason FROM bin_rules ORDER BY prefix'),
      matchBinRule: p(`SELECT prefix, action, reason FROM bin_rules WHERE ? LIKE prefix || '%'
        ORDER BY length(prefix) DESC LIMIT 1`),
      upsertPrompt: p(`INSERT INTO prompts (code, lang, message) VALUES (@code, @lang, @message)
        ON CONFLICT (code, lang) DO UPDATE SET message = excluded.message`),
      listPrompts: p('SELECT code, lang, message FROM prompts ORDER BY code, lang'),
      upsertGateway: p(`INSERT INTO gateways (name, fee_per_attempt, fee_bps) VALUES (@name, @feePerAttempt, @feeBps)
        ON CONFLICT (name) DO UPDATE SET fee_per_attempt = excluded.fee_per_attempt, fee_bps = excluded.fee_bps`),
      listGateways: p('SELECT name, fee_per_attempt, fee_bps FROM gateways ORDER BY name'),
      insertApiKey: p(`INSERT INTO api_keys (id, hash, role, merchant, label, created_at, revoked_at)
        VALUES (@id, @hash, @role, @merchant, @label, @createdAt, @revokedAt)`),
      findApiKey: p('SELECT * FROM api_keys WHERE hash = ?'),
      listApiKeys: p('SELECT * FROM api_keys ORDER BY created_at, id'),
      revokeApiKey: p('UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL'),
      upsertDevice: p(`INSERT INTO devices (id, merchant, kind, label, public_key, created_at)
        VALUES (@id, @merchant, @kind, @label, @publicKey, @createdAt)
        ON CONFLICT (id) DO UPDATE SET merchant = excluded.merchant, kind = excluded.kind,
          label = excluded.label, public_key = excluded.public_key`),
      addDeviceHost: p(`INSERT INTO device_hosts (device_id, host_id, public_key, paired_at) VALUES (?, ?, ?, ?)
        ON CONFLICT (device_id, host_id) DO UPDATE SET public_key = excluded.public_key, paired_at = excluded.paired_at`),
      deviceExists: p('SELECT 1 FROM devices WHERE id = ?'),
      listDevices: p('SELECT * FROM devices ORDER BY id'),
      listDevicesOf: p('SELECT * FROM devices WHERE merchant = ? ORDER BY id'),
      deviceHosts: p('SELECT host_id, public_key, paired_at FROM device_hosts WHERE device_id = ? ORDER BY host_id'),
      tablesRestricted: p('SELECT token, reason FROM restricted WHERE expires_at IS NULL OR expires_at > ? ORDER BY token'),
      tablesKnownGoodPacked: p(`SELECT CAST(group_concat(token, '' ORDER BY token) AS BLOB), count(*) FROM (SELECT DISTINCT k.token AS token FROM known_good k
        WHERE NOT EXISTS (SELECT 1 FROM restricted r WHERE r.token = k.token))`),
      tablesHistory: p(`SELECT token, at, merchant, amount, currency, gateway, status, code, type, advice, hard, brand, cross_border
        FROM outcomes WHERE (at >= ? OR hard = 1) AND token IS NOT NULL ORDER BY token, at, id`),
      tokenHistory: p(`SELECT token, at, merchant, amount, currency, gateway, status, code, type, advice, hard, brand, cross_border
        FROM outcomes WHERE token = ? AND (at >= ? OR hard = 1) ORDER BY at, id`),
      maxOutcomeId: p('SELECT max(id) FROM outcomes'),
      // a rowid range (DISTINCT or a token condition would have the planner scan the token index)
      tokensSinceId: p('SELECT token FROM outcomes WHERE id > ? ORDER BY id'),
      tokensLeavingWindow: p('SELECT DISTINCT token FROM outcomes WHERE at >= ? AND at < ? AND hard = 0 AND token IS NOT NULL'),
      saveDataset: p(`INSERT INTO datasets (version, created_at, expires_at, content_hash, chunk_count, bytes, manifest)
        VALUES (?, ?, ?, ?, ?, ?, ?)`),
      saveDatasetChunk: p('INSERT INTO dataset_chunks (version, idx, data) VALUES (?, ?, ?)'),
      latestDataset: p('SELECT version, created_at, expires_at, content_hash, chunk_count, bytes FROM datasets ORDER BY version DESC LIMIT 1'),
      listDatasets: p('SELECT version, created_at, expires_at, content_hash, chunk_count, bytes FROM datasets ORDER BY version'),
      datasetManifest: p('SELECT manifest FROM datasets WHERE version = ?'),
      datasetChunk: p('SELECT data FROM dataset_chunks WHERE version = ? AND idx = ?'),
      datasetChunks: p('SELECT data FROM dataset_chunks WHERE version = ? ORDER BY idx'),
      deleteDataset: p('DELETE FROM datasets WHERE version = ?'),
      deleteDeltasOf: p('DELETE FROM deltas WHERE from_version = ? OR to_version = ?'),
      saveDelta: p('INSERT OR REPLACE INTO deltas (from_version, to_version, manifest) VALUES (?, ?, ?)'),
      saveDeltaChunk: p('INSERT OR REPLACE INTO delta_chunks (from_version, to_version, idx, data) VALUES (?, ?, ?, ?)'),
      deltaManifest: p('SELECT manifest FROM deltas WHERE from_version = ? AND to_version = ?'),
      deltaChunk: p('SELECT data FROM delta_chunks WHERE from_version = ? AND to_version = ? AND idx = ?'),
      saveFirmware: p(`INSERT INTO firmware (version, name, created_at, chunk_count, bytes, manifest)
        VALUES (?, ?, ?, ?, ?, ?)`),
      saveFirmwareChunk: p('INSERT INTO firmware_chunks (version, idx, data) VALUES (?, ?, ?)'),
      latestFirmware: p('SELECT version, name, created_at, chunk_count, bytes FROM firmware ORDER BY version DESC LIMIT 1'),
      firmwareManifest: p('SELECT manifest FROM firmware WHERE version = ?'),
      firmwareChunk: p('SELECT data FROM firmware_chunks WHERE version = ? AND idx = ?'),
      trustCounts: p(`SELECT * FROM ${TRUST_SQL}`),
      trustCountRows: p('SELECT token, account, device, ip, at, status, type FROM trust_attempts ORDER BY id'),
      // The windowed load (trustCountsMemory): the newest attempt, the older part grouped, the rest by row.
      trustMaxAt: p('SELECT max(at) FROM trust_attempts'),
      trustOlder: p(`SELECT account, device, ip, min(at), max(at), count(*) FILTER (WHERE status = 'success'), count(*) FILTER (WHERE status = 'failure'),
        count(*) FILTER (WHERE type = 'fraud'), count(*) FILTER (WHERE type = 'chargeback')
        FROM trust_attempts NOT INDEXED WHERE at < ? GROUP BY account, device, ip`),
      trustCountRowsFrom: p('SELECT token, account, device, ip, at, status, type FROM trust_attempts INDEXED BY trust_attempts_at WHERE at >= ? ORDER BY id'),
      // What an authentication reads about the card and the order, in one call: most cards are
      // new, and then history and the order's earlier attempts need no statement of their own.
      cardProbe: p(`SELECT
          (SELECT json_object('bin', bin, 'last4', last4, 'reason', reason, 'source', source, 'added_at', added_at, 'expires_at', expires_at)
             FROM restricted WHERE token = @card AND (expires_at IS NULL OR expires_at > @now)) AS restricted,
          EXISTS (SELECT 1 FROM known_good WHERE merchant = @merchant AND token = @card) AS known_good,
          EXISTS (SELECT 1 FROM outcomes WHERE token = @card) AS has_history,
          EXISTS (SELECT 1 FROM outcomes WHERE merchant = @merchant AND order_id = @order) AS has_order`),
      // Positional: binds without a copy of the row made per insert.
      trustInsert: p(`INSERT INTO trust_attempts (merchant, order_id, token, account, device, ip, ip_country, card_country, at, features, model_version, decision, reason)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      trustSetDecision: p(`UPDATE trust_attempts SET decision = ?, reason = ? WHERE id =
        (SELECT id FROM trust_attempts WHERE merchant = ? AND order_id = ? AND at = ? ORDER BY id DESC LIMIT 1)`),
      // A trust decline was false when the same card, or the same account, paid later and no
      // fraud or chargeback was reported on either.
      // One lookup per key (token, account), each by its index over labelled attempts.
      trustDeclines: p(`SELECT d.reason AS reason, count(*) AS declines,
          sum((EXISTS (SELECT 1 FROM trust_attempts l WHERE l.token = d.token AND l.status = 'success' AND l.at >= d.at AND l.id <> d.id)
                OR (d.account IS NOT NULL AND EXISTS (SELECT 1 FROM trust_attempts l WHERE l.account = d.account AND l.status = 'success' AND l.at >= d.at AND l.id <> d.id)))
              AND NOT EXISTS (SELECT 1 FROM trust_attempts f WHERE f.token = d.token AND f.status IS NOT NULL AND f.type IN ('fraud', 'chargeback'))
              AND NOT (d.account IS NOT NULL AND EXISTS (SELECT 1 FROM trust_attempts f WHERE f.account = d.account AND f.status IS NOT NULL AND f.type IN ('fraud', 'chargeback')))) AS false_declines
        FROM trust_attempts d WHERE d.decision = 'decline' AND d.at >= ? GROUP BY d.reason ORDER BY d.reason`),
      trustLatestUnlabelled: p('SELECT id, account, device, at FROM trust_attempts WHERE merchant = ? AND order_id = ? AND label IS NULL AND status IS NULL ORDER BY at DESC, id DESC LIMIT 1'),
      trustSetOutcome: p('UPDATE trust_attempts SET status = ?, type = ?, label = ?, labelled_at = ? WHERE id = ?'),
      trustTraining: p('SELECT id, features, label FROM trust_attempts WHERE label IS NOT NULL AND at >= ? ORDER BY id'),
      trustPrune: p('DELETE FROM trust_attempts WHERE at < ?'),
      trustCount: p('SELECT count(*) AS n, sum(label IS NOT NULL) AS labelled FROM trust_attempts'),
      // Re-saving a version moves it to the end (it is the latest again).
      trustSaveModel: p(`INSERT INTO trust_models (version, trained_at, auc, precision, recall, n, model)
        VALUES (@version, @trainedAt, @auc, @precision, @recall, @n, @json)
        ON CONFLICT (version) DO UPDATE SET seq = (SELECT max(seq) + 1 FROM trust_models), model = excluded.model, trained_at = excluded.trained_at`),
      trustLatestModel: p('SELECT version, trained_at, auc, precision, recall, n, model FROM trust_models ORDER BY seq DESC LIMIT 1'),
      trustHead: p('SELECT version FROM trust_models ORDER BY seq DESC LIMIT 1'),
      getMeta: p('SELECT value FROM meta WHERE key = ?'),
      // Every writer of cards or orders without the in-memory filter (a CLI command, another
      // process) moves this on, in its transaction: the serving process then reads them again.
      cardsGeneration: p("SELECT value FROM meta WHERE key = 'cards.generation'").pluck(),
      bumpCardsGeneration: p(`INSERT INTO meta (key, value) VALUES ('cards.generation', '1')
        ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)`),
      // Chunks in key order, each resumed after the last key read (tokens as hex: a Buffer per row
      // costs twice the read). A token repeated in outcomes may be cut short at a chunk's end: it was read.
      cardsRestricted: p('SELECT hex(token) FROM restricted WHERE token > ? ORDER BY token LIMIT ?').pluck(),
      cardsKnownGood: p('SELECT hex(token) FROM known_good INDEXED BY known_good_token WHERE token > ? ORDER BY token LIMIT ?').pluck(),
      cardsOutcomeTokens: p('SELECT hex(token) FROM outcomes INDEXED BY outcomes_token_at WHERE token > ? ORDER BY token LIMIT ?').pluck(),
      cardsOrders: p('SELECT merchant, order_id FROM outcomes INDEXED BY outcomes_order WHERE (merchant, order_id) > (?, ?) ORDER BY merchant, order_id LIMIT ?').raw(),
      setMeta: p('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
    };
  }

  private migrate(): void {
    const current = this.db.pragma('user_version', { simple: true }) as number;
    if (current > MIGRATIONS.length) {
      throw new Error(`database schema version ${current} is newer than this software (${MIGRATIONS.length})`);
    }
    for (let v = current; v < MIGRATIONS.length; v++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[v]);
        this.db.pragma(`user_version = ${v + 1}`);
      })();
    }
  }

  get schemaVersion(): number {
    return this.db.pragma('user_version', { simple: true }) as number;
  }

  /** `checkpoint: false` for a second process on the same file (a build child): the owner checkpoints. */
  async close(checkpoint = true): Promise<void> {
    this.closing = true;
    if (this.cardsTimer) clearInterval(this.cardsTimer);
    this.cardsTimer = null;
    await this.cardsBuild;
    if (this.outcomeQueue.length > 0) this.commitOutcomes();
    if (this.db.open) {
      if (checkpoint) this.db.pragma('wal_checkpoint(TRUNCATE)');
      this.db.close();
    }
  }

  async getRestricted(token: Uint8Array, now: number): Promise<RestrictedEntry | null> {
    const r = this.s.getRestricted.get(buf(token), now) as Row | undefined;
    return r ? restrictedRow(r) : null;
  }

  private readonly addRestrictedTx = (rows: RestrictedEntry[]): number => {
    let added = 0;
    // In key order, consecutive inserts touch neighbouring B-tree pages instead of random ones.
    const sorted = rows.length > 1 ? [...rows].sort((a, b) => Buffer.compare(a.token, b.token)) : rows;
    this.cardsWritten();
    for (const r of sorted) {
      this.noteCard(r.token);
      const existed = this.s.restrictedExists.get(buf(r.token)) !== undefined;
      this.s.addRestricted.run({ ...r, token: buf(r.token) });
      if (!existed) added++;
    }
    return added;
  };

  async addRestricted(rows: RestrictedEntry[]): Promise<number> {
    return this.db.transaction(this.addRestrictedTx)(rows);
  }

  async removeRestricted(token: Uint8Array): Promise<boolean> {
    return this.s.removeRestricted.run(buf(token)).changes > 0;
  }

  async countRestricted(): Promise<number> {
    return (this.s.countRestricted.get() as { n: number }).n;
  }

  authFactsNow(q: AuthFactsQuery): AuthFacts | null {
    const t = q.token;
    const f = this.cards;
    if (f !== null && (t === null || !f.mayHaveToken(t)) && !f.mayHaveOrder(q.merchant, q.orderId)) {
      // A card and an order this file has never held (most requests): nothing to read.
      return { restricted: null, knownGood: false, history: [], hard: [], orderRows: [], trust: this.trustCountsNow(q.trust) };
    }
    return null;
  }

  async authFacts(q: AuthFactsQuery): Promise<AuthFacts> {
    // Each call into SQLite costs more than the index lookups it makes: one probe for the card and
    // the order, one statement for the trust counts, and the row lists only when there are rows.
    const now = this.authFactsNow(q);
    if (now !== null) return now;
    const t = q.token;
    this.cardProbes++;
    const p = this.s.cardProbe.get({ card: t ? buf(t) : null, now: q.now, merchant: q.merchant, order: q.orderId }) as Row;
    const rr = p.restricted === null ? null : (JSON.parse(p.restricted as string) as Row);
    const known = t !== null && p.has_history === 1;
    return {
      restricted:
        rr && t
          ? { token: t, bin: (rr.bin as string | null) ?? null, last4: (rr.last4 as string | null) ?? null, reason: rr.reason as string, source: rr.source as string, addedAt: rr.added_at as number, expiresAt: (rr.expires_at as number | null) ?? null }
          : null,
      knownGood: p.known_good === 1,
      history: known ? await this.history(t, q.since, q.historyLimit) : [],
      hard: known ? await this.hardDeclines(t) : [],
      orderRows: p.has_order === 1 ? await this.orderOutcomes(q.merchant, q.orderId) : [],
      trust: this.trustCountsNow(q.trust),
    };
  }

  // ---------------------------------------------------------------- cards and orders in memory
  /**
   * Keeps the cards and orders of this file in memory for authFacts (the serving process; call
   * once it serves). Its own writes go into the filter as they are made; another process's (a
   * `precheck server` command on the same file) move the generation on, which is checked every
   * `checkMs`: the filter is dropped at once (the probe answers) and read again from the tables.
   */
  watchCards(checkMs = 250): void {
    if (this.cardsTimer) return;
    this.cardsTimer = setInterval(() => void this.checkCards(), checkMs);
    this.cardsTimer.unref();
    void this.checkCards();
  }

  /** Resolves after the next check of the generation (and the rebuild it started, if any) has finished. */
  whenCardsChecked(): Promise<void> {
    return new Promise((resolve) => this.cardsChecked.push(resolve));
  }

  /** Whether authFacts answers new cards from memory now (tests, operations). */
  get cardsInMemory(): boolean {
    return this.cards !== null;
  }

  cardsStatus(): { inMemory: boolean; probes: number; bytes: number } {
    return { inMemory: this.cards !== null, probes: this.cardProbes, bytes: this.cards?.bytes ?? 0 };
  }

  /** Compares the generation with the filter's; drops and rebuilds it when another process wrote. */
  async checkCards(): Promise<void> {
    try {
      if (this.cardsBuild) return await this.cardsBuild;
      if (this.closing) return;
      const gen = this.generation();
      if (this.cards !== null && gen === this.cardsGen && !this.cards.full) return;
      // Another process wrote: its rows are not in the filter. (A full filter stays correct and
      // answers while a bigger one is built.)
      if (gen !== this.cardsGen) this.cards = null;
      this.cardsBuild = this.buildCards().finally(() => {
        this.cardsBuild = null;
      });
      await this.cardsBuild;
    } catch {
      // The probe answers meanwhile; the next check tries again.
      this.cards = null;
      this.cardsNext = null;
    } finally {
      const waiting = this.cardsChecked;
      this.cardsChecked = [];
      for (const w of waiting) w();
    }
  }

  private generation(): string | null {
    const v = this.s.cardsGeneration.get() as string | number | undefined;
    return v === undefined ? null : String(v);
  }

  /** Reads every card and order into a new filter, a chunk per event-loop turn; again while another process writes meanwhile. */
  private async buildCards(): Promise<void> {
    const CHUNK = 20_000;
    const turn = () => new Promise<void>((r) => setImmediate(r));
    for (;;) {
      const gen = this.generation();
      const keys = new CardKeys();
      this.cardsNext = keys;
      for (const st of [this.s.cardsRestricted, this.s.cardsKnownGood, this.s.cardsOutcomeTokens]) {
        let after = Buffer.alloc(0);
        for (;;) {
          const rows = st.all(after, CHUNK) as string[];
          for (const hex of rows) keys.addTokenHex(hex);
          if (rows.length < CHUNK) break;
          after = Buffer.from(rows[rows.length - 1], 'hex');
          await turn();
          if (this.closing) return;
        }
      }
      let after: [string, string] = ['', ''];
      for (;;) {
        const rows = this.s.cardsOrders.all(after[0], after[1], CHUNK) as [string, string][];
        for (const r of rows) keys.addOrder(r[0], r[1]);
        if (rows.length < CHUNK) break;
        after = rows[rows.length - 1];
        await turn();
        if (this.closing) return;
      }
      this.cardsNext = null;
      // Rows another process committed while this read may be missing: read again.
      if (this.generation() !== gen) continue;
      this.cards = keys.filter();
      this.cardsGen = gen;
      return;
    }
  }

  /** A card (and order) this process writes: into the filter in use and the one being built. */
  private noteCard(token: Uint8Array | null, merchant?: string, orderId?: string): void {
    for (const f of [this.cards, this.cardsNext]) {
      if (f === null) continue;
      if (token) f.addToken(token);
      if (orderId !== undefined) f.addOrder(merchant!, orderId);
    }
  }

  /** In a transaction writing cards or orders: a process without the filter tells the serving one. */
  private cardsWritten(): void {
    if (!this.cardsTimer) this.s.bumpCardsGeneration.run();
  }

  async isKnownGood(merchant: string, token: Uint8Array): Promise<boolean> {
    return this.s.isKnownGood.get(merchant, buf(token)) !== undefined;
  }

  async knownAnywhere(token: Uint8Array): Promise<boolean> {
    const t = buf(token);
    return (
      this.s.knownGoodAnywhere.get(t) !== undefined ||
      this.s.outcomeAnywhere.get(t) !== undefined ||
      this.s.restrictedExists.get(t) !== undefined
    );
  }

  async addKnownGood(merchant: string, token: Uint8Array, at: number): Promise<void> {
    this.noteCard(token);
    if (this.cardsTimer) this.s.addKnownGood.run(merchant, buf(token), at, at);
    else
      this.db.transaction(() => {
        this.cardsWritten();
        this.s.addKnownGood.run(merchant, buf(token), at, at);
      })();
  }

  recordOutcome(row: OutcomeRow, fingerprint: string, effects: OutcomeEffects, response: unknown): Promise<RecordOutcomeResult> {
    return new Promise((resolve, reject) => {
      this.outcomeQueue.push({ row, fingerprint, effects, response, resolve, reject });
      if (this.outcomeQueue.length === 1) setImmediate(() => this.commitOutcomes());
    });
  }

  private readonly recordOneTx = (q: QueuedOutcome): RecordOutcomeResult => {
    const { row, fingerprint, effects, response } = q;
    const existing = this.s.outcomeByKey.get(row.merchant, row.idempotencyKey) as Row | undefined;
    if (existing) {
      return { created: false, conflict: existing.fingerprint !== fingerprint, response: JSON.parse(existing.response as string) };
    }
    this.noteCard(row.token, row.merchant, row.orderId);
    this.insertOutcomeRow(row, fingerprint, JSON.stringify(response));
    // A token-less outcome cannot be attributed to a card: it never restricts or vouches for one.
    if (row.token && effects.restrict) {
      this.s.restrictFromOutcome.run(buf(row.token), row.bin, row.last4, effects.restrict.reason, row.at);
    }
    if (row.token && effects.knownGood) this.s.addKnownGood.run(row.merchant, buf(row.token), row.at, row.at);
    return { created: true, conflict: false, response };
  };

  /** One transaction and one WAL fsync for every outcome queued in this event-loop turn. */
  private commitOutcomes(): void {
    const batch = this.outcomeQueue;
    this.outcomeQueue = [];
    if (!this.db.open) {
      for (const q of batch) q.reject(new Error('storage is closed'));
      return;
    }
    const one = this.db.transaction(this.recordOneTx); // nested: a savepoint per outcome
    const results: ({ ok: RecordOutcomeResult } | { err: unknown })[] = [];
    try {
      this.db.pragma('synchronous = FULL');
      // IMMEDIATE: this transaction reads (the idempotency keys) before it writes. A deferred one
      // fails at once with SQLITE_BUSY when a dataset build child commits in between (WAL cannot
      // upgrade a stale read snapshot, and busy_timeout does not apply); immediate waits instead.
      this.db.transaction(() => {
        this.cardsWritten();
        for (const q of batch) {
          try {
            results.push({ ok: one(q) });
          } catch (e) {
            results.push({ err: e });
          }
        }
      }).immediate();
    } catch (e) {
      for (const q of batch) q.reject(e);
      return;
    } finally {
      if (this.db.open) this.db.pragma('synchronous = NORMAL');
    }
    batch.forEach((q, i) => {
      const r = results[i];
      if ('ok' in r) q.resolve(r.ok);
      else q.reject(r.err);
    });
  }

  private insertOutcomeRow(row: OutcomeRow, fingerprint: string | null, response: string | null): void {
    this.s.insertOutcome.run(outcomeParams(row, fingerprint, response));
    this.s.bumpStat.run(row.gateway, row.brand ?? 'unknown', row.currency, row.status === 'success' ? 1 : 0);
  }

  async importOutcomes(rows: OutcomeRow[]): Promise<void> {
    // Bulk path: gateway stats are summed per segment and written once per batch.
    const stats = new Map<string, { g: string; b: string; c: string; n: number; ok: number }>();
    this.db.transaction(() => {
      this.cardsWritten();
      for (const r of rows) {
        this.noteCard(r.token, r.merchant, r.orderId);
        this.s.insertOutcome.run(outcomeParams(r, null, null));
        const k = `${r.gateway}\u0000${r.brand ?? 'unknown'}\u0000${r.currency}`;
        const e = stats.get(k) ?? { g: r.gateway, b: r.brand ?? 'unknown', c: r.currency, n: 0, ok: 0 };
        e.n++;
        if (r.status === 'success') e.ok++;
        stats.set(k, e);
      }
      for (const e of stats.values()) this.s.bumpStatBy.run(e.g, e.b, e.c, e.n, e.ok);
    })();
  }

  async history(token: Uint8Array, since: number, limit: number): Promise<HistoryRow[]> {
    const rows = this.s.history.all(buf(token), since, limit) as Row[];
    return rows.map(historyRow).reverse();
  }

  async hardDeclines(token: Uint8Array): Promise<HistoryRow[]> {
    return (this.s.hardDeclines.all(buf(token)) as Row[]).map(historyRow);
  }

  async countOutcomes(): Promise<number> {
    return (this.s.countOutcomes.get() as { n: number }).n;
  }

  async outcomesSince(since: number): Promise<RoutingRow[]> {
    // The start-up replay of the routing window (hundreds of thousands of rows): arrays, not a
    // row object per row and then a second object (half the time of .all() + historyRow).
    const out: RoutingRow[] = [];
    for (const r of this.s.outcomesSince.raw().iterate(since) as Iterable<unknown[]>) {
      out.push({
        at: r[0] as number, merchant: r[1] as string, amount: r[2] as number, currency: r[3] as string, gateway: r[4] as string,
        status: r[5] as HistoryRow['status'], code: (r[6] as string | null) ?? null, type: (r[7] as string | null) ?? null,
        advice: (r[8] as string | null) ?? null, hard: flag(r[9]) === true, brand: (r[10] as string | null) ?? null,
        country: (r[11] as string | null) ?? null, crossBorder: flag(r[12]), card: (r[13] as string | null) || null,
      });
    }
    return out;
  }

  async orderOutcomes(merchant: string, orderId: string): Promise<(HistoryRow & { bin: string; last4: string })[]> {
    return (this.s.orderOutcomes.all(merchant, orderId) as Row[]).map((r) => ({ ...historyRow(r), bin: r.bin as string, last4: r.last4 as string }));
  }

  async saveOrderContext(merchant: string, orderId: string, ctx: OrderContext, at: number): Promise<void> {
    this.s.saveOrderContext.run(merchant, orderId, ctx.country, ctx.crossBorder === null ? null : ctx.crossBorder ? 1 : 0, at);
    // Order contexts matter only until the order's outcomes arrive: keep about a month.
    if (++this.orderContextWrites % 4096 === 0) this.s.pruneOrderContext.run(at - 30 * 86400);
  }

  async saveOrderContexts(rows: { merchant: string; orderId: string; ctx: OrderContext; at: number }[]): Promise<void> {
    this.db.transaction(() => {
      for (const r of rows) void this.saveOrderContext(r.merchant, r.orderId, r.ctx, r.at);
    })();
  }

  async orderContext(merchant: string, orderId: string): Promise<OrderContext | null> {
    const r = this.s.orderContext.get(merchant, orderId) as Row | undefined;
    if (!r) return null;
    return { country: (r.country as string | null) ?? null, crossBorder: r.cross_border === null ? null : r.cross_border === 1 };
  }

  async gatewayStats(): Promise<GatewayStat[]> {
    return (this.s.gatewayStats.all() as Row[]).map((r) => ({
      gateway: r.gateway as string,
      brand: r.brand as string,
      currency: r.currency as string,
      attempts: r.attempts as number,
      successes: r.successes as number,
    }));
  }

  async upsertBinRule(rule: BinRule): Promise<void> {
    this.s.upsertBinRule.run(rule);
  }
  async listBinRules(): Promise<BinRule[]> {
    return this.s.listBinRules.all() as BinRule[];
  }
  async matchBinRule(bin: string): Promise<BinRule | null> {
    return (this.s.matchBinRule.get(bin) as BinRule | undefined) ?? null;
  }
  async upsertPrompt(p: Prompt): Promise<void> {
    this.s.upsertPrompt.run(p);
  }
  async listPrompts(): Promise<Prompt[]> {
    return this.s.listPrompts.all() as Prompt[];
  }
  async upsertGateway(g: Gateway): Promise<void> {
    this.s.upsertGateway.run(g);
  }
  async listGateways(): Promise<Gateway[]> {
    return (this.s.listGateways.all() as Row[]).map((r) => ({
      name: r.name as string,
      feePerAttempt: r.fee_per_attempt as number,
      feeBps: r.fee_bps as number,
    }));
  }

  async insertApiKey(k: ApiKeyRecord): Promise<void> {
    this.s.insertApiKey.run(k);
  }
  async findApiKey(hash: string): Promise<ApiKeyRecord | null> {
    const r = this.s.findApiKey.get(hash) as Row | undefined;
    return r ? apiKeyRow(r) : null;
  }
  async listApiKeys(): Promise<ApiKeyRecord[]> {
    return (this.s.listApiKeys.all() as Row[]).map(apiKeyRow);
  }
  async revokeApiKey(id: string, at: number): Promise<boolean> {
    return this.s.revokeApiKey.run(at, id).changes > 0;
  }

  async upsertDevice(d: Omit<DeviceRecord, 'hosts'>): Promise<void> {
    this.s.upsertDevice.run(d);
  }
  async addDeviceHost(deviceId: string, hostId: string, publicKey: string | null, at: number): Promise<boolean> {
    if (this.s.deviceExists.get(deviceId) === undefined) return false;
    this.s.addDeviceHost.run(deviceId, hostId, publicKey, at);
    return true;
  }
  async listDevices(merchant?: string): Promise<DeviceRecord[]> {
    const rows = (merchant === undefined ? this.s.listDevices.all() : this.s.listDevicesOf.all(merchant)) as Row[];
    return rows.map((r) => deviceRow(r, this.s.deviceHosts.all(r.id) as Row[]));
  }

  async readDatasetTables(now: number, historySince: number, maxEventsPerToken: number): Promise<DatasetTables> {
    const { changed: _c, cursor: _k, knownGoodPacked, ...tables } = await this.readDatasetTablesSince(null, now, historySince, maxEventsPerToken);
    if (knownGoodPacked) for (let i = 0; i < knownGoodPacked.length; i += 16) tables.knownGood.push(knownGoodPacked.slice(i, i + 16));
    return tables;
  }

  async readDatasetTablesSince(cursor: HistoryCursor | null, now: number, historySince: number, maxEventsPerToken: number): Promise<DatasetTableChanges> {
    // One read transaction so the tables agree with each other. Ids are assigned under SQLite's one
    // write lock, so a row committed later always has a larger id than any row read now.
    return this.db.transaction((): DatasetTableChanges => {
      const restricted: DatasetTables['restricted'] = [];
      for (const r of this.s.tablesRestricted.iterate(now) as Iterable<Row>) {
        restricted.push({ token: bytes(r.token), reason: r.reason as string });
      }
      // One string of every known-good token, concatenated by SQLite in token order (BLOB → TEXT →
      // BLOB is byte-exact in a UTF-8 database, as the device's slot hash relies on too): the
      // publisher reads it on every publish, and a JS object per card grew with the history.
      if (this.db.pragma('encoding', { simple: true }) !== 'UTF-8') throw new ServiceError('INTERNAL', 'service database is not UTF-8');
      const [kg, kgCount] = this.s.tablesKnownGoodPacked.raw().get() as [Buffer | null, number];
      const knownGoodPacked = kg ? bytes(kg) : new Uint8Array(0);
      if (knownGoodPacked.length !== kgCount * 16) throw new ServiceError('INTERNAL', 'a known-good token is not 16 bytes');
      const outcomeId = (this.s.maxOutcomeId.pluck().get() as number | null) ?? 0;
      const usable = cursor !== null && cursor.historySince <= historySince && cursor.maxEventsPerToken === maxEventsPerToken && cursor.outcomeId <= outcomeId;
      let history: DatasetTables['history'];
      let changed: Uint8Array[] | null = null;
      if (!usable) {
        history = groupHistory(this.s.tablesHistory.iterate(historySince) as Iterable<Row>, maxEventsPerToken);
      } else {
        const tokens = new Map<string, Buffer>();
        for (const t of this.s.tokensSinceId.pluck().iterate(cursor.outcomeId) as Iterable<Buffer | null>) if (t) tokens.set(t.toString('latin1'), t);
        for (const t of this.s.tokensLeavingWindow.pluck().iterate(cursor.historySince, historySince) as Iterable<Buffer>) tokens.set(t.toString('latin1'), t);
        changed = [...tokens.values()].map(bytes);
        history = [];
        for (const t of tokens.values()) history.push(...groupHistory(this.s.tokenHistory.iterate(t, historySince) as Iterable<Row>, maxEventsPerToken));
      }
      return {
        restricted,
        knownGood: [],
        knownGoodPacked,
        history,
        binRules: this.s.listBinRules.all() as BinRule[],
        prompts: this.s.listPrompts.all() as Prompt[],
        changed,
        cursor: { outcomeId, historySince, maxEventsPerToken },
      };
    })();
  }

  async saveDataset(info: DatasetVersionInfo, release: StoredRelease): Promise<void> {
    this.db.transaction(() => {
      this.s.saveDataset.run(info.version, info.createdAt, info.expiresAt, info.contentHash, info.chunkCount, info.bytes, buf(release.manifest));
      release.chunks.forEach((c, i) => this.s.saveDatasetChunk.run(info.version, i, buf(c)));
    })();
  }
  async latestDataset(): Promise<DatasetVersionInfo | null> {
    const r = this.s.latestDataset.get() as Row | undefined;
    return r ? datasetInfo(r) : null;
  }
  async listDatasets(): Promise<DatasetVersionInfo[]> {
    return (this.s.listDatasets.all() as Row[]).map(datasetInfo);
  }
  async datasetManifest(version: number): Promise<Uint8Array | null> {
    return blobOf(this.s.datasetManifest.get(version) as Row | undefined, 'manifest');
  }
  async datasetChunk(version: number, index: number): Promise<Uint8Array | null> {
    return blobOf(this.s.datasetChunk.get(version, index) as Row | undefined, 'data');
  }
  async datasetChunks(version: number): Promise<Uint8Array[] | null> {
    if (this.s.datasetManifest.get(version) === undefined) return null;
    return (this.s.datasetChunks.all(version) as Row[]).map((r) => bytes(r.data));
  }
  async pruneDatasets(keep: number): Promise<number[]> {
    const versions = (this.s.listDatasets.all() as Row[]).map((r) => r.version as number);
    const drop = versions.slice(0, Math.max(0, versions.length - keep));
    this.db.transaction(() => {
      for (const v of drop) {
        this.s.deleteDeltasOf.run(v, v);
        this.s.deleteDataset.run(v);
      }
    })();
    return drop;
  }
  async saveDelta(from: number, to: number, release: StoredRelease): Promise<void> {
    this.db.transaction(() => {
      this.s.saveDelta.run(from, to, buf(release.manifest));
      release.chunks.forEach((c, i) => this.s.saveDeltaChunk.run(from, to, i, buf(c)));
    })();
  }
  async deltaManifest(from: number, to: number): Promise<Uint8Array | null> {
    return blobOf(this.s.deltaManifest.get(from, to) as Row | undefined, 'manifest');
  }
  async deltaChunk(from: number, to: number, index: number): Promise<Uint8Array | null> {
    return blobOf(this.s.deltaChunk.get(from, to, index) as Row | undefined, 'data');
  }
  async saveFirmware(info: FirmwareInfo, release: StoredRelease): Promise<void> {
    this.db.transaction(() => {
      this.s.saveFirmware.run(info.version, info.name, info.createdAt, info.chunkCount, info.bytes, buf(release.manifest));
      release.chunks.forEach((c, i) => this.s.saveFirmwareChunk.run(info.version, i, buf(c)));
    })();
  }
  async latestFirmware(): Promise<FirmwareInfo | null> {
    const r = this.s.latestFirmware.get() as Row | undefined;
    return r ? firmwareInfo(r) : null;
  }
  async firmwareManifest(version: number): Promise<Uint8Array | null> {
    return blobOf(this.s.firmwareManifest.get(version) as Row | undefined, 'manifest');
  }
  async firmwareChunk(version: number, index: number): Promise<Uint8Array | null> {
    return blobOf(this.s.firmwareChunk.get(version, index) as Row | undefined, 'data');
  }

  async withPublishLock<T>(fn: () => Promise<T>, _opts: { wait?: boolean } = {}): Promise<T | null> {
    // One service per SQLite file (its build child works for it): the publisher's own queue
    // already serialises builds, so there is nobody else to exclude.
    return fn();
  }

  // ---------------------------------------------------------------- trust signals and models
  /** The in-memory counts, loaded from the table (and the noted, unwritten attempts) on first use. */
  private trustCountsMemory(horizon?: number): TrustCountsMemory {
    if (this.trustMemory && horizon === undefined) return this.trustMemory;
    const m = new TrustCountsMemory(horizon);
    const add = (r: Row) => {
      this.trustRowsLoaded++;
      m.add({ token: r.token as Buffer, account: r.account as string | null, device: r.device as string | null, ip: r.ip as string | null, at: r.at as number, status: r.status as string | null, type: r.type as string | null });
    };
    const latest = horizon === undefined ? (this.s.trustMaxAt.pluck().get() as number | null) : null;
    if (latest === null) {
      // After the clock stepped back (a horizon): every attempt, later ones deferred.
      for (const r of this.s.trustCountRows.iterate() as IterableIterator<Row>) add(r);
    } else {
      // A start: what is older than a day as grouped rows, in SQLite, not a row per attempt in
      // JavaScript (a table of months of attempts took minutes to load one by one).
      const c = TrustCountsMemory.cutoffs(latest);
      m.loadOlder(latest, this.s.trustOlder.raw().iterate(c.day) as Iterable<OlderGroup>);
      for (const r of this.s.trustCountRowsFrom.iterate(c.day) as IterableIterator<Row>) add(r);
    }
    for (const a of this.unwrittenTrustRows()) m.add(a);
    m.loaded();
    return (this.trustMemory = m);
  }

  // The service is this file's only writer, so every attempt is counted here as it is noted: no
  // statement on the auth path (see trust-counts-memory.ts).
  noteTrustAttempts(rows: TrustAttemptRow[]): void {
    const m = this.trustCountsMemory();
    for (const a of rows) {
      this.trustUnwritten.push(a);
      this.trustUnwrittenLive++;
      m.add(a);
    }
  }

  /** The noted attempts not written yet, in the order noted. */
  private *unwrittenTrustRows(): Generator<TrustAttemptRow> {
    const u = this.trustUnwritten;
    for (let i = this.trustUnwrittenHead; i < u.length; i++) {
      const a = u[i];
      if (a !== null) yield a;
    }
  }

  /** Where a noted, unwritten attempt is held; -1 when it is not. */
  private trustUnwrittenIndex(a: TrustAttemptRow): number {
    const u = this.trustUnwritten;
    for (let i = u.length - 1; i >= this.trustUnwrittenHead; i--) if (u[i] === a) return i;
    return -1;
  }

  /** A written attempt leaves the unwritten list; false when it was not noted (not counted yet). */
  private trustWritten(a: TrustAttemptRow): boolean {
    const u = this.trustUnwritten;
    let i = this.trustUnwrittenHead;
    if (i >= u.length || u[i] !== a) {
      i = this.trustUnwrittenIndex(a);
      if (i < 0) return false;
    }
    u[i] = null;
    this.trustUnwrittenLive--;
    let h = this.trustUnwrittenHead;
    while (h < u.length && u[h] === null) h++;
    if (h === u.length) {
      this.trustUnwritten = [];
      h = 0;
    } else if (h > 1024 && h * 2 > u.length) {
      this.trustUnwritten = u.slice(h);
      h = 0;
    }
    this.trustUnwrittenHead = h;
    return true;
  }

  /** The newest attempt counted in memory (tests: answers from SLACK before it on come from memory). */
  trustCountsNewest(): number {
    return this.trustCountsMemory().latest;
  }

  async trustCounts(k: TrustKeys): Promise<TrustCounts> {
    return this.trustCountsNow(k);
  }

  private trustCountsNow(k: TrustKeys): TrustCounts {
    // null: the clock stepped back more than SLACK; the counts are loaded again up to `k.at` (one
    // scan of the table per step; the table has no indexes for the counting statement).
    return this.trustCountsMemory().counts(k) ?? this.trustCountsMemory(k.at).counts(k)!;
  }

  /**
   * The counts by statement (what the memory's answers equal; tests compare). Noted
   * attempts not written yet count too: they are inserted in a savepoint that is rolled back.
   */
  trustCountsFromSql(k: TrustKeys): TrustCounts {
    this.trustCountsFromSqlCalls++;
    if (this.trustUnwrittenLive === 0) return trustCountsOf(this.s.trustCounts.get(trustParams(k)) as Row, k);
    this.db.exec('SAVEPOINT trust_counts');
    try {
      for (const a of this.unwrittenTrustRows()) this.insertTrustRow(a);
      return trustCountsOf(this.s.trustCounts.get(trustParams(k)) as Row, k);
    } finally {
      this.db.exec('ROLLBACK TO trust_counts; RELEASE trust_counts');
    }
  }

  private insertTrustRow(a: TrustAttemptRow): void {
    this.s.trustInsert.run(a.merchant, a.orderId, buf(a.token), a.account, a.device, a.ip, a.ipCountry, a.cardCountry, a.at, featuresBlob(a.features), a.modelVersion, a.decision ?? null, a.reason ?? null);
  }

  async insertTrustAttempts(rows: TrustAttemptRow[]): Promise<void> {
    this.db.transaction(() => {
      for (const a of rows) this.insertTrustRow(a);
    })();
    // Written: counted already when noted, else now.
    for (const a of rows) if (!this.trustWritten(a)) this.trustMemory?.add(a);
  }

  async labelTrustAttempt(o: { merchant: string; orderId: string; status: string; type: string | null; label: 0 | 1 | null; at: number }): Promise<boolean> {
    const row = this.s.trustLatestUnlabelled.get(o.merchant, o.orderId) as Row | undefined;
    if (!row) return false;
    this.s.trustSetOutcome.run(o.status, o.type, o.label, o.at, row.id);
    this.trustMemory?.label({ account: row.account as string | null, device: row.device as string | null, at: row.at as number }, o.status, o.type);
    return true;
  }

  async trustTrainingRows(since: number): Promise<{ id: number; features: string; label: 0 | 1 }[]> {
    return (this.s.trustTraining.all(since) as Row[]).map((r) => ({ id: Number(r.id), features: featuresText(r.features), label: r.label === 1 ? 1 : 0 }));
  }

  async pruneTrustAttempts(before: number): Promise<number> {
    const n = this.s.trustPrune.run(before).changes;
    if (n > 0) this.trustMemory = null; // all-time counts lost rows: loaded again on next use
    return n;
  }

  async trustDeclines(since: number): Promise<TrustDeclineReport[]> {
    return (this.s.trustDeclines.all(since) as Row[]).map((r) => ({ reason: String(r.reason), declines: Number(r.declines ?? 0), falseDeclines: Number(r.false_declines ?? 0) }));
  }

  async setTrustDecision(o: { merchant: string; orderId: string; at: number; decision: string; reason: string }): Promise<void> {
    this.s.trustSetDecision.run(o.decision, o.reason, o.merchant, o.orderId, o.at);
  }

  async trustStats(): Promise<{ attempts: number; labelled: number }> {
    const r = this.s.trustCount.get() as Row;
    return { attempts: Number(r.n ?? 0), labelled: Number(r.labelled ?? 0) };
  }

  async saveTrustModel(m: StoredTrustModel): Promise<void> {
    this.s.trustSaveModel.run(m);
  }

  async latestTrustModel(): Promise<StoredTrustModel | null> {
    const r = this.s.trustLatestModel.get() as Row | undefined;
    if (!r) return null;
    return { version: r.version as string, trainedAt: r.trained_at as number, auc: (r.auc as number | null) ?? null, precision: (r.precision as number | null) ?? null, recall: (r.recall as number | null) ?? null, n: r.n as number, json: r.model as string };
  }

  async latestTrustModelVersion(): Promise<string | null> {
    return ((this.s.trustHead.get() as { version: string } | undefined)?.version) ?? null;
  }

  async getMeta(key: string): Promise<string | null> {
    const r = this.s.getMeta.get(key) as Row | undefined;
    return r ? (r.value as string) : null;
  }
  async setMeta(key: string, value: string): Promise<void> {
    this.s.setMeta.run(key, value);
  }
}
