// Sends queued outcomes (POST /v1/outcomes, Idempotency-Key header) and replays fallback decisions
// for reconciliation (POST /v1/auth with the fallback attached) until the service acknowledges
// them. Each row backs off exponentially with jitter; an unavailable service ends the pass early
// (no point hammering it row by row) and the next pass waits for the backoff or the breaker.
// Up to `concurrency` requests are in flight at once, on a steady pace: one at a time, a busy
// service's latency (not the pace) bounded the drain rate, and a backlog grew under live load.
// Rows of one order never overlap, so the service sees an order's attempts in the order they
// were reported.
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { Outbox } from './outbox-db.ts';
import { NetworkError, type NetworkClient } from '../network/network-client.ts';
import { parseAuthResponse } from '../network/network-types.ts';

export interface ForwarderOptions {
  outbox: Outbox;
  network: NetworkClient | null;
  logger: Logger;
  retryBaseMs: number;
  retryMaxMs: number;
  /**
   * Requests per second this forwarder sends at most (outcomes and reconciliation replays), so a
   * backlog after an outage is replayed well below the service's per-key limit and leaves room
   * for live verifications. Default 50.
   */
  maxPerSecond?: number;
  /** Requests in flight at once (default 4). */
  concurrency?: number;
  now?: () => number;
  random?: () => number;
}

export interface PassResult {
  acked: number;
  reconciled: number;
  retried: number;
  rejected: number;
}

/**
 * Events: 'acked' (idempotencyKey), 'reconciled' (id, networkDecision), 'rejected' (kind, id, error),
 * 'pass' (PassResult).
 */
export class OutboxForwarder extends EventEmitter {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<PassResult> | null = null;
  private again = false;
  private stopped = true;
  private readonly now: () => number;
  private readonly random: () => number;
  private nextSendAt = 0;

  constructor(private readonly o: ForwarderOptions) {
    super();
    this.now = o.now ?? Date.now;
    this.random = o.random ?? Math.random;
  }

  start(): void {
    if (!this.o.network) return; // nothing to forward to: rows wait in the outbox
    this.stopped = false;
    this.o.outbox.rescheduleAll(this.now());
    this.kick();
  }

  /** Run a pass soon (new rows were queued). */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.running) await this.running.catch(() => undefined);
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.runOnce();
    }, delayMs);
    this.timer.unref();
  }

  /** Waits for the next send slot (a steady pace, no bursts). */
  private async pace(): Promise<void> {
    const gap = 1000 / (this.o.maxPerSecond ?? 50);
    const t = performance.now();
    const at = Math.max(t, this.nextSendAt);
    this.nextSendAt = at + gap;
    if (at > t) await new Promise((r) => setTimeout(r, at - t));
  }

  private retryDelay(attempts: number): number {
    const exp = Math.min(this.o.retryMaxMs, this.o.retryBaseMs * 2 ** Math.min(attempts, 30));
    return Math.round(exp / 2 + (exp / 2) * this.random());
  }

  /** One pass over everything due. Safe to call directly (tests, `precheck status --flush`). */
  runOnce(): Promise<PassResult> {
    if (this.running) return this.running;
    this.running = this.pass().then((r) => {
      this.running = null;
      if (!this.stopped) {
        let next: number | null = null;
        try {
          next = this.o.outbox.nextDueMs();
        } catch {
          next = this.now() + this.o.retryBaseMs; // database trouble: look again later
        }
        if (this.again) {
          this.again = false;
          this.schedule(0);
        } else if (next !== null) {
          const breakerWait = this.o.network?.breaker.retryInMs() ?? 0;
          this.schedule(Math.max(0, next - this.now(), breakerWait));
        }
      }
      // Emitted once the pass is fully over, so a listener may start the next one.
      this.emit('pass', r);
      return r;
    });
    return this.running;
  }

  private async pass(): Promise<PassResult> {
    const r: PassResult = { acked: 0, reconciled: 0, retried: 0, rejected: 0 };
    const net = this.o.network;
    if (!net) return r;
    const outbox = this.o.outbox;
    const slots = Math.max(1, this.o.concurrency ?? 4);
    const inFlight = new Set<Promise<void>>();
    let unavailable = false;
    /**
     * Sends rows with up to `slots` in flight. A row whose order already has a row in flight (or
     * put off) waits for the next round, so one order's rows go out one after another, in order.
     */
    const drain = async <R>(rows: R[], orderOf: (row: R) => string, send: (row: R) => Promise<void>): Promise<void> => {
      let queue = rows;
      while (queue.length > 0 && !unavailable && !this.stopped) {
        const busy = new Set<string>();
        const later: R[] = [];
        for (const row of queue) {
          if (unavailable || this.stopped) break;
          const order = orderOf(row);
          if (busy.has(order)) {
            later.push(row);
            continue;
          }
          busy.add(order);
          while (inFlight.size >= slots) await Promise.race(inFlight);
          await this.pace();
          const job: Promise<void> = send(row)
            .catch((e: unknown) => {
              // Only the outbox's own bookkeeping can throw here (a closed database at shutdown): the row stays due.
              this.o.logger.error({ err: (e as Error).message }, 'outbox row bookkeeping failed');
            })
            .finally(() => inFlight.delete(job));
          inFlight.add(job);
        }
        await Promise.all(inFlight);
        queue = later;
      }
    };
    try {
      await drain(outbox.dueOutcomes(this.now()), (row) => row.payload.orderId, async (row) => {
        try {
          await net.postJson('/v1/outcomes', row.payload, { idempotencyKey: row.key, retries: 0 });
          outbox.ackOutcome(row.key, this.now());
          r.acked++;
          this.emit('acked', row.key);
        } catch (e) {
          if (this.handleFailure(e, r, 'outcome', row.key, row.attempts)) unavailable = true;
        }
      });
      // Outcomes first: a replayed fallback's answer should see what the shop reported since.
      await drain(outbox.dueReconciliations(this.now()), (row) => row.orderId, async (row) => {
        try {
          const res = await net.postJson('/v1/auth', row.record.request, { retries: 0 });
          const answer = parseAuthResponse(res.body);
          outbox.reconciled(row.id, answer, this.now());
          r.reconciled++;
          this.emit('reconciled', row.id, answer.decision);
          if (row.record.fallback.decision !== answer.decision) {
            this.o.logger.warn({ orderId: row.orderId, fallback: row.record.fallback.decision, network: answer.decision }, 'reconciliation: network service disagrees with the fallback decision');
          }
        } catch (e) {
          if (this.handleFailure(e, r, 'reconciliation', row.id, row.attempts)) unavailable = true;
        }
      });
    } catch (e) {
      // A closed database during shutdown, or a bug: log, keep the rows, try again later.
      this.o.logger.error({ err: (e as Error).message }, 'outbox pass failed');
    }
    await Promise.allSettled(inFlight);
    return r;
  }

  /** Returns true when the pass should stop (service unavailable). */
  private handleFailure(e: unknown, r: PassResult, kind: 'outcome' | 'reconciliation', id: string | number, attempts: number): boolean {
    const outbox = this.o.outbox;
    const msg = e instanceof Error ? e.message : String(e);
    if (e instanceof NetworkError && e.code === 'NETWORK_REJECTED' && e.status !== 408) {
      // The service understood and refused (bad payload, key reused with another body): retrying
      // cannot help. Kept as 'rejected' for an operator, visible in /v1/health and metrics.
      if (kind === 'outcome') outbox.rejectOutcome(id as string, msg);
      else outbox.rejectReconciliation(id as number, msg);
      r.rejected++;
      this.o.logger.error({ kind, id, err: msg }, 'outbox row rejected by the network service');
      this.emit('rejected', kind, id, msg);
      return false;
    }
    // A 429 is back-pressure: come back when the service says (Retry-After), not on the backoff curve.
    const limited = e instanceof NetworkError && e.kind === 'rate-limited';
    const next = this.now() + (limited ? Math.max(1, e.retryAfterMs ?? 1000) : this.retryDelay(attempts));
    if (kind === 'outcome') outbox.retryOutcome(id as string, next, msg);
    else outbox.retryReconciliation(id as number, next, msg);
    r.retried++;
    if (!(e instanceof NetworkError)) {
      // A malformed answer to a reconciliation: retry later like an outage, but say so.
      this.o.logger.warn({ kind, id, err: msg }, 'outbox forward failed');
      return false;
    }
    if (limited) this.o.logger.info({ kind, id, retryInMs: next - this.now() }, 'network service asks to slow down (429); outbox pauses');
    else this.o.logger.warn({ kind, id, err: msg }, 'network service unavailable; outbox will retry');
    return true;
  }
}
