// Issue 13 item 7: the bridge's verification journal is pruned (default 30 days), in the
// background, without touching rows the service has not settled yet.
import { describe, expect, it } from 'vitest';
import { Outbox, type VerificationRecord } from '../../host-bridge/outbox/outbox-db.ts';
import { bridgesEachTest, testConfig } from './bridge-harness.ts';
import { withTimeout } from '../../testkit/wait.ts';

const DAY = 86_400;
const scope = bridgesEachTest();

const row = (orderId: string, at: number): VerificationRecord => ({
  orderId, token: null, bin: '411111', last4: '1111', brand: 'visa', amount: 100, currency: 'USD', decision: 'approve', stage: 'local',
  reason: 'ok', deviceId: null, datasetVersion: null, gateway: null, country: null, crossBorder: null, at,
});

describe('verification journal retention', () => {
  it('defaults to 30 days and is configurable', () => {
    expect(testConfig('/tmp/x').outbox.retentionDays).toBe(30);
    expect(testConfig('/tmp/x', { outbox: { retentionDays: 7 } }).outbox.retentionDays).toBe(7);
  });

  it('prunes old verifications, reconciled fallbacks and acked outcomes in batches; keeps what is unsettled', () => {
    const dir = scope.tempDir('precheck-retention-');
    const outbox = Outbox.open(dir.path);
    try {
      const now = Math.floor(Date.now() / 1000);
      for (let i = 0; i < 25; i++) outbox.recordVerification(row(`old-${i}`, now - 40 * DAY));
      const recent = outbox.recordVerification(row('recent', now - DAY));
      const req = { bin: '411111', last4: '1111', expMonth: 1, expYear: 2030, order: { id: 'fb', amount: { value: 1, currency: 'USD' } } };
      outbox.recordFallback(row('fb-old-pending', now - 40 * DAY), { request: req, fallback: { decision: 'review', policy: 'review', at: now } }, Date.now());
      expect(outbox.verificationCount()).toBe(27);
      const n = outbox.prune(now - 30 * DAY, 10);
      expect(n.verifications).toBe(25);
      expect(outbox.verificationCount()).toBe(2); // the recent one and the one whose reconciliation is pending
      expect(outbox.latestVerification('recent')?.id).toBe(recent);
      expect(outbox.latestVerification('fb-old-pending')).toBeDefined();
    } finally {
      outbox.close();
    }
  });

  it('a running bridge prunes in the background', async () => {
    const dir = scope.tempDir('precheck-retention-');
    const outbox = Outbox.open(dir.path);
    const now = Math.floor(Date.now() / 1000);
    for (let i = 0; i < 50; i++) outbox.recordVerification(row(`old-${i}`, now - 31 * DAY));
    outbox.recordVerification(row('recent', now - 29 * DAY));
    outbox.close();
    const b = await scope.start({ dataDir: dir.path });
    await withTimeout(
      new Promise<void>((resolve) => {
        const check = () => (b.readLog().includes('journal pruned') ? resolve() : setTimeout(check, 20));
        check();
      }),
      10_000,
      'journal pruned',
    );
    expect(b.outbox.verificationCount()).toBe(1);
  });
});
