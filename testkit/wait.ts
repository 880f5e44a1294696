// Event-driven waiting for tests: every wait is bounded by a timeout and names what it waited
// for, so a broken test fails with a message instead of hanging (and never sleeps to "sync").

import type { EventEmitter } from 'node:events';

export class WaitTimeoutError extends Error {
  constructor(label: string, ms: number) {
    super(`timed out after ${ms} ms waiting for ${label}`);
    this.name = 'WaitTimeoutError';
  }
}

/** Resolve/reject with `p`, or reject with WaitTimeoutError after `ms`. */
export function withTimeout<T>(p: Promise<T>, ms: number, label = 'promise'): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new WaitTimeoutError(label, ms)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** First emission of `event` (its arguments), bounded by `ms`. An 'error' event rejects. */
export function onceEvent<T extends unknown[] = unknown[]>(
  emitter: EventEmitter,
  event: string,
  ms = 5000,
): Promise<T> {
  return withTimeout(
    new Promise<T>((resolve, reject) => {
      const onEvent = (...args: unknown[]): void => {
        emitter.off('error', onError);
        resolve(args as T);
      };
      const onError = (err: unknown): void => {
        emitter.off(event, onEvent);
        reject(err);
      };
      emitter.once(event, onEvent);
      if (event !== 'error') emitter.once('error', onError);
    }),
    ms,
    `event '${event}'`,
  );
}

/**
 * A counter tests can await: `bump()` from a callback, `reach(n)` resolves once the count is at
 * least n. Used to wait for "the device rejected a frame" without polling.
 */
export class Counter {
  private n = 0;
  private waiters: { target: number; resolve: () => void }[] = [];

  get value(): number {
    return this.n;
  }

  bump = (): void => {
    this.n++;
    this.waiters = this.waiters.filter((w) => {
      if (this.n >= w.target) {
        w.resolve();
        return false;
      }
      return true;
    });
  };

  reach(target: number, ms = 5000): Promise<void> {
    if (this.n >= target) return Promise.resolve();
    return withTimeout(
      new Promise<void>((resolve) => this.waiters.push({ target, resolve })),
      ms,
      `counter to reach ${target} (now ${this.n})`,
    );
  }
}

/** A promise with its resolve/reject exposed (Promise.withResolvers is Node 22+). */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
