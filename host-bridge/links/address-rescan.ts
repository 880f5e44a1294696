// Background rescan of configured RS485 addresses that did not answer the start-up scan.
//
// A device powered on after the bridge, or one whose answer to the scan came late on a loaded
// machine, would otherwise stay invisible until the bridge restarts. Each missing address is
// probed again after `minMs`, then with its delay doubled up to `maxMs` (5 s → 60 s by default),
// until it answers. Probes go one at a time with at least `gapMs` between them: a probe is one
// register-read ADU, and the bus interleaves ADUs of all addresses, so a verification waits for
// at most one probe's ADU, never for a whole scan.
//
// Pure scheduling: the probe (bus + INFO + attach) is injected, and so are the timers, so the
// backoff is tested without a bus (test/host-bridge/session/address-rescan.test.ts).

export interface AddressRescanOptions {
  /** First retry after this long (ms). */
  minMs: number;
  /** Longest delay between two probes of one address (ms). */
  maxMs: number;
  /** Least time between two probes of any addresses (ms). */
  gapMs: number;
}

export const DEFAULT_RESCAN: AddressRescanOptions = { minMs: 5_000, maxMs: 60_000, gapMs: 100 };

/** `true` = the address answered and was attached (stop probing it). */
export type AddressProbe = (address: number) => Promise<boolean>;

export interface RescanTimers {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const REAL_TIMERS: RescanTimers = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref(); // never keeps the bridge process alive on its own
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

interface Pending {
  address: number;
  due: number;
  delay: number;
}

export class AddressRescanner {
  private readonly pending = new Map<number, Pending>();
  private timer: unknown = null;
  private stopped = false;
  private probing = false;
  private lastProbeAt = -Infinity;

  constructor(
    addresses: Iterable<number>,
    private readonly probe: AddressProbe,
    private readonly opts: AddressRescanOptions = DEFAULT_RESCAN,
    private readonly timers: RescanTimers = REAL_TIMERS,
    /** called after each probe (tests, logs) */
    private readonly onProbe?: (address: number, found: boolean, nextDelayMs: number | null) => void,
  ) {
    const now = timers.now();
    for (const a of addresses) this.pending.set(a, { address: a, due: now + opts.minMs, delay: opts.minMs });
  }

  /** Addresses still being looked for, in address order. */
  missing(): number[] {
    return [...this.pending.keys()].sort((a, b) => a - b);
  }

  get running(): boolean {
    return !this.stopped && this.pending.size > 0;
  }

  start(): void {
    if (this.opts.minMs <= 0) return; // disabled
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.timer = null;
  }

  private next(): Pending | undefined {
    let best: Pending | undefined;
    for (const p of this.pending.values()) if (!best || p.due < best.due || (p.due === best.due && p.address < best.address)) best = p;
    return best;
  }

  private schedule(): void {
    if (this.stopped || this.probing || this.timer !== null) return;
    const p = this.next();
    if (!p) return;
    const at = Math.max(p.due, this.lastProbeAt + this.opts.gapMs);
    this.timer = this.timers.setTimeout(() => {
      this.timer = null;
      void this.fire();
    }, Math.max(0, at - this.timers.now()));
  }

  private async fire(): Promise<void> {
    if (this.stopped) return;
    const p = this.next();
    if (!p) return;
    this.probing = true;
    let found = false;
    try {
      found = await this.probe(p.address);
    } catch {
      found = false; // a failed probe is "not there yet"; the bus going away stops us from outside
    } finally {
      this.probing = false;
      this.lastProbeAt = this.timers.now();
    }
    if (found) {
      this.pending.delete(p.address);
      this.onProbe?.(p.address, true, null);
    } else {
      p.delay = Math.min(p.delay * 2, this.opts.maxMs);
      p.due = this.timers.now() + p.delay;
      this.onProbe?.(p.address, false, p.delay);
    }
    this.schedule();
  }
}
