// A small circuit breaker (closed → open → half-open). Hand-written because none of the installed
// libraries has one (undici retries but does not break circuits) and the logic is ~50 lines:
// after `failureThreshold` consecutive failures the circuit opens for `resetMs`; then one trial
// call is let through (half-open): success closes it, failure opens it again.
import { EventEmitter } from 'node:events';

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerOptions {
  failureThreshold: number;
  resetMs: number;
  now?: () => number;
}

export class CircuitBreaker extends EventEmitter {
  private state: BreakerState = 'closed';
  private failures = 0;
  private openedAt = 0;
  private trialInFlight = false;
  private readonly now: () => number;

  constructor(private readonly opts: BreakerOptions) {
    super();
    this.now = opts.now ?? Date.now;
  }

  /** Current state; an open circuit whose reset time has passed reports half-open. */
  current(): BreakerState {
    if (this.state === 'open' && this.now() - this.openedAt >= this.opts.resetMs) return 'half-open';
    return this.state;
  }

  /** Milliseconds until an open circuit lets a trial through (0 when not open). */
  retryInMs(): number {
    return this.state === 'open' ? Math.max(0, this.opts.resetMs - (this.now() - this.openedAt)) : 0;
  }

  /** May a call go out now? In half-open only one trial call at a time. */
  tryAcquire(): boolean {
    const s = this.current();
    if (s === 'closed') return true;
    if (s === 'open') return false;
    if (this.trialInFlight) return false;
    this.trialInFlight = true;
    this.transition('half-open');
    return true;
  }

  success(): void {
    this.trialInFlight = false;
    this.failures = 0;
    this.transition('closed');
  }

  failure(): void {
    this.trialInFlight = false;
    if (this.state === 'half-open') {
      this.open();
      return;
    }
    this.failures += 1;
    if (this.state === 'closed' && this.failures >= this.opts.failureThreshold) this.open();
  }

  private open(): void {
    this.openedAt = this.now();
    this.transition('open');
  }

  private transition(to: BreakerState): void {
    if (this.state === to) return;
    const from = this.state;
    this.state = to;
    this.emit('state', to, from);
  }
}
