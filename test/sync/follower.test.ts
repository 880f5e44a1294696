// The sync follower on a manual clock: a newer dataset announced by the service (header or poll)
// leads to one sync of the devices behind, debounced and never restarted by later hints; never
// two runs at once; never a device whose sync lock is held; failed devices back off; polls are
// skipped while answers carry the version. No wall-clock timing: the test moves the clock.
import { describe, expect, it } from 'vitest';
import { DatasetFollower, type FollowClock, type FollowRunReport } from '../../host-bridge/sync/follower.ts';
import { deferred } from '../../testkit/wait.ts';

class ManualClock implements FollowClock {
  t = 1_000_000;
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private n = 0;
  nowMs(): number {
    return this.t;
  }
  setTimer(fn: () => void, ms: number): unknown {
    const id = ++this.n;
    this.timers.push({ at: this.t + ms, fn, id });
    return id;
  }
  clearTimer(h: unknown): void {
    this.timers = this.timers.filter((x) => x.id !== h);
  }
  /** Fire every timer due up to now + ms, in time order, letting the follower's work settle after each. */
  async advance(ms: number, f: DatasetFollower): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at || a.id - b.id);
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.timers.shift();
      this.t = next.at;
      next.fn();
      await f.idle();
    }
    this.t = end;
  }
}

interface Harness {
  clock: ManualClock;
  f: DatasetFollower;
  devices: { id: string; datasetVersion: number }[];
  runs: string[][];
  latest: { v: number | null; fail: boolean; asked: number };
  busy: Set<string>;
  /** What the next runs answer per device ('updated' moves it to the latest version). */
  answer: Map<string, 'updated' | 'failed' | 'busy'>;
  warnings: string[];
}

function harness(o: { pollMs?: number; debounceMs?: number; hold?: Promise<void> } = {}): Harness {
  const clock = new ManualClock();
  const h: Harness = {
    clock,
    f: null as unknown as DatasetFollower,
    devices: [
      { id: 'pc-a', datasetVersion: 1 },
      { id: 'pc-b', datasetVersion: 1 },
    ],
    runs: [],
    latest: { v: 1, fail: false, asked: 0 },
    busy: new Set(),
    answer: new Map(),
    warnings: [],
  };
  h.f = new DatasetFollower({
    devices: () => h.devices.map((d) => ({ ...d })),
    latest: async () => {
      h.latest.asked++;
      if (h.latest.fail) throw new Error('connection refused');
      return h.latest.v;
    },
    busy: (id) => h.busy.has(id),
    run: async (ids) => {
      h.runs.push(ids);
      const to = h.latest.v ?? 0; // the run brings what the service had when it started
      if (o.hold) await o.hold;
      const report: FollowRunReport = { results: [] };
      for (const id of ids) {
        const a = h.answer.get(id) ?? 'updated';
        const d = h.devices.find((x) => x.id === id)!;
        if (a === 'updated') {
          d.datasetVersion = to;
          report.results.push({ device: id, kind: 'dataset', result: 'updated', to });
        } else report.results.push({ device: id, kind: 'dataset', result: 'failed', code: a === 'busy' ? 'SYNC_BUSY' : 'DISCONNECTED' });
      }
      return report;
    },
    pollMs: o.pollMs ?? 20_000,
    debounceMs: o.debounceMs ?? 1_000,
    clock,
    logger: { info: () => undefined, warn: (m) => void h.warnings.push(m), error: (m) => void h.warnings.push(m) },
  });
  return h;
}

describe('DatasetFollower', () => {
  it('a newer version in an answer header syncs the devices behind once, after the debounce, however many hints arrive', async () => {
    const h = harness({ pollMs: 0 });
    h.f.start();
    h.devices[1].datasetVersion = 2; // pc-b already has it
    h.latest.v = 2;
    for (let i = 0; i < 50; i++) {
      h.f.hint(2);
      await h.clock.advance(10, h.f); // 50 hints over 0.5 s: within the debounce
    }
    expect(h.runs).toEqual([]);
    await h.clock.advance(1_000, h.f);
    expect(h.runs).toEqual([['pc-a']]);
    expect(h.devices[0].datasetVersion).toBe(2);
    // the same version again: nothing to do
    h.f.hint(2);
    await h.clock.advance(60_000, h.f);
    expect(h.runs).toHaveLength(1);
    expect(h.f.stats).toMatchObject({ known: 2, runs: 1, updated: 1, failures: 0 });
  });

  it('steady hints do not postpone the run: the debounce is not restarted', async () => {
    const h = harness({ pollMs: 0 });
    h.f.start();
    h.latest.v = 3;
    for (let i = 0; i < 300 && h.runs.length === 0; i++) {
      h.f.hint(3);
      await h.clock.advance(20, h.f);
    }
    expect(h.runs).toEqual([['pc-a', 'pc-b']]);
  });

  it('never two runs at once: a version announced during a run gets one more run after it', async () => {
    const gate = deferred<void>();
    const h = harness({ pollMs: 0, hold: gate.promise });
    h.f.start();
    h.latest.v = 2;
    h.f.hint(2);
    const advancing = h.clock.advance(1_000, h.f); // fires the run, then waits for it (held at the gate)
    expect(h.runs).toHaveLength(1);
    expect(h.f.isRunning()).toBe(true);
    h.latest.v = 3;
    h.f.hint(3);
    h.f.hint(3);
    expect(h.runs).toHaveLength(1); // no second run while the first is in flight
    gate.resolve();
    await advancing;
    await h.clock.advance(1_000, h.f);
    expect(h.runs).toHaveLength(2);
    expect(h.devices.map((d) => d.datasetVersion)).toEqual([3, 3]);
  });

  it('leaves a device alone while its sync lock is held, and takes it at the next hint once free', async () => {
    const h = harness({ pollMs: 0 });
    h.f.start();
    h.busy.add('pc-a');
    h.latest.v = 2;
    h.f.hint(2);
    await h.clock.advance(1_000, h.f);
    expect(h.runs).toEqual([['pc-b']]);
    h.f.hint(2);
    await h.clock.advance(5_000, h.f);
    expect(h.runs).toEqual([['pc-b']]); // still held: never touched
    h.busy.delete('pc-a');
    h.f.hint(2);
    await h.clock.advance(1_000, h.f);
    expect(h.runs).toEqual([['pc-b'], ['pc-a']]);
  });

  it('polls GET /v1/datasets/latest when no answer said it, and skips the poll while answers carry the version', async () => {
    const h = harness({ pollMs: 20_000 });
    h.f.start();
    await h.clock.advance(0, h.f);
    expect(h.latest.asked).toBe(1); // at start
    expect(h.runs).toEqual([]); // devices hold v1 = the latest
    h.latest.v = 2; // published; no traffic
    await h.clock.advance(20_000, h.f);
    expect(h.latest.asked).toBe(2);
    await h.clock.advance(1_000, h.f);
    expect(h.runs).toEqual([['pc-a', 'pc-b']]);
    // traffic: a hint every 5 s; the polls meanwhile are skipped
    for (let i = 0; i < 12; i++) {
      h.f.hint(2);
      await h.clock.advance(5_000, h.f);
    }
    expect(h.latest.asked).toBe(2);
  });

  it('a failing poll is one warning per outage; the next good poll picks up the new version', async () => {
    const h = harness({ pollMs: 20_000 });
    h.latest.fail = true;
    h.f.start();
    await h.clock.advance(60_000, h.f);
    expect(h.f.stats.pollFailures).toBe(4);
    expect(h.warnings.filter((w) => /cannot ask the network service/.test(w))).toHaveLength(1);
    h.latest.fail = false;
    h.latest.v = 5;
    await h.clock.advance(21_000, h.f);
    expect(h.runs).toEqual([['pc-a', 'pc-b']]);
  });

  it('a device whose follow run failed backs off (doubling), a SYNC_BUSY answer does not', async () => {
    const h = harness({ pollMs: 0 });
    h.f.start();
    h.answer.set('pc-a', 'failed');
    h.answer.set('pc-b', 'busy');
    h.latest.v = 2;
    h.f.hint(2);
    await h.clock.advance(1_000, h.f);
    expect(h.runs).toEqual([['pc-a', 'pc-b']]);
    // pc-b (busy elsewhere) is tried again at the next hint; pc-a only after 20 s
    h.f.hint(2);
    await h.clock.advance(1_000, h.f);
    expect(h.runs[1]).toEqual(['pc-b']);
    h.answer.set('pc-b', 'updated');
    h.f.hint(2);
    await h.clock.advance(1_000, h.f);
    h.f.hint(2);
    await h.clock.advance(20_000, h.f);
    h.f.hint(2);
    await h.clock.advance(1_000, h.f);
    expect(h.runs.filter((r) => r.includes('pc-a'))).toHaveLength(2);
    // failed twice now: the next try waits 40 s
    h.f.hint(2);
    await h.clock.advance(30_000, h.f);
    h.f.hint(2);
    await h.clock.advance(1_000, h.f);
    expect(h.runs.filter((r) => r.includes('pc-a'))).toHaveLength(2);
    h.answer.set('pc-a', 'updated');
    await h.clock.advance(10_000, h.f);
    h.f.hint(2);
    await h.clock.advance(1_000, h.f);
    expect(h.runs.filter((r) => r.includes('pc-a'))).toHaveLength(3);
    expect(h.devices[0].datasetVersion).toBe(2);
  });

  it('stopped: hints and polls do nothing', async () => {
    const h = harness({ pollMs: 20_000 });
    h.latest.v = 2;
    h.f.hint(2); // not started yet
    h.f.start();
    h.f.stop();
    h.f.hint(2);
    await h.clock.advance(120_000, h.f);
    expect(h.runs).toEqual([]);
  });
});
