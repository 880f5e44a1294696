// Host <-> two devices on one RS485 bus (a socat pty pair: real serialport, real Modbus RTU
// framing both ends), with the emulator serving addresses 1 and 2 from one process, each its own
// device (data dirs DIR/rs485-1, DIR/rs485-2).
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDeviceRegistry, type DeviceRegistryImpl } from '../../host-bridge/discovery/registry.ts';
import { PinStore } from '../../host-bridge/session/pin-store.ts';
import { killAllTracked, run } from '../../testkit/process.ts';
import { openPtyPair, type PtyPair } from '../../testkit/pty-pair.ts';
import { makeTempDir, type TempDir } from '../../testkit/tmp.ts';
import { onceEvent } from '../../testkit/wait.ts';
import { CARDS, bridgeConfig, failureCode, order, provisionDevice, pushDataset, serviceKeys, startEmulator, testDataset, type Emulator } from './fixtures.ts';

describe('integration: RS485 bus with two devices', () => {
  let tmp: TempDir;
  let pty: PtyPair;
  let emu: Emulator;
  let registry: DeviceRegistryImpl;
  const keys = serviceKeys();

  beforeAll(async () => {
    tmp = makeTempDir('precheck-it-485-');
    await provisionDevice(tmp.file('dev'), keys);
    pty = await openPtyPair();
    emu = await startEmulator(['--data', tmp.file('dev'), '--rs485', `${pty.b}:115200`, '--address', '1,2', '--auto-confirm']);
    const pins = PinStore.open(tmp.file('bridge'));
    registry = createDeviceRegistry(
      bridgeConfig(tmp.file('bridge'), { rs485: { ports: [{ path: pty.a, baud: 115200, addresses: { from: 1, to: 3 } }] } }),
      pins,
      { statusIntervalMs: 0, reconnectMs: 0 },
    );
    await registry.start();
    // a device whose answer to the start-up scan came late (loaded machine) is attached by the
    // background rescan a few seconds later
    while (!emu.ids.every((id) => registry.get(id))) await onceEvent(registry, 'attached', 30_000);
  });

  afterAll(async () => {
    await registry?.stop();
    await killAllTracked();
    await pty?.close();
    tmp?.cleanup();
  });

  it('runs one device per address, each with its own data dir and id', () => {
    expect(emu.ids).toHaveLength(2);
    expect(new Set(emu.ids).size).toBe(2);
    for (const a of [1, 2]) {
      expect(fs.existsSync(path.join(tmp.file('dev'), `rs485-${a}`, 'identity', 'device-id'))).toBe(true);
      expect(emu.output()).toMatch(new RegExp(`listening rs485 ${pty.b}@115200 address ${a} id pc-`));
    }
  });

  it('the bus scan finds exactly addresses 1 and 2; both pair, take a dataset and verify', async () => {
    const found = registry.links().filter((l) => l.link === 'rs485');
    expect(found.map((l) => l.address).sort()).toEqual([`rs485:${pty.a}#1`, `rs485:${pty.a}#2`]);
    expect(registry.list().map((h) => h.id).sort()).toEqual([...emu.ids].sort());
    const release = testDataset(keys);
    for (const id of emu.ids) {
      const s = await registry.pair(id, async () => true);
      expect(s).toMatchObject({ id, paired: true, link: 'rs485' });
      const h = registry.get(id)!;
      expect(await pushDataset(h, release)).toBe(1);
      expect(await h.verify(order(CARDS.knownGood))).toMatchObject({ decision: 'approve' });
      expect(await h.verify(order(CARDS.restricted))).toMatchObject({ decision: 'decline' });
      expect(await h.verify(order(CARDS.softDecline))).toMatchObject({ decision: 'review' });
      expect(await h.verify(order(CARDS.unknown))).toMatchObject({ decision: 'escalate' });
    }
  });

  it('the two devices are separate: pairing one does not pair the other, sessions do not cross', async () => {
    const [a, b] = emu.ids.map((id) => registry.get(id)!);
    const ra = await a.verify(order(CARDS.knownGood));
    const rb = await b.verify(order(CARDS.knownGood));
    // same card key (same service), so the same token; the answers came from two devices
    expect(ra.token).toBe(rb.token);
    const sa = await a.secureStatus();
    const sb = await b.secureStatus();
    expect(sa.deviceId).not.toBe(sb.deviceId);
  });

  it('an off-the-shelf Modbus master (mbpoll) can read a device status register block', async () => {
    // Stop the bridge's bus so mbpoll can own the master end of the pty.
    await registry.stop();
    const r = await run('mbpoll', ['-m', 'rtu', '-b', '115200', '-P', 'none', '-a', '2', '-t', '3', '-r', '1', '-c', '10', '-1', '-o', '2', pty.a], { timeoutMs: 15_000 });
    expect(r.stdout).toMatch(/\[1\]:\s+1\b/); // protocol version
    expect(r.stdout).toMatch(/\[5\]:\s+1\b/); // dataset version low word
    expect(r.stdout).toMatch(/\[6\]:\s+0\b/); // dataset state fresh
  });

  it('a device killed mid-exchange: the bus request fails with TIMEOUT, bounded, not a hang', async () => {
    const pins = PinStore.open(tmp.file('bridge'));
    const reg2 = createDeviceRegistry(
      bridgeConfig(tmp.file('bridge'), { rs485: { ports: [{ path: pty.a, baud: 115200, addresses: { from: 1, to: 2 } }] } }),
      pins,
      { statusIntervalMs: 0, reconnectMs: 0, requestTimeoutMs: 500 },
    );
    await reg2.start();
    try {
      while (!reg2.get(emu.ids[0])) await onceEvent(reg2, 'attached', 30_000);
      const h = reg2.get(emu.ids[0])!;
      expect((await h.verify(order(CARDS.knownGood))).decision).toBe('approve');
      emu.child.kill('SIGSTOP');
      const pending = h.verify(order(CARDS.knownGood), { timeoutMs: 500 });
      emu.child.kill('SIGKILL');
      // On a bus nothing tells the master a slave is gone: silence is the only sign.
      expect(await failureCode(pending, 'verify to fail after the device died', 10_000)).toBe('TIMEOUT');
      expect(h.summary().healthy).toBe(false);
    } finally {
      await reg2.stop();
    }
  });
});
