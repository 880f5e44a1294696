// Time inside a process. The rule (docs/architecture.md, "Time"): every process reasons in
// milliseconds since the Unix epoch, read through an injectable `now` so tests and the
// simulator can drive it; seconds exist only in wire fields and stored columns whose format
// defines them, converted at that edge with toUnixSeconds().

/** Wall-clock time in ms since the Unix epoch. Inject one wherever code reads the time. */
export type NowMs = () => number;

export const systemNowMs: NowMs = () => Date.now();

/** Whole Unix seconds of a ms instant (for wire fields and stored columns defined in seconds). */
export function toUnixSeconds(ms: number): number {
  return Math.floor(ms / 1000);
}

/**
 * The clock itself, after one read proves it counts ms: a clock still returning Unix seconds
 * (the old unit of the service's and the device's `now`) would read as January 1970 and
 * silently expire every dataset, so it fails loudly where it is injected.
 */
export function checkNowMs(now: NowMs, who: string): NowMs {
  const v = now();
  if (!Number.isFinite(v) || v < 1e11) throw new RangeError(`${who}: the clock must return ms since the Unix epoch (runtime/clock.ts), got ${v}`);
  return now;
}

/**
 * Milliseconds clock and timers for code that schedules work (the service's dataset publisher,
 * the bridge's dataset follower): tests and the market simulator inject a manual one, so one
 * fake serves both.
 */
export interface TimerClock {
  nowMs(): number;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
}

/** The real clock; its timers are unref'd: the process's servers keep it alive, not a schedule. */
export const realTimerClock: TimerClock = {
  nowMs: () => Date.now(),
  setTimer: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimer: (h) => clearTimeout(h as NodeJS.Timeout),
};
