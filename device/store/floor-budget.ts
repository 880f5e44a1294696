// The device's side of the floor limit (rules/decide.ts rule floor_limit): which orders it has
// verified lately, and its rolling budget of unknown-card approvals.
//
// The budget is the dataset's (maxApprovals per windowSeconds, sized by the service from the
// shop's normal rate of new cards): a burst of fresh cards — a fraud wave cycling stolen numbers —
// runs it out within minutes and every further unknown card escalates to the network's velocity
// checks, before the next dataset zeroes the floors. Spent approvals are rows in SQLite, so a
// restart does not refill the budget. Orders are remembered in memory only (a hash of the order
// id, at most MAX_ORDERS for ORDER_MEMORY_SECONDS): after a restart the device forgets which orders
// it saw, the budget still bounds what it approves. Never a token or card data here.
import crypto from 'node:crypto';
import type { Statement } from 'better-sqlite3';
import type { Db } from './database.ts';
import { LIMITS } from '../../protocol/dataset/validate.ts';

/** How long an order counts as "verified before" (a checkout's retries and card switches take minutes). */
export const ORDER_MEMORY_SECONDS = 6 * 3600;
/** Orders remembered at most (oldest forgotten first): ~100 bytes each. */
export const MAX_ORDERS = 100_000;

export class FloorBudget {
  private readonly orders = new Map<string, number>();
  private readonly countSince: Statement;
  private readonly insert: Statement;
  private readonly prune: Statement;

  constructor(db: Db) {
    this.countSince = db.prepare(`SELECT count(*) FROM floor_spend WHERE at > ?`).pluck();
    this.insert = db.prepare(`INSERT INTO floor_spend (at, order_hash) VALUES (?, ?)`);
    this.prune = db.prepare(`DELETE FROM floor_spend WHERE at <= ?`);
  }

  /**
   * Notes a verification of `orderId` at `now` and says whether the order was verified on this
   * device before (within ORDER_MEMORY_SECONDS). No order id: treated as seen (the device cannot
   * tell a first verification from a repeat, so it never floor-approves one).
   */
  noteOrder(orderId: string | undefined, now: number): boolean {
    if (!orderId) return true;
    const key = orderKey(orderId);
    const seenAt = this.orders.get(key);
    this.orders.delete(key); // re-inserted last: the Map's order is the eviction order
    this.orders.set(key, now);
    while (this.orders.size > MAX_ORDERS) this.orders.delete(this.orders.keys().next().value as string);
    return seenAt !== undefined && now - seenAt <= ORDER_MEMORY_SECONDS;
  }

  /** Floor approvals in the window (now - windowSeconds, now]. */
  spent(now: number, windowSeconds: number): number {
    return this.countSince.get(now - windowSeconds) as number;
  }

  /** Whether another floor approval fits the budget now. */
  hasRoom(now: number, budget: { maxApprovals: number; windowSeconds: number }): boolean {
    return this.spent(now, budget.windowSeconds) < budget.maxApprovals;
  }

  /** Records one floor approval (and forgets approvals older than any window a dataset may set). */
  spend(now: number, orderId: string | undefined): void {
    this.prune.run(now - LIMITS.floorWindowMax);
    this.insert.run(now, Buffer.from(orderKey(orderId ?? ''), 'latin1'));
  }
}

function orderKey(orderId: string): string {
  return crypto.createHash('sha256').update(orderId, 'utf8').digest().subarray(0, 16).toString('latin1');
}
