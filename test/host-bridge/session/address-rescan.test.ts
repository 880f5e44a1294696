// Backoff and pacing of the RS485 rescan (host-bridge/links/address-rescan.ts), on a manual
// clock: no bus, no real timers.
import { describe, expect, it } from 'vitest';
import { AddressRescanner, type RescanTimers } from '../../../host-bridge/links/address-rescan.ts';

class ManualTimers implements RescanTimers {
  t = 0;
  private queue: { at: number; fn: () => void; id: number }[] = [];
  private ids = 0;
  now = (): number => this.t;
  setTimeout = (fn: () => void, ms: number): unknown => {
    const id = ++this.ids;
    this.queue.push({ at: this.t + ms, fn, id });
    return id;
  };
  clearTimeout = (h: unknown): void => {
    this.queue = this.queue.filter((q) => q.id !== h);
  };
  get armed(): number {
    return this.queue.length;
  }
  /** Run the earliest timer (advancing the clock to it), then let its async work settle. */
  async step(): Promise<boolean> {
    this.queue.sort((a, b) => a.at - b.at);
    const q = this.queue.shift();
    if (!q) return false;
    this.t = Math.max(this.t, q.at);
    q.fn();
    for (let i = 0; i < 5; i++) await Promise.resolve();
    return true;
  }
}

describe('RS485 address rescan', () => {
  it('probes each missing address after minMs, doubling the delay up to maxMs, one probe at a time', async () => {
    const timers = new ManualTimers();
    const probes: [number, number][] = [];
    const r = new AddressRescanner([3, 7], async (a) => (probes.push([timers.t, a]), false), { minMs: 5000, maxMs: 60_000, gapMs: 100 }, timers);
    r.start();
    while (timers.t < 200_000) await timers.step();
    const at3 = probes.filter(([, a]) => a === 3).map(([t]) => t);
    const at7 = probes.filter(([, a]) => a === 7).map(([t]) => t);
    expect(at3.slice(0, 6)).toEqual([5000, 15_000, 35_000, 75_000, 135_000, 195_000]);
    // the second address waits for the gap after the first probe
    expect(at7.slice(0, 2)).toEqual([5100, 15_100]);
    const gaps = at3.slice(1).map((t, i) => t - at3[i]);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(60_000 + 200);
    // never two probes closer than the gap
    const all = probes.map(([t]) => t);
    expect(all.slice(1).every((t, i) => t - all[i] >= 100)).toBe(true);
  });

  it('stops probing an address once it answers, and stops when none is left', async () => {
    const timers = new ManualTimers();
    const probes: number[] = [];
    let powered = false;
    const r = new AddressRescanner([1], async (a) => (probes.push(a), powered), { minMs: 5000, maxMs: 60_000, gapMs: 100 }, timers);
    r.start();
    await timers.step();
    await timers.step();
    expect(probes).toEqual([1, 1]);
    powered = true;
    await timers.step();
    expect(r.missing()).toEqual([]);
    expect(r.running).toBe(false);
    expect(timers.armed).toBe(0);
    expect(probes).toEqual([1, 1, 1]);
  });

  it('a probe that throws counts as silent; stop() cancels the pending timer; minMs 0 disables', async () => {
    const timers = new ManualTimers();
    let n = 0;
    const r = new AddressRescanner([9], async () => {
      n++;
      throw new Error('TIMEOUT');
    }, { minMs: 1000, maxMs: 4000, gapMs: 10 }, timers);
    r.start();
    await timers.step();
    expect(n).toBe(1);
    expect(r.missing()).toEqual([9]);
    expect(timers.armed).toBe(1);
    r.stop();
    expect(timers.armed).toBe(0);

    const off = new AddressRescanner([9], async () => true, { minMs: 0, maxMs: 0, gapMs: 0 }, timers);
    off.start();
    expect(timers.armed).toBe(0);
  });
});
