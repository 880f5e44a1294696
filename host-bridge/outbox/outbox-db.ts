// The bridge's durable store (SQLite, WAL): its record of each order's verification, the queue of
// gateway outcomes to forward, and the queue of offline (fallback) decisions to reconcile with the
// network service. Rows stay until the service acknowledges them, across restarts and outages.
// Never holds a PAN or a security code: tokens, BIN, last four only.
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { NetworkAuthResponse, NetworkOutcome, ReconcileRecord } from '../network/network-types.ts';

export interface VerificationRecord {
  orderId: string;
  token: string | null;
  bin: string;
  last4: string;
  brand: string | null;
  amount: number;
  currency: string;
  decision: string;
  stage: string;
  reason: string;
  deviceId: string | null;
  datasetVersion: number | null;
  gateway: string | null;
  /** The order's (billing) country as the shop sent it, ISO 3166-1 alpha-2; null when not given. */
  country: string | null;
  /** Order country ≠ merchant country; null when either is unknown. */
  crossBorder: boolean | null;
  /** Unix seconds. */
  at: number;
}

export interface VerificationRow extends VerificationRecord {
  id: number;
}

export interface QueuedOutcome {
  key: string;
  payload: NetworkOutcome;
  attempts: number;
}

export interface QueuedReconciliation {
  id: number;
  orderId: string;
  record: ReconcileRecord;
  attempts: number;
}

export interface OutboxDepth {
  outcomesPending: number;
  outcomesRejected: number;
  reconciliationsPending: number;
  reconciliationsRejected: number;
  /** Reconciled fallback decisions the network service would have decided differently. */
  reconciliationMismatches: number;
}

const SCHEMA_VERSION = 2;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS verifications (
  id INTEGER PRIMARY KEY,
  order_id TEXT NOT NULL,
  token TEXT,
  bin TEXT NOT NULL,
  last4 TEXT NOT NULL,
  brand TEXT,
  amount INTEGER NOT NULL,
  currency TEXT NOT NULL,
  decision TEXT NOT NULL,
  stage TEXT NOT NULL,
  reason TEXT NOT NULL,
  device_id TEXT,
  dataset_version INTEGER,
  gateway TEXT,
  at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS verifications_order ON verifications (order_id, id);
CREATE TABLE IF NOT EXISTS outcomes (
  idempotency_key TEXT PRIMARY KEY,
  order_id TEXT NOT NULL,
  payload TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending',  -- pending | acked | rejected
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_ms INTEGER NOT NULL,
  last_error TEXT,
  created_at INTEGER NOT NULL,
  acked_at INTEGER
);
CREATE INDEX IF NOT EXISTS outcomes_due ON outcomes (status, next_attempt_ms);
CREATE TABLE IF NOT EXISTS reconciliations (
  id INTEGER PRIMARY KEY,
  verification_id INTEGER NOT NULL REFERENCES verifications(id),
  order_id TEXT NOT NULL,
  request TEXT NOT NULL,
  fallback_decision TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending',  -- pending | done | rejected
  network_decision TEXT,
  network_reason TEXT,
  mismatch INTEGER,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_ms INTEGER NOT NULL,
  last_error TEXT,
  created_at INTEGER NOT NULL,
  done_at INTEGER
);
CREATE INDEX IF NOT EXISTS reconciliations_due ON reconciliations (status, next_attempt_ms);
`;

/**
 * Steps from schema version N-1 to N, applied in order on top of SCHEMA (which is version 1 and
 * never changes, so a fresh file and an old one take the same path). Columns are added nullable:
 * rows written before the step keep working and read as "unknown".
 */
const MIGRATIONS: Record<number, string> = {
  // v2: the order's segment, so outcomes of locally-decided orders (never seen by the service's
  // /v1/auth) still carry country / cross-border to the service's success-rate router.
  2: `ALTER TABLE verifications ADD COLUMN country TEXT;
      ALTER TABLE verifications ADD COLUMN cross_border INTEGER;`,
};

export class Outbox {
  readonly path: string;
  private readonly db: Database.Database;
  private readonly st: Record<string, Database.Statement>;

  private constructor(path: string) {
    this.path = path;
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    const version = this.db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) throw new Error(`outbox ${path} has schema ${version}, newer than this bridge (${SCHEMA_VERSION})`);
    this.db.transaction(() => {
      this.db.exec(SCHEMA);
      for (let v = Math.max(version, 1) + 1; v <= SCHEMA_VERSION; v++) this.db.exec(MIGRATIONS[v]!);
      this.db.pragma(`user_version = ${SCHEMA_VERSION}`);
    })();
    const p = (sql: string) => this.db.prepare(sql);
    this.st = {
      insertVerification: p(`INSERT INTO verifications (order_id, token, bin, last4, brand, amount, currency, decision, stage, reason, device_id, dataset_version, gateway, country, cross_border, at)
        VALUES (@orderId, @token, @bin, @last4, @brand, @amount, @currency, @decision, @stage, @reason, @deviceId, @datasetVersion, @gateway, @country, @crossBorder, @at)`),
      latestVerification: p(`SELECT id, order_id AS orderId, token, bin, last4, brand, amount, currency, decision, stage, reason, device_id AS deviceId,
        dataset_version AS datasetVersion, gateway, country, cross_border AS crossBorder, at FROM verifications WHERE order_id = ? ORDER BY id DESC LIMIT 1`),
      insertOutcome: p(`INSERT OR IGNORE INTO outcomes (idempotency_key, order_id, payload, next_attempt_ms, created_at) VALUES (?, ?, ?, ?, ?)`),
      pruneRecons: p(`DELETE FROM reconciliations WHERE id IN (SELECT id FROM reconciliations WHERE status = 'done' AND created_at < ? LIMIT ?)`),
      pruneVerifications: p(`DELETE FROM verifications WHERE id IN (SELECT v.id FROM verifications v WHERE v.at < ?
        AND NOT EXISTS (SELECT 1 FROM reconciliations r WHERE r.verification_id = v.id) LIMIT ?)`),
      pruneOutcomes: p(`DELETE FROM outcomes WHERE rowid IN (SELECT rowid FROM outcomes WHERE status = 'acked' AND created_at < ? LIMIT ?)`),
      orderOutcomes: p(`SELECT idempotency_key AS key, payload FROM outcomes WHERE order_id = ?`),
      dueOutcomes: p(`SELECT idempotency_key AS key, payload, attempts FROM outcomes WHERE status = 'pending' AND next_attempt_ms <= ? ORDER BY next_attempt_ms, rowid LIMIT ?`),
      ackOutcome: p(`UPDATE outcomes SET status = 'acked', acked_at = ?, last_error = NULL WHERE idempotency_key = ?`),
      retryOutcome: p(`UPDATE outcomes SET attempts = attempts + 1, next_attempt_ms = ?, last_error = ? WHERE idempotency_key = ?`),
      rejectOutcome: p(`UPDATE outcomes SET status = 'rejected', attempts = attempts + 1, last_error = ? WHERE idempotency_key = ?`),
      insertRecon: p(`INSERT INTO reconciliations (verification_id, order_id, request, fallback_decision, next_attempt_ms, created_at) VALUES (?, ?, ?, ?, ?, ?)`),
      dueRecons: p(`SELECT id, order_id AS orderId, request, attempts FROM reconciliations WHERE status = 'pending' AND next_attempt_ms <= ? ORDER BY next_attempt_ms, id LIMIT ?`),
      doneRecon: p(`UPDATE reconciliations SET status = 'done', network_decision = ?, network_reason = ?, mismatch = (fallback_decision <> ?), done_at = ?, last_error = NULL WHERE id = ?`),
      retryRecon: p(`UPDATE reconciliations SET attempts = attempts + 1, next_attempt_ms = ?, last_error = ? WHERE id = ?`),
      rejectRecon: p(`UPDATE reconciliations SET status = 'rejected', attempts = attempts + 1, last_error = ? WHERE id = ?`),
      reschedule: p(`UPDATE outcomes SET next_attempt_ms = ? WHERE status = 'pending'`),
      rescheduleRecon: p(`UPDATE reconciliations SET next_attempt_ms = ? WHERE status = 'pending'`),
      nextDue: p(`SELECT MIN(t) AS t FROM (SELECT MIN(next_attempt_ms) AS t FROM outcomes WHERE status = 'pending' UNION ALL SELECT MIN(next_attempt_ms) FROM reconciliations WHERE status = 'pending')`),
      depth: p(`SELECT
        (SELECT COUNT(*) FROM outcomes WHERE status = 'pending') AS outcomesPending,
        (SELECT COUNT(*) FROM outcomes WHERE status = 'rejected') AS outcomesRejected,
        (SELECT COUNT(*) FROM reconciliations WHERE status = 'pending') AS reconciliationsPending,
        (SELECT COUNT(*) FROM reconciliations WHERE status = 'rejected') AS reconciliationsRejected,
        (SELECT COUNT(*) FROM reconciliations WHERE mismatch = 1) AS reconciliationMismatches`),
    };
  }

  /** Open (creating if needed) `outbox.sqlite` in the data directory. */
  static open(dataDir: string): Outbox {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    return new Outbox(join(dataDir, 'outbox.sqlite'));
  }

  recordVerification(v: VerificationRecord): number {
    // SQLite has no boolean: 1/0, NULL for unknown.
    return Number(this.st.insertVerification.run({ ...v, crossBorder: v.crossBorder === null ? null : v.crossBorder ? 1 : 0 }).lastInsertRowid);
  }

  /** The bridge's latest verification for an order (what an outcome report refers to). */
  latestVerification(orderId: string): VerificationRow | undefined {
    const r = this.st.latestVerification.get(orderId) as (Omit<VerificationRow, 'crossBorder'> & { crossBorder: number | null }) | undefined;
    return r && { ...r, crossBorder: r.crossBorder === null ? null : r.crossBorder === 1 };
  }

  /** Queue an outcome; false when the idempotency key is already queued or sent (a duplicate). */
  enqueueOutcome(o: NetworkOutcome, nowMs: number): boolean {
    return this.st.insertOutcome.run(o.idempotencyKey, o.orderId, JSON.stringify(o), nowMs, Math.floor(nowMs / 1000)).changes === 1;
  }

  /**
   * Retention: drop journal rows older than `beforeS` (unix seconds) — verifications, reconciled
   * fallbacks, acknowledged outcomes — in batches, so the writer is never blocked for long. Rows
   * still pending or refused by the service stay (health reports them). Returns rows deleted.
   */
  prune(beforeS: number, batch = 2_000): { verifications: number; reconciliations: number; outcomes: number } {
    const out = { verifications: 0, reconciliations: 0, outcomes: 0 };
    const step = (st: Database.Statement) => {
      let total = 0;
      for (;;) {
        const n = st.run(beforeS, batch).changes;
        total += n;
        if (n < batch) return total;
      }
    };
    out.reconciliations = step(this.st.pruneRecons);
    out.verifications = step(this.st.pruneVerifications);
    out.outcomes = step(this.st.pruneOutcomes);
    return out;
  }

  /** Rows in the verification journal (retention is measured on it). */
  verificationCount(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM verifications').get() as { n: number }).n;
  }

  /** Every outcome queued or sent for an order (any status), oldest first. */
  orderOutcomes(orderId: string): Array<{ key: string; payload: NetworkOutcome }> {
    return (this.st.orderOutcomes.all(orderId) as Array<{ key: string; payload: string }>).map((r) => ({ key: r.key, payload: JSON.parse(r.payload) as NetworkOutcome }));
  }

  /** Record a fallback decision and queue it for reconciliation, atomically with its verification. */
  recordFallback(v: VerificationRecord, record: ReconcileRecord, nowMs: number): number {
    const tx = this.db.transaction(() => {
      const id = this.recordVerification(v);
      this.st.insertRecon.run(id, v.orderId, JSON.stringify(record), v.decision, nowMs, Math.floor(nowMs / 1000));
      return id;
    });
    return tx();
  }

  dueOutcomes(nowMs: number, limit = 50): QueuedOutcome[] {
    return (this.st.dueOutcomes.all(nowMs, limit) as Array<{ key: string; payload: string; attempts: number }>).map((r) => ({
      key: r.key,
      payload: JSON.parse(r.payload) as NetworkOutcome,
      attempts: r.attempts,
    }));
  }

  ackOutcome(key: string, nowMs: number): void {
    this.st.ackOutcome.run(Math.floor(nowMs / 1000), key);
  }

  retryOutcome(key: string, nextAttemptMs: number, error: string): void {
    this.st.retryOutcome.run(nextAttemptMs, error, key);
  }

  rejectOutcome(key: string, error: string): void {
    this.st.rejectOutcome.run(error, key);
  }

  dueReconciliations(nowMs: number, limit = 50): QueuedReconciliation[] {
    return (this.st.dueRecons.all(nowMs, limit) as Array<{ id: number; orderId: string; request: string; attempts: number }>).map((r) => ({
      id: r.id,
      orderId: r.orderId,
      record: JSON.parse(r.request) as ReconcileRecord,
      attempts: r.attempts,
    }));
  }

  reconciled(id: number, answer: NetworkAuthResponse, nowMs: number): void {
    this.st.doneRecon.run(answer.decision, answer.reason, answer.decision, Math.floor(nowMs / 1000), id);
  }

  retryReconciliation(id: number, nextAttemptMs: number, error: string): void {
    this.st.retryRecon.run(nextAttemptMs, error, id);
  }

  rejectReconciliation(id: number, error: string): void {
    this.st.rejectRecon.run(error, id);
  }

  /** After a restart everything pending is due at once (the outage may be over). */
  rescheduleAll(nowMs: number): void {
    this.st.reschedule.run(nowMs);
    this.st.rescheduleRecon.run(nowMs);
  }

  /** Earliest next attempt among pending rows, or null when nothing is pending. */
  nextDueMs(): number | null {
    const r = this.st.nextDue.get() as { t: number | null };
    return r.t;
  }

  depth(): OutboxDepth {
    return { ...(this.st.depth.get() as OutboxDepth) };
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
