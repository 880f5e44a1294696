// The bridge follows the service's new datasets without waiting for its schedule: the real
// network service puts Precheck-Dataset-Version on its answers to the bridge, the real bridge
// (network client, sync follower, sync runner) hears it and syncs the real device core behind an
// in-process link; with no traffic its poll of GET /v1/datasets/latest finds a publish; an
// operator's POST /v1/sync during a follow run waits for it instead of failing SYNC_BUSY.
// Everything is awaited on events (the follower's 'run'), with generous bounds.
import { describe, expect, it } from 'vitest';
import { createSyncRunner } from '../../host-bridge/sync/index.ts';
import { SingleDeviceRegistry } from '../../host-bridge/devices/single-device-registry.ts';
import { DATASET_VERSION_HEADER } from '../../contracts/dataset-version.ts';
import { startTestBridge, testConfig, type TestBridge } from '../host-bridge/bridge-harness.ts';
import { deferred, withTimeout } from '../../testkit/wait.ts';
import { PANS, cleanupsEachTest, serviceWithDevices, startService, type Service, type TestDevice } from './harness.ts';

const cleanups = cleanupsEachTest();

async function setup(pollSeconds: number): Promise<{ svc: Service; dev: TestDevice; bridge: TestBridge }> {
  const {
    svc,
    dir,
    devices: [dev],
  } = await serviceWithDevices(cleanups, { prefix: 'precheck-follow-' });
  await dev.client.refreshStatus();
  const raw = { network: { serviceUrl: svc.s.url, apiKey: svc.bridgeKey, retries: 0 }, sync: { pollSeconds } };
  const registry = new SingleDeviceRegistry(dev.client) // the pipeline's local stage asks it too;
  const runner = createSyncRunner({ config: testConfig(dir.dir, raw), registry, engine: { linkRetries: 1, linkRetryDelayMs: 1 } });
  cleanups.push(() => runner.close());
  const bridge = await startTestBridge({ dataDir: dir.dir, raw, registry, syncRunner: runner });
  cleanups.push(() => bridge.close());
  expect(bridge.follower).not.toBeNull();
  return { svc, dev, bridge };
}

/** Resolves on the first follow run after which the device holds at least `version`. */
function deviceReaches(bridge: TestBridge, dev: TestDevice, version: number, label: string): Promise<void> {
  return withTimeout(
    new Promise<void>((resolve) => {
      const on = (): void => {
        if (dev.client.summary().datasetVersion < version) return;
        bridge.follower!.off('run', on);
        resolve();
      };
      bridge.follower!.on('run', on);
      on();
    }),
    60_000,
    label,
  );
}

async function verify(bridgeUrl: string, orderId: string): Promise<{ stage: string }> {
  const res = await fetch(`${bridgeUrl}/v1/verify`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ card: { number: PANS.unknown, expMonth: 12, expYear: new Date().getFullYear() + 3 }, order: { id: orderId, amount: { value: 2500, currency: 'EUR' } } }),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as { stage: string };
}

describe('the bridge follows new datasets (sync.follow)', () => {
  it("a new version named in the service's answer header reaches the device with no sync call and no poll", async () => {
    const { svc, dev, bridge } = await setup(0);
    const v = await svc.publish();
    expect(dev.client.summary().datasetVersion).toBe(0);
    const reached = deviceReaches(bridge, dev, v, `device to reach dataset ${v} by the header`);
    // The device has no dataset: the verification goes to the network stage (POST /v1/auth),
    // whose answer names the newest version.
    expect((await verify(bridge.url, 'follow-1')).stage).toBe('network');
    await reached;
    expect(bridge.follower!.stats).toMatchObject({ known: v, polls: 0 });
    expect(bridge.follower!.stats.hints).toBeGreaterThan(0);
    // and the sync went through the bridge's runner: the learning-lag metric saw the device
    const metrics = await (await fetch(`${bridge.url}/metrics`)).text();
    expect(metrics).toContain(`precheck_bridge_outcome_lag_count{device="${dev.client.id}"}`);
    expect(metrics).toContain(`precheck_bridge_service_dataset_version ${v}`);
    expect(metrics).toContain(`precheck_bridge_sync_follow_total{device="${dev.client.id}",result="updated"} 1`);
  }, 180_000);

  it('with no traffic, the poll of GET /v1/datasets/latest finds the publish', async () => {
    const { svc, dev, bridge } = await setup(1);
    const v1 = await svc.publish();
    await deviceReaches(bridge, dev, v1, `device to reach dataset ${v1} by the poll`);
    const v2 = await svc.restrict([PANS.b]);
    await deviceReaches(bridge, dev, v2, `device to reach dataset ${v2} by the poll`);
    expect(bridge.follower!.stats.hints).toBe(0);
    expect(bridge.follower!.stats.polls).toBeGreaterThan(1);
  }, 180_000);

  it('POST /v1/sync during a follow run waits for it and reports the device up to date (no SYNC_BUSY)', async () => {
    const { svc, dev, bridge } = await setup(0);
    const v = await svc.publish();
    // hold the follow run at its second device request (status answered, the transfer held);
    // the version reaches the follower as an answer header would bring it
    const hold = dev.link.holdAt(2);
    bridge.follower!.hint(v);
    await withTimeout(hold.reached, 60_000, 'the follow run to reach the device');
    expect(bridge.follower!.isRunning()).toBe(true);
    // release the follow run only once the API's run is waiting for it
    const apiWaits = deferred<void>();
    const idle = bridge.follower!.idle.bind(bridge.follower!);
    bridge.follower!.idle = () => {
      apiWaits.resolve();
      return idle();
    };
    const api = fetch(`${bridge.url}/v1/sync`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }).then(async (r) => ({ status: r.status, json: (await r.json()) as { results: { device: string; result: string; to: number }[] } }));
    await withTimeout(apiWaits.promise, 60_000, 'POST /v1/sync to wait for the follow run');
    expect(bridge.follower!.isRunning()).toBe(true);
    hold.release();
    const r = await withTimeout(api, 60_000, 'POST /v1/sync');
    expect(r.status).toBe(200);
    expect(r.json.results).toEqual([expect.objectContaining({ device: dev.client.id, result: 'up-to-date', to: v })]);
  }, 180_000);

  it("the service's answers to the bridge carry the header, and the OpenAPI document names it", async () => {
    const svc = await startService();
    cleanups.push(() => svc.close());
    let n = 0;
    const outcome = () => {
      n++;
      return fetch(`${svc.s.url}/v1/outcomes`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${svc.bridgeKey}` },
        body: JSON.stringify({ idempotencyKey: `hdr-${n}`, bin: '411111', last4: '1111', orderId: `hdr-o-${n}`, amount: 2500, currency: 'EUR', gateway: 'alpha', status: 'success' }),
      });
    };
    const before = await outcome();
    expect(before.status).toBe(200);
    expect(before.headers.get(DATASET_VERSION_HEADER)).toBeNull(); // nothing published yet
    const v = await svc.publish();
    const after = await outcome();
    expect(after.headers.get(DATASET_VERSION_HEADER)).toBe(String(v));
    // not on public routes
    expect((await fetch(`${svc.s.url}/v1/health`)).headers.get(DATASET_VERSION_HEADER)).toBeNull();
    const doc = (await (await fetch(`${svc.s.url}/v1/openapi.json`)).json()) as { paths: Record<string, Record<string, { responses: Record<string, { headers?: Record<string, unknown> }> }>> };
    for (const p of ['/v1/auth', '/v1/outcomes']) expect(Object.keys(doc.paths[p].post.responses['200'].headers ?? {})).toContain(DATASET_VERSION_HEADER);
  }, 180_000);
});
