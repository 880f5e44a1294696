// Call-back campaigns are durable: a call on the line when the bridge stops counts as a hang-up and
// is redialled by the next bridge on the same data directory, which completes the capture.
import { afterAll, describe, expect, it } from 'vitest';
import type { CallRecord, Dialler } from '../../../host-bridge/ivr/campaigns.ts';
import { FakeRegistry, ScriptedDevice } from '../device-double.ts';
import { startTestBridge } from '../bridge-harness.ts';
import { makeTempDir } from '../temp-dir.ts';
import { onceEvent } from '../../../testkit/wait.ts';
import { runCall } from './vxml-caller.ts';

describe('call-back queue across a bridge restart', () => {
  const dir = makeTempDir('precheck-ivr-restart-');
  afterAll(() => dir.remove());
  const registry = () => new FakeRegistry([new ScriptedDevice('dev-1')]);

  it('a call in progress at shutdown is redialled after the restart and completes', async () => {
    // First bridge: the platform answers, the caller is still listening when the bridge stops.
    let answered!: () => void;
    const onLine = new Promise<void>((r) => (answered = r));
    const holding: Dialler = { dial: async () => (answered(), 'answered') };
    const b1 = await startTestBridge({ dataDir: dir.path, registry: registry(), raw: { merchant: { country: 'DE' } }, ivr: { dialler: holding, campaigns: { baseBackoffMs: 1, maxBackoffMs: 1, pollMs: 50 } } });
    const r = await fetch(`${b1.url}/v1/ivr/callbacks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ order: { id: 'o-restart', amount: { value: 999, currency: 'EUR' } }, phone: '030 123456789', lang: 'de' }) });
    const queued = (await r.json()) as CallRecord;
    expect(queued.phone).toBe('+4930123456789');
    await onLine;
    await b1.close();
    // Stopping does not dial again: one attempt, ended by the shutdown as a hang-up, queued.
    let dials = 0;

    // Second bridge on the same data dir: the call is queued again (attempt 1 ended as a hang-up).
    let url = '';
    let call: Promise<unknown> = Promise.resolve();
    const completing: Dialler = {
      dial: async (c) => {
        dials++;
        url = c.url;
        call = runCall(c.url, ['1', '4000056655665556#', '1230', '737']);
        return 'answered';
      },
    };
    const b2 = await startTestBridge({ dataDir: dir.path, registry: registry(), ivr: { dialler: completing, campaigns: { baseBackoffMs: 1, maxBackoffMs: 1, pollMs: 50 } } });
    try {
      const [done] = await onceEvent<[CallRecord]>(b2.ivr!.campaigns!, 'finished', 20_000);
      expect(url.startsWith(b2.url)).toBe(true);
      expect(done).toMatchObject({ id: queued.id, state: 'completed', attempts: 2, decision: 'approve' });
      // The platform's hang-up report after the goodbye reaches the bridge before it stops.
      expect(((await call) as { end: string }).end).toBe('disconnect');
      expect(dials).toBe(1);
    } finally {
      await b2.close();
    }
  });
});
