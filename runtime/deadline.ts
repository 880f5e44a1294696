// One time budget for one call, made once at its top and handed down: every layer below (the
// session's exchanges and resend, a transport's idle timeout, a wait for a reconnect) waits at
// most what the budget has left instead of its own constant, so the call ends at the budget and
// not at the sum of the layers' timeouts.
//
// Budgets measure elapsed time against real timers, so they read a monotonic clock
// (the global performance.now, read at each call so fake timers can drive it), never the
// injectable wall clock (which the simulator moves in jumps).

export class Deadline {
  private constructor(
    /** The instant the budget is spent, on `mono`'s scale. */
    readonly at: number,
    /** The budget as given, for messages. */
    readonly budgetMs: number,
    private readonly mono: () => number,
  ) {}

  /** A budget of `ms` from now. `mono` is a monotonic ms clock (tests inject one). */
  static after(ms: number, mono: () => number = () => globalThis.performance.now()): Deadline {
    return new Deadline(mono() + ms, ms, mono);
  }

  /** What is left, ms (0 once spent). */
  remainingMs(): number {
    return Math.max(0, this.at - this.mono());
  }

  get expired(): boolean {
    return this.remainingMs() <= 0;
  }

  /** One step's wait: its own limit, cut to what the budget has left. */
  cap(ms: number): number {
    return Math.min(ms, this.remainingMs());
  }
}
