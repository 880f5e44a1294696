// OutcomeFollower (server/routing/outcome-follower.ts) against an in-memory table whose rows become
// visible out of id order, as PostgreSQL's do (ids are handed out before commit): every row is
// recorded once — by the follower or by the request that stored it (claim) — and a row committed
// behind a larger id is still read.
import { describe, expect, it } from 'vitest';
import { OutcomeFollower, type FollowedOutcome } from '../../server/routing/outcome-follower.ts';

const row = (id: number, at = 1000): FollowedOutcome => ({
  id, at, merchant: 'm', amount: 100, currency: 'USD', gateway: 'g', status: 'success', code: null, type: null, advice: null, hard: false, brand: 'visa', country: null, crossBorder: null, card: null,
});

function table() {
  const visible = new Map<number, FollowedOutcome>();
  const recorded: number[] = [];
  const follower = new OutcomeFollower({
    read: async (afterId, ids, since, limit) =>
      [...visible.values()].filter((r) => (r.id > afterId || ids.includes(r.id)) && r.at >= since).sort((a, b) => a.id - b.id).slice(0, limit),
    record: (rows) => recorded.push(...rows.map((r) => r.id)),
    windowStart: () => 500,
    pageSize: 2,
  });
  return { visible, recorded, follower, commit: (...ids: number[]) => ids.forEach((id) => visible.set(id, row(id))) };
}

describe('OutcomeFollower', () => {
  it('replays what is stored (within the window), then reads rows that became visible behind larger ids', async () => {
    const t = table();
    t.commit(1, 2, 3);
    t.visible.set(4, row(4, 100)); // older than the window: not read
    await t.follower.start();
    expect(t.recorded).toEqual([1, 2, 3]);
    t.commit(5, 7); // 6 is still committing
    await t.follower.poll();
    t.commit(6);
    await t.follower.poll();
    await t.follower.poll();
    expect(t.recorded).toEqual([1, 2, 3, 5, 7, 6]);
    await t.follower.close();
  });

  it('records each row once, whether the storing request or the follower sees it first', async () => {
    const t = table();
    await t.follower.start();
    t.commit(1, 2);
    expect(t.follower.claim(1)).toBe(true); // the request got there first
    await t.follower.poll();
    expect(t.recorded).toEqual([2]); // the follower skipped 1
    expect(t.follower.claim(2)).toBe(false); // the follower got there first
    t.commit(3, 4);
    expect(t.follower.claim(4)).toBe(true);
    await t.follower.poll();
    expect(t.recorded).toEqual([2, 3]);
    expect(t.follower.claim(3)).toBe(false);
    expect(t.follower.claim(1)).toBe(false);
    await t.follower.close();
  });
});
