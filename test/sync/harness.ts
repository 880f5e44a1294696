// Pieces of the sync tests: the real network service on loopback, a real device (DeviceCore +
// SessionDispatcher, SQLite in a temp dir) behind an in-process transport that can fail like a
// link does, the real SecureDeviceClient paired with it, and a tampering HTTP proxy.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { EventEmitter } from 'node:events';
import { ProtocolError } from '../../protocol/errors.ts';
import { DriverConnection } from '../../device/links/connection.ts';
import { SessionDispatcher } from '../../device/session/dispatcher.ts';
import { adaptDeviceCore, type OpenedCore } from '../../device/session/core-adapter.ts';
import { DeviceCore } from '../../device/core/device-core.ts';
import { encodeFirmwareImage } from '../../device/core/firmware-image.ts';
import { startServer, type RunningServer } from '../../server/start.ts';
import { PinStore } from '../../host-bridge/session/pin-store.ts';
import { pairDevice } from '../../host-bridge/session/pairing.ts';
import { SecureDeviceClient } from '../../host-bridge/session/secure-client.ts';
import { afterEach } from 'vitest';
import { deferred } from '../../testkit/wait.ts';
import { makeTempDir, type TempDir } from '../../testkit/tmp.ts';

export interface Service {
  s: RunningServer;
  tmp: TempDir;
  bridgeKey: string;
  /** Import restricted cards (PANs, tokenised by the service) and publish; resolves the new version. */
  restrict(pans: string[], reason?: string): Promise<number>;
  publish(): Promise<number>;
  /** Publish a firmware image (emulated format) with the given self-test outcome. */
  firmware(version: number, selfTest: 'ok' | 'fail', bodyBytes?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startService(extra: { chunkSize?: number; port?: number; dataDir?: string } = {}): Promise<Service> {
  const tmp = makeTempDir('precheck-sync-svc-');
  const s = await startServer({
    dataDir: extra.dataDir ?? tmp.dir,
    port: extra.port ?? 0,
    host: '127.0.0.1',
    logLevel: 'silent',
    publishDebounceMs: -1,
    publishOnStart: false,
    chunkSize: extra.chunkSize ?? 256,
  });
  const bridge = await s.issueKey('merchant-sync', 'sync tests');
  const admin = async (method: string, p: string, body: string | Uint8Array, type: string): Promise<unknown> => {
    const res = await fetch(s.url + p, { method, headers: { authorization: `Bearer ${s.adminKey}`, 'content-type': type }, body: typeof body === 'string' ? body : Buffer.from(body) as unknown as string });
    const text = await res.text();
    if (res.status >= 300) throw new Error(`${method} ${p}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : null;
  };
  return {
    s,
    tmp,
    bridgeKey: bridge.key,
    async restrict(pans, reason = 'stolen') {
      await admin('POST', `/v1/admin/restricted/import?reason=${reason}`, pans.join('\n') + '\n', 'text/plain');
      return s.publish();
    },
    publish: () => s.publish(),
    async firmware(version, selfTest, bodyBytes = 700) {
      const image = encodeFirmwareImage({ version, selfTest, notes: `test image ${version}`, body: new Uint8Array(bodyBytes).fill(version & 0xff) });
      await admin('POST', `/v1/admin/firmware?version=${version}`, image, 'application/octet-stream');
    },
    async close() {
      await s.close();
      tmp.cleanup();
    },
  };
}

/**
 * An in-process link to a device: request() hands the bytes to the device's dispatcher. It can be
 * cut (every request fails DISCONNECTED, like an unplugged cable), cut after N more requests,
 * or held at a request (a gate) so a test can act while a sync is mid-way.
 */
export class TestLink extends EventEmitter {
  readonly link = 'hid-cable';
  readonly address: string;
  readonly maxMessageSize = 7609;
  private conn: DriverConnection;
  private cut = false;
  private cutAfter = -1;
  private gateAt = -1;
  private gate: { reached: ReturnType<typeof deferred<void>>; release: ReturnType<typeof deferred<void>> } | null = null;
  requests = 0;
  static n = 0;

  constructor(public handler: (msg: Uint8Array, conn: DriverConnection) => Promise<Uint8Array>) {
    super();
    TestLink.n++;
    this.address = `test-link:${TestLink.n}`;
    this.conn = new DriverConnection(`test#${TestLink.n}:1`, 'hid-cable');
  }

  async request(msg: Uint8Array): Promise<Uint8Array> {
    this.requests++;
    if (this.cutAfter >= 0 && this.requests > this.cutAfter) this.cut = true;
    if (this.cut) throw new ProtocolError('DISCONNECTED', 'test link cut');
    if (this.gate && this.requests === this.gateAt) {
      this.gate.reached.resolve();
      await this.gate.release.promise;
    }
    return this.handler(msg, this.conn);
  }

  /** Fail every request from the (n+1)-th from now on. */
  cutAfterRequests(n: number): void {
    this.cutAfter = this.requests + n;
  }
  /** Plug back in: a new connection (the device forgets the session), requests pass again. */
  heal(): void {
    this.cut = false;
    this.cutAfter = -1;
    this.conn.close();
    TestLink.n++;
    this.conn = new DriverConnection(`test#${TestLink.n}:1`, 'hid-cable');
  }
  /** Hold the (n)-th request from now until release(); `reached` resolves when it arrives. */
  holdAt(n: number): { reached: Promise<void>; release: () => void } {
    const reached = deferred<void>();
    const release = deferred<void>();
    this.gate = { reached, release };
    this.gateAt = this.requests + n;
    return {
      reached: reached.promise,
      release: () => {
        this.gate = null;
        release.resolve();
      },
    };
  }
  async close(): Promise<void> {
    this.conn.close();
  }
}

export interface TestDevice {
  dir: string;
  core: DeviceCore;
  opened: OpenedCore;
  link: TestLink;
  client: SecureDeviceClient;
  pins: PinStore;
  /** Power-cycle the device: close the core, reopen it from its data dir (boot check runs). */
  restart(): void;
  close(): Promise<void>;
}

export async function startDevice(svc: Service, bridgeDir: string, opts: { tmp?: TempDir } = {}): Promise<TestDevice> {
  const tmp = opts.tmp ?? makeTempDir('precheck-sync-dev-');
  const dir = tmp.dir;
  let core = DeviceCore.open(dir, { provision: { serverSigningPublicKey: svc.s.signingPublicKey, cardKey: svc.s.service.keys.cardKey } });
  let opened = adaptDeviceCore(core);
  const mkDispatcher = (c: OpenedCore) => new SessionDispatcher({ core: c, confirmPairing: async () => true });
  let dispatcher = mkDispatcher(opened);
  const link = new TestLink((m, c) => dispatcher.handle(m, c));
  const pins = PinStore.open(bridgeDir);
  await pairDevice(link, async () => true, { pinStore: pins, pollIntervalMs: 1 });
  const client = new SecureDeviceClient({ transport: link, pinStore: pins, requestTimeoutMs: 5_000 });
  await client.info();
  const dev: TestDevice = {
    dir,
    get core() {
      return core;
    },
    get opened() {
      return opened;
    },
    link,
    client,
    pins,
    restart() {
      dispatcher.close();
      opened.close();
      core = DeviceCore.open(dir);
      opened = adaptDeviceCore(core);
      dispatcher = mkDispatcher(opened);
      link.heal();
    },
    async close() {
      dispatcher.close();
      try {
        opened.close();
      } catch {
        /* closed */
      }
      tmp.cleanup();
    },
  };
  return dev;
}

/**
 * Another bridge (its own data dir, so its own host key) paired with the same device over its
 * own link: two hosts syncing one device.
 */
export async function secondHost(dev: TestDevice, bridgeDir: string): Promise<{ link: TestLink; client: SecureDeviceClient; pins: PinStore }> {
  const link = new TestLink(dev.link.handler);
  const pins = PinStore.open(bridgeDir);
  await pairDevice(link, async () => true, { pinStore: pins, pollIntervalMs: 1 });
  const client = new SecureDeviceClient({ transport: link, pinStore: pins, requestTimeoutMs: 5_000 });
  await client.info();
  return { link, client, pins };
}

/** An HTTP proxy in front of the service whose answers a test can rewrite (tamper, replay). */
export interface TamperProxy {
  url: string;
  /** Return replacement body bytes for a path, or null to pass the answer through. */
  rewrite: ((path: string, body: Buffer) => Buffer | null) | null;
  close(): Promise<void>;
}

export async function startTamperProxy(target: string): Promise<TamperProxy> {
  const proxy: TamperProxy = { url: '', rewrite: null, close: async () => undefined };
  const server = http.createServer(async (req, res) => {
    try {
      const headers: Record<string, string> = {};
      if (req.headers.authorization) headers.authorization = req.headers.authorization;
      const up = await fetch(target + (req.url ?? '/'), { method: req.method, headers });
      let body: Buffer = Buffer.from(await up.arrayBuffer());
      const replaced = proxy.rewrite?.(req.url ?? '/', body);
      if (replaced) body = replaced;
      const out: Record<string, string> = { 'content-type': up.headers.get('content-type') ?? 'application/octet-stream' };
      const chunks = up.headers.get('x-chunks-url');
      if (chunks) out['x-chunks-url'] = chunks;
      res.writeHead(up.status, out);
      res.end(body);
    } catch {
      res.writeHead(502);
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return proxy;
}

export const PANS = {
  a: '4111111111111111',
  b: '5555555555554444',
  c: '4012888888881881',
  d: '4000056655665556',
  unknown: '4242424242424242',
} as const;

export function order(pan: string) {
  return { pan, expMonth: 12, expYear: new Date().getFullYear() + 3, amount: 2500, currency: 'EUR' };
}

/** What a test started, stopped after it (last first). */
export function cleanupsEachTest(): (() => Promise<void> | void)[] {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  return cleanups;
}

/** A service and `devices` paired devices whose bridge side lives in one temp dir; all stopped by `cleanups`. */
export async function serviceWithDevices(
  cleanups: (() => Promise<void> | void)[],
  opts: { devices?: number; chunkSize?: number; prefix?: string } = {},
): Promise<{ svc: Service; dir: TempDir; devices: TestDevice[] }> {
  const svc = await startService(opts.chunkSize === undefined ? {} : { chunkSize: opts.chunkSize });
  cleanups.push(() => svc.close());
  const dir = makeTempDir(opts.prefix ?? 'precheck-sync-bridge-');
  cleanups.push(() => dir.cleanup());
  const devices: TestDevice[] = [];
  for (let i = 0; i < (opts.devices ?? 1); i++) {
    const d = await startDevice(svc, dir.dir);
    cleanups.push(() => d.close());
    devices.push(d);
  }
  return { svc, dir, devices };
}
