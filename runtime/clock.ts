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
