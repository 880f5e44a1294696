// A configured RS485 address that is silent at the registry's start-up scan (device powered on
// later) is found by the background rescan, without restarting the registry: real socat pty pair,
// real serialport both ends, the emulator as its own process started after the registry.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDeviceRegistry, type DeviceRegistryImpl } from '../../host-bridge/discovery/registry.ts';
import { PinStore } from '../../host-bridge/session/pin-store.ts';
import type { SecureDeviceClient } from '../../host-bridge/session/secure-client.ts';
import { killAllTracked } from '../../testkit/process.ts';
import { openPtyPair, type PtyPair } from '../../testkit/pty-pair.ts';
import { makeTempDir, type TempDir } from '../../testkit/tmp.ts';
import { onceEvent } from '../../testkit/wait.ts';
import { CARDS, bridgeConfig, order, provisionDevice, pushDataset, serviceKeys, startEmulator, testDataset } from './fixtures.ts';

describe('integration: RS485 rescan finds a device powered on after the bridge', () => {
  let tmp: TempDir;
  let pty: PtyPair;
  const registries: DeviceRegistryImpl[] = [];
  const keys = serviceKeys();

  beforeAll(async () => {
    tmp = makeTempDir('precheck-it-rescan-');
    pty = await openPtyPair();
  });
  afterAll(async () => {
    for (const r of registries) await r.stop();
    await killAllTracked();
    await pty?.close();
    tmp?.cleanup();
  });

  it('registry first, emulator later: the device is attached by the rescan and works', async () => {
    const { deviceId } = await provisionDevice(tmp.file('dev'), keys);
    const registry = createDeviceRegistry(
      bridgeConfig(tmp.file('bridge'), { rs485: { ports: [{ path: pty.a, baud: 115200, addresses: { from: 1, to: 2 } }] } }),
      PinStore.open(tmp.file('bridge')),
      { statusIntervalMs: 0, reconnectMs: 0, rs485Rescan: { minMs: 300, maxMs: 1200, gapMs: 20 } },
    );
    registries.push(registry);
    await registry.start();
    // nobody on the bus yet: nothing attached, both addresses are being looked for
    expect(registry.list()).toHaveLength(0);
    expect(registry.sources()).toMatchObject([{ kind: 'rs485', state: 'connected', devices: 0 }]);
    expect(registry.rescanning()).toEqual([1, 2]);

    const attached = onceEvent<[SecureDeviceClient]>(registry, 'attached', 30_000);
    await startEmulator(['--data', tmp.file('dev'), '--rs485', `${pty.b}:115200`, '--address', '2', '--auto-confirm']);
    const [h] = await attached;
    expect(h.id).toBe(deviceId);
    expect(registry.links()).toEqual([{ id: deviceId, link: 'rs485', address: `rs485:${pty.a}#2`, active: true }]);
    // address 2 is no longer probed; 1 (nobody there) still is
    expect(registry.rescanning()).toEqual([1]);

    // a usable device: pair, take a dataset, verify locally
    await registry.pair(deviceId, async () => true);
    await pushDataset(h, testDataset(keys));
    expect(await h.verify(order(CARDS.restricted))).toMatchObject({ decision: 'decline', reason: 'restricted' });

    await registry.stop();
    expect(registry.rescanning()).toEqual([]);
  });
});
