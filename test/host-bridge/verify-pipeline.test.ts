// Every path of the verification pipeline, with its stage: a scripted device double, a real
// SQLite outbox in a temp dir and a real HTTP server on loopback as the network service.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import { Writable } from 'node:stream';
import { VerifyPipeline, PipelineError, type VerifyInput } from '../../host-bridge/pipeline/verify-pipeline.ts';
import { FormatCheckError } from '../../host-bridge/pipeline/format-checks.ts';
import { Outbox } from '../../host-bridge/outbox/outbox-db.ts';
import { NetworkClient } from '../../host-bridge/network/network-client.ts';
import { parseFallback, type FallbackPolicy } from '../../host-bridge/config.ts';
import { ProtocolError } from '../../protocol/errors.ts';
import { BridgeMetrics } from '../../host-bridge/metrics/bridge-metrics.ts';
import { FakeRegistry, ScriptedDevice, testToken } from './device-double.ts';
import { ScriptedService } from './scripted-service.ts';
import { makeTempDir } from './temp-dir.ts';

const PAN = '4111111111111111';
let dir: ReturnType<typeof makeTempDir>;
let svc: ScriptedService;
let outbox: Outbox;
let network: NetworkClient | null;
let logText: string;

function input(over: Partial<VerifyInput> = {}, amount = 1999): VerifyInput {
  return {
    card: { number: PAN, expMonth: 12, expYear: 2030, cvc: '123' },
    order: { id: `o-${Math.random().toString(36).slice(2)}`, amount: { value: amount, currency: 'USD' }, country: 'DE' },
    customer: { accountId: 'acct-1', ip: '203.0.113.7' },
    ...over,
  };
}

function makePipeline(registry: FakeRegistry | null, fallback: FallbackPolicy = { kind: 'review' }, net: NetworkClient | null = network) {
  const logger = pino(
    { level: 'debug' },
    new Writable({
      write(chunk, _enc, cb) {
        logText += chunk.toString();
        cb();
      },
    }),
  );
  const metrics = new BridgeMetrics({ registry, outbox, network: net });
  const pipeline = new VerifyPipeline({ registry, network: net, outbox, fallback, merchantCountry: 'US', lang: 'en', deviceTimeoutMs: 200, logger, metrics });
  return { pipeline, metrics };
}

/** One verify on a lone device: the network decides and was told the local escalate's `reason`. */
async function expectEscalatedToNetwork(dev: ScriptedDevice, reason: string) {
  const { pipeline } = makePipeline(new FakeRegistry([dev]));
  const r = await pipeline.verify(input());
  expect(r.stage).toBe('network');
  expect(svc.requests[0].body).toMatchObject({ local: { decision: 'escalate', reason } });
}

beforeEach(async () => {
  dir = makeTempDir();
  svc = await new ScriptedService().start();
  outbox = Outbox.open(dir.path);
  network = new NetworkClient({ baseUrl: svc.url, timeoutMs: 2000, retries: 1, backoffMs: 5, backoffMaxMs: 10, breaker: { failureThreshold: 50, resetMs: 60_000 } });
  logText = '';
});
afterEach(async () => {
  await network?.close();
  outbox.close();
  await svc.close();
  dir.remove();
});

describe('verify pipeline', () => {
  for (const decision of ['approve', 'decline', 'review'] as const) {
    it(`local ${decision} is final (stage local), no network call`, async () => {
      const dev = new ScriptedDevice('d1', () => ({ decision, reason: `local_${decision}`, gateway: 'gw-local', brand: 'visa' }));
      const { pipeline, metrics } = makePipeline(new FakeRegistry([dev]));
      const inp = input();
      const r = await pipeline.verify(inp);
      expect(r).toMatchObject({ decision, stage: 'local', reason: `local_${decision}`, gateway: 'gw-local', device: { id: 'd1', datasetVersion: 42 }, card: { bin: '411111', last4: '1111', brand: 'visa' } });
      expect(svc.requests).toHaveLength(0);
      // the device got the PAN and the order, never the CVC
      expect(dev.calls[0]).toEqual({ pan: PAN, expMonth: 12, expYear: 2030, amount: 1999, currency: 'USD', country: 'DE', lang: 'en', orderId: inp.order.id });
      expect(JSON.stringify(dev.calls[0])).not.toContain('cvc');
      const rec = outbox.latestVerification(inp.order.id)!;
      expect(rec).toMatchObject({ token: testToken(PAN), bin: '411111', last4: '1111', decision, stage: 'local', amount: 1999, currency: 'USD' });
      expect(metrics.verifications.get({ decision, stage: 'local' })).toBe(1);
    });
  }

  it('escalate → network authentication with token, BIN, last four and the local conclusion; never the PAN', async () => {
    const dev = new ScriptedDevice('d1', () => ({ decision: 'escalate', reason: 'unknown_card' }));
    svc.handler = () => ({ status: 200, body: { decision: 'decline', reason: 'restricted', prompt: { code: 'use_other_card', message: 'Please use another card', lang: 'en' }, gateway: null } });
    const { pipeline } = makePipeline(new FakeRegistry([dev]));
    const inp = input();
    const r = await pipeline.verify(inp);
    expect(r).toMatchObject({ decision: 'decline', stage: 'network', reason: 'restricted', prompt: { code: 'use_other_card' }, device: { id: 'd1' } });
    expect(r.timings.networkMs).toBeGreaterThan(0);
    const sent = svc.requests[0];
    expect(sent.path).toBe('/v1/auth');
    expect(sent.body).toMatchObject({
      token: testToken(PAN),
      bin: '411111',
      last4: '1111',
      expMonth: 12,
      expYear: 2030,
      order: { id: inp.order.id, amount: { value: 1999, currency: 'USD' }, country: 'DE', crossBorder: true },
      customer: { accountId: 'acct-1', ip: '203.0.113.7' },
      local: { decision: 'escalate', reason: 'unknown_card', datasetVersion: 42 },
    });
    expect(sent.raw).not.toContain(PAN);
    expect(sent.raw).not.toContain('123"');
    expect(outbox.latestVerification(inp.order.id)).toMatchObject({ stage: 'network', decision: 'decline', token: testToken(PAN) });
  });

  it('no device → network, without a token (the bridge has no card key) and says why', async () => {
    const { pipeline } = makePipeline(null);
    const r = await pipeline.verify(input());
    expect(r).toMatchObject({ decision: 'approve', stage: 'network', gateway: 'gw-a', device: null });
    expect(svc.requests[0].body).not.toHaveProperty('token');
    expect(svc.requests[0].body).not.toHaveProperty('local');
  });

  it('no healthy paired device → network', async () => {
    const dev = new ScriptedDevice('d1', () => ({ decision: 'approve' }), { healthy: false });
    const { pipeline } = makePipeline(new FakeRegistry([dev]));
    const r = await pipeline.verify(input());
    expect(r.stage).toBe('network');
    expect(dev.calls).toHaveLength(0);
  });

  for (const code of ['TIMEOUT', 'DISCONNECTED', 'BUSY', 'NOT_PAIRED'] as const) {
    it(`device error ${code} → network, counted as a link error`, async () => {
      const dev = new ScriptedDevice('d1', () => new ProtocolError(code, `device says ${code}`));
      const { pipeline, metrics } = makePipeline(new FakeRegistry([dev]));
      const r = await pipeline.verify(input());
      expect(r).toMatchObject({ stage: 'network', decision: 'approve', device: { id: 'd1', datasetVersion: 42 } });
      expect(svc.requests[0].body).not.toHaveProperty('token');
      expect(svc.requests[0].body).toMatchObject({ local: { decision: 'escalate', reason: `device_error:${code}` } });
      expect(metrics.deviceErrors.get({ device: 'd1', code })).toBe(1);
    });
  }

  it('a hanging device is cut off by the bridge backstop and the network decides', async () => {
    await expectEscalatedToNetwork(new ScriptedDevice('d1', () => new Promise(() => undefined)), 'device_error:TIMEOUT');
  });

  it('a malformed device answer is a device error, not a decision', async () => {
    const dev = new ScriptedDevice('d1', () => ({ decision: 'approve', token: 'nothex' }));
    const { pipeline } = makePipeline(new FakeRegistry([dev]));
    expect((await pipeline.verify(input())).stage).toBe('network');
  });

  it('a local approve on a stale dataset is escalated', async () => {
    const dev = new ScriptedDevice('d1', () => ({ decision: 'approve', reason: 'known_good' }), { datasetState: 'stale' });
    await expectEscalatedToNetwork(dev, 'dataset_not_fresh');
  });

  it('uses the requested verifier; unknown id → DEVICE_NOT_FOUND', async () => {
    const a = new ScriptedDevice('a', () => ({ decision: 'decline', reason: 'a' }));
    const b = new ScriptedDevice('b', () => ({ decision: 'review', reason: 'b' }));
    const { pipeline } = makePipeline(new FakeRegistry([a, b]));
    expect((await pipeline.verify(input())).reason).toBe('a');
    expect((await pipeline.verify(input({ verifierId: 'b' }))).reason).toBe('b');
    await expect(pipeline.verify(input({ verifierId: 'zz' }))).rejects.toBeInstanceOf(PipelineError);
  });

  it('format failures stop before any device or network call', async () => {
    const dev = new ScriptedDevice('d1');
    const { pipeline } = makePipeline(new FakeRegistry([dev]));
    await expect(pipeline.verify(input({ card: { number: '4111111111111112', expMonth: 12, expYear: 2030 } }))).rejects.toBeInstanceOf(FormatCheckError);
    expect(dev.calls).toHaveLength(0);
    expect(svc.requests).toHaveLength(0);
  });

  describe('network unavailable → fallback policy, labelled, queued for reconciliation', () => {
    const cases: Array<[string, number, string]> = [
      ['decline', 1999, 'decline'],
      ['review', 1999, 'review'],
      ['approve-below:5000', 1999, 'approve'],
      ['approve-below:5000', 5000, 'review'],
      ['approve-below:5000:EUR', 1999, 'review'],
    ];
    for (const [policy, amount, expected] of cases) {
      it(`${policy}, amount ${amount} → ${expected}`, async () => {
        svc.handler = () => ({ status: 503 });
        const dev = new ScriptedDevice('d1', () => ({ decision: 'escalate', reason: 'unknown_card' }));
        const { pipeline, metrics } = makePipeline(new FakeRegistry([dev]), parseFallback(policy));
        const inp = input({}, amount);
        const r = await pipeline.verify(inp);
        expect(r).toMatchObject({ decision: expected, stage: 'fallback', reason: 'network_unavailable', prompt: null, gateway: null });
        expect(svc.requests).toHaveLength(2); // one try + one retry
        const due = outbox.dueReconciliations(Date.now() + 1);
        expect(due).toHaveLength(1);
        expect(due[0].orderId).toBe(inp.order.id);
        expect(due[0].record).toMatchObject({ request: { token: testToken(PAN) }, fallback: { decision: expected, policy } });
        expect(JSON.stringify(due[0].record)).not.toContain(PAN);
        expect(outbox.depth().reconciliationsPending).toBe(1);
        expect(metrics.verifications.get({ decision: expected, stage: 'fallback' })).toBe(1);
      });
    }

    it('a timeout and an open breaker are unavailability too', async () => {
      svc.handler = () => 'hang';
      const { pipeline } = makePipeline(null, { kind: 'decline' });
      expect(await pipeline.verify(input())).toMatchObject({ stage: 'fallback', decision: 'decline', reason: 'network_unavailable' });
    });

    it('a service rejecting the request (4xx) is labelled network_error, still fallback, still queued', async () => {
      svc.handler = () => ({ status: 401, body: { error: { code: 'UNAUTHORIZED' } } });
      const { pipeline } = makePipeline(null, { kind: 'review' });
      expect(await pipeline.verify(input())).toMatchObject({ stage: 'fallback', decision: 'review', reason: 'network_error' });
      expect(outbox.depth().reconciliationsPending).toBe(1);
    });

    it('no network configured → fallback, reason network_not_configured, nothing to reconcile with', async () => {
      const { pipeline } = makePipeline(null, { kind: 'decline' }, null);
      expect(await pipeline.verify(input())).toMatchObject({ stage: 'fallback', decision: 'decline', reason: 'network_not_configured' });
      expect(outbox.depth().reconciliationsPending).toBe(0);
    });
  });

  it('logs show BIN and last four, never the PAN or the CVC', async () => {
    const dev = new ScriptedDevice('d1', () => new ProtocolError('DISCONNECTED', 'unplugged'));
    svc.handler = () => ({ status: 503 });
    const { pipeline } = makePipeline(new FakeRegistry([dev]));
    await pipeline.verify(input());
    expect(logText).toContain('"bin":"411111"');
    expect(logText).toContain('"last4":"1111"');
    expect(logText).not.toContain(PAN);
    expect(logText).not.toMatch(/cvc/i);
  });
});
