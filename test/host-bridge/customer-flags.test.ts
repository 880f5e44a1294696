// A device's floor-limit approval stands for the network's new-card trust, which knows the
// customer: the bridge sends the floor-limit approvals of a customer it has seen with fraud
// evidence (a fraud-coded outcome of their order, or the network's fraud_signal) to the network.
// Scripted device double, a real SQLite outbox, a real HTTP server on loopback as the service.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import { VerifyPipeline, type VerifyInput } from '../../host-bridge/pipeline/verify-pipeline.ts';
import { CARD_SECONDS, CustomerFlags, FLAG_SECONDS } from '../../host-bridge/pipeline/customer-flags.ts';
import { Outbox } from '../../host-bridge/outbox/outbox-db.ts';
import { NetworkClient } from '../../host-bridge/network/network-client.ts';
import { FakeRegistry, ScriptedDevice } from './device-double.ts';
import { ScriptedService } from './scripted-service.ts';
import { makeTempDir } from './temp-dir.ts';

const T0 = 1_800_000_000;
const PAN = '4111111111111111';
const fraudster = { accountId: 'acct-f', deviceId: 'dev-f', ip: '198.51.100.9' };
const honest = { accountId: 'acct-h', deviceId: 'dev-h', ip: '203.0.113.7' };
const input = (orderId: string, customer: VerifyInput['customer']): VerifyInput => ({
  card: { number: PAN, expMonth: 12, expYear: 2030 },
  order: { id: orderId, amount: { value: 1999, currency: 'USD' }, country: 'US' },
  customer,
});

describe('customer flags', () => {
  it("flag on a fraud-evidence outcome of the customer's order, or on the network's word; any of account, device, IP matches; they expire", () => {
    const f = new CustomerFlags();
    f.noteOrder('o1', fraudster, T0);
    expect(f.observeOutcome('o1', { status: 'failure', code: '05' }, T0)).toBe(false);
    expect(f.observeOutcome('o1', { status: 'failure', code: '51' }, T0)).toBe(false);
    expect(f.isFlagged(fraudster, T0)).toBe(false);
    expect(f.observeOutcome('o1', { status: 'failure', code: '43' }, T0 + 10)).toBe(true);
    expect(f.isFlagged({ ip: fraudster.ip }, T0 + 20)).toBe(true);
    expect(f.isFlagged({ deviceId: fraudster.deviceId, accountId: 'new-account' }, T0 + 20)).toBe(true);
    expect(f.isFlagged(honest, T0 + 20)).toBe(false);
    expect(f.isFlagged(undefined, T0 + 20)).toBe(false);
    expect(f.isFlagged(fraudster, T0 + 10 + FLAG_SECONDS + 1)).toBe(false);
    // an outcome for an order the bridge never verified flags nobody
    expect(f.observeOutcome('unknown', { status: 'failure', code: '59', type: 'fraud' }, T0)).toBe(false);
    f.flagCustomer({ accountId: 'acct-x' }, T0);
    expect(f.isFlagged({ accountId: 'acct-x' }, T0 + 1)).toBe(true);
  });

  it('another card of the same account, device or IP within a day', () => {
    const f = new CustomerFlags();
    expect(f.noteCard(honest, 'aa'.repeat(16), T0)).toBe(false);
    expect(f.noteCard(honest, 'aa'.repeat(16), T0 + 60)).toBe(false); // the same card again
    expect(f.noteCard({ ip: honest.ip }, 'bb'.repeat(16), T0 + 120)).toBe(true); // another card, same IP
    expect(f.noteCard({ deviceId: 'dev-new' }, 'cc'.repeat(16), T0 + 120)).toBe(false);
    expect(f.noteCard({ deviceId: 'dev-new' }, 'dd'.repeat(16), T0 + 120 + CARD_SECONDS + 1)).toBe(false); // a day later
    expect(f.noteCard(undefined, 'ee'.repeat(16), T0)).toBe(false);
  });
});

describe('verify pipeline with customer flags', () => {
  let dir: ReturnType<typeof makeTempDir>;
  let svc: ScriptedService;
  let outbox: Outbox;
  let network: NetworkClient;
  const clock = { ms: T0 * 1000 };
  beforeEach(async () => {
    dir = makeTempDir();
    svc = await new ScriptedService().start();
    outbox = Outbox.open(dir.path);
    network = new NetworkClient({ baseUrl: svc.url, timeoutMs: 2000, retries: 1, backoffMs: 5, backoffMaxMs: 10, breaker: { failureThreshold: 50, resetMs: 60_000 } });
  });
  afterEach(async () => {
    await network.close();
    outbox.close();
    await svc.close();
    dir.remove();
  });
  const pipelineWith = (flags: CustomerFlags, reason = 'floor_limit') => {
    const dev = new ScriptedDevice('d1', () => ({ decision: 'approve', reason, gateway: 'gw-local', brand: 'visa' }));
    return new VerifyPipeline({ registry: new FakeRegistry([dev]), network, outbox, fallback: { kind: 'review' }, merchantCountry: 'US', lang: 'en', deviceTimeoutMs: 2000, logger: pino({ level: 'silent' }), customerFlags: flags, now: () => clock.ms });
  };

  it("a flagged customer's floor-limit approval is asked at the network; others' stay local, and so does a flagged customer's known-good card", async () => {
    const flags = new CustomerFlags();
    const p = pipelineWith(flags);
    expect(await p.verify(input('o1', fraudster))).toMatchObject({ stage: 'local', reason: 'floor_limit' });
    await p.shadowOf('o1'); // the background authorization (answered approve by default)
    flags.observeOutcome('o1', { status: 'failure', code: '59', type: 'fraud' }, T0);
    svc.handler = () => ({ status: 200, body: { decision: 'decline', reason: 'fraud_signal', prompt: null, gateway: null } });
    expect(await p.verify(input('o2', fraudster))).toMatchObject({ stage: 'network', decision: 'decline', reason: 'fraud_signal' });
    expect(svc.requests[1].body).toMatchObject({ local: { decision: 'escalate', reason: 'floor_limit_customer_flagged' } });
    svc.handler = () => ({ status: 200, body: { decision: 'approve', reason: 'trust_ok', prompt: null, gateway: 'gw-a' } });
    expect(await p.verify(input('o3', honest))).toMatchObject({ stage: 'local', reason: 'floor_limit' });
    await p.shadowOf('o3');
    expect(await pipelineWith(flags, 'known_good').verify(input('o4', fraudster))).toMatchObject({ stage: 'local', reason: 'known_good' });
    expect(svc.requests.map((q) => (q.body as { local: { reason: string } }).local.reason)).toEqual(['floor_limit', 'floor_limit_customer_flagged', 'floor_limit']);
  });

  it('a floor-limit approval is final at once and still reaches the service in the background (trust records); its fraud_signal flags the customer', async () => {
    const flags = new CustomerFlags();
    const p = pipelineWith(flags);
    svc.handler = () => ({ status: 200, body: { decision: 'decline', reason: 'fraud_signal', prompt: null, gateway: null } });
    const r = await p.verify(input('o7', fraudster));
    expect(r).toMatchObject({ stage: 'local', decision: 'approve', reason: 'floor_limit' });
    await p.shadowOf('o7');
    expect(p.shadowOf('o7')).toBeUndefined();
    expect(svc.requests).toHaveLength(1);
    expect(svc.requests[0].body).toMatchObject({ order: { id: 'o7' }, customer: fraudster, local: { decision: 'approve', reason: 'floor_limit' } });
    expect(flags.isFlagged(fraudster, T0)).toBe(true);
    // known-good approvals are not shadowed
    await pipelineWith(flags, 'known_good').verify(input('o8', honest));
    expect(svc.requests).toHaveLength(1);
  });

  it("a customer's floor-limit approval with another card than the one they used today is asked at the network", async () => {
    const flags = new CustomerFlags();
    const p = pipelineWith(flags);
    expect(await p.verify(input('o1', honest))).toMatchObject({ stage: 'local', reason: 'floor_limit' });
    await p.shadowOf('o1');
    expect(await p.verify(input('o2', honest))).toMatchObject({ stage: 'local', reason: 'floor_limit' }); // same card
    await p.shadowOf('o2');
    const other = { ...input('o3', honest), card: { number: '5555555555554444', expMonth: 12, expYear: 2030 } };
    expect(await p.verify(other)).toMatchObject({ stage: 'network' });
    expect(svc.requests[2].body).toMatchObject({ local: { decision: 'escalate', reason: 'floor_limit_customer_other_card' } });
  });

  it("the network's fraud_signal flags the customer for the next order", async () => {
    const flags = new CustomerFlags();
    const escalating = new ScriptedDevice('d2', () => ({ decision: 'escalate', reason: 'unknown_card' }));
    const viaNetwork = new VerifyPipeline({ registry: new FakeRegistry([escalating]), network, outbox, fallback: { kind: 'review' }, merchantCountry: 'US', lang: 'en', deviceTimeoutMs: 2000, logger: pino({ level: 'silent' }), customerFlags: flags, now: () => clock.ms });
    svc.handler = () => ({ status: 200, body: { decision: 'decline', reason: 'fraud_signal', prompt: null, gateway: null } });
    await viaNetwork.verify(input('o5', fraudster));
    expect(flags.isFlagged({ ip: fraudster.ip }, T0)).toBe(true);
    svc.handler = () => ({ status: 200, body: { decision: 'review', reason: 'fraud_signal', prompt: null, gateway: 'gw-a' } });
    expect(await pipelineWith(flags).verify(input('o6', fraudster))).toMatchObject({ stage: 'network', reason: 'fraud_signal' });
    expect(svc.requests).toHaveLength(2);
  });
});
