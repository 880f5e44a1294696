// The service's per-caller request limit, in memory and synchronous: a window of `windowMs` per
// caller (the API key's hash, or the client address without a key) from its first request, at most
// `max` requests in it; the next ones are refused until the window ends. The same rule as the
// @fastify/rate-limit plugin it replaces (its local store), without a promise chain and three
// response headers per request: on the auth path that plugin cost more than the key check.
// Bounded: past `maxCallers` ended windows are forgotten, else the oldest (its caller starts afresh).
// Per process: several instances behind a proxy each count their own share (docs/operations.md).

interface Window {
  /** Requests counted in this window. */
  n: number;
  /** When the window ends (ms, Date.now()). */
  until: number;
}

export class RequestLimiter {
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly max: number,
    private readonly windowMs: number,
    private readonly maxCallers = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Counts one request of `caller`; false when it is over the limit (refuse it). */
  take(caller: string): boolean {
    const t = this.now();
    let w = this.windows.get(caller);
    if (w === undefined || w.until <= t) {
      if (w !== undefined) this.windows.delete(caller); // re-inserted: the Map's order is the callers' age
      else if (this.windows.size >= this.maxCallers) this.evict(t);
      w = { n: 0, until: t + this.windowMs };
      this.windows.set(caller, w);
    }
    return ++w.n <= this.max;
  }

  /** Callers tracked (tests: bounded). */
  get size(): number {
    return this.windows.size;
  }

  private evict(t: number): void {
    // Ended windows first (in start order, so the loop stops at the first live one), else the oldest.
    for (const [k, w] of this.windows) {
      if (w.until > t) break;
      this.windows.delete(k);
    }
    if (this.windows.size >= this.maxCallers) this.windows.delete(this.windows.keys().next().value as string);
  }
}
