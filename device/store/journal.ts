// Verification journal and counters. Rows hold the card TOKEN, never the card number. Writes are
// batched (flushed every `batch` rows, on a 1 s timer and on close) so a verification does not
// pay an fsync; a crash loses at most the last second of journal rows and counter increments.
// The journal is bounded to the most recent `maxRows` rows.
import type { Db } from './database.ts';

export const DEFAULT_JOURNAL_ROWS = 10_000;

export interface JournalEntry {
  at: number;
  token: Uint8Array;
  decision: string;
  reason: string;
  datasetVersion: number;
}

export type CounterName = 'verifications_served' | 'frames_rejected' | 'rollbacks';

export class Journal {
  private readonly db: Db;
  private readonly maxRows: number;
  private readonly batch: number;
  private pending: JournalEntry[] = [];
  private pendingCounters = new Map<CounterName, number>();
  private timer: NodeJS.Timeout | null = null;

  constructor(db: Db, opts: { maxRows?: number; batch?: number; flushMs?: number } = {}) {
    this.db = db;
    this.maxRows = opts.maxRows ?? DEFAULT_JOURNAL_ROWS;
    this.batch = opts.batch ?? 256;
    const ms = opts.flushMs ?? 1000;
    if (ms > 0) {
      this.timer = setInterval(() => this.flush(), ms);
      this.timer.unref();
    }
  }

  record(e: JournalEntry): void {
    this.pending.push({ ...e, token: Uint8Array.from(e.token) });
    this.increment('verifications_served');
    if (this.pending.length >= this.batch) this.flush();
  }

  increment(name: CounterName, by = 1): void {
    this.pendingCounters.set(name, (this.pendingCounters.get(name) ?? 0) + by);
  }

  counter(name: CounterName): number {
    const r = this.db.prepare(`SELECT value FROM counter WHERE name = ?`).get(name) as { value: number } | undefined;
    return (r?.value ?? 0) + (this.pendingCounters.get(name) ?? 0);
  }

  flush(): void {
    if (this.pending.length === 0 && this.pendingCounters.size === 0) return;
    const rows = this.pending;
    const counters = this.pendingCounters;
    this.pending = [];
    this.pendingCounters = new Map();
    // Journal rows are best effort (see above): commit them without an fsync (WAL + NORMAL
    // still never corrupts), then restore FULL for everything that must be durable.
    this.db.pragma('synchronous = NORMAL');
    try {
      this.write(rows, counters);
    } finally {
      this.db.pragma('synchronous = FULL');
    }
  }

  private write(rows: JournalEntry[], counters: Map<CounterName, number>): void {
    this.db.transaction(() => {
      const ins = this.db.prepare(`INSERT INTO journal (at, token, decision, reason, dataset_version) VALUES (?, ?, ?, ?, ?)`);
      for (const r of rows) ins.run(r.at, r.token, r.decision, r.reason, r.datasetVersion);
      const up = this.db.prepare(`INSERT INTO counter (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = value + excluded.value`);
      for (const [k, v] of counters) up.run(k, v);
      if (rows.length > 0) {
        this.db.prepare(`DELETE FROM journal WHERE id <= (SELECT max(id) FROM journal) - ?`).run(this.maxRows);
      }
    })();
  }

  recent(limit = 100): JournalEntry[] {
    this.flush();
    return (this.db.prepare(`SELECT at, token, decision, reason, dataset_version FROM journal ORDER BY id DESC LIMIT ?`).all(limit) as {
      at: number;
      token: Buffer;
      decision: string;
      reason: string;
      dataset_version: number;
    }[]).map((r) => ({ at: r.at, token: new Uint8Array(r.token), decision: r.decision, reason: r.reason, datasetVersion: r.dataset_version }));
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.flush();
  }
}
