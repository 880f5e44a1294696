// Firmware-sync cron story, end to end with real processes: the network service (real HTTP,
// SQLite, Ed25519) behind a tampering proxy, two emulated devices on one RS485 bus (socat ptys,
// real serialport, Modbus RTU, paced at 115200 baud, through a relay that can inject noise) and
// one on the USB HID virtual cable, the bridge as `precheck bridge`, and `precheck sync` run as a
// separate process that asks the running bridge (which owns the links).
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSnapshot, emptyContent, generateSigningKeyPair } from '../../protocol/dataset/index.ts';
import { killAllTracked } from '../../testkit/process.ts';
import { makeTempDir, type TempDir } from '../../testkit/tmp.ts';
import { withTimeout } from '../../testkit/wait.ts';
import { provisionDevice, startEmulator, type Emulator } from '../integration/fixtures.ts';
import { PANS, startService, startTamperProxy, type Service, type TamperProxy } from '../sync/harness.ts';
import { openNoisyBus, pairDevicesOnce, precheckSync, startBridgeProcess, testPans, writeConfig, type BridgeProcess, type NoisyBus } from './sync-fixtures.ts';

describe('e2e: precheck sync against the running bridge (RS485 bus x2 + HID cable)', () => {
  let tmp: TempDir;
  let svc: Service;
  let proxy: TamperProxy;
  let bus: NoisyBus;
  let emuBus: Emulator;
  let emuHid: Emulator;
  let bridge: BridgeProcess;
  let cfg: string;
  let ids: { rs1: string; rs2: string; hid: string };
  const all = () => [ids.rs1, ids.rs2, ids.hid];

  const verify = async (pan: string, verifierId: string) => {
    const res = await fetch(`${bridge.url}/v1/verify`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        card: { number: pan, expMonth: 12, expYear: new Date().getFullYear() + 3 },
        order: { id: `o-${Math.random().toString(36).slice(2)}`, amount: { value: 2500, currency: 'EUR' } },
        verifierId,
      }),
    });
    expect(res.status).toBe(200);
    return (await res.json()) as { decision: string; stage: string; device: { id: string; datasetVersion: number } | null };
  };
  const devicesNow = async () => ((await (await fetch(`${bridge.url}/v1/devices`)).json()) as { devices: { id: string; datasetVersion: number; firmwareVersion: number }[] }).devices;
  const syncEnv = () => ({ PRECHECK_BRIDGE_URL: bridge.url });
  // A device that misses the bridge's start-up scan of the RS485 bus (its answer late on a loaded
  // machine) is found by the registry's background rescan (host-bridge/links/address-rescan.ts):
  // start once and wait until the bridge has logged every device.
  const startBridgeSeeingAll = async (): Promise<BridgeProcess> => {
    const b = await startBridgeProcess(cfg);
    for (const id of all()) await b.seen(new RegExp(`device ${id} on `), 90_000);
    return b;
  };

  beforeAll(async () => {
    tmp = makeTempDir('precheck-e2e-sync-');
    svc = await startService({ chunkSize: 512 });
    proxy = await startTamperProxy(svc.s.url);
    const keys = { signing: { publicKey: svc.s.signingPublicKey, privateKey: new Uint8Array(32) }, cardKey: svc.s.service.keys.cardKey };
    await provisionDevice(tmp.file('bus'), keys);
    await provisionDevice(tmp.file('hid'), keys);
    bus = await openNoisyBus();
    emuBus = await startEmulator(['--data', tmp.file('bus'), '--rs485', `${bus.deviceSide}:115200`, '--address', '1,2', '--auto-confirm']);
    emuHid = await startEmulator(['--data', tmp.file('hid'), '--hid-socket', tmp.file('hid.sock'), '--auto-confirm']);
    const config = {
      listen: { host: '127.0.0.1', port: 0 },
      dataDir: tmp.file('bridge'),
      network: { serviceUrl: proxy.url, apiKey: svc.bridgeKey, timeoutMs: 3000, retries: 1, backoffMs: 50 },
      verify: { deviceTimeoutMs: 10_000 }, // generous: the whole device call's one budget, on a loaded machine
      devices: { rs485: { ports: [{ path: bus.bridgeSide, baud: 115200, addresses: { from: 1, to: 2 } }] }, cables: { hidSocket: tmp.file('hid.sock') } },
      log: { level: 'info' },
      // This story drives every sync itself (and asserts what each run brought): the bridge must
      // not follow the service's new datasets on its own (sync.follow, test/sync/follow-bridge.test.ts).
      sync: { follow: false },
    };
    cfg = writeConfig(tmp.file('bridge.json'), config);
    // Pair the three devices once (as `precheck pair` does), then hand the links to the bridge.
    ids = { rs1: emuBus.ids[0], rs2: emuBus.ids[1], hid: emuHid.ids[0] };
    await pairDevicesOnce(config, all());
    await svc.restrict([PANS.a, ...testPans(20, 1)]);
    bridge = await startBridgeSeeingAll();
    // generous: the attach wait alone may take 90 s on a loaded 2-core machine (failures name the wait)
  }, 300_000);

  afterAll(async () => {
    await bridge?.stop().catch(() => undefined);
    await killAllTracked();
    await bus?.close().catch(() => undefined);
    await proxy?.close();
    await svc?.close();
    tmp?.cleanup();
  });

  it('initial snapshot to all three devices; the restricted card is then declined locally', async () => {
    const r = await precheckSync(['--all', '--config', cfg], syncEnv());
    expect(r.stderr).toMatch(/asking the running bridge/);
    expect(r.stdout, `${r.stdout}\n${r.stderr}\n${bridge.log().slice(-3000)}`).toMatch(new RegExp(`${ids.rs2}`));
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^DEVICE\s+LINK\s+WHAT\s+VERSION\s+VIA\s+BYTES SENT\s+SECONDS\s+RESULT$/);
    for (const id of all()) expect(r.stdout).toMatch(new RegExp(`${id}\\s+(rs485|hid-cable)\\s+dataset\\s+none → v1\\s+snapshot.*updated`));
    for (const id of all()) expect(await verify(PANS.a, id)).toMatchObject({ decision: 'decline', stage: 'local', device: { id, datasetVersion: 1 } });
    // dataset age on /v1/health and /metrics
    const health = (await (await fetch(`${bridge.url}/v1/health`)).json()) as { devices: { id: string; datasetAgeS: number | null; datasetState: string }[] };
    for (const id of all()) expect(health.devices.find((d) => d.id === id)).toMatchObject({ datasetState: 'fresh', datasetAgeS: expect.any(Number) });
    const metrics = await (await fetch(`${bridge.url}/metrics`)).text();
    for (const id of all()) expect(metrics).toMatch(new RegExp(`precheck_bridge_dataset_age_seconds\\{device="${id}"\\} \\d+`));
  });

  it('a restricted card added on the service reaches every device as a delta and is declined at stage local', async () => {
    expect((await verify(PANS.b, ids.hid)).decision).not.toBe('decline');
    const v2 = await svc.restrict([PANS.b]);
    const r = await precheckSync(['--all', '--config', cfg, '--json'], syncEnv());
    expect(r.code).toBe(0);
    for (const id of all()) expect(r.report!.results.find((x) => x.device === id)).toMatchObject({ result: 'updated', from: 1, to: v2, via: 'delta' });
    for (const id of all()) expect(await verify(PANS.b, id)).toMatchObject({ decision: 'decline', stage: 'local' });
  });

  it('bus noise mid-transfer: garbage on the RS485 line, the sync still completes with the right data', async () => {
    const v = await svc.restrict([PANS.c, ...testPans(300, 2)]);
    const done = fetch(`${bridge.url}/v1/sync`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }).then((x) => x.json());
    for (let k = 0; k < 3; k++) {
      await bridge.next(new RegExp(`sync: (${ids.rs1}|${ids.rs2}) dataset ${v} chunk \\d+/\\d+`));
      await bus.inject(40);
    }
    const report = (await withTimeout(done, 120_000, 'sync under noise')) as { exitCode: number; results: { device: string; result: string }[] };
    expect(bus.injected).toBeGreaterThan(0);
    expect(report.results.map((x) => x.result)).toEqual(['updated', 'updated', 'updated']);
    expect(report.exitCode).toBe(0);
    for (const id of [ids.rs1, ids.rs2]) expect(await verify(PANS.c, id)).toMatchObject({ decision: 'decline', stage: 'local' });
  });

  it('bridge killed mid-sync: devices keep their active dataset; the next run resumes where it stopped', async () => {
    const before = await devicesNow();
    const v = await svc.restrict([PANS.d, ...testPans(400, 3)]);
    const inflight = fetch(`${bridge.url}/v1/sync`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }).catch(() => null);
    await bridge.next(new RegExp(`sync: (${ids.rs1}|${ids.rs2}) dataset ${v} chunk \\d+/\\d+`));
    await bridge.kill9();
    await inflight;
    const locks = fs.readdirSync(path.join(tmp.file('bridge'), 'sync', 'locks'));
    expect(locks.length).toBeGreaterThan(0); // left behind by the dead bridge: stale, taken over below

    bridge = await startBridgeSeeingAll();
    // still deciding on the old data
    for (const id of [ids.rs1, ids.rs2]) {
      const old = before.find((d) => d.id === id)!.datasetVersion;
      expect(await verify(PANS.c, id)).toMatchObject({ decision: 'decline', stage: 'local', device: { datasetVersion: old } });
    }
    const r = await precheckSync(['--all', '--config', cfg, '--json'], syncEnv());
    expect(r.code).toBe(0);
    const resumed = r.report!.results.filter((x) => (x.resumedFrom ?? 0) > 0);
    expect(resumed.length).toBeGreaterThan(0);
    // the HID device may have finished before the kill: then it is simply up to date
    for (const id of all()) expect(['updated', 'up-to-date']).toContain(r.report!.results.find((x) => x.device === id)!.result);
    for (const d of await devicesNow()) expect(d.datasetVersion).toBe(v);
    for (const id of all()) expect(await verify(PANS.d, id)).toMatchObject({ decision: 'decline', stage: 'local' });
  });

  it('two syncs of the same devices at once through the bridge: the second waits for the first and finds every device up to date (exit 0)', async () => {
    const v = await svc.restrict(testPans(1000, 4)); // long enough on the paced bus for a second process to start
    const first = precheckSync(['--all', '--config', cfg, '--json'], syncEnv());
    await bridge.next(new RegExp(`sync: (${ids.rs1}|${ids.rs2}) dataset \\d+ chunk \\d+/\\d+`));
    const second = await precheckSync(['--all', '--config', cfg, '--json'], syncEnv());
    expect(second.code, `${second.stdout}\n${second.stderr}`).toBe(0);
    for (const id of all()) expect(second.report!.results.find((x) => x.device === id)).toMatchObject({ result: 'up-to-date', from: v, to: v, bytesSent: 0 });
    expect(bridge.log()).toMatch(new RegExp(`sync: (${ids.rs1}|${ids.rs2}) waits for the sync of it already running in this process`));
    const a = await first;
    expect(a.code).toBe(0);
  });

  it('a tampered chunk or a forged manifest is refused before any device sees it; devices keep their data', async () => {
    const was = await devicesNow();
    await svc.restrict(testPans(5, 5));
    proxy.rewrite = (p, body) => (/\/chunks\/0$/.test(p) ? Buffer.from(body.map((b, i) => (i === 3 ? b ^ 0x80 : b))) : null);
    const t = await precheckSync(['--all', '--config', cfg, '--json'], syncEnv());
    expect(t.code).toBe(4);
    for (const id of all()) expect(t.report!.results.find((x) => x.device === id)).toMatchObject({ result: 'failed', code: 'CHUNK_HASH', bytesSent: 0 });

    const forger = generateSigningKeyPair();
    const now = Math.floor(Date.now() / 1000);
    const forged = buildSnapshot(emptyContent(), { version: 999, createdAt: now, expiresAt: now + 86400, chunkSize: 512 }, forger.privateKey);
    proxy.rewrite = (p) => (/\/manifest$|\/delta\?/.test(p) ? Buffer.from(forged.manifestBytes) : null);
    const f = await precheckSync(['--all', '--config', cfg], syncEnv());
    expect(f.code).toBe(5);
    expect(f.stderr).toMatch(/SIGNATURE_INVALID/);
    proxy.rewrite = null;
    expect((await devicesNow()).map((d) => d.datasetVersion).sort()).toEqual(was.map((d) => d.datasetVersion).sort());
    for (const id of all()) expect(await verify(PANS.a, id)).toMatchObject({ decision: 'decline', stage: 'local' });
  });

  it('network service down: sync fails clearly with exit 3; devices keep their data and keep deciding', async () => {
    await proxy.close();
    const r = await precheckSync(['--all', '--config', cfg], syncEnv());
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/network service .* unreachable/);
    for (const id of all()) expect(await verify(PANS.a, id)).toMatchObject({ decision: 'decline', stage: 'local' });
  });

  it('firmware with --local (no bridge running): a good image is confirmed, a failing one rolls back and is reported', async () => {
    await bridge.stop();
    // the service is reachable again, directly this time
    const direct = writeConfig(tmp.file('direct.json'), { ...JSON.parse(fs.readFileSync(cfg, 'utf8')), network: { serviceUrl: svc.s.url, apiKey: svc.bridgeKey, timeoutMs: 3000, retries: 1 } });
    await svc.firmware(2, 'ok', 3000);
    // --local scans the RS485 bus once; a device that misses that scan on a loaded machine is found
    // by the run's background rescan, which sync waits for (event-driven, up to 10 s)
    const good = await precheckSync(['--all', '--firmware', '--local', '--config', direct, '--json']);
    expect(good.code, good.stderr).toBe(0);
    for (const id of all()) {
      const fw = good.report!.results.find((x) => x.device === id && x.kind === 'firmware')!;
      expect(fw, `${id}: ${good.stdout}\n${good.stderr}`).toBeDefined();
      expect(fw.to).toBe(2);
      expect(['updated', 'up-to-date']).toContain(fw.result);
    }
    expect(good.report!.results.filter((x) => x.kind === 'firmware' && x.result === 'updated').length).toBeGreaterThan(0);

    await svc.firmware(3, 'fail', 3000);
    const bad = await precheckSync(['--all', '--firmware', '--local', '--config', direct]);
    expect(bad.code).toBe(4);
    expect(bad.stdout).toMatch(new RegExp(`${ids.hid}\\s+hid-cable\\s+firmware\\s+v2 → v3.*rolled-back`));
    expect(bad.stderr).toMatch(/rolled-back/);
    expect(bad.stderr).toMatch(/self_test_failed|rolled back/);
  });
});
