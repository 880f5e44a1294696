// PostgreSQL implementation of Storage (node-postgres, one pool per process): the backend for
// several service instances on one database. Same domain operations as SQLite; what differs:
// - outcome idempotency is the unique index (merchant, idempotency_key): INSERT ... ON CONFLICT DO
//   NOTHING, then the stored answer is read on conflict — so it holds across instances; a commit
//   returns after the WAL is flushed (synchronous_commit on), so an acknowledged outcome is durable;
// - bulk writes go through unnest() arrays (one statement per batch);
// - the dataset tables are read in one REPEATABLE READ, READ ONLY transaction, page by page in key
//   order (memory per page, not per table);
// - `withPublishLock` is a session advisory lock: one builder across all instances;
// - migrations run under an advisory lock and are recorded in `schema_migrations`.
import pg from 'pg';
import { PG_MIGRATIONS } from './pg-migrations.ts';
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
  OrderContext,
  OutcomeEffects,
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
import { type Row, apiKeyRow, blobOf, buf, bytes, datasetInfo, deviceRow, firmwareInfo, historyRow, restrictedRow, trimHistory } from './rows.ts';

const MIGRATION_LOCK = 0x70726563_0001n; // 'prec' + 1
const PUBLISH_LOCK = 0x70726563_0002n;
const PAGE = 20_000;


// BIGINT and count(*) come back as numbers: every value here is below 2^53 (unix seconds,
// minor units up to 10^13, row counts).
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === 20 || oid === 1700) return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format as 'text');
  },
};




// The trust counts of an attempt as single-row subqueries over trust_attempts, one index range
// per key (the windows are FILTERs of it); parameters $1..$5 = account, device, ip, token, at
// (trustParams). Shared by trustCounts and authFacts. The same counts as SQLite's TRUST_SQL.
const TRUST_SELECT = 'SELECT a.*, d.*, i.*, vc.*';
const TRUST_FROM = `          (SELECT min(at) AS first_at, count(*) FILTER (WHERE status = 'success') AS successes, count(*) FILTER (WHERE status = 'failure') AS failures,
                  count(*) FILTER (WHERE type = 'fraud') AS fraud, count(*) FILTER (WHERE type = 'chargeback') AS chargebacks,
                  count(*) FILTER (WHERE at >= $5::bigint - 86400) AS ad, count(*) FILTER (WHERE at >= $5::bigint - 3600) AS ah,
                  count(DISTINCT token) FILTER (WHERE at >= $5::bigint - 86400) AS ca_n,
                  coalesce(bool_or(token = $4) FILTER (WHERE at >= $5::bigint - 86400), false) AS ca_mine
             FROM trust_attempts WHERE account = $1 AND at < $5::bigint) a,
          (SELECT count(DISTINCT account) FILTER (WHERE at < $5::bigint) AS d_accounts,
                  coalesce(bool_or(account = $1) FILTER (WHERE at < $5::bigint), false) AS d_mine,
                  count(*) FILTER (WHERE type IN ('fraud', 'chargeback')) AS d_fraud,
                  count(DISTINCT token) FILTER (WHERE at >= $5::bigint - 86400 AND at < $5::bigint) AS cdv_n,
                  coalesce(bool_or(token = $4) FILTER (WHERE at >= $5::bigint - 86400 AND at < $5::bigint), false) AS cdv_mine
             FROM trust_attempts WHERE device = $2) d,
          (SELECT count(DISTINCT account) AS i_accounts, coalesce(bool_or(account = $1), false) AS i_mine,
                  count(*) FILTER (WHERE at >= $5::bigint - 86400) AS id, count(*) FILTER (WHERE at >= $5::bigint - 3600) AS ih,
                  count(DISTINCT token) FILTER (WHERE at >= $5::bigint - 3600) AS ci_n,
                  coalesce(bool_or(token = $4) FILTER (WHERE at >= $5::bigint - 3600), false) AS ci_mine
             FROM trust_attempts WHERE ip = $3 AND at >= $5::bigint - 2592000 AND at < $5::bigint) i,
          (SELECT count(*) FILTER (WHERE at >= $5::bigint - 3600) AS ch, count(*) AS cd FROM trust_attempts WHERE token = $4 AND at >= $5::bigint - 86400 AND at < $5::bigint) vc`;
const trustParams = (k: TrustKeys): unknown[] => [k.account, k.device, k.ip, buf(k.token), k.at];

function trustCountsOf(r: Row, k: TrustKeys): TrustCounts {
  const n = (v: unknown) => Number(v ?? 0);
  return {
    account: k.account === null ? null : { firstAt: (r.first_at as number | null) ?? null, successes: n(r.successes), failures: n(r.failures), fraud: n(r.fraud), chargebacks: n(r.chargebacks) },
    device: k.device === null ? null : { withAccount: k.account !== null && r.d_mine === true, accounts: n(r.d_accounts), mine: r.d_mine === true, fraud: n(r.d_fraud) },
    ip: k.ip === null ? null : { accounts: n(r.i_accounts), mine: r.i_mine === true },
    attempts: { accountHour: n(r.ah), accountDay: n(r.ad), cardHour: n(r.ch), cardDay: n(r.cd), ipHour: n(r.ih), ipDay: n(r.id) },
    cards: {
      accountDay: { n: n(r.ca_n), mine: r.ca_mine === true },
      deviceDay: { n: n(r.cdv_n), mine: r.cdv_mine === true },
      ipHour: { n: n(r.ci_n), mine: r.ci_mine === true },
    },
  };
}

const HISTORY_COLS = 'at, merchant, amount, currency, gateway, status, code, type, advice, hard, brand, country, cross_border';
/** The router's card key (storage.ts routingCardKey) computed in SQL: no token bytes copied per replayed row. */
const ROUTING_CARD = `encode(substring(token from 1 for ${ROUTING_CARD_KEY_BYTES}), 'hex') AS routing_card`;
const routingRow = (r: Row): RoutingRow => ({ ...historyRow(r), card: (r.routing_card as string | null) || null });
const OUTCOME_COLS = 'idempotency_key, fingerprint, merchant, token, bin, last4, brand, order_id, amount, currency, gateway, status, code, type, advice, at, hard, response, country, cross_border';

function outcomeValues(r: OutcomeRow, fingerprint: string | null, response: string | null): unknown[] {
  return [
    r.idempotencyKey || null, fingerprint, r.merchant, r.token ? buf(r.token) : null, r.bin, r.last4, r.brand, r.orderId, r.amount, r.currency,
    r.gateway, r.status, r.code, r.type, r.advice ?? null, r.at, r.hard, response, r.country ?? null, r.crossBorder ?? null,
  ];
}

export interface PgStorageOptions {
  /** Pool size per process; default 10 (PRECHECK_DATABASE_POOL). */
  max?: number;
}

export class PgStorage implements Storage {
  readonly dialect = 'postgres';
  private closed = false;

  /**
   * Writes that only feed learning (trust attempts and their labels and decisions, order
   * contexts) go through a second small pool whose sessions commit with synchronous_commit off:
   * such a commit returns without waiting for its WAL flush (the WAL writer flushes within ~0.6 s;
   * a database crash may lose the last of them — they were queued in memory for 20 ms anyway);
   * visibility to other sessions is immediate. Outcomes, keys and everything else keep waiting
   * for the flush. Opened on the first such write (a build child or CLI command never does).
   */
  private learnPool: pg.Pool | null = null;

  private constructor(
    readonly pool: pg.Pool,
    private readonly url: string,
  ) {}

  /** Connects, applies pending migrations (under an advisory lock) and returns the store. */
  static async open(url: string, opts: PgStorageOptions = {}): Promise<PgStorage> {
    const max = opts.max ?? (Number(process.env.PRECHECK_DATABASE_POOL) || 10);
    // The request path's statements are named (prepared once per connection, see qn) and planned
    // once: planning the auth query cost ~20 ms per call, executing it under 1 ms. Unnamed
    // statements (everything else) are planned per call as before. (An `options` parameter in the
    // URL replaces this one.)
    const pool = new pg.Pool({ connectionString: url, max, types, application_name: 'precheck-server', options: '-c plan_cache_mode=force_generic_plan' });
    // An idle client's error (server restart) must not crash the process: the pool replaces it.
    pool.on('error', () => undefined);
    const s = new PgStorage(pool, url);
    try {
      await s.migrate();
    } catch (e) {
      await pool.end();
      throw e;
    }
    return s;
  }

  private async migrate(): Promise<void> {
    const c = await this.pool.connect();
    try {
      await c.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK.toString()]);
      await c.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)');
      const done = Number((await c.query('SELECT coalesce(max(version), 0) AS v FROM schema_migrations')).rows[0].v);
      if (done > PG_MIGRATIONS.length) throw new Error(`database schema version ${done} is newer than this software (${PG_MIGRATIONS.length})`);
      for (let v = done; v < PG_MIGRATIONS.length; v++) {
        await c.query('BEGIN');
        try {
          await c.query(PG_MIGRATIONS[v]);
          await c.query('INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)', [v + 1, Math.floor(Date.now() / 1000)]);
          await c.query('COMMIT');
        } catch (e) {
          await c.query('ROLLBACK');
          throw e;
        }
      }
    } finally {
      await c.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK.toString()]).catch(() => undefined);
      c.release();
    }
  }

  get schemaVersion(): Promise<number> {
    return this.pool.query('SELECT coalesce(max(version), 0) AS v FROM schema_migrations').then((r) => Number(r.rows[0].v));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
    await this.learnPool?.end();
  }

  /** The synchronous_commit of outcome writes and of learning-only writes (operators, tests). */
  async commitModes(): Promise<{ outcomes: string; learning: string }> {
    const show = async (p: pg.Pool) => String((await p.query('SHOW synchronous_commit')).rows[0].synchronous_commit);
    return { outcomes: await show(this.pool), learning: await show(this.learning()) };
  }

  private learning(): pg.Pool {
    if (!this.learnPool) {
      const p = new pg.Pool({
        connectionString: this.url, max: 4, types, application_name: 'precheck-server-learning',
        options: '-c plan_cache_mode=force_generic_plan -c synchronous_commit=off',
      });
      p.on('error', () => undefined);
      this.learnPool = p;
    }
    return this.learnPool;
  }

  /** A named statement of a learning-only write (see learnPool). */
  private ql(name: string | null, sql: string, params: unknown[]): Promise<pg.QueryResult<Row>> {
    return name ? this.learning().query<Row>({ name, text: sql, values: params }) : this.learning().query<Row>(sql, params);
  }

  private q(sql: string, params: unknown[] = []): Promise<pg.QueryResult<Row>> {
    return this.pool.query<Row>(sql, params);
  }

  /** A named (prepared, generic-plan) statement: for the queries every request runs. */
  private qn(name: string, sql: string, params: unknown[]): Promise<pg.QueryResult<Row>> {
    return this.pool.query<Row>({ name, text: sql, values: params });
  }

  private async tx<T>(fn: (c: pg.PoolClient) => Promise<T>, begin = 'BEGIN'): Promise<T> {
    const c = await this.pool.connect();
    try {
      await c.query(begin);
      const r = await fn(c);
      await c.query('COMMIT');
      return r;
    } catch (e) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      c.release();
    }
  }

  // ---------------------------------------------------------------- restricted and known-good
  async getRestricted(token: Uint8Array, now: number): Promise<RestrictedEntry | null> {
    const r = (await this.q('SELECT * FROM restricted WHERE token = $1 AND (expires_at IS NULL OR expires_at > $2)', [buf(token), now])).rows[0];
    return r ? restrictedRow(r) : null;
  }

  async addRestricted(rows: RestrictedEntry[]): Promise<number> {
    // One statement per batch; a token twice in one batch keeps its last row (as sequential upserts would).
    const byToken = new Map<string, RestrictedEntry>();
    for (const r of rows) byToken.set(Buffer.from(r.token).toString('hex'), r);
    const list = [...byToken.values()].sort((a, b) => Buffer.compare(a.token, b.token));
    let added = 0;
    await this.tx(async (c) => {
      for (let i = 0; i < list.length; i += PAGE) {
        const part = list.slice(i, i + PAGE);
        const r = await c.query(
          `INSERT INTO restricted (token, bin, last4, reason, source, added_at, expires_at)
           SELECT * FROM unnest($1::bytea[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[])
           ON CONFLICT (token) DO UPDATE SET reason = excluded.reason, source = excluded.source, expires_at = excluded.expires_at,
             bin = coalesce(excluded.bin, restricted.bin), last4 = coalesce(excluded.last4, restricted.last4)
           RETURNING (xmax = 0) AS inserted`,
          [part.map((p) => buf(p.token)), part.map((p) => p.bin), part.map((p) => p.last4), part.map((p) => p.reason), part.map((p) => p.source), part.map((p) => p.addedAt), part.map((p) => p.expiresAt)],
        );
        for (const x of r.rows) if (x.inserted) added++;
      }
    });
    return added;
  }

  async removeRestricted(token: Uint8Array): Promise<boolean> {
    return ((await this.q('DELETE FROM restricted WHERE token = $1', [buf(token)])).rowCount ?? 0) > 0;
  }

  async countRestricted(): Promise<number> {
    return Number((await this.q('SELECT count(*) AS n FROM restricted')).rows[0].n);
  }

  async authFacts(q: AuthFactsQuery): Promise<AuthFacts> {
    // One round trip for everything an authentication reads: the card's facts as JSON columns next
    // to the trust counts ($1..$5 as in trustCounts; a null token matches no row).
    const r = (
      await this.qn(
        'auth-facts',
        `${TRUST_SELECT},
          (SELECT json_build_object('bin', bin, 'last4', last4, 'reason', reason, 'source', source, 'added_at', added_at, 'expires_at', expires_at)
             FROM restricted WHERE token = $6 AND (expires_at IS NULL OR expires_at > $7::bigint)) AS f_restricted,
          EXISTS (SELECT 1 FROM known_good WHERE merchant = $8 AND token = $6) AS f_known_good,
          (SELECT coalesce(json_agg(h ORDER BY h.at), '[]') FROM (SELECT ${HISTORY_COLS} FROM outcomes WHERE token = $6 AND at >= $9::bigint ORDER BY at DESC LIMIT $10) h) AS f_history,
          (SELECT coalesce(json_agg(h ORDER BY h.at), '[]') FROM (SELECT ${HISTORY_COLS} FROM outcomes WHERE token = $6 AND hard ORDER BY at) h) AS f_hard,
          (SELECT coalesce(json_agg(o ORDER BY o.at, o.id), '[]') FROM (SELECT id, ${HISTORY_COLS}, bin, last4 FROM outcomes WHERE merchant = $8 AND order_id = $11 ORDER BY at, id LIMIT 256) o) AS f_order
        FROM ${TRUST_FROM}`,
        [...trustParams(q.trust), q.token ? buf(q.token) : null, q.now, q.merchant, q.since, q.historyLimit, q.orderId],
      )
    ).rows[0];
    const rr = r.f_restricted as Row | null;
    return {
      restricted:
        rr && q.token
          ? { token: q.token, bin: (rr.bin as string | null) ?? null, last4: (rr.last4 as string | null) ?? null, reason: rr.reason as string, source: rr.source as string, addedAt: Number(rr.added_at), expiresAt: rr.expires_at === null ? null : Number(rr.expires_at) }
          : null,
      knownGood: r.f_known_good === true,
      history: (r.f_history as Row[]).map(historyRow),
      hard: (r.f_hard as Row[]).map(historyRow),
      orderRows: (r.f_order as Row[]).map((x) => ({ ...historyRow(x), bin: x.bin as string, last4: x.last4 as string })),
      trust: trustCountsOf(r, q.trust),
    };
  }

  async isKnownGood(merchant: string, token: Uint8Array): Promise<boolean> {
    return (await this.q('SELECT 1 FROM known_good WHERE merchant = $1 AND token = $2', [merchant, buf(token)])).rows.length > 0;
  }

  async knownAnywhere(token: Uint8Array): Promise<boolean> {
    const r = await this.q(
      `SELECT EXISTS (SELECT 1 FROM known_good WHERE token = $1) OR EXISTS (SELECT 1 FROM outcomes WHERE token = $1)
        OR EXISTS (SELECT 1 FROM restricted WHERE token = $1) AS k`,
      [buf(token)],
    );
    return r.rows[0].k === true;
  }

  async addKnownGood(merchant: string, token: Uint8Array, at: number): Promise<void> {
    await this.q(
      `INSERT INTO known_good (merchant, token, first_at, last_at) VALUES ($1, $2, $3, $3)
       ON CONFLICT (merchant, token) DO UPDATE SET last_at = greatest(known_good.last_at, excluded.last_at)`,
      [merchant, buf(token), at],
    );
  }

  // ---------------------------------------------------------------- outcomes and history
  async recordOutcome(row: OutcomeRow, fingerprint: string, effects: OutcomeEffects, response: unknown): Promise<RecordOutcomeResult> {
    // One statement (atomic, committed before it answers): the row and its effects. It locks only
    // rows of this card (restricted, known-good), none shared by every outcome of a gateway (there
    // are no per-gateway counter rows: gatewayStats counts outcomes), so outcomes from any number
    // of instances commit side by side.
    const token = row.token ? buf(row.token) : null;
    const ins = await this.qn(
      'record-outcome',
      `WITH ins AS (
         INSERT INTO outcomes (${OUTCOME_COLS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20)
         ON CONFLICT (merchant, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING RETURNING id
       ), restrict AS (
         INSERT INTO restricted (token, bin, last4, reason, source, added_at, expires_at) SELECT $4, $5, $6, $21, 'outcome', $16, NULL FROM ins
         WHERE $4::bytea IS NOT NULL AND $21::text IS NOT NULL
         ON CONFLICT (token) DO UPDATE SET expires_at = NULL
       ), good AS (
         INSERT INTO known_good (merchant, token, first_at, last_at) SELECT $3, $4, $16, $16 FROM ins
         WHERE $4::bytea IS NOT NULL AND $22::boolean
         ON CONFLICT (merchant, token) DO UPDATE SET last_at = greatest(known_good.last_at, excluded.last_at)
       )
       SELECT id FROM ins`,
      [...outcomeValues(row, fingerprint, JSON.stringify(response)), token && effects.restrict ? effects.restrict.reason : null, token !== null && effects.knownGood],
    );
    if (ins.rows.length === 0) {
      // Another request (on any instance) stored this key first; it has committed (the insert
      // waited for it), so its answer is visible to this statement.
      const ex = (await this.q('SELECT fingerprint, response FROM outcomes WHERE merchant = $1 AND idempotency_key = $2', [row.merchant, row.idempotencyKey])).rows[0];
      return { created: false, conflict: ex.fingerprint !== fingerprint, response: JSON.parse(ex.response as string) };
    }
    return { created: true, conflict: false, response, id: Number(ins.rows[0].id) };
  }

  async importOutcomes(rows: OutcomeRow[]): Promise<void> {
    await this.tx(async (c) => {
      for (let i = 0; i < rows.length; i += PAGE) {
        const part = rows.slice(i, i + PAGE).map((r) => outcomeValues(r, null, null));
        const col = (j: number) => part.map((v) => v[j]);
        await c.query(
          `INSERT INTO outcomes (${OUTCOME_COLS}) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::text[], $6::text[], $7::text[],
             $8::text[], $9::bigint[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::bigint[], $17::boolean[],
             $18::text[], $19::text[], $20::boolean[])`,
          Array.from({ length: 20 }, (_, j) => col(j)),
        );
      }
    });
  }

  async history(token: Uint8Array, since: number, limit: number): Promise<HistoryRow[]> {
    const r = await this.q(`SELECT ${HISTORY_COLS} FROM outcomes WHERE token = $1 AND at >= $2 ORDER BY at DESC LIMIT $3`, [buf(token), since, limit]);
    return r.rows.map(historyRow).reverse();
  }

  async hardDeclines(token: Uint8Array): Promise<HistoryRow[]> {
    return (await this.q(`SELECT ${HISTORY_COLS} FROM outcomes WHERE token = $1 AND hard ORDER BY at`, [buf(token)])).rows.map(historyRow);
  }

  async countOutcomes(): Promise<number> {
    return Number((await this.q('SELECT count(*) AS n FROM outcomes')).rows[0].n);
  }

  async outcomesSince(since: number): Promise<RoutingRow[]> {
    return (await this.q(`SELECT ${HISTORY_COLS}, ${ROUTING_CARD} FROM outcomes WHERE at >= $1 ORDER BY at, id`, [since])).rows.map(routingRow);
  }

  async outcomesAfter(afterId: number, ids: readonly number[], since: number, limit: number): Promise<(RoutingRow & { id: number })[]> {
    const r = await this.qn(
      'outcomes-after',
      // Two index ranges of the primary key: with `id > $1 OR id = ANY($2)` in one WHERE the
      // (generic) plan walked the whole key filtering every row — 67 ms a read at 3·10^5 rows.
      `SELECT * FROM (SELECT id, ${HISTORY_COLS}, ${ROUTING_CARD} FROM outcomes WHERE id > $1 AND at >= $3 ORDER BY id LIMIT $4) a
       UNION ALL SELECT id, ${HISTORY_COLS}, ${ROUTING_CARD} FROM outcomes WHERE id = ANY($2::bigint[]) AND id <= $1 AND at >= $3
       ORDER BY id`,
      [afterId, ids, since, limit],
    );
    return r.rows.map((x) => ({ ...routingRow(x), id: Number(x.id) }));
  }

  async orderOutcomes(merchant: string, orderId: string): Promise<(HistoryRow & { bin: string; last4: string })[]> {
    const r = await this.q(`SELECT ${HISTORY_COLS}, bin, last4 FROM outcomes WHERE merchant = $1 AND order_id = $2 ORDER BY at, id LIMIT 256`, [merchant, orderId]);
    return r.rows.map((x) => ({ ...historyRow(x), bin: x.bin as string, last4: x.last4 as string }));
  }

  async saveOrderContext(merchant: string, orderId: string, ctx: OrderContext, at: number): Promise<void> {
    await this.saveOrderContexts([{ merchant, orderId, ctx, at }]);
  }

  private orderContextWrites = 0;
  async saveOrderContexts(rows: { merchant: string; orderId: string; ctx: OrderContext; at: number }[]): Promise<void> {
    if (rows.length === 0) return;
    const last = new Map<string, (typeof rows)[number]>();
    for (const r of rows) last.set(`${r.merchant}\u0000${r.orderId}`, r);
    const list = [...last.values()];
    await this.ql(
      'save-order-contexts',
      `INSERT INTO order_context (merchant, order_id, country, cross_border, at)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::boolean[], $5::bigint[])
       ON CONFLICT (merchant, order_id) DO UPDATE SET country = excluded.country, cross_border = excluded.cross_border, at = excluded.at`,
      [list.map((r) => r.merchant), list.map((r) => r.orderId), list.map((r) => r.ctx.country), list.map((r) => r.ctx.crossBorder), list.map((r) => r.at)],
    );
    // Order contexts matter only until the order's outcomes arrive: keep about a month.
    this.orderContextWrites += list.length;
    if (this.orderContextWrites >= 4096) {
      this.orderContextWrites = 0;
      await this.ql(null, 'DELETE FROM order_context WHERE at < $1', [list[0].at - 30 * 86400]);
    }
  }

  async orderContext(merchant: string, orderId: string): Promise<OrderContext | null> {
    const r = (await this.qn('order-context', 'SELECT country, cross_border FROM order_context WHERE merchant = $1 AND order_id = $2', [merchant, orderId])).rows[0];
    if (!r) return null;
    return { country: (r.country as string | null) ?? null, crossBorder: (r.cross_border as boolean | null) ?? null };
  }

  // ---------------------------------------------------------------- configuration
  async upsertBinRule(rule: BinRule): Promise<void> {
    await this.q('INSERT INTO bin_rules (prefix, action, reason) VALUES ($1, $2, $3) ON CONFLICT (prefix) DO UPDATE SET action = excluded.action, reason = excluded.reason', [rule.prefix, rule.action, rule.reason]);
  }
  async listBinRules(): Promise<BinRule[]> {
    return (await this.q('SELECT prefix, action, reason FROM bin_rules ORDER BY prefix')).rows as unknown as BinRule[];
  }
  async matchBinRule(bin: string): Promise<BinRule | null> {
    const r = await this.q(`SELECT prefix, action, reason FROM bin_rules WHERE starts_with($1, prefix) ORDER BY length(prefix) DESC LIMIT 1`, [bin]);
    return (r.rows[0] as unknown as BinRule | undefined) ?? null;
  }
  async upsertPrompt(p: Prompt): Promise<void> {
    await this.q('INSERT INTO prompts (code, lang, message) VALUES ($1, $2, $3) ON CONFLICT (code, lang) DO UPDATE SET message = excluded.message', [p.code, p.lang, p.message]);
  }
  async listPrompts(): Promise<Prompt[]> {
    return (await this.q('SELECT code, lang, message FROM prompts ORDER BY code, lang')).rows as unknown as Prompt[];
  }
  async upsertGateway(g: Gateway): Promise<void> {
    await this.q('INSERT INTO gateways (name, fee_per_attempt, fee_bps) VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE SET fee_per_attempt = excluded.fee_per_attempt, fee_bps = excluded.fee_bps', [g.name, g.feePerAttempt, g.feeBps]);
  }
  async listGateways(): Promise<Gateway[]> {
    return (await this.q('SELECT name, fee_per_attempt, fee_bps FROM gateways ORDER BY name')).rows.map((r) => ({ name: r.name as string, feePerAttempt: r.fee_per_attempt as number, feeBps: r.fee_bps as number }));
  }
  async gatewayStats(): Promise<GatewayStat[]> {
    // Counted from the outcomes (a scan: operators' reports, never a request's path).
    const r = await this.q(
      `SELECT gateway, coalesce(brand, 'unknown') AS brand, currency, count(*) AS attempts, count(*) FILTER (WHERE status = 'success') AS successes
         FROM outcomes GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`,
    );
    return r.rows.map((r) => ({
      gateway: r.gateway as string,
      brand: r.brand as string,
      currency: r.currency as string,
      attempts: r.attempts as number,
      successes: r.successes as number,
    }));
  }

  // ---------------------------------------------------------------- keys and devices
  async insertApiKey(k: ApiKeyRecord): Promise<void> {
    await this.q('INSERT INTO api_keys (id, hash, role, merchant, label, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7)', [k.id, k.hash, k.role, k.merchant, k.label, k.createdAt, k.revokedAt]);
  }
  async findApiKey(hash: string): Promise<ApiKeyRecord | null> {
    const r = (await this.qn('api-key-by-hash', 'SELECT * FROM api_keys WHERE hash = $1', [hash])).rows[0];
    return r ? apiKeyRow(r) : null;
  }
  async listApiKeys(): Promise<ApiKeyRecord[]> {
    return (await this.q('SELECT * FROM api_keys ORDER BY created_at, id')).rows.map(apiKeyRow);
  }
  async revokeApiKey(id: string, at: number): Promise<boolean> {
    return ((await this.q('UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL', [at, id])).rowCount ?? 0) > 0;
  }
  async upsertDevice(d: Omit<DeviceRecord, 'hosts'>): Promise<void> {
    await this.q(
      `INSERT INTO devices (id, merchant, kind, label, public_key, created_at) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (id) DO UPDATE SET merchant = excluded.merchant, kind = excluded.kind, label = excluded.label, public_key = excluded.public_key`,
      [d.id, d.merchant, d.kind, d.label, d.publicKey, d.createdAt],
    );
  }
  async addDeviceHost(deviceId: string, hostId: string, publicKey: string | null, at: number): Promise<boolean> {
    const r = await this.q(
      `INSERT INTO device_hosts (device_id, host_id, public_key, paired_at) SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM devices WHERE id = $1)
       ON CONFLICT (device_id, host_id) DO UPDATE SET public_key = excluded.public_key, paired_at = excluded.paired_at`,
      [deviceId, hostId, publicKey, at],
    );
    return (r.rowCount ?? 0) > 0;
  }
  async listDevices(merchant?: string): Promise<DeviceRecord[]> {
    const devs = merchant === undefined ? await this.q('SELECT * FROM devices ORDER BY id') : await this.q('SELECT * FROM devices WHERE merchant = $1 ORDER BY id', [merchant]);
    const out: DeviceRecord[] = [];
    for (const r of devs.rows) {
      const hosts = await this.q('SELECT host_id, public_key, paired_at FROM device_hosts WHERE device_id = $1 ORDER BY host_id', [r.id]);
      out.push(deviceRow(r, hosts.rows));
    }
    return out;
  }

  // ---------------------------------------------------------------- datasets, deltas, firmware
  async readDatasetTables(now: number, historySince: number, maxEventsPerToken: number): Promise<DatasetTables> {
    const { changed: _c, cursor: _k, ...tables } = await this.readDatasetTablesSince(null, now, historySince, maxEventsPerToken);
    return tables;
  }

  /** History rows a read returned to the build (tests: an incremental read reads the changed cards only). */
  historyRowsRead = 0;

  async readDatasetTablesSince(cursor: HistoryCursor | null, now: number, historySince: number, maxEventsPerToken: number): Promise<DatasetTableChanges> {
    return this.tx(async (c) => {
      // First statement: it fixes the transaction's snapshot. Every outcome this snapshot cannot see
      // was written by a transaction at or above its xmin (outcomes.xact, migration 5), so the next
      // read starts there: rows committed late under a smaller id are not skipped (an id cursor
      // would skip them); rows seen twice only re-read their card (the xmin is the cluster's: a long
      // transaction anywhere on it, a backup say, makes the next read re-read more, never less).
      const horizon = Number((await c.query('SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS x')).rows[0].x);
      const restricted: DatasetTables['restricted'] = [];
      let after: Buffer = Buffer.alloc(0);
      for (;;) {
        const r = await c.query('SELECT token, reason FROM restricted WHERE (expires_at IS NULL OR expires_at > $1) AND token > $2 ORDER BY token LIMIT $3', [now, after, PAGE]);
        for (const x of r.rows) restricted.push({ token: bytes(x.token), reason: x.reason as string });
        if (r.rows.length < PAGE) break;
        after = r.rows[r.rows.length - 1].token as Buffer;
      }
      const knownGood: Uint8Array[] = [];
      after = Buffer.alloc(0);
      for (;;) {
        const r = await c.query(
          `SELECT DISTINCT k.token FROM known_good k WHERE k.token > $1 AND NOT EXISTS (SELECT 1 FROM restricted r WHERE r.token = k.token) ORDER BY k.token LIMIT $2`,
          [after, PAGE],
        );
        for (const x of r.rows) knownGood.push(bytes(x.token));
        if (r.rows.length < PAGE) break;
        after = r.rows[r.rows.length - 1].token as Buffer;
      }
      const usable = cursor !== null && cursor.historySince <= historySince && cursor.maxEventsPerToken === maxEventsPerToken && cursor.outcomeId <= horizon;
      const history: DatasetTables['history'] = [];
      let changed: Uint8Array[] | null = null;
      if (!usable) {
        // Whole, page by page in key order.
        let key: [Buffer, number, number] = [Buffer.alloc(0), -1, -1];
        for (;;) {
          const r = await c.query(
            `SELECT id, token, ${HISTORY_COLS} FROM outcomes WHERE (at >= $1 OR hard) AND token IS NOT NULL AND (token, at, id) > ($2, $3, $4)
             ORDER BY token, at, id LIMIT $5`,
            [historySince, key[0], key[1], key[2], PAGE],
          );
          this.groupInto(history, r.rows);
          if (r.rows.length < PAGE) break;
          const l = r.rows[r.rows.length - 1];
          key = [l.token as Buffer, l.at as number, l.id as number];
        }
      } else {
        // The cards with an outcome the previous snapshot could not see, and those with a non-hard
        // event that left the window since; then their history, PAGE cards at a time.
        const tokens = new Map<string, Buffer>();
        const add = (rows: Row[]) => {
          for (const x of rows) tokens.set((x.token as Buffer).toString('latin1'), x.token as Buffer);
        };
        add((await c.query('SELECT DISTINCT token FROM outcomes WHERE xact >= $1 AND token IS NOT NULL', [cursor.outcomeId])).rows);
        if (cursor.historySince < historySince) {
          add((await c.query('SELECT DISTINCT token FROM outcomes WHERE at >= $1 AND at < $2 AND NOT hard AND token IS NOT NULL', [cursor.historySince, historySince])).rows);
        }
        const all = [...tokens.values()];
        changed = all.map(bytes);
        for (let i = 0; i < all.length; i += PAGE) {
          const r = await c.query(
            `SELECT id, token, ${HISTORY_COLS} FROM outcomes WHERE token = ANY($1::bytea[]) AND (at >= $2 OR hard) ORDER BY token, at, id`,
            [all.slice(i, i + PAGE), historySince],
          );
          this.groupInto(history, r.rows);
        }
      }
      trimHistory(history, maxEventsPerToken);
      const binRules = (await c.query('SELECT prefix, action, reason FROM bin_rules ORDER BY prefix')).rows as BinRule[];
      const prompts = (await c.query('SELECT code, lang, message FROM prompts ORDER BY code, lang')).rows as Prompt[];
      return { restricted, knownGood, history, binRules, prompts, changed, cursor: { outcomeId: horizon, historySince, maxEventsPerToken } };
    }, 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  }

  /** Appends rows ordered by (token, at, id) to `history`, continuing its last card across pages. */
  private groupInto(history: DatasetTables['history'], rows: Row[]): void {
    this.historyRowsRead += rows.length;
    let cur = history.length ? history[history.length - 1] : null;
    let curKey: Buffer | null = cur ? Buffer.from(cur.token) : null;
    for (const x of rows) {
      const t = x.token as Buffer;
      if (curKey === null || !t.equals(curKey)) {
        cur = { token: bytes(t), brand: (x.brand as string | null) ?? null, events: [] };
        history.push(cur);
        curKey = t;
      }
      cur!.events.push(historyRow(x));
      if (!cur!.brand && x.brand) cur!.brand = x.brand as string;
    }
  }

  private async insertChunks(c: pg.PoolClient, table: string, keyCols: string[], keyVals: number[], chunks: Uint8Array[]): Promise<void> {
    for (let i = 0; i < chunks.length; i += 256) {
      const part = chunks.slice(i, i + 256);
      const keys = keyCols.map((_, j) => `$${j + 3}::bigint`).join(', ');
      await c.query(
        `INSERT INTO ${table} (${keyCols.join(', ')}, idx, data) SELECT ${keys}, i, d FROM unnest($1::int[], $2::bytea[]) AS u(i, d)
         ON CONFLICT DO NOTHING`,
        [part.map((_, k) => i + k), part.map(buf), ...keyVals],
      );
    }
  }

  async saveDataset(info: DatasetVersionInfo, release: StoredRelease): Promise<void> {
    await this.tx(async (c) => {
      await c.query('INSERT INTO datasets (version, created_at, expires_at, content_hash, chunk_count, bytes, manifest) VALUES ($1, $2, $3, $4, $5, $6, $7)', [
        info.version, info.createdAt, info.expiresAt, info.contentHash, info.chunkCount, info.bytes, buf(release.manifest),
      ]);
      await this.insertChunks(c, 'dataset_chunks', ['version'], [info.version], release.chunks);
    });
  }
  async latestDataset(): Promise<DatasetVersionInfo | null> {
    const r = (await this.q('SELECT version, created_at, expires_at, content_hash, chunk_count, bytes FROM datasets ORDER BY version DESC LIMIT 1')).rows[0];
    return r ? datasetInfo(r) : null;
  }
  async listDatasets(): Promise<DatasetVersionInfo[]> {
    return (await this.q('SELECT version, created_at, expires_at, content_hash, chunk_count, bytes FROM datasets ORDER BY version')).rows.map(datasetInfo);
  }
  async datasetManifest(version: number): Promise<Uint8Array | null> {
    return blobOf((await this.q('SELECT manifest FROM datasets WHERE version = $1', [version])).rows[0], 'manifest');
  }
  async datasetChunk(version: number, index: number): Promise<Uint8Array | null> {
    return blobOf((await this.q('SELECT data FROM dataset_chunks WHERE version = $1 AND idx = $2', [version, index])).rows[0], 'data');
  }
  async datasetChunks(version: number): Promise<Uint8Array[] | null> {
    if (!(await this.datasetManifest(version))) return null;
    return (await this.q('SELECT data FROM dataset_chunks WHERE version = $1 ORDER BY idx', [version])).rows.map((r) => bytes(r.data));
  }
  async pruneDatasets(keep: number): Promise<number[]> {
    const versions = (await this.listDatasets()).map((d) => d.version);
    const drop = versions.slice(0, Math.max(0, versions.length - keep));
    if (drop.length === 0) return drop;
    await this.tx(async (c) => {
      await c.query('DELETE FROM deltas WHERE from_version = ANY($1::bigint[]) OR to_version = ANY($1::bigint[])', [drop]);
      await c.query('DELETE FROM datasets WHERE version = ANY($1::bigint[])', [drop]);
    });
    return drop;
  }
  async saveDelta(from: number, to: number, release: StoredRelease): Promise<void> {
    await this.tx(async (c) => {
      await c.query('DELETE FROM deltas WHERE from_version = $1 AND to_version = $2', [from, to]);
      await c.query('INSERT INTO deltas (from_version, to_version, manifest) VALUES ($1, $2, $3)', [from, to, buf(release.manifest)]);
      await this.insertChunks(c, 'delta_chunks', ['from_version', 'to_version'], [from, to], release.chunks);
    });
  }
  async deltaManifest(from: number, to: number): Promise<Uint8Array | null> {
    return blobOf((await this.q('SELECT manifest FROM deltas WHERE from_version = $1 AND to_version = $2', [from, to])).rows[0], 'manifest');
  }
  async deltaChunk(from: number, to: number, index: number): Promise<Uint8Array | null> {
    return blobOf((await this.q('SELECT data FROM delta_chunks WHERE from_version = $1 AND to_version = $2 AND idx = $3', [from, to, index])).rows[0], 'data');
  }
  async saveFirmware(info: FirmwareInfo, release: StoredRelease): Promise<void> {
    await this.tx(async (c) => {
      await c.query('INSERT INTO firmware (version, name, created_at, chunk_count, bytes, manifest) VALUES ($1, $2, $3, $4, $5, $6)', [info.version, info.name, info.createdAt, info.chunkCount, info.bytes, buf(release.manifest)]);
      await this.insertChunks(c, 'firmware_chunks', ['version'], [info.version], release.chunks);
    });
  }
  async latestFirmware(): Promise<FirmwareInfo | null> {
    const r = (await this.q('SELECT version, name, created_at, chunk_count, bytes FROM firmware ORDER BY version DESC LIMIT 1')).rows[0];
    return r ? firmwareInfo(r) : null;
  }
  async firmwareManifest(version: number): Promise<Uint8Array | null> {
    return blobOf((await this.q('SELECT manifest FROM firmware WHERE version = $1', [version])).rows[0], 'manifest');
  }
  async firmwareChunk(version: number, index: number): Promise<Uint8Array | null> {
    return blobOf((await this.q('SELECT data FROM firmware_chunks WHERE version = $1 AND idx = $2', [version, index])).rows[0], 'data');
  }

  async withPublishLock<T>(fn: () => Promise<T>, opts: { wait?: boolean } = {}): Promise<T | null> {
    // A session lock on a client held for the whole build: released by unlock, or by PostgreSQL
    // when this process dies (the connection closes), so a crashed builder never blocks the rest.
    const c = await this.pool.connect();
    try {
      if (opts.wait) await c.query('SELECT pg_advisory_lock($1)', [PUBLISH_LOCK.toString()]);
      else if ((await c.query('SELECT pg_try_advisory_lock($1) AS ok', [PUBLISH_LOCK.toString()])).rows[0].ok !== true) return null;
      try {
        return await fn();
      } finally {
        await c.query('SELECT pg_advisory_unlock($1)', [PUBLISH_LOCK.toString()]).catch(() => undefined);
      }
    } finally {
      c.release();
    }
  }

  // ---------------------------------------------------------------- trust
  async trustCounts(k: TrustKeys): Promise<TrustCounts> {
    // One round trip: every count as a single-row subquery.
    return trustCountsOf((await this.qn('trust-counts', `${TRUST_SELECT} FROM ${TRUST_FROM}`, trustParams(k))).rows[0], k);
  }

  async insertTrustAttempts(rows: TrustAttemptRow[]): Promise<void> {
    if (rows.length === 0) return;
    const col = <K extends keyof TrustAttemptRow>(key: K) => rows.map((r) => r[key]);
    await this.ql(
      'insert-trust-attempts',
      `INSERT INTO trust_attempts (merchant, order_id, token, account, device, ip, ip_country, card_country, at, features, model_version, decision, reason)
       SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::bigint[], $10::text[], $11::text[], $12::text[], $13::text[])`,
      [
        col('merchant'), col('orderId'), rows.map((r) => buf(r.token)), col('account'), col('device'), col('ip'), col('ipCountry'), col('cardCountry'), col('at'),
        rows.map((r) => JSON.stringify(Array.from(r.features))), col('modelVersion'), rows.map((r) => r.decision ?? null), rows.map((r) => r.reason ?? null),
      ],
    );
  }

  async labelTrustAttempt(o: { merchant: string; orderId: string; status: string; type: string | null; label: 0 | 1 | null; at: number }): Promise<boolean> {
    const r = await this.ql(
      'label-trust-attempt',
      `UPDATE trust_attempts SET status = $3, type = $4, label = $5, labelled_at = $6 WHERE id = (
         SELECT id FROM trust_attempts WHERE merchant = $1 AND order_id = $2 AND label IS NULL AND status IS NULL ORDER BY at DESC, id DESC LIMIT 1 FOR UPDATE SKIP LOCKED)`,
      [o.merchant, o.orderId, o.status, o.type, o.label, o.at],
    );
    return (r.rowCount ?? 0) > 0;
  }

  async trustTrainingRows(since: number): Promise<{ id: number; features: string; label: 0 | 1 }[]> {
    return (await this.q('SELECT id, features, label FROM trust_attempts WHERE label IS NOT NULL AND at >= $1 ORDER BY id', [since])).rows.map((r) => ({
      id: Number(r.id),
      features: r.features as string,
      label: Number(r.label) === 1 ? 1 : 0,
    }));
  }

  async pruneTrustAttempts(before: number): Promise<number> {
    return (await this.q('DELETE FROM trust_attempts WHERE at < $1', [before])).rowCount ?? 0;
  }

  async trustDeclines(since: number): Promise<TrustDeclineReport[]> {
    // A trust decline was false when the same card, or the same account, paid later and no fraud
    // or chargeback was reported on either.
    const r = await this.q(
      `SELECT d.reason AS reason, count(*) AS declines,
          count(*) FILTER (WHERE EXISTS (SELECT 1 FROM trust_attempts l WHERE l.at >= d.at AND l.id <> d.id AND l.status = 'success'
                AND (l.token = d.token OR (d.account IS NOT NULL AND l.account = d.account)))
              AND NOT EXISTS (SELECT 1 FROM trust_attempts f WHERE f.type IN ('fraud', 'chargeback')
                AND (f.token = d.token OR (d.account IS NOT NULL AND f.account = d.account)))) AS false_declines
        FROM trust_attempts d WHERE d.decision = 'decline' AND d.at >= $1 GROUP BY d.reason ORDER BY d.reason`,
      [since],
    );
    return r.rows.map((x) => ({ reason: String(x.reason), declines: Number(x.declines ?? 0), falseDeclines: Number(x.false_declines ?? 0) }));
  }

  async setTrustDecision(o: { merchant: string; orderId: string; at: number; decision: string; reason: string }): Promise<void> {
    await this.ql(
      null,
      `UPDATE trust_attempts SET decision = $1, reason = $2 WHERE id =
        (SELECT id FROM trust_attempts WHERE merchant = $3 AND order_id = $4 AND at = $5 ORDER BY id DESC LIMIT 1)`,
      [o.decision, o.reason, o.merchant, o.orderId, o.at],
    );
  }

  async trustStats(): Promise<{ attempts: number; labelled: number }> {
    const r = (await this.q('SELECT count(*) AS n, count(label) AS labelled FROM trust_attempts')).rows[0];
    return { attempts: Number(r.n), labelled: Number(r.labelled) };
  }

  async saveTrustModel(m: StoredTrustModel): Promise<void> {
    // Re-saving a version moves it to the end (it is the latest again).
    await this.q(
      `INSERT INTO trust_models (version, trained_at, auc, precision, recall, n, model) VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (version) DO UPDATE SET seq = nextval('trust_models_seq'), model = excluded.model, trained_at = excluded.trained_at`,
      [m.version, m.trainedAt, m.auc, m.precision, m.recall, m.n, m.json],
    );
  }

  async latestTrustModel(): Promise<StoredTrustModel | null> {
    const r = (await this.q('SELECT version, trained_at, auc, precision, recall, n, model FROM trust_models ORDER BY seq DESC LIMIT 1')).rows[0];
    if (!r) return null;
    return { version: r.version as string, trainedAt: r.trained_at as number, auc: (r.auc as number | null) ?? null, precision: (r.precision as number | null) ?? null, recall: (r.recall as number | null) ?? null, n: r.n as number, json: r.model as string };
  }

  async latestTrustModelVersion(): Promise<string | null> {
    return ((await this.q('SELECT version FROM trust_models ORDER BY seq DESC LIMIT 1')).rows[0]?.version as string | undefined) ?? null;
  }

  async getMeta(key: string): Promise<string | null> {
    return ((await this.q('SELECT value FROM meta WHERE key = $1', [key])).rows[0]?.value as string | undefined) ?? null;
  }
  async setMeta(key: string, value: string): Promise<void> {
    await this.q('INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value', [key, value]);
  }
}
