// Issue 13 item 9: a sync request made while the bridge's own run is resuming a device's transfer
// after the device re-attached waits for that run instead of failing with SYNC_BUSY; a cron'd
// `precheck sync --all` then exits 0, not 4.
//
// Real parts: the network service on loopback (SQLite, Ed25519), the device emulator as a child
// process on the USB HID virtual cable (a unix socket), the bridge (in this process: its logger and
// progress are observed) with the real device registry, which re-attaches the device by itself,
// and `precheck sync` as its own process. Between bridge and emulator sits a byte relay that can
// unplug the cable (drop the connection, refuse new ones), plug it back, and hold the bridge's
// bytes so the test decides when the resumed transfer may go on (no timing).
import fs from 'node:fs';
import net from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { createBridgeLogger } from '../../host-bridge/logger.ts';
import { startBridge, type Bridge } from '../../host-bridge/bridge.ts';
import { validateConfig } from '../../host-bridge/config.ts';
import { createDeviceRegistry } from '../../host-bridge/discovery/index.ts';
import { createSyncRunner, type SyncProgress } from '../../host-bridge/sync/index.ts';
import { killAllTracked } from '../../testkit/process.ts';
import { makeTempDir } from '../../testkit/tmp.ts';
import { deferred, onceEvent, withTimeout } from '../../testkit/wait.ts';
import { provisionDevice, startEmulator } from '../integration/fixtures.ts';
import { startService } from '../sync/harness.ts';
import { precheckSync, testPans } from './sync-fixtures.ts';

/** A unix-socket cable the test can unplug, plug back and pause (bridge → device direction). */
class CableRelay {
  private server: net.Server | null = null;
  private pairs = new Set<{ a: net.Socket; b: net.Socket }>();
  private holding = false;
  private held: { to: net.Socket; data: Buffer }[] = [];
  constructor(
    readonly path: string,
    private readonly target: string,
  ) {}

  async plug(): Promise<void> {
    const server = net.createServer((a) => {
      const b = net.connect(this.target);
      const pair = { a, b };
      this.pairs.add(pair);
      a.on('data', (d: Buffer) => (this.holding ? this.held.push({ to: b, data: d }) : b.write(d)));
      b.on('data', (d: Buffer) => a.write(d));
      const end = () => {
        this.pairs.delete(pair);
        a.destroy();
        b.destroy();
      };
      a.on('close', end).on('error', end);
      b.on('close', end).on('error', end);
    });
    await new Promise<void>((r) => server.listen(this.path, r));
    this.server = server;
  }

  /** The cable pulled: connections dropped, nothing answers on the path until plug(). */
  async unplug(): Promise<void> {
    const s = this.server;
    this.server = null;
    for (const p of this.pairs) {
      p.a.destroy();
      p.b.destroy();
    }
    this.pairs.clear();
    this.held = [];
    if (s) await new Promise<void>((r) => s.close(() => r()));
    fs.rmSync(this.path, { force: true });
  }

  hold(): void {
    this.holding = true;
  }

  release(): void {
    this.holding = false;
    for (const h of this.held.splice(0)) if (!h.to.destroyed) h.to.write(h.data);
  }

  async close(): Promise<void> {
    await this.unplug();
  }
}

describe('sync after a device re-attaches (issue 13 item 9)', () => {
  const tmp = makeTempDir('precheck-e2e-reattach-');
  const cleanups: (() => Promise<void> | void)[] = [];
  afterAll(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
    await killAllTracked();
    tmp.cleanup();
  }, 180_000);

  it('a cron `sync --all` during the bridge’s own resumed transfer waits for it and exits 0', async () => {
    const svc = await startService({ chunkSize: 256 });
    cleanups.push(() => svc.close());
    const keys = { signing: { publicKey: svc.s.signingPublicKey, privateKey: new Uint8Array(32) }, cardKey: svc.s.service.keys.cardKey };
    await provisionDevice(tmp.file('dev'), keys);
    const emu = await startEmulator(['--data', tmp.file('dev'), '--hid-socket', tmp.file('emu.sock'), '--auto-confirm']);
    cleanups.push(() => emu.stop());
    const relay = new CableRelay(tmp.file('cable.sock'), tmp.file('emu.sock'));
    await relay.plug();
    cleanups.push(() => relay.close());

    const config = validateConfig({
      listen: { host: '127.0.0.1', port: 0 },
      dataDir: tmp.file('bridge'),
      network: { serviceUrl: svc.s.url, apiKey: svc.bridgeKey, timeoutMs: 10_000, retries: 1, backoffMs: 50 },
      verify: { deviceTimeoutMs: 10_000 },
      devices: { cables: { hidSocket: relay.path } },
      // the runs here are the test's own: no follow run may start one on its own poll
      sync: { follow: false },
    });
    // the bridge's log, line by line, so the test can wait on what the bridge says
    const lines: string[] = [];
    const onLine = new Set<(l: string) => void>();
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const l of chunk.toString('utf8').split('\n').filter(Boolean)) {
          lines.push(l);
          for (const f of onLine) f(l);
        }
        cb();
      },
    });
    const logged = (re: RegExp, label: string): Promise<string> =>
      withTimeout(
        new Promise<string>((resolve) => {
          const f = (l: string) => {
            if (re.test(l)) {
              onLine.delete(f);
              resolve(l);
            }
          };
          onLine.add(f);
        }),
        120_000,
        `bridge log ${label}`,
      );
    const logger = createBridgeLogger('info', sink);
    // a held exchange must not time out while `precheck sync` starts on a loaded machine
    const registry = createDeviceRegistry({ config, logger, registry: { statusIntervalMs: 0, reconnectMs: 50, requestTimeoutMs: 120_000 } });

    // progress hooks: the test acts at exact points of the bridge's own run
    let onProgress: ((p: SyncProgress) => void) | null = null;
    const runner = createSyncRunner({
      config,
      registry,
      logger,
      onProgress: (p) => onProgress?.(p),
      // the run keeps resuming while the cable is out (as long as the test needs)
      engine: { linkRetries: 1_000, linkRetryDelayMs: 20 },
    });
    cleanups.push(() => runner.close());
    await registry.start();
    const id = emu.ids[0];
    while (!registry.get(id)) await onceEvent(registry, 'attached', 60_000);
    await registry.pair(id, async () => true);
    const bridge: Bridge = await startBridge({ config, registry, logger, syncRunner: runner, manageRegistry: false });
    cleanups.push(async () => {
      await bridge.close();
      await registry.stop();
    });
    cleanups.push(() => relay.release()); // a failed test leaves no exchange held

    const version = await svc.restrict(testPans(300, 9));
    // 1. the bridge's own run (here a POST /v1/sync; the schedule runs the same code) gets going
    const midway = deferred<void>();
    onProgress = (p) => {
      if (p.phase === 'send' && p.chunk >= 3) {
        onProgress = null;
        midway.resolve();
      }
    };
    const first = fetch(`${bridge.url}/v1/sync`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }).then(async (r) => ({ status: r.status, body: (await r.json()) as { exitCode: number; results: { result: string; resumedFrom?: number }[] } }));
    await withTimeout(midway.promise, 120_000, 'first sync mid-transfer');

    // 2. the cable is pulled: the run's next chunk fails and it keeps resuming
    const detached = onceEvent(registry, 'detached', 60_000);
    const retrying = logged(new RegExp(`sync: ${id} dataset chunk \\d+: .*resuming`), 'resuming after the unplug');
    await relay.unplug();
    await detached;
    await retrying;

    // 3. plugged back: the registry re-attaches the device, the run resumes its transfer; its
    // next bytes to the device are held, so the run is certainly still in progress below
    const resumed = deferred<number>();
    onProgress = (p) => {
      if (p.phase === 'send') {
        relay.hold();
        onProgress = null;
        resumed.resolve(p.chunk);
      }
    };
    await relay.plug();
    const at = await withTimeout(resumed.promise, 120_000, 'the bridge resuming its transfer after the re-attach');
    expect(at).toBeGreaterThanOrEqual(3);

    // 4. cron's `precheck sync --all` asks the running bridge meanwhile: it waits, it does not fail
    const waiting = logged(new RegExp(`sync: ${id} waits for the sync of it already running`), 'the second request waiting');
    const cron = precheckSync(['--all', '--json', '--url', bridge.url], { PRECHECK_DATA: tmp.file('no-up') }, 180_000);
    // (without the fix the command ends at once with SYNC_BUSY: fail then, do not wait for the log)
    await Promise.race([
      waiting,
      cron.then((c) => {
        throw new Error(`precheck sync ended (exit ${c.code}) while the bridge's run was still going:\n${c.stdout}\n${c.stderr}`);
      }),
    ]);
    relay.release();

    const a = await withTimeout(first, 120_000, 'the first sync');
    expect(a.status).toBe(200);
    expect(a.body.results[0]).toMatchObject({ result: 'updated' });
    const c = await cron;
    expect(c.code, `${c.stdout}\n${c.stderr}`).toBe(0);
    expect(c.report!.results).toEqual([expect.objectContaining({ device: id, result: 'up-to-date', from: version, to: version, bytesSent: 0 })]);
    expect(lines.join('\n')).not.toMatch(/SYNC_BUSY/);
  }, 400_000);
});
