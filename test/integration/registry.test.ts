// The registry's source handling: hardware this machine lacks is a reported state (never a
// crash), a cable whose device is not running yet is "absent" and picked up when it appears, and
// one device reachable on two links keeps working when one of them drops.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDeviceRegistry, type DeviceRegistryImpl } from '../../host-bridge/discovery/registry.ts';
import { PinStore } from '../../host-bridge/session/pin-store.ts';
import type { SecureDeviceClient } from '../../host-bridge/session/secure-client.ts';
import { killAllTracked } from '../../testkit/process.ts';
import { makeTempDir, type TempDir } from '../../testkit/tmp.ts';
import { onceEvent } from '../../testkit/wait.ts';
import { CARDS, bridgeConfig, order, provisionDevice, pushDataset, serviceKeys, startEmulator } from './fixtures.ts';
import { testDataset } from './fixtures.ts';

describe('integration: device registry sources', () => {
  let tmp: TempDir;
  const registries: DeviceRegistryImpl[] = [];
  const keys = serviceKeys();

  beforeAll(() => {
    tmp = makeTempDir('precheck-it-reg-');
  });
  afterAll(async () => {
    for (const r of registries) await r.stop();
    await killAllTracked();
    tmp?.cleanup();
  });

  it('USB and BLE without the hardware or libraries: source states, start() still resolves', async () => {
    const r = createDeviceRegistry(bridgeConfig(tmp.file('b0'), { usb: { vid: '0x1209', pid: '0x7063' }, ble: { enabled: true } }), PinStore.open(tmp.file('b0')), {
      statusIntervalMs: 0,
      reconnectMs: 0,
    });
    registries.push(r);
    await r.start();
    const sources = r.sources();
    expect(sources.map((s) => s.kind).sort()).toEqual(['ble', 'usb']);
    for (const s of sources) {
      expect(['connected', 'absent', 'unavailable']).toContain(s.state);
      if (s.state === 'unavailable') expect(s.code).toMatch(/_UNAVAILABLE$/);
    }
    expect(r.pick()).toBeUndefined();
  });

  it('a cable that is not there yet is "absent", then attached when the device starts; one device on two cables is one handle', async () => {
    const { deviceId } = await provisionDevice(tmp.file('dev'), keys);
    const hid = tmp.file('h.sock');
    const ble = tmp.file('b.sock');
    const r = createDeviceRegistry(bridgeConfig(tmp.file('b1'), { cables: { hidSocket: hid, bleSocket: ble } }), PinStore.open(tmp.file('b1')), {
      statusIntervalMs: 0,
      reconnectMs: 100,
    });
    registries.push(r);
    await r.start();
    expect(r.sources().map((s) => s.state)).toEqual(['absent', 'absent']);
    expect(r.list()).toHaveLength(0);

    const attached = onceEvent<[SecureDeviceClient]>(r, 'attached', 20_000);
    const emu = await startEmulator(['--data', tmp.file('dev'), '--hid-socket', hid, '--ble-socket', ble, '--auto-confirm']);
    const [h] = await attached;
    expect(h.id).toBe(deviceId);
    await r.pair(deviceId, async () => true);
    await pushDataset(h, testDataset(keys));
    // wait until both cables found the device
    while (r.links().length < 2) await onceEvent(r, 'attached', 20_000);
    expect(r.links().map((l) => l.link).sort()).toEqual(['ble-cable', 'hid-cable']);
    expect(r.list()).toHaveLength(1);
    expect(await h.verify(order(CARDS.knownGood))).toMatchObject({ decision: 'approve' });
    await emu.stop();
  });

  it('one device on two links: when the active link drops, the handle continues on the other', async () => {
    const { startEmulator: startInProcess } = await import('../../device/emulator/emulate.ts');
    await provisionDevice(tmp.file('dev2'), keys);
    const hid = tmp.file('h2.sock');
    const ble = tmp.file('b2.sock');
    const emu = await startInProcess({ dataDir: tmp.file('dev2'), hidSocket: hid, bleSocket: ble, autoConfirm: true, out: () => undefined });
    try {
      const r = createDeviceRegistry(bridgeConfig(tmp.file('b2'), { cables: { hidSocket: hid, bleSocket: ble } }), PinStore.open(tmp.file('b2')), {
        statusIntervalMs: 0,
        reconnectMs: 0,
      });
      registries.push(r);
      await r.start();
      const id = emu.devices[0].deviceId;
      expect(r.links().filter((l) => l.id === id)).toHaveLength(2);
      await r.pair(id, async () => true);
      const h = r.get(id)!;
      expect((await h.verify(order(CARDS.unknown))).decision).toBe('escalate');
      const active = r.links().find((l) => l.active)!;
      const other = r.links().find((l) => !l.active)!;
      const driver = emu.drivers.find((d) => d.link === active.link)!;
      const switched = onceEvent(r, 'link-changed', 10_000);
      await driver.close();
      expect(await switched).toEqual([id, other.address]);
      expect(r.links()).toEqual([{ id, link: other.link, address: other.address, active: true }]);
      expect((await h.verify(order(CARDS.unknown))).decision).toBe('escalate');
      expect(r.pick()?.id).toBe(id);
    } finally {
      await emu.close();
    }
  });
});
