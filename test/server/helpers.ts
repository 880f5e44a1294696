// Test harness: a real network service on loopback (port 0) over a temp data dir, with its log
// lines captured so tests can grep them.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { startServer, type RunningServer } from '../../server/start.ts';
import type { ServerOptions } from '../../server/config.ts';
import { afterEach } from 'vitest';

export interface Harness {
  s: RunningServer;
  dir: string;
  logs: string[];
  bridgeKey: string;
  call(method: string, p: string, body?: unknown, key?: string | null, headers?: Record<string, string>): Promise<{ status: number; json: any; headers: Headers; bytes: Uint8Array }>;
  admin(method: string, p: string, body?: unknown): Promise<{ status: number; json: any }>;
  close(): Promise<void>;
}

export async function startHarness(extra: Partial<ServerOptions> = {}): Promise<Harness> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'precheck-server-'));
  const logs: string[] = [];
  const s = await startServer({
    dataDir: dir,
    port: 0,
    host: '127.0.0.1',
    logLevel: 'debug',
    logDestination: { write: (line: string) => void logs.push(line) },
    publishDebounceMs: -1,
    ...extra,
  });
  const bridge = await s.issueKey('merchant-a', 'test');
  const call: Harness['call'] = async (method, p, body, key = bridge.key, headers = {}) => {
    const h: Record<string, string> = { ...headers };
    if (key) h.authorization = `Bearer ${key}`;
    let payload: string | undefined;
    if (body !== undefined) {
      payload = typeof body === 'string' ? body : JSON.stringify(body);
      h['content-type'] ??= 'application/json';
    }
    const res = await fetch(s.url + p, { method, headers: h, body: payload });
    const bytes = new Uint8Array(await res.arrayBuffer());
    let json: unknown = null;
    if ((res.headers.get('content-type') ?? '').includes('json') && bytes.length > 0) json = JSON.parse(Buffer.from(bytes).toString('utf8'));
    return { status: res.status, json, headers: res.headers, bytes };
  };
  return {
    s,
    dir,
    logs,
    bridgeKey: bridge.key,
    call,
    admin: (method, p, body) => call(method, p, body, s.adminKey),
    async close() {
      await s.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export { luhnPan } from '../../testkit/cards.ts';

/** A random id: hex glued to letters, which the PAN guard never refuses (contracts/pan-guard.ts). */
export const uid = (): string => `id-${crypto.randomBytes(12).toString('hex')}`;

/**
 * Services a test starts (quiet, on a free loopback port, no publish debounce, no training
 * schedule) and their temp data dirs, closed and removed after each test of the calling file.
 */
export function serversEachTest(): {
  tempDir(prefix: string): string;
  start(opts: Partial<ServerOptions> & { dataDir: string }): Promise<RunningServer>;
  /** close one before the test ends (a restart on the same data) */
  stop(s: RunningServer): Promise<void>;
} {
  const dirs: string[] = [];
  const servers: RunningServer[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.close();
    while (dirs.length) fs.rmSync(dirs.pop()!, { recursive: true, force: true });
  });
  return {
    tempDir(prefix) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
      dirs.push(dir);
      return dir;
    },
    async start(opts) {
      const s = await startServer({ port: 0, host: '127.0.0.1', logLevel: 'silent', publishDebounceMs: -1, train: { schedule: null }, ...opts });
      servers.push(s);
      return s;
    },
    async stop(s) {
      await s.close();
      servers.splice(servers.indexOf(s), 1);
    },
  };
}

export const randomToken = (): string => crypto.randomBytes(16).toString('hex');

export function authBody(token: string, over: Record<string, unknown> = {}, order: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    token,
    bin: '411111',
    last4: '1111',
    brand: 'visa',
    expMonth: 12,
    expYear: 2099,
    order: { id: 'order-1', amount: { value: 2500, currency: 'USD' }, ...order },
    ...over,
  };
}

let seq = 0;
export function outcomeBody(token: string, over: Record<string, unknown> = {}): Record<string, unknown> {
  seq++;
  return {
    idempotencyKey: crypto.randomUUID(),
    token,
    bin: '411111',
    last4: '1111',
    brand: 'visa',
    orderId: `o-${seq}`,
    amount: 2500,
    currency: 'USD',
    gateway: 'gw-a',
    status: 'success',
    ...over,
  };
}
