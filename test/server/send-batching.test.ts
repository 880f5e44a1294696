// The service's answers leave at the end of the event loop's turn (http/send-batching.ts): not
// while the turn's other requests are still being worked on, and unchanged.
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { sendAfterTurn } from '../../server/http/send-batching.ts';

describe('sendAfterTurn', () => {
  it('hands the payload on after the current turn, not synchronously nor in a microtask', async () => {
    const calls: unknown[][] = [];
    const payload = '{"decision":"approve"}';
    sendAfterTurn.call(null as never, null as never, null as never, payload, (...a: unknown[]) => void calls.push(a));
    expect(calls).toEqual([]);
    for (let i = 0; i < 10; i++) await Promise.resolve();
    expect(calls).toEqual([]);
    // Immediates run in the order queued: the hook's before this one.
    await new Promise((r) => setImmediate(r));
    expect(calls).toEqual([[null, payload]]);
  });

  it('over HTTP, an answer is written after what the turn queued, and arrives unchanged', async () => {
    const app = Fastify();
    app.addHook('onSend', sendAfterTurn);
    const events: string[] = [];
    app.get('/x', async () => {
      // Queued while the request is handled: runs before the answer leaves (it would run after
      // it without the hook: the write and its 'finish' happen within the turn).
      setImmediate(() => events.push('turn ended'));
      return { decision: 'approve' };
    });
    app.addHook('onResponse', async () => void events.push('sent'));
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const res = await fetch(`${url}/x`);
      expect(await res.json()).toEqual({ decision: 'approve' });
      expect(events).toEqual(['turn ended', 'sent']);
    } finally {
      await app.close();
    }
  });
});
