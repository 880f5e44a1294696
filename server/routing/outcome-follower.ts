// Several instances on one database: each instance's gateway router learns from every instance's
// outcomes, not only from those it ingested itself. Without this each router saw its share of the
// outcomes (half, behind a proxy over two instances): its success rates and breakers differed from
// the other's, so the same order was routed differently depending on the instance it reached, and
// a dataset's routes depended on which instance built it.
//
// The follower reads the outcomes stored after the last one it saw (by id, every `everyMs`) and
// records those this instance did not ingest itself (`claim`: whoever sees an id first records it,
// the ingesting request or the follower, never both). Ids are handed out before commit, so a row
// with a smaller id can become visible after a larger one: ids skipped in a read are asked for
// again for `gapMs` (a single-statement outcome commits within milliseconds; a skipped id that
// never appears was an idempotent replay's or a failed insert's). Its first read, from id 0, is
// the start-up replay of the routing window.
import type { RoutingRow } from '../storage/storage.ts';

export type FollowedOutcome = RoutingRow & { id: number };

export interface OutcomeFollowerOptions {
  /** Outcomes with id > afterId or in ids, at >= since, by id, at most limit. */
  read(afterId: number, ids: readonly number[], since: number, limit: number): Promise<FollowedOutcome[]>;
  /** Feeds the router. */
  record(rows: FollowedOutcome[]): void;
  /** The routing window's start now (Unix seconds): older outcomes are not read. */
  windowStart(): number;
  everyMs?: number;
  gapMs?: number;
  pageSize?: number;
  onError?(e: unknown): void;
}

const MAX_GAPS = 10_000;

export class OutcomeFollower {
  private last = 0;
  private readonly seen = new Set<number>();
  /** Ids skipped by a read, with when they were first missed. */
  private readonly gaps = new Map<number, number>();
  private timer: NodeJS.Timeout | null = null;
  private chain: Promise<void> = Promise.resolve();
  private closed = false;
  /** Ids below this were read past: no longer kept in `seen`. */
  private floor = 0;
  /** The start-up replay reads from id 0 with the window's filter: its skipped ids are old rows. */
  private replaying = false;

  constructor(private readonly o: OutcomeFollowerOptions) {}

  /** Reads everything stored so far (the start-up replay), then follows every `everyMs`. */
  async start(): Promise<void> {
    this.replaying = true;
    try {
      await this.poll();
    } finally {
      this.replaying = false;
    }
    this.timer = setInterval(() => {
      this.poll().catch((e) => this.o.onError?.(e));
    }, this.o.everyMs ?? 1000);
    this.timer.unref();
  }

  /**
   * An outcome this instance just stored: true when the caller should record it in the router
   * (the follower has not), and from now on the follower skips it.
   */
  claim(id: number): boolean {
    // Below the floor the follower has read past it: recorded it (or gave up waiting for it).
    if (this.seen.has(id) || id < this.floor) return false;
    this.seen.add(id);
    this.gaps.delete(id);
    return true;
  }

  /** One catch-up (after any running one); tests call it to know the follower has read. */
  poll(): Promise<void> {
    const run = this.chain.then(() => this.catchUp());
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async catchUp(): Promise<void> {
    const limit = this.o.pageSize ?? 5000;
    for (;;) {
      if (this.closed) return;
      const now = Date.now();
      for (const [id, at] of this.gaps) if (now - at > (this.o.gapMs ?? 10_000)) this.gaps.delete(id);
      const rows = await this.o.read(this.last, [...this.gaps.keys()], this.o.windowStart(), limit);
      const fresh: FollowedOutcome[] = [];
      let prev = this.last;
      for (const r of rows) {
        if (r.id > prev) {
          // ids between the last seen and this one are not visible yet (or never will be)
          if (!this.replaying) for (let g = prev + 1; g < r.id && this.gaps.size < MAX_GAPS; g++) if (!this.seen.has(g)) this.gaps.set(g, now);
          prev = r.id;
        }
        this.gaps.delete(r.id);
        if (this.seen.has(r.id)) continue;
        this.seen.add(r.id);
        fresh.push(r);
      }
      if (prev > this.last) this.last = prev;
      if (fresh.length) this.o.record(fresh);
      // Ids at or below the oldest open gap may still be claimed; below it nothing can be.
      let floor = this.last;
      for (const g of this.gaps.keys()) if (g < floor) floor = g;
      this.floor = floor;
      for (const id of this.seen) if (id < floor) this.seen.delete(id);
      if (rows.length < limit) return;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.chain;
  }
}
