// The learning loop under steady traffic (issue 11), end to end with real parts: the network
// service (real HTTP, SQLite, its default publish schedule: 2 s debounce, 10 s maximum delay,
// builds in a child process), the bridge as `precheck bridge` (default sync settings: no schedule,
// sync.follow on), and an emulated verifier device as its own process on the USB HID virtual cable.
// Outcomes arrive at the bridge every 20 ms for at least 30 s; while they still flow, the service
// publishes datasets and the bridge syncs them to the device, at least twice.
//
// Robust under load: the stream is paced at 20 ms but keeps going (up to 3 minutes) until the
// device has advanced twice; pass/fail is on events (publishes seen by the service, the bridge's
// "dataset a → b" log lines), never on how long anything took.
import { setTimeout as pause } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../server/start.ts';
import { killAllTracked } from '../../testkit/process.ts';
import { makeTempDir, type TempDir } from '../../testkit/tmp.ts';
import { withTimeout } from '../../testkit/wait.ts';
import { provisionDevice, startEmulator, type Emulator } from '../integration/fixtures.ts';
import { pairDevicesOnce, startBridgeProcess, testPans, writeConfig, type BridgeProcess } from './sync-fixtures.ts';

const ORDERS = 20;
const STREAM_MIN_MS = 30_000;
const STREAM_MAX_MS = 180_000;

describe('e2e: the learning loop keeps up with steady outcomes', () => {
  let tmp: TempDir;
  let svc: RunningServer;
  let emu: Emulator;
  let bridge: BridgeProcess;
  let deviceId: string;
  /** Every "dataset a → b" the bridge logged for the device, in order. */
  const installs: { from: number; to: number; duringStream: boolean }[] = [];
  let streaming = false;

  beforeAll(async () => {
    tmp = makeTempDir('precheck-e2e-loop-');
    svc = await startServer({ dataDir: tmp.file('service'), port: 0, host: '127.0.0.1', logLevel: 'silent', train: { schedule: null } });
    const key = await svc.issueKey('loop-shop', 'learning loop e2e');
    await provisionDevice(tmp.file('device'), { signing: { publicKey: svc.signingPublicKey, privateKey: new Uint8Array(32) }, cardKey: svc.service.keys.cardKey });
    emu = await startEmulator(['--data', tmp.file('device'), '--hid-socket', tmp.file('hid.sock'), '--auto-confirm']);
    deviceId = emu.ids[0];
    const config = {
      listen: { host: '127.0.0.1', port: 0 },
      dataDir: tmp.file('bridge'),
      network: { serviceUrl: svc.url, apiKey: key.key, timeoutMs: 10_000 },
      verify: { deviceTimeoutMs: 10_000, networkDeadlineMs: 10_000 },
      devices: { cables: { hidSocket: tmp.file('hid.sock') } },
      rateLimit: { perMinute: 0 },
      log: { level: 'info' },
    };
    // Pair once (as `precheck pair` does), then hand the link to the bridge.
    await pairDevicesOnce(config, [deviceId]);
    bridge = await startBridgeProcess(writeConfig(tmp.file('bridge.json'), config));
    const re = new RegExp(`sync: ${deviceId} dataset (\\d+) → (\\d+)`);
    let buf = '';
    bridge.child.stdout!.on('data', (d: string) => {
      buf += d;
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const line of lines) {
        const m = re.exec(line);
        if (m) installs.push({ from: Number(m[1]), to: Number(m[2]), duringStream: streaming });
      }
    });
    // The follower's first poll brings the device the service's first dataset: no sync call.
    await bridge.seen(new RegExp(`sync: ${deviceId} dataset 0 → \\d+`), 120_000);
  }, 300_000);

  afterAll(async () => {
    await bridge?.stop().catch(() => undefined);
    await emu?.stop().catch(() => undefined);
    await killAllTracked();
    await svc?.close().catch(() => undefined);
    tmp?.cleanup();
  });

  it('outcomes every 20 ms: at least two datasets are published and synced to the device while they still flow', async () => {
    // Orders to report on: verified through the bridge (device first, then the network).
    const orderIds: string[] = [];
    const pans = testPans(ORDERS, 7);
    for (let i = 0; i < ORDERS; i++) {
      const id = `loop-${i}`;
      const res = await fetch(`${bridge.url}/v1/verify`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ card: { number: pans[i], expMonth: 12, expYear: new Date().getFullYear() + 3 }, order: { id, amount: { value: 2500 + i, currency: 'EUR' } } }),
      });
      expect(res.status).toBe(200);
      await res.json();
      orderIds.push(id);
    }

    const published: number[] = [];
    const off = svc.service.publisher.onPublished((r) => {
      if (streaming) published.push(r.info.version);
    });
    // installs, while outcomes flow, of datasets the service published while they flow
    const fresh = () => installs.filter((x) => x.duringStream && x.to > x.from && published.includes(x.to));
    const advancedTwice = () => fresh().length >= 2;
    const refused: string[] = [];
    const inFlight = new Set<Promise<void>>();
    const report = async (n: number) => {
      const res = await fetch(`${bridge.url}/v1/outcomes`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          orderId: orderIds[n % ORDERS],
          gateway: n % 2 === 0 ? 'alpha' : 'beta',
          attempt: Math.floor(n / ORDERS) + 1,
          ...(n % 3 === 0 ? { status: 'failure', code: '51', type: 'soft' } : { status: 'success' }),
        }),
      });
      if (res.status !== 202) refused.push(`${res.status} ${await res.text()}`);
      else await res.body?.cancel();
    };

    streaming = true;
    const t0 = Date.now();
    let sent = 0;
    try {
      for (let n = 0; ; n++) {
        const elapsed = Date.now() - t0;
        if ((elapsed >= STREAM_MIN_MS && advancedTwice()) || elapsed >= STREAM_MAX_MS) break;
        const wait = t0 + n * 20 - Date.now();
        if (wait > 0) await pause(wait); // pacing the stream (the workload), not waiting for a result
        const p: Promise<void> = report(n).finally(() => inFlight.delete(p));
        inFlight.add(p);
        sent++;
        if (inFlight.size >= 64) await Promise.race(inFlight);
      }
    } finally {
      streaming = false;
      off();
    }
    await withTimeout(Promise.all(inFlight), 60_000, 'the last outcome answers');

    const during = fresh();
    const why = `sent ${sent} outcomes in ${Date.now() - t0} ms; published during the stream: ${published.join(',') || 'none'}; device installs: ${JSON.stringify(installs)}\n${bridge.log().split('\n').filter((l) => /sync|error|warn/i.test(l)).slice(-8).join('\n')}`;
    expect(refused, why).toEqual([]);
    expect(published.length, why).toBeGreaterThanOrEqual(2);
    expect(during.length, why).toBeGreaterThanOrEqual(2);
    // the device only moves forward
    for (let i = 1; i < during.length; i++) expect(during[i].to).toBeGreaterThan(during[i - 1].to);
    // the bridge measured the lag of those outcomes on the device
    const metrics = await (await fetch(`${bridge.url}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`precheck_bridge_outcome_lag_seconds\\{device="${deviceId}",quantile="0.99"\\} \\d`));
  }, 400_000);
});
