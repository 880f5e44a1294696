// `--self-contained`: a real network service and a real host bridge on free loopback ports in
// temporary directories, seeded through the service's admin HTTP API (gateways, prompts, a bridge
// key), both running on the simulation's clock so that time windows (routing windows, retry
// limits, soft-decline windows, outage elimination) move with simulated time, not wall time.
// No verifier devices: the network stage decides (see token-verifier.ts for --verifier token).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer } from '../../server/start.ts';
import { startBridge } from '../bridge.ts';
import { validateConfig } from '../config.ts';
import { DEFAULT_PROMPTS } from '../../protocol/rules/prompts.ts';
import { TokenOnlyRegistry } from './token-verifier.ts';
import type { Scenario } from './scenario.ts';
import { SimulatorHttpError } from './bridge-client.ts';

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

export type VerifierMode = 'token' | 'none';

export interface SelfContained {
  bridgeUrl: string;
  serverUrl: string;
  adminKey: string;
  clock: SimClock;
  verifier: VerifierMode;
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

export async function startSelfContained(s: Scenario, opts: { verifier?: VerifierMode; startAt?: number } = {}): Promise<SelfContained> {
  const verifier = opts.verifier ?? 'token';
  const clock = new SimClock(opts.startAt ?? Math.floor(Date.now() / 1000));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'precheck-sim-'));
  let server: Awaited<ReturnType<typeof startServer>> | null = null;
  let bridge: Awaited<ReturnType<typeof startBridge>> | null = null;
  const cleanup = async () => {
    await bridge?.close().catch(() => undefined);
    await server?.close().catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    server = await startServer({
      dataDir: path.join(dir, 'server'),
      port: 0,
      host: '127.0.0.1',
      logLevel: 'silent',
      now: () => clock.nowSeconds(),
      // One simulated shop sends thousands of requests a minute: the per-key limit is for the
      // internet, not for this loopback run.
      rateLimitMax: 10_000_000,
      // Device datasets are not used (no devices): do not rebuild them after every outcome.
      publishDebounceMs: -1,
    });
    await seedService(server.url, server.adminKey, s);
    const apiKey = await issueBridgeKey(server.url, server.adminKey, `sim-${s.name}`);
    const config = validateConfig({
      listen: { host: '127.0.0.1', port: 0 },
      dataDir: path.join(dir, 'bridge'),
      network: { serviceUrl: server.url, apiKey },
      merchant: { country: s.merchant.country },
      fallback: 'review',
      log: { level: 'silent' },
    });
    const registry = verifier === 'token' ? new TokenOnlyRegistry(server.service.keys.cardKey) : null;
    bridge = await startBridge({ config, registry, now: () => clock.nowMs() });
  } catch (e) {
    await cleanup();
    throw e;
  }
  const srv = server;
  const br = bridge;
  return { bridgeUrl: br.url, serverUrl: srv.url, adminKey: srv.adminKey, clock, verifier, close: cleanup };
}
