// `--self-contained`: a real network service and a real host bridge on free loopback ports in
// temporary directories, seeded through the service's admin HTTP API (gateways, prompts, a bridge
// key), both running on the simulation's clock so that time windows (routing windows, retry
// limits, soft-decline windows, outage elimination) move with simulated time, not wall time.
// Verifier: `token` (no device; an in-process stand-in computes card tokens and escalates, so the
// network stage decides — token-verifier.ts), `none`, or `device`: a real verifier device (the
// firmware's DeviceCore over its SQLite store, behind the USB HID virtual cable, started by the
// caller's `startDevice` because host-bridge/ must not import device/) on the simulated clock,
// paired with the bridge through the bridge's own registry, and brought up to date by the bridge's
// own sync runner (createSyncRunner, as `precheck bridge` builds it) on the simulated schedule
// (sim-clock.ts). Dataset builds then run in the service's process instead of a child process
// (the same builder; a child per build would cost ~0.5 s of wall time per simulated sync).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer } from '../../server/start.ts';
import { startBridge } from '../../host-bridge/bridge.ts';
import { validateConfig } from '../../host-bridge/config.ts';
import { DEFAULT_PROMPTS } from '../../rules/prompts.ts';
import { TokenOnlyRegistry } from './token-verifier.ts';
import type { Scenario } from './scenario.ts';
import { SimulatorHttpError } from './bridge-client.ts';
import { createDeviceRegistry } from '../../host-bridge/discovery/index.ts';
import { createSyncRunner, type SyncReport, type SyncRunnerFn } from '../../host-bridge/sync/index.ts';
import type { DeviceRegistry } from '../../host-bridge/devices/types.ts';
import type { Logger } from 'pino';
import { createBridgeLogger } from '../../host-bridge/logger.ts';
import type { DatasetFollower } from '../../host-bridge/sync/follower.ts';
import type { SimDevice, SimDeviceOptions } from './simulate-device.ts';
import { mulberry32 } from '../../server/routing/rng.ts';
import type { RouterOptions } from '../../server/routing/router.ts';

/** The simulated clock shared by the service and the bridge; never goes backwards. */
export class SimClock {
  private s: number;
  constructor(startUnixSeconds: number) {
    this.s = Math.floor(startUnixSeconds);
  }
  nowSeconds(): number {
    return this.s;
  }
  nowMs(): number {
    return this.s * 1000;
  }
  advanceTo(unixSeconds: number): void {
    if (unixSeconds > this.s) this.s = Math.floor(unixSeconds);
  }
}

export type VerifierMode = 'token' | 'none' | 'device';

/** Starts a provisioned verifier device on `hidSocket` (startSimDevice, loaded only when wanted: it brings device/ in). */
export type SimDeviceStarter = (o: SimDeviceOptions) => Promise<SimDevice>;

export interface SimPublishResult {
  version: number;
  createdAt: number;
  created: boolean;
}

/**
 * Timers on the simulated clock: the service's publisher and the bridge's sync follower set them
 * (the same code that runs on wall-clock timers in production); the caller fires the due ones in
 * time order as the simulation moves the clock (sim-clock.ts). Each entry keeps its source's tag,
 * so the caller can account the wall time of publishing and of syncing.
 */
export class SimTimers {
  private queue: { at: number; seq: number; tag: string; fn: () => void }[] = [];
  private seq = 0;
  constructor(readonly clock: SimClock) {}

  /** A {nowMs, setTimer, clearTimer} view for one source (PublishClock / FollowClock shape). */
  view(tag: string): { nowMs(): number; setTimer(fn: () => void, ms: number): unknown; clearTimer(h: unknown): void } {
    return {
      nowMs: () => this.clock.nowMs(),
      setTimer: (fn, ms) => {
        const e = { at: this.clock.nowMs() + Math.max(0, ms), seq: ++this.seq, tag, fn };
        this.queue.push(e);
        return e.seq;
      },
      clearTimer: (h) => {
        this.queue = this.queue.filter((e) => e.seq !== h);
      },
    };
  }

  /** When the earliest timer is due (ms), or null. */
  nextAt(): number | null {
    let best: number | null = null;
    for (const e of this.queue) if (best === null || e.at < best) best = e.at;
    return best;
  }

  /** Removes and returns the earliest timer (ties: the first set), or null. */
  take(): { at: number; tag: string; fn: () => void } | null {
    if (this.queue.length === 0) return null;
    let i = 0;
    for (let k = 1; k < this.queue.length; k++) {
      const a = this.queue[k];
      const b = this.queue[i];
      if (a.at < b.at || (a.at === b.at && a.seq < b.seq)) i = k;
    }
    return this.queue.splice(i, 1)[0];
  }
}

export interface SelfContained {
  bridgeUrl: string;
  serverUrl: string;
  adminKey: string;
  clock: SimClock;
  verifier: VerifierMode;
  /**
   * verifier 'device': the device's id, a dataset publish now (simulated time), the bridge's sync
   * runner, and with `follow` the production loop on simulated timers: the service's publisher
   * (its debounce and maximum delay) and the bridge's sync follower (header, poll, debounce).
   */
  device: {
    id: string;
    publish(): Promise<SimPublishResult>;
    sync(): Promise<SyncReport>;
    metrics(): Promise<string>;
    /** null when the run plays the schedule alone (`follow: false`). */
    follow: { timers: SimTimers; follower: DatasetFollower; publisherIdle(): Promise<void> } | null;
  } | null;
  close(): Promise<void>;
}

async function adminPost(serverUrl: string, adminKey: string, p: string, body: unknown): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(`${serverUrl}${p}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${adminKey}` }, body: JSON.stringify(body) });
  } catch (e) {
    throw new SimulatorHttpError('UNAVAILABLE', `network service POST ${p} failed: ${(e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message}`);
  }
  const json = (await res.json().catch(() => null)) as { error?: { code?: string; message?: string } } | null;
  if (!res.ok) throw new SimulatorHttpError(json?.error?.code ?? 'HTTP_ERROR', `network service POST ${p} answered ${res.status}: ${json?.error?.message ?? ''}`.trim(), res.status);
  return json;
}

/** Registers the scenario's gateways (fees) and prompt texts on a network service. */
export async function seedService(serverUrl: string, adminKey: string, s: Scenario): Promise<void> {
  for (const g of s.gateways) await adminPost(serverUrl, adminKey, '/v1/admin/gateways', { name: g.name, feePerAttempt: g.feeFixed, feeBps: g.feeBps });
  const texts: Record<string, string> = Object.fromEntries(Object.entries(DEFAULT_PROMPTS).map(([code, t]) => [code, t.en]));
  Object.assign(texts, s.prompts);
  for (const [code, message] of Object.entries(texts)) await adminPost(serverUrl, adminKey, '/v1/admin/prompts', { code, lang: 'en', message });
}

export async function issueBridgeKey(serverUrl: string, adminKey: string, merchant: string): Promise<string> {
  const r = (await adminPost(serverUrl, adminKey, '/v1/admin/keys', { merchant, label: 'precheck simulate' })) as { key?: string };
  if (typeof r?.key !== 'string') throw new SimulatorHttpError('MALFORMED', 'network service issued no key');
  return r.key;
}

/**
 * The simulated service's routing draws (exploration coins), seeded from the scenario: runs of the
 * same code then take the same routing decisions (with Math.random, as in production, two runs of
 * the same code differed by about ±0.3 pt of conversion). Production keeps Math.random.
 */
export function simulatedRouting(s: Pick<Scenario, 'seed'>): Pick<RouterOptions, 'rng'> {
  return { rng: mulberry32(s.seed) };
}

/**
 * The simulated clock's start when none is given: today's 00:00 UTC, so routing buckets, sync
 * ticks ("*\/15 * * * *") and daily counters fall on the same simulated moments in every run.
 */
export function simulatedStart(nowMs: number = Date.now()): number {
  return Math.floor(nowMs / 86_400_000) * 86_400;
}

export async function startSelfContained(s: Scenario, opts: { verifier?: VerifierMode; startAt?: number; startDevice?: SimDeviceStarter; follow?: boolean } = {}): Promise<SelfContained> {
  const verifier = opts.verifier ?? 'token';
  // With a device, datasets follow production: the publisher's schedule and the bridge's follower
  // on simulated timers (default), or (follow: false) a publish + sync at each schedule tick only.
  const follow = verifier === 'device' && opts.follow !== false;
  if (verifier === 'device' && !opts.startDevice) throw new SimulatorHttpError('NOT_CONFIGURED', 'verifier "device" needs a device starter (tools/simulator/simulate-device.ts)');
  const clock = new SimClock(opts.startAt ?? simulatedStart());
  const timers = new SimTimers(clock);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'precheck-sim-'));
  let server: Awaited<ReturnType<typeof startServer>> | null = null;
  let bridge: Awaited<ReturnType<typeof startBridge>> | null = null;
  let device: { deviceId: string; close(): Promise<void> } | null = null;
  let syncRunner: SyncRunnerFn | null = null;
  const cleanup = async () => {
    await bridge?.close().catch(() => undefined);
    await syncRunner?.close().catch(() => undefined);
    await device?.close().catch(() => undefined);
    await server?.close().catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    server = await startServer({
      dataDir: path.join(dir, 'server'),
      port: 0,
      host: '127.0.0.1',
      logLevel: 'silent',
      now: () => clock.nowMs(),
      // One simulated shop sends thousands of requests a minute: the per-key limit is for the
      // internet, not for this loopback run.
      rateLimitMax: 10_000_000,
      // Without a device datasets are not used: no publishing. With one, the publisher's own
      // debounce and maximum delay run on simulated timers (sim-clock.ts fires them), or, with
      // follow off, sim-clock.ts calls the same publish() before each scheduled sync.
      publishDebounceMs: follow ? undefined : -1,
      publishClock: follow ? timers.view('publish') : undefined,
      buildInChild: false,
      routing: simulatedRouting(s),
    });
    await seedService(server.url, server.adminKey, s);
    const apiKey = await issueBridgeKey(server.url, server.adminKey, `sim-${s.name}`);
    const hidSocket = path.join(dir, 'hid.sock');
    const config = validateConfig({
      listen: { host: '127.0.0.1', port: 0 },
      dataDir: path.join(dir, 'bridge'),
      network: { serviceUrl: server.url, apiKey },
      merchant: { country: s.merchant.country },
      fallback: 'review',
      // The simulated shop calls as fast as the machine allows: no per-address limit.
      rateLimit: { perMinute: 0 },
      log: { level: 'silent' },
      sync: { follow },
      ...(verifier === 'device' ? { devices: { cables: { hidSocket } } } : {}),
    });
    let registry: DeviceRegistry | null = null;
    if (verifier === 'token') registry = new TokenOnlyRegistry(server.service.keys.cardKey);
    if (verifier === 'device') {
      device = await opts.startDevice!({
        dataDir: path.join(dir, 'device'),
        hidSocket,
        serverSigningPublicKey: server.service.keys.signingPublicKey,
        cardKey: server.service.keys.cardKey,
        merchantCountry: s.merchant.country,
        now: () => clock.nowMs(),
      });
      const logger: Logger = createBridgeLogger('silent');
      const reg = createDeviceRegistry({ config, logger });
      await reg.start();
      if (!reg.get(device.deviceId)) await waitAttached(reg, device.deviceId);
      await reg.pair(device.deviceId, async () => true);
      registry = reg;
      syncRunner = createSyncRunner({ config, registry: reg, logger });
      bridge = await startBridge({ config, registry, logger, syncRunner, manageRegistry: false, now: () => clock.nowMs(), followClock: timers.view('follow') });
      if (follow && !bridge.follower) throw new SimulatorHttpError('NOT_CONFIGURED', 'the bridge did not start its sync follower');
      const regToStop = reg;
      const closeBridge = bridge.close.bind(bridge);
      bridge.close = async () => {
        await closeBridge();
        await regToStop.stop().catch(() => undefined);
      };
    } else {
      bridge = await startBridge({ config, registry, now: () => clock.nowMs() });
    }
  } catch (e) {
    await cleanup();
    throw e;
  }
  const srv = server;
  const br = bridge;
  const dev = device as { deviceId: string } | null;
  return {
    bridgeUrl: br.url,
    serverUrl: srv.url,
    adminKey: srv.adminKey,
    clock,
    verifier,
    device:
      dev
        ? {
            id: dev.deviceId,
            publish: async () => {
              const r = await srv.service.publisher.publish('simulated clock');
              return { version: r.info.version, createdAt: r.info.createdAt, created: r.created };
            },
            // POST /v1/sync, as an operator or the bridge's schedule runs it: the bridge sees the
            // run (its own learning-lag metric included). The report comes back on 200 and on the
            // documented 502/503/409 answers alike.
            sync: async () => {
              const res = await fetch(`${br.url}/v1/sync`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
              const json = (await res.json().catch(() => null)) as SyncReport | { error?: { report?: SyncReport } } | null;
              const report = (json && 'results' in json ? json : (json as { error?: { report?: SyncReport } } | null)?.error?.report) ?? null;
              if (!report) throw new SimulatorHttpError('MALFORMED', `bridge POST /v1/sync answered ${res.status} without a sync report`);
              return report;
            },
            metrics: async () => (await fetch(`${br.url}/metrics`)).text(),
            follow: follow ? { timers, follower: br.follower!, publisherIdle: () => srv.service.publisher.idle() } : null,
          }
        : null,
    close: cleanup,
  };
}

/** Resolves when the registry attaches `id` (the cable is connected at start; this is the slow path). */
function waitAttached(reg: DeviceRegistry, id: string, timeoutMs = 20_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reg.off('attached', on);
      reject(new SimulatorHttpError('UNAVAILABLE', `simulated device ${id} did not attach within ${timeoutMs} ms`));
    }, timeoutMs);
    const on = (h: { id: string }) => {
      if (h.id !== id) return;
      clearTimeout(timer);
      reg.off('attached', on);
      resolve();
    };
    reg.on('attached', on);
    if (reg.get(id)) on({ id });
  });
}
