// Trust signals: every network authentication attempt with its customer context (account, device,
// IP as keyed hashes), the features the model saw at that moment, and — once the gateway outcome
// arrives — its label. Two jobs: assemble a TrustContext from history (counts and flags), and
// give training rows whose features are exactly what was known at decision time (no leakage of
// later events into training). Own tables, created idempotently on the server's SQLite connection.
import crypto from 'node:crypto';
import type Database from 'better-sqlite3';
import { extractTrustFeatures, TRUST_FEATURE_NAMES, type TrustContext } from './features.ts';
import { trustLabelFromOutcome, type TrustRow } from './model.ts';

export interface TrustAttemptInput {
  merchant: string;
  orderId: string;
  token: Uint8Array; // 16-byte card token (never a PAN)
  accountId?: string | null;
  deviceId?: string | null;
  ip?: string | null;
  ipCountry?: string | null;
  cardCountry?: string | null;
  at: number;
}

export interface TrustOutcomeInput {
  merchant: string;
  orderId: string;
  status: 'success' | 'failure';
  type?: string | null;
  at: number;
}

const SCHEMA = `
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
`;

type Row = Record<string, unknown>;

export class SqliteTrustSignals {
  private readonly s: Record<string, Database.Statement>;
  private readonly hashKey: Buffer;

  /**
   * @param db the server's better-sqlite3 connection (or a dedicated one)
   * @param hashKey secret for the keyed hashes of account, device and IP (IPs are only 2^32
   *   values: an unkeyed hash would be reversible by enumeration)
   */
  constructor(
    private readonly db: Database.Database,
    hashKey: Uint8Array,
  ) {
    this.hashKey = Buffer.from(hashKey);
    db.exec(SCHEMA);
    const p = (sql: string) => db.prepare(sql);
    this.s = {
      insert: p(`INSERT INTO trust_attempts (merchant, order_id, token, account, device, ip, ip_country, card_country, at, features, model_version)
        VALUES (@merchant, @orderId, @token, @account, @device, @ip, @ipCountry, @cardCountry, @at, @features, @modelVersion)`),
      latestUnlabelled: p('SELECT id FROM trust_attempts WHERE merchant = ? AND order_id = ? AND label IS NULL AND status IS NULL ORDER BY at DESC, id DESC LIMIT 1'),
      setOutcome: p('UPDATE trust_attempts SET status = ?, type = ?, label = ?, labelled_at = ? WHERE id = ?'),
      accountStats: p(`SELECT min(at) AS first_at,
          sum(status = 'success') AS successes, sum(status = 'failure') AS failures,
          sum(type = 'fraud') AS fraud, sum(type = 'chargeback') AS chargebacks
        FROM trust_attempts WHERE account = ? AND at < ?`),
      deviceWithAccount: p('SELECT 1 FROM trust_attempts WHERE device = ? AND account = ? AND at < ? LIMIT 1'),
      deviceAccounts: p('SELECT count(DISTINCT account) AS n, sum(account = ?) AS mine FROM trust_attempts WHERE device = ? AND at < ?'),
      deviceFraud: p(`SELECT count(*) AS n FROM trust_attempts WHERE device = ? AND type IN ('fraud', 'chargeback')`),
      ipAccounts: p('SELECT count(DISTINCT account) AS n, sum(account = ?) AS mine FROM trust_attempts WHERE ip = ? AND at >= ? AND at < ?'),
      countAccount: p('SELECT count(*) AS n FROM trust_attempts WHERE account = ? AND at >= ? AND at < ?'),
      countToken: p('SELECT count(*) AS n FROM trust_attempts WHERE token = ? AND at >= ? AND at < ?'),
      countIp: p('SELECT count(*) AS n FROM trust_attempts WHERE ip = ? AND at >= ? AND at < ?'),
      training: p('SELECT id, features, label FROM trust_attempts WHERE label IS NOT NULL AND at >= ? ORDER BY id'),
      prune: p('DELETE FROM trust_attempts WHERE at < ?'),
      count: p('SELECT count(*) AS n, sum(label IS NOT NULL) AS labelled FROM trust_attempts'),
    };
  }

  private hash(kind: string, merchant: string, value: string | null | undefined): string | null {
    if (value === null || value === undefined || value === '') return null;
    // Account and device ids are the merchant's: scoped per merchant. IPs are global facts.
    const scope = kind === 'ip' ? '' : merchant;
    return crypto.createHmac('sha256', this.hashKey).update(`precheck/trust/v1:${kind}:${scope}:${value}`).digest('hex').slice(0, 32);
  }

  /** The trust context of an attempt from history before `a.at` (the attempt itself not counted). */
  context(a: TrustAttemptInput): TrustContext {
    const account = this.hash('account', a.merchant, a.accountId);
    const device = this.hash('device', a.merchant, a.deviceId);
    const ip = this.hash('ip', a.merchant, a.ip);
    const token = Buffer.from(a.token);
    const n = (r: unknown): number => Number((r as Row | undefined)?.n ?? 0);
    const acc = account ? (this.s.accountStats.get(account, a.at) as Row) : null;
    const counts = (stmt: Database.Statement, key: unknown, span: number): number => (key === null ? 0 : n(stmt.get(key, a.at - span, a.at)));
    let deviceCtx: TrustContext['device'] = null;
    if (device) {
      const da = this.s.deviceAccounts.get(account, device, a.at) as Row;
      deviceCtx = {
        seenWithAccount: account !== null && this.s.deviceWithAccount.get(device, account, a.at) !== undefined,
        accounts: Number(da.n ?? 0) + (account !== null && !Number(da.mine ?? 0) ? 1 : 0),
        fraud: n(this.s.deviceFraud.get(device)),
      };
    }
    let accountsOnIp = 0;
    if (ip) {
      const r = this.s.ipAccounts.get(account, ip, a.at - 30 * 86_400, a.at) as Row;
      accountsOnIp = Number(r.n ?? 0) + (account !== null && !Number(r.mine ?? 0) ? 1 : 0);
    }
    return {
      now: a.at,
      account: {
        createdAt: account === null ? null : ((acc?.first_at as number | null) ?? a.at), // first seen stands in for sign-up
        successes: Number(acc?.successes ?? 0),
        failures: Number(acc?.failures ?? 0),
        chargebacks: Number(acc?.chargebacks ?? 0),
        fraud: Number(acc?.fraud ?? 0),
      },
      device: deviceCtx,
      environment: {
        ipCountry: a.ipCountry ?? null,
        cardCountry: a.cardCountry ?? null,
        accountsOnIp,
        attempts: {
          accountHour: counts(this.s.countAccount, account, 3600),
          accountDay: counts(this.s.countAccount, account, 86_400),
          cardHour: n(this.s.countToken.get(token, a.at - 3600, a.at)),
          cardDay: n(this.s.countToken.get(token, a.at - 86_400, a.at)),
          ipHour: counts(this.s.countIp, ip, 3600),
          ipDay: counts(this.s.countIp, ip, 86_400),
        },
      },
    };
  }

  /** Builds the context, stores the attempt with its features, and returns both. */
  recordAttempt(a: TrustAttemptInput, modelVersion: string | null): { context: TrustContext; features: Float64Array } {
    const context = this.context(a);
    const features = extractTrustFeatures(context);
    this.s.insert.run({
      merchant: a.merchant,
      orderId: a.orderId,
      token: Buffer.from(a.token),
      account: this.hash('account', a.merchant, a.accountId),
      device: this.hash('device', a.merchant, a.deviceId),
      ip: this.hash('ip', a.merchant, a.ip),
      ipCountry: a.ipCountry ?? null,
      cardCountry: a.cardCountry ?? null,
      at: a.at,
      features: JSON.stringify(Array.from(features)),
      modelVersion,
    });
    return { context, features };
  }

  /** Attaches a gateway outcome to the order's latest attempt; false when no attempt is known. */
  recordOutcome(o: TrustOutcomeInput): boolean {
    const row = this.s.latestUnlabelled.get(o.merchant, o.orderId) as Row | undefined;
    if (!row) return false;
    this.s.setOutcome.run(o.status, o.type ?? null, trustLabelFromOutcome(o), o.at, row.id);
    return true;
  }

  /** Labelled attempts since `since` as training rows (features as seen at decision time). */
  trainingRows(since = 0): TrustRow[] {
    const rows: TrustRow[] = [];
    for (const r of this.s.training.iterate(since) as Iterable<Row>) {
      const features = JSON.parse(r.features as string) as number[];
      if (features.length !== TRUST_FEATURE_NAMES.length) continue; // written by another feature version
      rows.push({ features, label: r.label === 1 ? 1 : 0, key: `a${String(r.id)}` });
    }
    return rows;
  }

  prune(before: number): number {
    return this.s.prune.run(before).changes;
  }

  stats(): { attempts: number; labelled: number } {
    const r = this.s.count.get() as Row;
    return { attempts: Number(r.n ?? 0), labelled: Number(r.labelled ?? 0) };
  }
}
