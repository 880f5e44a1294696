// A device still running older decision rules is visible at the bridge: two emulated devices (the
// real firmware as child processes behind the HID and BLE virtual cables), one standing for
// firmware from before rules versions (its INFO_RES has no rulesVersion), one current; the real
// bridge lists both and flags the old one in /v1/devices, /v1/health and `status`'s problems. The
// reference follows the rules version of the datasets the bridge's sync delivers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { onceEvent } from '../../testkit/wait.ts';
import { createDeviceRegistry } from '../../host-bridge/discovery/registry.ts';
import { PinStore } from '../../host-bridge/session/pin-store.ts';
import { healthProblems } from '../../host-bridge/cli.ts';
import { RULES_VERSION } from '../../rules/decide.ts';
import { killAllTracked } from '../../testkit/process.ts';
import { makeTempDir, type TempDir } from '../../testkit/tmp.ts';
import { startTestBridge, type TestBridge } from '../host-bridge/bridge-harness.ts';
import { bridgeConfig, provisionDevice, serviceKeys, startEmulator } from './fixtures.ts';

describe('integration: decision rules versions', () => {
  let tmp: TempDir;
  let bridge: TestBridge;
  let oldId: string;
  let newId: string;
  // The sync runner stands in for a sync that delivered a dataset built by a service with newer rules.
  let syncReport: unknown = { results: [] };
  const keys = serviceKeys();

  beforeAll(async () => {
    tmp = makeTempDir('precheck-it-rules-');
    ({ deviceId: oldId } = await provisionDevice(tmp.file('old'), keys));
    ({ deviceId: newId } = await provisionDevice(tmp.file('new'), keys));
    await startEmulator(['--data', tmp.file('old'), '--hid-socket', tmp.file('hid.sock'), '--rules-version', 'none']);
    await startEmulator(['--data', tmp.file('new'), '--ble-socket', tmp.file('ble.sock')]);
    const config = bridgeConfig(tmp.file('bridge'), { cables: { hidSocket: tmp.file('hid.sock'), bleSocket: tmp.file('ble.sock') } });
    // reconnect on: a first INFO answer that came late on a loaded machine is asked again
    const registry = createDeviceRegistry(config, PinStore.open(tmp.file('bridge')), { statusIntervalMs: 0, reconnectMs: 500 });
    bridge = await startTestBridge({ dataDir: tmp.file('bridge'), registry, syncRunner: async () => syncReport });
    while (![oldId, newId].every((id) => registry.get(id))) await onceEvent(registry, 'attached', 60_000);
  }, 180_000);

  afterAll(async () => {
    await bridge?.close();
    await killAllTracked();
    tmp?.cleanup();
  });

  const get = async (path: string) => {
    const res = await request(bridge.url + path);
    expect(res.statusCode).toBe(200);
    return (await res.body.json()) as any;
  };

  it('lists a device from before rules versions as not current, the current one as current', async () => {
    const { devices } = await get('/v1/devices');
    const byId = new Map(devices.map((d: any) => [d.id, d]));
    expect(byId.get(oldId)).toMatchObject({ link: 'hid-cable', rulesVersion: null, rulesCurrent: false });
    expect(byId.get(newId)).toMatchObject({ link: 'ble-cable', rulesVersion: RULES_VERSION, rulesCurrent: true });

    const health = await get('/v1/health');
    expect(health.rules).toEqual({ version: RULES_VERSION, source: 'bridge' });
    expect(health.devices.find((d: any) => d.id === oldId)).toMatchObject({ rulesVersion: null, rulesCurrent: false });
    const problems = healthProblems(health, null).filter((p) => p.includes('decision rules'));
    expect(problems).toEqual([`device ${oldId} runs decision rules from before rules versions, the service v${RULES_VERSION}: update its firmware`]);
  });

  it("after a sync delivers a dataset built for newer rules, the current firmware is behind too", async () => {
    syncReport = { results: [{ device: newId, kind: 'dataset', result: 'updated', from: 0, to: 1, createdAt: 1, rulesVersion: RULES_VERSION + 1 }] };
    const res = await request(`${bridge.url}/v1/sync`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(res.statusCode).toBe(200);
    await res.body.dump();
    const health = await get('/v1/health');
    expect(health.rules).toEqual({ version: RULES_VERSION + 1, source: 'dataset' });
    expect(health.devices.find((d: any) => d.id === newId)).toMatchObject({ rulesVersion: RULES_VERSION, rulesCurrent: false });
    expect(healthProblems(health, null)).toContain(`device ${newId} runs decision rules v${RULES_VERSION}, the service v${RULES_VERSION + 1}: update its firmware`);
  });
});
