// POST /v1/sync answers with the report's outcome as its status (docs/operations.md): 200 when every
// device is up to date, 503 when the network service or a device is unavailable, 502 when a device
// refused — and in every case the body is the per-device report. Real bridge, the real sync runner,
// the real network service and a real device core behind an in-process link.
import { describe, expect, it } from 'vitest';
import { createSyncRunner } from '../../host-bridge/sync/index.ts';
import { testConfig, startTestBridge, type TestBridge } from '../host-bridge/bridge-harness.ts';
import { cleanupsEachTest, serviceWithDevices, type Service, type TestDevice } from './harness.ts';

const cleanups = cleanupsEachTest();

async function setup(): Promise<{ svc: Service; dev: TestDevice; bridge: TestBridge; sync: () => Promise<{ status: number; json: any }> }> {
  const {
    svc,
    dir,
    devices: [dev],
  } = await serviceWithDevices(cleanups, { prefix: 'precheck-sync-http-' });
  const raw = { network: { serviceUrl: svc.s.url, apiKey: svc.bridgeKey, retries: 0 } };
  const runner = createSyncRunner({ config: testConfig(dir.dir, raw), registry: { list: () => [dev.client as never] }, engine: { linkRetries: 1, linkRetryDelayMs: 1 } });
  cleanups.push(() => runner.close());
  const bridge = await startTestBridge({ dataDir: dir.dir, raw, syncRunner: runner });
  cleanups.push(() => bridge.close());
  const sync = async () => {
    const res = await fetch(`${bridge.url}/v1/sync`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    return { status: res.status, json: await res.json() };
  };
  return { svc, dev, bridge, sync };
}

describe('POST /v1/sync status', () => {
  it('200 with the report when the device is brought up to date', async () => {
    const { svc, dev, sync } = await setup();
    const v = await svc.publish();
    const r = await sync();
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ exitCode: 0, results: [{ device: dev.client.id, result: 'updated', to: v }] });
    expect(r.json.error).toBeUndefined();
  });

  it('a sync with nothing new says so, and how old the service\'s newest data is', async () => {
    const { svc, dev, sync } = await setup();
    const v = await svc.publish();
    expect((await sync()).json.dataset).toMatchObject({ latest: v, nothingNew: false });
    const again = await sync();
    expect(again.status).toBe(200);
    expect(again.json.results).toEqual([expect.objectContaining({ device: dev.client.id, result: 'up-to-date', to: v })]);
    expect(again.json.dataset).toMatchObject({ latest: v, nothingNew: true, ageSeconds: expect.any(Number) });
    expect(again.json.dataset.note).toMatch(new RegExp(`^nothing new: every device holds v${v}, the service's newest data is \\d+ s old`));
  });

  it('503 with the per-device report when the device link is down', async () => {
    const { svc, dev, sync } = await setup();
    await svc.publish();
    dev.link.cutAfterRequests(0);
    const r = await sync();
    expect(r.status).toBe(503);
    expect(r.json.exitCode).toBe(4);
    expect(r.json.results).toEqual([expect.objectContaining({ device: dev.client.id, result: 'failed' })]);
    expect(r.json.error.code).toBe(r.json.results[0].code);
    expect(r.json.error.message).toContain(dev.client.id);
  });

  it('503 with the report (exit code 3) when the network service is unreachable', async () => {
    const { svc, dev, sync } = await setup();
    await svc.s.close();
    const r = await sync();
    expect(r.status).toBe(503);
    expect(r.json).toMatchObject({ exitCode: 3, service: { reachable: false, code: 'SERVICE_UNAVAILABLE' }, error: { code: 'SERVICE_UNAVAILABLE' } });
    expect(r.json.results).toEqual([expect.objectContaining({ device: dev.client.id, result: 'failed', code: 'SERVICE_UNAVAILABLE' })]);
  });
});
