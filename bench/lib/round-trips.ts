// Time request → answer round trips of one random message of `size` bytes over a transport,
// one at a time, after `warmup` untimed ones. `echo`: check every answer is as long as the
// request (an echo handler), so a broken link cannot pass for a fast one.

import { randomBytes } from 'node:crypto';
import type { MessageTransport } from '../../host-bridge/transports/types.ts';

export async function timeRoundTrips(t: MessageTransport, size: number, rounds: number, warmup: number, opts: { echo?: boolean } = {}): Promise<number[]> {
  const msg = randomBytes(size);
  for (let i = 0; i < warmup; i++) await t.request(msg, { timeoutMs: 30_000 });
  const out: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t0 = performance.now();
    const answer = await t.request(msg, { timeoutMs: 30_000 });
    out.push(performance.now() - t0);
    if (opts.echo && answer.length !== size) throw new Error(`echo mismatch: sent ${size} bytes, got ${answer.length}`);
  }
  return out;
}
