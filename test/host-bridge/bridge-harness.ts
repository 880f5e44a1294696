// Starts a real bridge (Fastify on a free loopback port, SQLite in a temp dir) with its log
// captured to a file in that dir, so tests can read (and grep) everything the bridge wrote.
import pino from 'pino';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { validateConfig, type BridgeConfig } from '../../host-bridge/config.ts';
import { startBridge, type Bridge } from '../../host-bridge/bridge.ts';
import type { DeviceRegistry } from '../../host-bridge/devices/types.ts';
import type { SyncRunner } from '../../host-bridge/api/server.ts';
import { createBridgeLogger } from '../../host-bridge/logger.ts';
import { request } from 'undici';
import { afterEach, beforeEach } from 'vitest';
import { makeTempDir } from './temp-dir.ts';
import { ScriptedService } from './scripted-service.ts';

export interface TestBridge extends Bridge {
  logFile: string;
  readLog(): string;
}

export function testConfig(dataDir: string, raw: Record<string, unknown> = {}): BridgeConfig {
  return validateConfig({
    listen: { host: '127.0.0.1', port: 0 },
    dataDir,
    log: { level: 'debug' },
    outbox: { retryBaseMs: 20, retryMaxMs: 100 },
    ...raw,
    network: { timeoutMs: 2000, retries: 1, backoffMs: 5, backoffMaxMs: 10, ...(raw.network as object) },
  });
}

export async function startTestBridge(opts: { dataDir: string; raw?: Record<string, unknown>; registry?: DeviceRegistry | null; syncRunner?: SyncRunner; ivr?: import('../../host-bridge/ivr/channel.ts').IvrOptions }): Promise<TestBridge> {
  const logFile = join(opts.dataDir, 'bridge.log');
  const dest = pino.destination({ dest: logFile, sync: true, append: true });
  const logger = createBridgeLogger('debug', dest);
  const bridge = await startBridge({ config: testConfig(opts.dataDir, opts.raw), registry: opts.registry ?? null, logger, syncRunner: opts.syncRunner, ivr: opts.ivr });
  const close = bridge.close;
  return Object.assign(bridge, {
    logFile,
    readLog: () => readFileSync(logFile, 'utf8'),
    close: async () => {
      await close();
      dest.flushSync();
      dest.end();
    },
  });
}

/** Temp dirs and bridges a test opens, closed and removed after each test of the calling file. */
export function bridgesEachTest(): { tempDir(prefix?: string): ReturnType<typeof makeTempDir>; start(opts: Parameters<typeof startTestBridge>[0]): Promise<TestBridge> } {
  const bridges: TestBridge[] = [];
  const dirs: ReturnType<typeof makeTempDir>[] = [];
  afterEach(async () => {
    for (const b of bridges.splice(0)) await b.close();
    for (const d of dirs.splice(0)) d.remove();
  });
  return {
    tempDir(prefix) {
      const d = makeTempDir(prefix);
      dirs.push(d);
      return d;
    },
    async start(opts) {
      const b = await startTestBridge(opts);
      bridges.push(b);
      return b;
    },
  };
}

export interface BridgeTestEnv {
  dir: ReturnType<typeof makeTempDir>;
  svc: ScriptedService;
  /** the bridge a test starts, if any: closed after it */
  bridge: TestBridge | null;
}

/**
 * Each test of the calling file gets a temp dir and a scripted network service (started unless
 * `startService: false`); afterwards the bridge it started (env.bridge), the service and the dir
 * are closed and removed.
 */
export function bridgeEnvEachTest(opts: { startService?: boolean } = {}): BridgeTestEnv {
  const env = { bridge: null } as BridgeTestEnv;
  beforeEach(async () => {
    env.dir = makeTempDir();
    env.svc = new ScriptedService();
    if (opts.startService !== false) await env.svc.start();
  });
  afterEach(async () => {
    await env.bridge?.close();
    env.bridge = null;
    await env.svc.close();
    env.dir.remove();
  });
  return env;
}

/** POST a JSON body to the bridge: the status and the parsed JSON answer. */
export async function postJson(baseUrl: string, path: string, body: unknown): Promise<{ status: number; json: any }> {
  const res = await request(baseUrl + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.statusCode, json: (await res.body.json()) as any };
}

/** Resolve on the first forwarder pass matching `pred` (events, not sleeps). */
export function waitForPass(
  forwarder: import('../../host-bridge/outbox/forwarder.ts').OutboxForwarder,
  pred: (r: import('../../host-bridge/outbox/forwarder.ts').PassResult) => boolean,
  timeoutMs = 10_000,
): Promise<import('../../host-bridge/outbox/forwarder.ts').PassResult> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      forwarder.off('pass', on);
      reject(new Error('timed out waiting for a forwarder pass'));
    }, timeoutMs);
    const on = (r: import('../../host-bridge/outbox/forwarder.ts').PassResult) => {
      if (!pred(r)) return;
      clearTimeout(timer);
      forwarder.off('pass', on);
      resolve(r);
    };
    forwarder.on('pass', on);
  });
}
