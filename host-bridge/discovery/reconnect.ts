// Reconnect timers: a lost or absent link target is tried again after a delay, while the registry
// runs. Unref'd (never keeps the process alive) and all cancelled on stop.
export class RetryTimers {
  private readonly timers = new Set<NodeJS.Timeout>();
  private running = false;

  constructor(private readonly defaultMs: number) {}

  start(): void {
    this.running = true;
  }

  /** Run `fn` after `ms` (default: the reconnect period); never when that is 0 or after stop(). */
  later(fn: () => void | Promise<void>, ms = this.defaultMs): void {
    if (!this.running || ms <= 0) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (this.running) void fn();
    }, ms);
    t.unref();
    this.timers.add(t);
  }

  stop(): void {
    this.running = false;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}
