// The parts every transport shares: one exchange at a time per device, an idle timeout that
// signs of life extend, an AbortSignal, and a "device gone" state that fails the exchange in
// flight and every later one with DISCONNECTED instead of letting them hang.

import { ProtocolError } from '../../protocol/errors.ts';
import type { Deadline } from '../../runtime/deadline.ts';

/** Runs async jobs strictly one after another, in call order. */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(job: () => Promise<T>): Promise<T> {
    const p = this.tail.then(job, job);
    this.tail = p.catch(() => undefined);
    return p;
  }
}

export interface Exchange<T> {
  readonly promise: Promise<T>;
  readonly settled: boolean;
  /** Aborted when the exchange ends for any reason; pass it to waits inside the exchange. */
  readonly signal: AbortSignal;
  resolve(v: T): void;
  reject(e: unknown): void;
  /** A sign of life: restart the idle timer. */
  touch(): void;
}

export interface ExchangeOptions {
  timeoutMs: number;
  /** The call's budget: each idle wait is cut to what it has left. */
  deadline?: Deadline;
  signal?: AbortSignal;
  /** Called once when the exchange ends by timeout or abort (e.g. to send CANCEL / ABORT). */
  onGiveUp?: (reason: ProtocolError) => void;
  label?: string;
}

/** One request/response exchange with an idle timeout and cancellation. */
export function startExchange<T>(opts: ExchangeOptions): Exchange<T> {
  const ctl = new AbortController();
  let settled = false;
  let timer: NodeJS.Timeout | undefined;
  let resolveP!: (v: T) => void;
  let rejectP!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolveP = res;
    rejectP = rej;
  });
  // The exchange may fail (timeout, disconnect) while its owner is still writing the request,
  // before anyone awaits it: mark it handled so that is not an unhandled rejection.
  promise.catch(() => undefined);
  const label = opts.label ?? 'exchange';
  const finish = (): void => {
    settled = true;
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onAbort);
    ctl.abort();
  };
  const giveUp = (err: ProtocolError): void => {
    if (settled) return;
    finish();
    try {
      opts.onGiveUp?.(err);
    } catch {
      // best effort
    }
    rejectP(err);
  };
  const arm = (): void => {
    clearTimeout(timer);
    const d = opts.deadline;
    const wait = d ? d.cap(opts.timeoutMs) : opts.timeoutMs;
    const why = d && wait < opts.timeoutMs ? `the call's ${d.budgetMs} ms budget is spent` : `no answer within ${opts.timeoutMs} ms`;
    timer = setTimeout(() => giveUp(new ProtocolError('TIMEOUT', `${label}: ${why}`)), wait);
  };
  const onAbort = (): void => giveUp(new ProtocolError('CANCELLED', `${label}: cancelled`));
  if (opts.signal?.aborted) {
    queueMicrotask(onAbort);
  } else {
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    arm();
  }
  return {
    promise,
    get settled() {
      return settled;
    },
    signal: ctl.signal,
    resolve(v) {
      if (settled) return;
      finish();
      resolveP(v);
    },
    reject(e) {
      if (settled) return;
      finish();
      rejectP(e);
    },
    touch() {
      if (!settled) arm();
    },
  };
}

export function disconnectedError(what: string, cause?: unknown): ProtocolError {
  const why = cause instanceof Error ? `: ${cause.message}` : '';
  return new ProtocolError('DISCONNECTED', `${what} disconnected${why}`);
}

/** TIMEOUT, without sending anything, when the call's budget is already spent (e.g. while queued). */
export function checkBudget(deadline: Deadline | undefined, label: string): void {
  if (deadline?.expired) throw new ProtocolError('TIMEOUT', `${label}: the call's ${deadline.budgetMs} ms budget is spent`);
}

export function checkTimeout(ms: number | undefined, dflt: number): number {
  const v = ms ?? dflt;
  if (!Number.isFinite(v) || v <= 0) throw new ProtocolError('INVALID_FIELD', 'timeoutMs must be > 0', String(ms));
  return v;
}

/** Resolve after `ms`, or reject with the signal's abort. */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new ProtocolError('CANCELLED', 'aborted'));
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(new ProtocolError('CANCELLED', 'aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
