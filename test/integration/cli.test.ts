// The user-facing commands with real processes: `precheck device provision|emulate|forget-host`,
// `precheck devices`, `precheck pair` (code compared on both sides: the device side answers on
// the emulator's stdin, the host side on the pair command's stdin).
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killAllTracked, run, spawnTracked, waitForOutput, exited } from '../../testkit/process.ts';
import { makeTempDir, type TempDir } from '../../testkit/tmp.ts';
import { withTimeout } from '../../testkit/wait.ts';
import { BIN, ROOT, provisionDevice, serviceKeys, startEmulator, type Emulator } from './fixtures.ts';


describe('integration: devices / pair / forget-host CLI', () => {
  let tmp: TempDir;
  let emu: Emulator;
  let deviceId: string;
  let cfg: string;
  const keys = serviceKeys();

  const precheck = (args: string[], input?: string) =>
    run(process.execPath, [BIN, ...args], { cwd: ROOT, timeoutMs: 30_000, input });

  beforeAll(async () => {
    tmp = makeTempDir('precheck-it-cli-');
    ({ deviceId } = await provisionDevice(tmp.file('dev'), keys));
    // no --auto-confirm: the device-side user answers on stdin
    emu = await startEmulator(['--data', tmp.file('dev'), '--hid-socket', tmp.file('hid.sock')]);
    cfg = tmp.file('bridge.json');
    fs.writeFileSync(cfg, JSON.stringify({ dataDir: tmp.file('bridge'), devices: { cables: { hidSocket: tmp.file('hid.sock') }, ble: { enabled: false } } }));
  });

  afterAll(async () => {
    await killAllTracked();
    tmp?.cleanup();
  });

  it('provision refuses to overwrite an identity and a bad key is a one-line usage error', async () => {
    const again = await run(process.execPath, [BIN, 'device', 'provision', '--data', tmp.file('dev'), '--server-key', '00'.repeat(32), '--card-key', '00'.repeat(32)], { cwd: ROOT });
    expect(again.code).not.toBe(0);
    expect(again.stderr.trim().split('\n')).toHaveLength(1);
    const bad = await run(process.execPath, [BIN, 'device', 'provision', '--data', tmp.file('x'), '--server-key', 'nothex'], { cwd: ROOT });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--server-key/);
  });

  it('`precheck devices` lists the unpaired device', async () => {
    const r = await precheck(['devices', '--config', cfg, '--local', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.devices).toHaveLength(1);
    expect(j.devices[0]).toMatchObject({ id: deviceId, link: 'hid-cable', paired: false, datasetState: 'none' });
    const text = await precheck(['devices', '--config', cfg, '--local']);
    expect(text.stdout).toMatch(new RegExp(`${deviceId}\\s+hid-cable\\s+hid-cable:${tmp.file('hid.sock').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\s+no`));
  });

  it('host says no: exit 5 (refused), nothing pinned, the device-side question is withdrawn', async () => {
    const withdrawn = waitForOutput(emu.child, /pairing withdrawn device/, { stream: 'stdout', timeoutMs: 20_000 });
    const res = await precheck(['pair', deviceId, '--config', cfg, '--local'], 'n\n');
    await withdrawn;
    expect(res.code).toBe(5);
    expect(res.stderr).toMatch(/PAIRING_REJECTED/);
    const pins = JSON.parse(fs.readFileSync(path.join(tmp.file('bridge'), 'pins.json'), 'utf8'));
    expect(Object.keys(pins.devices)).toHaveLength(0);
  });

  it('both say yes to the same code: paired, pinned (0600), listed as paired', async () => {
    const child = spawnTracked(process.execPath, [BIN, 'pair', deviceId, '--config', cfg, '--local'], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    const hostCode = waitForOutput(child, /Pairing code: (\d{6})/, { stream: 'stdout', timeoutMs: 20_000 });
    const deviceCode = waitForOutput(emu.child, /PAIRING CODE (\d{6})/, { stream: 'stdout', timeoutMs: 20_000 });
    const [h, d] = await Promise.all([hostCode, deviceCode]);
    expect(h[1]).toBe(d[1]);
    child.stdin!.write('y\n');
    emu.child.stdin!.write('y\n');
    let out = '';
    child.stdout!.on('data', (x: Buffer) => (out += x.toString()));
    const { code } = await withTimeout(exited(child), 20_000, 'pair to finish');
    expect(code).toBe(0);
    const pinsFile = path.join(tmp.file('bridge'), 'pins.json');
    expect(fs.statSync(pinsFile).mode & 0o777).toBe(0o600);
    const pins = JSON.parse(fs.readFileSync(pinsFile, 'utf8'));
    expect(Object.keys(pins.devices)).toEqual([deviceId]);
    const list = JSON.parse((await precheck(['devices', '--config', cfg, '--local', '--json'])).stdout);
    expect(list.devices[0]).toMatchObject({ id: deviceId, paired: true, healthy: true });
  });

  it('`precheck device forget-host` removes the host on the device: its next session is NOT_PAIRED', async () => {
    const pins = JSON.parse(fs.readFileSync(path.join(tmp.file('bridge'), 'pins.json'), 'utf8'));
    const r = await run(process.execPath, [BIN, 'device', 'forget-host', '--data', tmp.file('dev'), pins.host.publicKey], { cwd: ROOT });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`forgot host ${pins.host.publicKey.slice(0, 16)} on ${deviceId}`);
    const { PinStore } = await import('../../host-bridge/session/pin-store.ts');
    const { HidCableTransport } = await import('../../host-bridge/transports/hid-cable-transport.ts');
    const { SecureDeviceClient } = await import('../../host-bridge/session/secure-client.ts');
    const c = new SecureDeviceClient({ transport: await HidCableTransport.open({ socketPath: tmp.file('hid.sock') }), pinStore: PinStore.open(tmp.file('bridge')) });
    const err = await c.status().then(() => c.secureStatus()).then(
      () => null,
      (e: { code?: string }) => e,
    );
    expect(err?.code).toBe('NOT_PAIRED');
    await c.close();
  });

  it('`precheck pair` of an unknown device: exit 3 with one line', async () => {
    const r = await precheck(['pair', 'pc-000000000000', '--config', cfg, '--local', '--yes']);
    expect(r.code).toBe(3);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('the emulator stops cleanly on SIGTERM', async () => {
    emu.child.kill('SIGTERM');
    const { code } = await withTimeout(exited(emu.child), 10_000, 'emulator exit');
    expect(code).toBe(0);
    expect(emu.output()).toContain('precheck-device: stopped');
  });
});
