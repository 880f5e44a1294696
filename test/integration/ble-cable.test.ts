// Host <-> device over the BLE virtual cable (GATT writes/notifications carried on a unix
// socket), including the link dropping and coming back: the registry notices, reconnects, and
// the client opens a new session on the device that restarted (keeping its pairing on disk).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDeviceRegistry, type DeviceRegistryImpl } from '../../host-bridge/discovery/registry.ts';
import { PinStore } from '../../host-bridge/session/pin-store.ts';
import type { SecureDeviceClient } from '../../host-bridge/session/secure-client.ts';
import { killAllTracked } from '../../testkit/process.ts';
import { makeTempDir, type TempDir } from '../../testkit/tmp.ts';
import { onceEvent } from '../../testkit/wait.ts';
import { CARDS, bridgeConfig, failureCode, order, provisionDevice, pushDataset, serviceKeys, startEmulator, testDataset, type Emulator } from './fixtures.ts';

describe('integration: BLE cable', () => {
  let tmp: TempDir;
  let emu: Emulator;
  let registry: DeviceRegistryImpl;
  let deviceId: string;
  const keys = serviceKeys();
  const args = () => ['--data', tmp.file('dev'), '--ble-socket', tmp.file('ble.sock'), '--ble-frame', '64', '--auto-confirm'];

  beforeAll(async () => {
    tmp = makeTempDir('precheck-it-ble-');
    ({ deviceId } = await provisionDevice(tmp.file('dev'), keys));
    emu = await startEmulator(args());
    expect(emu.output()).toContain(`listening ble-cable ${tmp.file('ble.sock')} frame 64 id ${deviceId}`);
    registry = createDeviceRegistry(bridgeConfig(tmp.file('bridge'), { cables: { bleSocket: tmp.file('ble.sock') } }), PinStore.open(tmp.file('bridge')), {
      statusIntervalMs: 0,
      reconnectMs: 100,
    });
    await registry.start();
  });

  afterAll(async () => {
    await registry?.stop();
    await killAllTracked();
    tmp?.cleanup();
  });

  it('pairs, syncs and verifies every decision path over BLE fragments', async () => {
    expect(registry.get(deviceId)?.summary()).toMatchObject({ link: 'ble-cable', paired: false });
    await registry.pair(deviceId, async () => true);
    const h = registry.get(deviceId)!;
    expect(await pushDataset(h, testDataset(keys))).toBe(1);
    expect(await h.verify(order(CARDS.knownGood))).toMatchObject({ decision: 'approve' });
    expect(await h.verify(order(CARDS.restricted))).toMatchObject({ decision: 'decline' });
    expect(await h.verify(order(CARDS.softDecline))).toMatchObject({ decision: 'review' });
    expect(await h.verify(order(CARDS.unknown))).toMatchObject({ decision: 'escalate' });
  });

  it('the cable drops (device restarts): requests fail with DISCONNECTED, then the link comes back and verify works again', async () => {
    const h = registry.get(deviceId)!;
    const detached = onceEvent(registry, 'detached', 10_000);
    await emu.stop(); // SIGTERM: the emulator closes its sockets cleanly
    expect(await detached).toEqual([deviceId]);
    expect(['DISCONNECTED', 'TIMEOUT']).toContain(await failureCode(h.verify(order(CARDS.knownGood))));
    expect(registry.pick()).toBeUndefined();

    const attached = onceEvent<[SecureDeviceClient]>(registry, 'attached', 20_000);
    emu = await startEmulator(args());
    const [again] = await attached;
    expect(again).toBe(h); // same handle, new link
    expect(await h.verify(order(CARDS.knownGood))).toMatchObject({ decision: 'approve', datasetVersion: 1 });
    expect(registry.pick()?.id).toBe(deviceId);
    // the device kept its pairing and dataset across the restart
    expect(h.summary()).toMatchObject({ paired: true, healthy: true, datasetVersion: 1 });
  });
});
