// One time budget per device call (runtime/deadline.ts), made by the pipeline and handed down:
// the transport's idle timeout, the session's exchanges and its one resend all fit inside it, so
// a device that never answers ends the call at the budget, not at the sum of the layers' waits.
// No timing in pass/fail: the session tests drive an injected monotonic clock; the transport and
// pipeline tests use fake timers and assert what has (not) happened at the budget's instant.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import pino from 'pino';
import { ProtocolError } from '../../protocol/errors.ts';
import { decodeMessage } from '../../protocol/messages/index.ts';
import { Deadline } from '../../runtime/deadline.ts';
import { startExchange } from '../../host-bridge/transports/exchange.ts';
import { SessionDispatcher } from '../../device/session/dispatcher.ts';
import { PinStore } from '../../host-bridge/session/pin-store.ts';
import { pairDevice } from '../../host-bridge/session/pairing.ts';
import { SecureDeviceClient } from '../../host-bridge/session/secure-client.ts';
import { VerifyPipeline, type VerifyInput } from '../../host-bridge/pipeline/verify-pipeline.ts';
import { Outbox } from '../../host-bridge/outbox/outbox-db.ts';
import { BridgeMetrics } from '../../host-bridge/metrics/bridge-metrics.ts';
import { makeTempDir as makeTmp, type TempDir } from '../../testkit/tmp.ts';
import { stubCore, type StubCore } from '../device/session/stub-core.ts';
import { LoopbackTransport } from './session/loopback.ts';
import { FakeRegistry, ScriptedDevice } from './device-double.ts';
import { makeTempDir } from './temp-dir.ts';

const CARD = { pan: '4111111111111110', expMonth: 12, expYear: 2030, amount: 1999, currency: 'EUR' };

async function codeOf(p: Promise<unknown>): Promise<string> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ProtocolError);
  return (e as ProtocolError).code;
}

describe('transport: the idle timeout never runs past the budget', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('signs of life extend the idle timeout only up to the deadline', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const deadline = Deadline.after(1000);
    const ex = startExchange<Uint8Array>({ timeoutMs: 300, deadline, label: 'test exchange' });
    const outcome = ex.promise.then(
      () => 'answered',
      (e: ProtocolError) => e.code,
    );
    // A KEEPALIVE every 200 ms: without the budget this exchange would never time out.
    for (let i = 0; i < 4; i++) {
      await vi.advanceTimersByTimeAsync(200);
      expect(ex.settled).toBe(false);
      ex.touch();
    }
    await vi.advanceTimersByTimeAsync(199); // 999 ms
    expect(ex.settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1); // 1000 ms: the budget is spent
    expect(ex.settled).toBe(true);
    expect(await outcome).toBe('TIMEOUT');
  });
});

/** A loopback link whose device goes mute for SECURE requests: each one "waits" its capped idle
 *  timeout on the test's clock, then fails with TIMEOUT, like a transport would. */
class MuteTransport extends LoopbackTransport {
  mute = false;
  /** The wait each muted SECURE was given (its idle timeout cut to the budget). */
  readonly waits: number[] = [];
  readonly clock = { t: 0 };

  override async request(msg: Uint8Array, opts?: { timeoutMs?: number; deadline?: Deadline }): Promise<Uint8Array> {
    if (!this.mute || decodeMessage(msg).type !== 'SECURE') return super.request(msg, opts);
    this.sent.push(Uint8Array.from(msg));
    const idle = opts?.timeoutMs ?? 5000;
    const wait = opts?.deadline ? opts.deadline.cap(idle) : idle;
    this.waits.push(wait);
    this.clock.t += wait;
    throw new ProtocolError('TIMEOUT', `no answer within ${wait} ms (test)`);
  }
}

describe('session: one budget for the exchange and its resend', () => {
  let tmp: TempDir;
  let core: StubCore;
  let device: SessionDispatcher;
  let pins: PinStore;
  let t: MuteTransport;
  let client: SecureDeviceClient;

  beforeEach(async () => {
    tmp = makeTmp('precheck-budget-');
    core = stubCore();
    device = new SessionDispatcher({ core, confirmPairing: async () => true });
    pins = PinStore.open(tmp.dir);
    t = new MuteTransport(device.handle);
    await pairDevice(t, async () => true, { pinStore: pins, pollIntervalMs: 1 });
    client = new SecureDeviceClient({ transport: t, pinStore: pins, requestTimeoutMs: 100 });
    await client.verify(CARD); // the session is open: the calls below send only SECURE
    t.mute = true;
  });
  afterEach(() => {
    device.close();
    tmp.cleanup();
  });

  const budget = (ms: number) => Deadline.after(ms, () => t.clock.t);
  const secureSent = () => t.sent.filter((b) => decodeMessage(b).type === 'SECURE').length;

  it('the resend gets what the budget has left, then the call ends with TIMEOUT', async () => {
    const before = secureSent();
    expect(await codeOf(client.verify(CARD, { deadline: budget(150) }))).toBe('TIMEOUT');
    expect(t.waits).toEqual([100, 50]);
    expect(secureSent() - before).toBe(2);
    expect(Buffer.from(t.sent.at(-1)!)).toEqual(Buffer.from(t.sent.at(-2)!)); // the same bytes, never re-sealed
  });

  it('no resend once the budget is spent', async () => {
    const before = secureSent();
    expect(await codeOf(client.verify(CARD, { deadline: budget(100) }))).toBe('TIMEOUT');
    expect(t.waits).toEqual([100]);
    expect(secureSent() - before).toBe(1);
  });

  it('a budget spent before the call (e.g. queued) sends nothing', async () => {
    const before = t.sent.length;
    const d = budget(10);
    t.clock.t += 10;
    expect(await codeOf(client.verify(CARD, { deadline: d }))).toBe('TIMEOUT');
    expect(t.sent.length).toBe(before);
  });

  it('without a budget the resend keeps its own idle timeout (sync and status calls)', async () => {
    const before = secureSent();
    expect(await codeOf(client.verify(CARD))).toBe('TIMEOUT');
    expect(t.waits).toEqual([100, 100]);
    expect(secureSent() - before).toBe(2);
  });
});

describe('pipeline: the device call ends at its budget', () => {
  let dir: ReturnType<typeof makeTempDir>;
  let outbox: Outbox;

  beforeEach(() => {
    dir = makeTempDir();
    outbox = Outbox.open(dir.path);
  });
  afterEach(() => {
    vi.useRealTimers();
    outbox.close();
    dir.remove();
  });

  it('a device that never answers is given up at deviceTimeoutMs, not later, and got that budget', async () => {
    const seen: Array<Deadline | undefined> = [];
    const dev = new ScriptedDevice('d1', (_req, opts) => {
      seen.push((opts as { deadline?: Deadline } | undefined)?.deadline);
      return new Promise(() => undefined);
    });
    const registry = new FakeRegistry([dev]);
    const metrics = new BridgeMetrics({ registry, outbox, network: null });
    const pipeline = new VerifyPipeline({
      registry,
      network: null,
      outbox,
      fallback: { kind: 'review' },
      merchantCountry: 'US',
      lang: 'en',
      deviceTimeoutMs: 2000,
      logger: pino({ level: 'silent' }),
      metrics,
    });
    const input: VerifyInput = { card: { number: '4111111111111111', expMonth: 12, expYear: 2030 }, order: { id: 'o-budget', amount: { value: 1999, currency: 'USD' } } };
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    let settled = false;
    const p = pipeline.verify(input).finally(() => (settled = true));
    await vi.advanceTimersByTimeAsync(1999);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    // Let the fallback path's promise chain run (no timers or I/O in it).
    await new Promise((r) => setImmediate(r));
    expect(settled).toBe(true);
    const r = await p;
    expect(r).toMatchObject({ stage: 'fallback', reason: 'network_not_configured' });
    expect(metrics.deviceErrors.get({ device: 'd1', code: 'TIMEOUT' })).toBe(1);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toBeInstanceOf(Deadline);
    expect(seen[0]!.budgetMs).toBe(2000);
  });
});
