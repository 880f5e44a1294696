// Storage of the payer-notification channel (seed 004): terminal locations, payer endpoints with
// their consent, the merchant-offers catalogue, versioned rule sets and the durable delivery queue.
// Own tables on the service's SQLite connection (created idempotently, like the trust signals), so
// a notice and the outcome that caused it live in one file and one backup.
import crypto from 'node:crypto';
import type Database from 'better-sqlite3';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS notify_terminals (
  device_id TEXT PRIMARY KEY,
  lat REAL NOT NULL,
  lon REAL NOT NULL,
  category TEXT NOT NULL,
  merchant_name TEXT,
  updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS notify_endpoints (
  id TEXT PRIMARY KEY,
  merchant TEXT NOT NULL,
  account TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('webhook', 'sms')),
  url TEXT,
  phone TEXT,
  secret TEXT,
  lang TEXT NOT NULL,
  consent_text TEXT NOT NULL,
  consent_at INTEGER NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS notify_endpoints_account ON notify_endpoints (merchant, account);
CREATE TABLE IF NOT EXISTS notify_messages (
  id TEXT PRIMARY KEY,
  endpoint_id TEXT NOT NULL REFERENCES notify_endpoints (id) ON DELETE CASCADE,
  merchant TEXT NOT NULL,
  account TEXT NOT NULL,
  order_id TEXT NOT NULL,
  event_type TEXT NOT NULL,
  payload TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'delivered', 'dead')),
  attempts INTEGER NOT NULL DEFAULT 0,
  next_at INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  delivered_at INTEGER,
  last_error TEXT
);
CREATE INDEX IF NOT EXISTS notify_messages_due ON notify_messages (state, next_at);
CREATE INDEX IF NOT EXISTS notify_messages_endpoint ON notify_messages (endpoint_id);
CREATE INDEX IF NOT EXISTS notify_messages_account ON notify_messages (merchant, account);
CREATE TABLE IF NOT EXISTS notify_catalogue_merchants (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  category TEXT NOT NULL,
  lat REAL NOT NULL,
  lon REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS notify_offers (
  merchant_id TEXT NOT NULL REFERENCES notify_catalogue_merchants (id) ON DELETE CASCADE,
  item TEXT NOT NULL,
  price INTEGER NOT NULL,
  currency TEXT NOT NULL,
  PRIMARY KEY (merchant_id, item)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS notify_rulesets (
  version INTEGER PRIMARY KEY,
  body TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS notify_state (
  key TEXT PRIMARY KEY,
  value INTEGER NOT NULL
);
`;

export interface TerminalLocation {
  deviceId: string;
  lat: number;
  lon: number;
  /** ISO 18245 merchant category code (4 digits). */
  category: string;
  merchantName: string | null;
  updatedAt: number;
}

export interface Endpoint {
  id: string;
  merchant: string;
  account: string;
  kind: 'webhook' | 'sms';
  url: string | null;
  /** E.164. */
  phone: string | null;
  /** Standard Webhooks signing secret (whsec_…), webhook endpoints only. */
  secret: string | null;
  lang: string;
  consentText: string;
  consentAt: number;
  createdAt: number;
}

export type MessageState = 'pending' | 'sending' | 'delivered' | 'dead';

export interface QueuedMessage {
  id: string;
  endpointId: string;
  merchant: string;
  account: string;
  orderId: string;
  eventType: string;
  payload: string;
  state: MessageState;
  attempts: number;
  /** Unix ms: when a pending message is due, or when a sending claim expires. */
  nextAt: number;
  createdAt: number;
  deliveredAt: number | null;
  lastError: string | null;
}

export interface ClaimedMessage extends QueuedMessage {
  endpoint: Endpoint;
}

export interface CatalogueMerchant {
  id: string;
  name: string;
  category: string;
  lat: number;
  lon: number;
}

export interface Offer {
  merchantId: string;
  item: string;
  price: number;
  currency: string;
}

type Row = Record<string, unknown>;

function endpointRow(r: Row, prefix = ''): Endpoint {
  const g = (k: string) => r[prefix + k];
  return {
    id: g('id') as string,
    merchant: g('merchant') as string,
    account: g('account') as string,
    kind: g('kind') as 'webhook' | 'sms',
    url: (g('url') as string | null) ?? null,
    phone: (g('phone') as string | null) ?? null,
    secret: (g('secret') as string | null) ?? null,
    lang: g('lang') as string,
    consentText: g('consent_text') as string,
    consentAt: g('consent_at') as number,
    createdAt: g('created_at') as number,
  };
}

function messageRow(r: Row): QueuedMessage {
  return {
    id: r.id as string,
    endpointId: r.endpoint_id as string,
    merchant: r.merchant as string,
    account: r.account as string,
    orderId: r.order_id as string,
    eventType: r.event_type as string,
    payload: r.payload as string,
    state: r.state as MessageState,
    attempts: r.attempts as number,
    nextAt: r.next_at as number,
    createdAt: r.created_at as number,
    deliveredAt: (r.delivered_at as number | null) ?? null,
    lastError: (r.last_error as string | null) ?? null,
  };
}

export class NotifyStore {
  private readonly s: Record<string, Database.Statement>;

  constructor(readonly db: Database.Database) {
    db.exec(SCHEMA);
    const p = (sql: string) => db.prepare(sql);
    this.s = {
      upsertTerminal: p(`INSERT INTO notify_terminals (device_id, lat, lon, category, merchant_name, updated_at)
        VALUES (@deviceId, @lat, @lon, @category, @merchantName, @updatedAt)
        ON CONFLICT (device_id) DO UPDATE SET lat = excluded.lat, lon = excluded.lon, category = excluded.category,
          merchant_name = excluded.merchant_name, updated_at = excluded.updated_at`),
      getTerminal: p('SELECT * FROM notify_terminals WHERE device_id = ?'),
      deleteTerminal: p('DELETE FROM notify_terminals WHERE device_id = ?'),
      listTerminals: p('SELECT * FROM notify_terminals ORDER BY device_id'),
      // The devices table is the service's: a terminal notifies only for the merchant it belongs to.
      deviceMerchant: p('SELECT merchant FROM devices WHERE id = ?'),
      insertEndpoint: p(`INSERT INTO notify_endpoints (id, merchant, account, kind, url, phone, secret, lang, consent_text, consent_at, created_at)
        VALUES (@id, @merchant, @account, @kind, @url, @phone, @secret, @lang, @consentText, @consentAt, @createdAt)`),
      getEndpoint: p('SELECT * FROM notify_endpoints WHERE id = ? AND merchant = ?'),
      endpointsOf: p('SELECT * FROM notify_endpoints WHERE merchant = ? AND account = ? ORDER BY created_at, id'),
      endpointsOfMerchant: p('SELECT * FROM notify_endpoints WHERE merchant = ? ORDER BY account, created_at, id'),
      deleteEndpoint: p('DELETE FROM notify_endpoints WHERE id = ? AND merchant = ?'),
      deleteMessagesOfEndpoint: p('DELETE FROM notify_messages WHERE endpoint_id = ?'),
      deleteAccountMessages: p('DELETE FROM notify_messages WHERE merchant = ? AND account = ?'),
      deleteAccountEndpoints: p('DELETE FROM notify_endpoints WHERE merchant = ? AND account = ?'),
      enqueue: p(`INSERT INTO notify_messages (id, endpoint_id, merchant, account, order_id, event_type, payload, state, attempts, next_at, created_at)
        VALUES (@id, @endpointId, @merchant, @account, @orderId, @eventType, @payload, 'pending', 0, @nextAt, @createdAt)
        ON CONFLICT (id) DO NOTHING`),
      claim: p(`UPDATE notify_messages SET state = 'sending', next_at = @leaseUntil
        WHERE id IN (SELECT id FROM notify_messages WHERE state IN ('pending', 'sending') AND next_at <= @now ORDER BY next_at LIMIT @limit)
        RETURNING *`),
      delivered: p(`UPDATE notify_messages SET state = 'delivered', attempts = attempts + 1, delivered_at = ?, last_error = NULL
        WHERE id = ? AND state = 'sending'`),
      retry: p(`UPDATE notify_messages SET state = 'pending', attempts = attempts + 1, next_at = ?, last_error = ?
        WHERE id = ? AND state = 'sending'`),
      dead: p(`UPDATE notify_messages SET state = 'dead', attempts = attempts + 1, last_error = ?
        WHERE id = ? AND state = 'sending'`),
      getMessage: p('SELECT * FROM notify_messages WHERE id = ?'),
      endpointById: p('SELECT * FROM notify_endpoints WHERE id = ?'),
      nextDue: p(`SELECT min(next_at) AS t FROM notify_messages WHERE state IN ('pending', 'sending')`),
      replayOne: p(`UPDATE notify_messages SET state = 'pending', next_at = ?, attempts = 0, last_error = NULL
        WHERE id = ? AND state IN ('dead', 'delivered')`),
      replayDead: p(`UPDATE notify_messages SET state = 'pending', next_at = ?, attempts = 0, last_error = NULL WHERE state = 'dead'`),
      purgeState: p('DELETE FROM notify_messages WHERE state = ? AND created_at < ?'),
      purgeOne: p(`DELETE FROM notify_messages WHERE id = ?`),
      countByState: p('SELECT state, count(*) AS n FROM notify_messages GROUP BY state'),
      upsertCatalogueMerchant: p(`INSERT INTO notify_catalogue_merchants (id, name, category, lat, lon) VALUES (@id, @name, @category, @lat, @lon)
        ON CONFLICT (id) DO UPDATE SET name = excluded.name, category = excluded.category, lat = excluded.lat, lon = excluded.lon`),
      upsertOffer: p(`INSERT INTO notify_offers (merchant_id, item, price, currency) VALUES (@merchantId, @item, @price, @currency)
        ON CONFLICT (merchant_id, item) DO UPDATE SET price = excluded.price, currency = excluded.currency`),
      allCatalogueMerchants: p('SELECT * FROM notify_catalogue_merchants'),
      allOffers: p('SELECT * FROM notify_offers ORDER BY merchant_id, price'),
      countCatalogue: p('SELECT (SELECT count(*) FROM notify_catalogue_merchants) AS merchants, (SELECT count(*) FROM notify_offers) AS offers'),
      deleteCatalogueMerchant: p('DELETE FROM notify_catalogue_merchants WHERE id = ?'),
      getState: p('SELECT value FROM notify_state WHERE key = ?'),
      bumpState: p(`INSERT INTO notify_state (key, value) VALUES (?, 1) ON CONFLICT (key) DO UPDATE SET value = value + 1`),
      insertRuleSet: p('INSERT INTO notify_rulesets (version, body, created_at) VALUES (?, ?, ?)'),
      latestRuleSet: p('SELECT version, body, created_at FROM notify_rulesets ORDER BY version DESC LIMIT 1'),
      listRuleSets: p('SELECT version, body, created_at FROM notify_rulesets ORDER BY version'),
    };
  }

  // ------------------------------------------------------------ terminals
  upsertTerminal(t: TerminalLocation): void {
    this.s.upsertTerminal.run(t);
  }
  terminal(deviceId: string): TerminalLocation | null {
    const r = this.s.getTerminal.get(deviceId) as Row | undefined;
    return r ? terminalRow(r) : null;
  }
  removeTerminal(deviceId: string): boolean {
    return this.s.deleteTerminal.run(deviceId).changes > 0;
  }
  terminals(): TerminalLocation[] {
    return (this.s.listTerminals.all() as Row[]).map(terminalRow);
  }
  deviceMerchant(deviceId: string): string | null {
    const r = this.s.deviceMerchant.get(deviceId) as Row | undefined;
    return r ? (r.merchant as string) : null;
  }

  // ------------------------------------------------------------ endpoints and consent
  insertEndpoint(e: Endpoint): void {
    this.s.insertEndpoint.run(e);
  }
  endpoint(id: string, merchant: string): Endpoint | null {
    const r = this.s.getEndpoint.get(id, merchant) as Row | undefined;
    return r ? endpointRow(r) : null;
  }
  endpointsOf(merchant: string, account: string): Endpoint[] {
    return (this.s.endpointsOf.all(merchant, account) as Row[]).map((r) => endpointRow(r));
  }
  endpointsOfMerchant(merchant: string): Endpoint[] {
    return (this.s.endpointsOfMerchant.all(merchant) as Row[]).map((r) => endpointRow(r));
  }
  /** Withdrawal: the endpoint and every message derived for it, in one transaction. */
  withdraw(id: string, merchant: string): { endpoint: boolean; messages: number } {
    return this.erasing(() => {
      if (!this.s.getEndpoint.get(id, merchant)) return { endpoint: false, messages: 0 };
      const messages = this.s.deleteMessagesOfEndpoint.run(id).changes;
      this.s.deleteEndpoint.run(id, merchant);
      return { endpoint: true, messages };
    });
  }
  /** Erasure of an account: all its endpoints and all messages generated for it. */
  eraseAccount(merchant: string, account: string): { endpoints: number; messages: number } {
    return this.erasing(() => {
      const messages = this.s.deleteAccountMessages.run(merchant, account).changes;
      const endpoints = this.s.deleteAccountEndpoints.run(merchant, account).changes;
      return { endpoints, messages };
    });
  }
  /**
   * Deletes for real: SQLite's secure_delete zeroes the freed content (otherwise it stays in free
   * pages), and a checkpoint moves the zeroed pages into the file and empties the WAL, whose older
   * frames still hold the rows. The connection is synchronous, so the pragma covers only this call.
   */
  private erasing<T>(fn: () => T): T {
    const before = this.db.pragma('secure_delete', { simple: true });
    this.db.pragma('secure_delete = ON');
    try {
      return this.db.transaction(fn)();
    } finally {
      this.db.pragma(`secure_delete = ${before ? 'ON' : 'OFF'}`);
      this.db.pragma('wal_checkpoint(TRUNCATE)');
    }
  }

  // ------------------------------------------------------------ queue
  /** Inserts messages; an id that exists is left alone (idempotent). Returns the ids newly queued. */
  enqueue(msgs: Omit<QueuedMessage, 'state' | 'attempts' | 'deliveredAt' | 'lastError'>[]): string[] {
    return this.db.transaction(() => msgs.filter((m) => this.s.enqueue.run(m).changes > 0).map((m) => m.id))();
  }
  /** Atomically takes up to `limit` due messages (pending, or sending with an expired lease). */
  claim(now: number, leaseUntil: number, limit: number): ClaimedMessage[] {
    return this.db.transaction(() => {
      const rows = (this.s.claim.all({ now, leaseUntil, limit }) as Row[]).map(messageRow);
      const out: ClaimedMessage[] = [];
      for (const m of rows) {
        const e = this.s.endpointById.get(m.endpointId) as Row | undefined;
        if (e) out.push({ ...m, endpoint: endpointRow(e) });
      }
      return out;
    })();
  }
  /** Each returns false when the message is gone (consent withdrawn mid-flight) or no longer claimed. */
  markDelivered(id: string, at: number): boolean {
    return this.s.delivered.run(at, id).changes > 0;
  }
  markRetry(id: string, nextAt: number, error: string): boolean {
    return this.s.retry.run(nextAt, error.slice(0, 500), id).changes > 0;
  }
  markDead(id: string, error: string): boolean {
    return this.s.dead.run(error.slice(0, 500), id).changes > 0;
  }
  message(id: string): QueuedMessage | null {
    const r = this.s.getMessage.get(id) as Row | undefined;
    return r ? messageRow(r) : null;
  }
  nextDueAt(): number | null {
    return ((this.s.nextDue.get() as Row).t as number | null) ?? null;
  }
  listMessages(f: { state?: MessageState; merchant?: string; limit?: number } = {}): QueuedMessage[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (f.state) {
      where.push('state = ?');
      args.push(f.state);
    }
    if (f.merchant) {
      where.push('merchant = ?');
      args.push(f.merchant);
    }
    const sql = `SELECT * FROM notify_messages ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at, id LIMIT ?`;
    return (this.db.prepare(sql).all(...args, Math.min(f.limit ?? 100, 10_000)) as Row[]).map(messageRow);
  }
  replay(id: string, now: number): boolean {
    return this.s.replayOne.run(now, id).changes > 0;
  }
  replayDead(now: number): number {
    return this.s.replayDead.run(now).changes;
  }
  purge(state: 'delivered' | 'dead', before: number): number {
    return this.s.purgeState.run(state, before).changes;
  }
  purgeOne(id: string): boolean {
    return this.s.purgeOne.run(id).changes > 0;
  }
  counts(): Record<MessageState, number> {
    const c: Record<MessageState, number> = { pending: 0, sending: 0, delivered: 0, dead: 0 };
    for (const r of this.s.countByState.all() as Row[]) c[r.state as MessageState] = r.n as number;
    return c;
  }

  // ------------------------------------------------------------ catalogue
  /** Upserts catalogue merchants and their offers in one transaction; bumps the catalogue version. */
  importCatalogue(merchants: CatalogueMerchant[], offers: Offer[]): void {
    this.db.transaction(() => {
      for (const m of merchants) this.s.upsertCatalogueMerchant.run(m);
      for (const o of offers) this.s.upsertOffer.run(o);
      this.s.bumpState.run('catalogue_version');
    })();
  }
  removeCatalogueMerchant(id: string): boolean {
    return this.db.transaction(() => {
      const ok = this.s.deleteCatalogueMerchant.run(id).changes > 0;
      if (ok) this.s.bumpState.run('catalogue_version');
      return ok;
    })();
  }
  /** Bumped by every catalogue change (also by another process, e.g. a CLI import). */
  catalogueVersion(): number {
    return ((this.s.getState.get('catalogue_version') as Row | undefined)?.value as number | undefined) ?? 0;
  }
  catalogue(): { merchants: CatalogueMerchant[]; offers: Offer[] } {
    const merchants = this.s.allCatalogueMerchants.all() as CatalogueMerchant[];
    const offers = (this.s.allOffers.all() as Row[]).map((r) => ({ merchantId: r.merchant_id as string, item: r.item as string, price: r.price as number, currency: r.currency as string }));
    return { merchants, offers };
  }
  catalogueCounts(): { merchants: number; offers: number } {
    return this.s.countCatalogue.get() as { merchants: number; offers: number };
  }

  // ------------------------------------------------------------ rule sets
  saveRuleSet(body: string, at: number): number {
    return this.db.transaction(() => {
      const latest = this.s.latestRuleSet.get() as Row | undefined;
      const version = ((latest?.version as number | undefined) ?? 0) + 1;
      this.s.insertRuleSet.run(version, body, at);
      return version;
    })();
  }
  latestRuleSet(): { version: number; body: string; createdAt: number } | null {
    const r = this.s.latestRuleSet.get() as Row | undefined;
    return r ? { version: r.version as number, body: r.body as string, createdAt: r.created_at as number } : null;
  }
  ruleSets(): { version: number; createdAt: number }[] {
    return (this.s.listRuleSets.all() as Row[]).map((r) => ({ version: r.version as number, createdAt: r.created_at as number }));
  }
}

function terminalRow(r: Row): TerminalLocation {
  return {
    deviceId: r.device_id as string,
    lat: r.lat as number,
    lon: r.lon as number,
    category: r.category as string,
    merchantName: (r.merchant_name as string | null) ?? null,
    updatedAt: r.updated_at as number,
  };
}

/** A Standard Webhooks signing secret: "whsec_" + base64 of 24 random bytes. */
export function newWebhookSecret(): string {
  return `whsec_${crypto.randomBytes(24).toString('base64')}`;
}
