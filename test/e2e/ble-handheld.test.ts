// User story: a BLE-paired handheld. The emulated verifier serves the BLE virtual cable (the exact
// GATT writes/notifications a radio would carry); the bridge pairs with it once, both sides showing
// the same six-digit code (the device side confirms on its own "screen": the emulator's stdin);
// then the shop verifies through the bridge while the link drops (the handheld is killed) and
// comes back (restarted): every request is answered exactly once.
import crypto from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exited, killAllTracked, killAndWait, run, spawnTracked, waitForOutput } from '../../testkit/process.ts';
import { makeTempDir, type TempDir } from '../../testkit/tmp.ts';
import { getJson, getText, postJson, until, verifyBody } from './helpers/http.ts';
import { writeFileSync } from 'node:fs';

const BIN = path.resolve('bin/precheck.js');
const PAN = '4012888888881881'; // Visa public test number

let tmp: TempDir;
let deviceDir: string;
let socket: string;
let deviceId: string;
let emulator: ChildProcess;
let bridge: ChildProcess;
let bridgeUrl: string;

function startEmulator(): ChildProcess {
  // stdin is the device's "screen and button": it asks to confirm the pairing code there.
  return spawnTracked(process.execPath, [BIN, 'device', 'emulate', '--data', deviceDir, '--ble-socket', socket], { stdio: ['pipe', 'pipe', 'pipe'] });
}

beforeAll(async () => {
  tmp = makeTempDir('pc-ble-');
  deviceDir = tmp.file('device');
  socket = tmp.file('ble.sock');
  const serverKey = crypto.randomBytes(32).toString('hex');
  // no service here: any card key will do, but one must be given (provision never invents it)
  const prov = await run(process.execPath, [BIN, 'device', 'provision', '--data', deviceDir, '--server-key', serverKey, '--card-key', crypto.randomBytes(32).toString('hex')], { timeoutMs: 30_000 });
  expect(prov.code).toBe(0);
  deviceId = /provisioned (pc-[0-9a-f]{12})/.exec(prov.stdout)![1];

  emulator = startEmulator();
  await waitForOutput(emulator, /precheck-device: ready/, { stream: 'stdout', timeoutMs: 30_000 });

  // A bridge with only the BLE cable and no network service: escalations take the fallback policy.
  const config = tmp.file('bridge.json');
  writeFileSync(config, JSON.stringify({ listen: { host: '127.0.0.1', port: 0 }, dataDir: tmp.file('bridge'), devices: { cables: { bleSocket: socket } }, fallback: 'review', log: { level: 'warn' } }));
  bridge = spawnTracked(process.execPath, [BIN, 'bridge', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  bridge.stdout!.resume();
  bridgeUrl = (await waitForOutput(bridge, /precheck bridge listening on (http:\/\/\S+)/, { stream: 'stderr', timeoutMs: 30_000 }))[1];
  bridge.stderr!.resume();
}, 120_000);

afterAll(async () => {
  await killAllTracked();
  tmp?.cleanup();
});

describe('BLE-paired handheld', () => {
  it('pairs once: the device and the host show the same six-digit code, and the device confirms it', async () => {
    const listed = await until(async () => {
      const d = (await getJson(`${bridgeUrl}/v1/devices`)).json.devices.find((x: { id: string }) => x.id === deviceId);
      return d;
    }, 20_000, 'the bridge to find the handheld on the BLE cable');
    expect(listed).toMatchObject({ id: deviceId, link: 'ble-cable', paired: false });

    // Unpaired: the device refuses to verify (the bridge falls back without it).
    const before = (await postJson(`${bridgeUrl}/v1/verify`, verifyBody(PAN, 'ble-unpaired'))).json;
    expect(before.stage).toBe('fallback');
    expect(before.device).toBeNull();

    const shown = waitForOutput(emulator, new RegExp(`PAIRING CODE (\\d{6}) device ${deviceId}`), { stream: 'stdout', timeoutMs: 30_000 });
    const asked = waitForOutput(emulator, /confirm pairing code (\d{6}) on device/, { stream: 'stdout', timeoutMs: 30_000 });
    const start = await postJson(`${bridgeUrl}/v1/devices/${deviceId}/pair`);
    expect(start.status).toBe(202);
    expect(start.json.status).toBe('confirm');
    expect(start.json.code).toMatch(/^\d{6}$/);
    const deviceCode = (await shown)[1];
    expect(deviceCode).toBe(start.json.code);
    expect((await asked)[1]).toBe(start.json.code);

    const accepted = waitForOutput(emulator, new RegExp(`pairing accepted device ${deviceId}`), { stream: 'stdout', timeoutMs: 30_000 });
    emulator.stdin!.write('y\n'); // the person at the handheld accepts
    const done = await postJson(`${bridgeUrl}/v1/devices/${deviceId}/pair`, { confirm: true, code: start.json.code });
    expect(done.status).toBe(200);
    expect(done.json.status).toBe('paired');
    await accepted;

    const r = (await postJson(`${bridgeUrl}/v1/verify`, verifyBody(PAN, 'ble-1'))).json;
    expect(r.device?.id).toBe(deviceId);
    expect(r.card).toMatchObject({ bin: '401288', last4: '1881' });
  });

  it('answers every request exactly once while the BLE link drops and comes back', async () => {
    const answers = new Map<string, number>();
    const statuses: number[] = [];
    let sent = 0;
    let stop = false;
    let answeredByDeviceAfterRestart = 0;
    let answeredWithoutDevice = 0;
    let restarted = false;
    let onAnswer: () => void = () => undefined;

    const lane = async (lane: number): Promise<void> => {
      for (let i = 0; !stop; i++) {
        const orderId = `ble-l${lane}-${i}`;
        sent++;
        const r = await postJson(`${bridgeUrl}/v1/verify`, verifyBody(PAN, orderId));
        statuses.push(r.status);
        const id = r.json?.orderId ?? `(missing for ${orderId})`;
        expect(id).toBe(orderId);
        answers.set(id, (answers.get(id) ?? 0) + 1);
        if (restarted && r.json?.device?.id === deviceId) answeredByDeviceAfterRestart++;
        if (!r.json?.device) answeredWithoutDevice++;
        onAnswer();
      }
    };
    const answered = (n: number, ms: number, what: string) =>
      until(async () => [...answers.values()].reduce((a, b) => a + b, 0) >= n, ms, what, 20);

    const lanes = [lane(0), lane(1), lane(2)];
    try {
      await answered(6, 20_000, 'a few answers before the drop');
      // The handheld goes away mid-run: killed, no goodbye on the link.
      const killedAt = sent;
      emulator.kill('SIGKILL');
      await exited(emulator);
      await answered(killedAt + 3, 30_000, 'answers while the handheld is gone (fallback)');

      emulator = startEmulator();
      await waitForOutput(emulator, /precheck-device: ready/, { stream: 'stdout', timeoutMs: 30_000 });
      restarted = true;
      // The bridge reconnects the cable and opens a new session by itself.
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('no answer from the handheld after it came back within 30 s')), 30_000);
        onAnswer = () => {
          if (answeredByDeviceAfterRestart >= 3) {
            clearTimeout(t);
            resolve();
          }
        };
      });
    } finally {
      stop = true;
      await Promise.all(lanes);
    }

    expect(statuses.every((s) => s === 200)).toBe(true);
    expect(answeredWithoutDevice).toBeGreaterThan(0); // the drop really happened mid-run
    expect(answers.size).toBe(sent);
    for (const [id, n] of answers) expect(n, id).toBe(1);
    // The bridge counted one verification per request: nothing answered twice inside it either.
    const metrics = await getText(`${bridgeUrl}/metrics`);
    const counted = [...metrics.matchAll(/^precheck_bridge_verifications_total\{[^}]*\} (\d+)/gm)].reduce((a, m) => a + Number(m[1]), 0);
    expect(counted).toBe(sent + 2); // + the two verifications of the pairing test
  });

  it('stops cleanly', async () => {
    await killAndWait(bridge);
    emulator.stdin!.end();
    await killAndWait(emulator);
    expect(emulator.exitCode === 0 || emulator.signalCode === 'SIGTERM').toBe(true);
  });
});
