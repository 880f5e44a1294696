// One service client for every call the bridge makes to the network service: GETs (sync,
// health) go through the same breaker, retries and dataset-version news as verify's POSTs, so a
// dead service found by a sync is a fast failure for the next checkout, and the other way round.
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NetworkClient, NetworkError } from '../../host-bridge/network/network-client.ts';
import { SyncFetcher } from '../../host-bridge/sync/fetcher.ts';
import { SyncError } from '../../host-bridge/sync/errors.ts';
import { DATASET_VERSION_HEADER } from '../../contracts/dataset-version.ts';
import { ScriptedService } from './scripted-service.ts';
import { makeTempDir } from './temp-dir.ts';

let svc: ScriptedService;
let client: NetworkClient;
const dir = makeTempDir('precheck-service-client-');

function makeClient(failureThreshold = 100): NetworkClient {
  client = new NetworkClient({ baseUrl: svc.url, apiKey: 'pk_test_key_123456', timeoutMs: 5000, retries: 2, backoffMs: 5, backoffMaxMs: 20, breaker: { failureThreshold, resetMs: 600_000 } });
  return client;
}

async function rejection<T extends Error>(p: Promise<unknown>, type: new (...a: never[]) => T): Promise<T> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(type);
    return e as T;
  }
  throw new Error(`expected a ${type.name}`);
}

beforeEach(async () => {
  svc = await new ScriptedService().start();
});
afterEach(async () => {
  await client?.close();
  await svc.close();
});
afterAll(() => dir.remove());

describe('NetworkClient.get', () => {
  it('retries 5xx with the key, then returns the answer', async () => {
    let n = 0;
    svc.handler = () => (++n < 3 ? { status: 503, body: { error: { code: 'UNAVAILABLE', message: 'busy' } } } : { status: 200, body: { version: 7 } });
    const r = await makeClient().get('/v1/datasets/latest');
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body.toString('utf8'))).toEqual({ version: 7 });
    expect(svc.requests.map((q) => [q.method, q.path, q.headers.authorization])).toEqual(Array(3).fill(['GET', '/v1/datasets/latest', 'Bearer pk_test_key_123456']));
    expect(client.stats).toMatchObject({ ok: 1, retries: 2 });
  });

  it('returns the statuses asked for, and refuses others once, naming the service error', async () => {
    svc.handler = (q) => (q.path === '/none' ? { status: 404, body: { error: { code: 'NOT_FOUND', message: 'no dataset' } } } : { status: 401, body: { error: { code: 'UNAUTHORIZED', message: 'unknown or revoked key' } } });
    expect((await makeClient().get('/none', { okStatuses: [200, 404] })).status).toBe(404);
    const e = await rejection(client.get('/v1/keys/dataset'), NetworkError);
    expect(e).toMatchObject({ code: 'NETWORK_REJECTED', status: 401, message: '/v1/keys/dataset: HTTP 401 UNAUTHORIZED: unknown or revoked key' });
    expect(svc.requests.filter((q) => q.path === '/v1/keys/dataset')).toHaveLength(1);
    expect(client.breakerState()).toBe('closed');
  });

  it('passes on the dataset version a GET answer names', async () => {
    svc.handler = () => ({ status: 200, body: {}, headers: { [DATASET_VERSION_HEADER]: '42' } });
    const seen: number[] = [];
    makeClient().onDatasetVersion((v) => seen.push(v));
    await client.get('/v1/health');
    expect(seen).toEqual([42]);
  });
});

describe('one breaker for sync and verify', () => {
  it('a sync that finds the service dead opens the breaker the next verify meets', async () => {
    svc.handler = () => ({ status: 503 });
    const fetcher = new SyncFetcher({ serviceUrl: svc.url, apiKey: 'pk_test_key_123456', dataDir: dir.path, retries: 2, client: makeClient(3) });
    const e = await rejection(fetcher.latestDataset(), SyncError);
    expect(e.code).toBe('SERVICE_UNAVAILABLE');
    expect(e.message).toBe('/v1/datasets/latest: HTTP 503');
    expect(client.breakerState()).toBe('open');
    const before = svc.requests.length;
    const v = await rejection(client.postJson('/v1/auth', {}), NetworkError);
    expect(v).toMatchObject({ code: 'NETWORK_UNAVAILABLE', kind: 'breaker' });
    expect(svc.requests.length).toBe(before); // the dead service was not asked again
    await fetcher.close();
    expect(client.breakerState()).toBe('open'); // the fetcher does not close a client it was given
  });

  it('verifies that opened the breaker make a sync fail fast, saying why', async () => {
    svc.handler = () => ({ status: 502 });
    const fetcher = new SyncFetcher({ serviceUrl: svc.url, apiKey: 'pk_test_key_123456', dataDir: dir.path, client: makeClient(2) });
    await rejection(client.postJson('/v1/auth', {}), NetworkError);
    expect(client.breakerState()).toBe('open');
    const before = svc.requests.length;
    const e = await rejection(fetcher.latestDataset(), SyncError);
    expect(e.code).toBe('SERVICE_UNAVAILABLE');
    expect(e.message).toMatch(new RegExp(`^network service ${svc.url.replace(/[.]/g, '\\.')} unreachable \\(circuit open: .*\\) after 0 attempt\\(s\\)$`));
    expect(svc.requests.length).toBe(before);
  });

  it('a fetcher without a client makes its own and closes it', async () => {
    svc.handler = () => ({ status: 200, body: { version: 3, createdAt: 1, expiresAt: 2, chunkCount: 1, bytes: 10 } });
    makeClient();
    const fetcher = new SyncFetcher({ serviceUrl: svc.url, apiKey: 'pk_test_key_123456', dataDir: dir.path });
    expect((await fetcher.latestDataset())?.version).toBe(3);
    await fetcher.close();
    await expect(fetcher.latestDataset()).rejects.toThrow(/network client closed|unreachable/);
  });
});
