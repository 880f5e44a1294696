// The service ingests outcomes through the one classification table: a 91 means the same with or
// without `type: technical` (issuer unavailable: "try again later", not the gateway's fault), a
// TIMEOUT counts against the gateway and never against the card.
import { afterEach, describe, expect, it } from 'vitest';
import { GatewayRouter } from '../../server/routing/router.ts';
import { authBody, outcomeBody, randomToken, startHarness, type Harness } from './helpers.ts';

let h: Harness | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
});

describe('outcome classes in the service', () => {
  it('a 91 reported with or without type technical gives the same answer: try again later', async () => {
    h = await startHarness({ train: { schedule: null } });
    const typed = randomToken();
    const bare = randomToken();
    const timeout = randomToken();
    for (const [t, over] of [
      [typed, { status: 'failure', code: '91', type: 'technical' }],
      [bare, { status: 'failure', code: '91' }],
      [timeout, { status: 'failure', code: 'TIMEOUT', type: 'technical' }],
    ] as const) {
      const r = await h.call('POST', '/v1/outcomes', outcomeBody(t, over));
      expect(r.status, JSON.stringify(r.json)).toBe(200);
      expect(r.json).toMatchObject({ restricted: false, knownGood: false });
    }
    const answer = async (t: string) => (await h!.call('POST', '/v1/auth', authBody(t))).json;
    const a = await answer(typed);
    const b = await answer(bare);
    expect(a).toMatchObject({ decision: 'review', reason: 'soft_decline', detail: '91', prompt: { code: 'try_again_later' } });
    expect(b).toMatchObject({ decision: 'review', reason: 'soft_decline', detail: '91', prompt: { code: 'try_again_later' } });
    // The gateway's timeout says nothing about the card: it is treated as a card never seen.
    expect(await answer(timeout)).toMatchObject({ decision: 'approve', reason: 'trust_ok' });
  });

  it("routing: a TIMEOUT run eliminates the gateway, an issuer's 91 run does not (typed technical or not)", () => {
    const T0 = 1_800_000_000;
    const seg = { brand: 'visa', currency: 'EUR', amount: 2500 };
    for (const [code, type, eliminated] of [
      ['TIMEOUT', 'technical', true],
      ['91', 'technical', false],
      ['91', null, false],
      ['96', 'technical', false],
    ] as const) {
      const r = new GatewayRouter({ explorationShare: 0, clock: () => T0 * 1000, consecutiveFailures: 5 });
      for (let i = 0; i < 5; i++) r.record({ ...seg, gateway: 'a', status: 'failure', code, type, at: T0 });
      expect(r.stats().eliminated.includes('a'), `${code} ${type}`).toBe(eliminated);
    }
  });
});
