// The outbox forwarder keeps several requests in flight (a busy service's latency must not bound
// the drain rate) while an order's outcomes still reach the service one after another, in the
// order reported. Real outbox SQLite file, real HTTP server on loopback, real network client.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { NetworkClient } from '../../host-bridge/network/network-client.ts';
import type { NetworkOutcome } from '../../host-bridge/network/network-types.ts';
import { Outbox } from '../../host-bridge/outbox/outbox-db.ts';
import { OutboxForwarder } from '../../host-bridge/outbox/forwarder.ts';
import { makeTempDir, type TempDir } from '../../testkit/tmp.ts';
import { onceEvent } from '../../testkit/wait.ts';

interface Held {
  key: string;
  orderId: string;
  res: ServerResponse;
}

let dir: TempDir | null = null;
let closeAll: (() => Promise<void>) | null = null;
afterEach(async () => {
  await closeAll?.();
  closeAll = null;
  dir?.cleanup();
  dir = null;
});

function outcome(orderId: string, attempt: number): NetworkOutcome {
  return {
    idempotencyKey: `${orderId}:alpha:${attempt}`,
    orderId,
    bin: '555555',
    last4: '4444',
    amount: 1000,
    currency: 'EUR',
    gateway: 'alpha',
    status: attempt === 1 ? 'failure' : 'success',
    at: 1_800_000_000 + attempt,
  };
}

describe('outbox forwarder', () => {
  it('keeps `concurrency` outcomes in flight and never overlaps two of one order', async () => {
    const CONCURRENCY = 3;
    const held: Held[] = [];
    const arrivals: string[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const openByOrder = new Map<string, number>();
    let overlapped = false;
    // The service holds its first answers until CONCURRENCY requests wait at once (then answers
    // at once); a forwarder that sends one at a time never gets an answer and the test times out.
    const server = createServer((req: IncomingMessage, res: ServerResponse) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const o = JSON.parse(body) as NetworkOutcome;
        arrivals.push(o.idempotencyKey);
        const open = (openByOrder.get(o.orderId) ?? 0) + 1;
        openByOrder.set(o.orderId, open);
        if (open > 1) overlapped = true;
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        held.push({ key: o.idempotencyKey, orderId: o.orderId, res });
        if (held.length >= CONCURRENCY || firstBatchAnswered) release();
      });
    });
    let firstBatchAnswered = false;
    const release = (): void => {
      firstBatchAnswered = true;
      for (const h of held.splice(0)) {
        inFlight--;
        openByOrder.set(h.orderId, openByOrder.get(h.orderId)! - 1);
        h.res.writeHead(202, { 'content-type': 'application/json' }).end('{"status":"accepted"}');
      }
    };
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;

    dir = makeTempDir();
    const outbox = Outbox.open(dir.dir);
    const network = new NetworkClient({
      baseUrl: `http://127.0.0.1:${port}`,
      timeoutMs: 60_000,
      retries: 0,
      backoffMs: 100,
      backoffMaxMs: 1000,
      breaker: { failureThreshold: 5, resetMs: 1000 },
    });
    const forwarder = new OutboxForwarder({
      outbox,
      network,
      logger: pino({ level: 'silent' }),
      retryBaseMs: 1000,
      retryMaxMs: 10_000,
      maxPerSecond: 10_000,
      concurrency: CONCURRENCY,
    });
    closeAll = async () => {
      release(); // a held answer would keep the pass (and stop()) waiting
      await forwarder.stop();
      await network.close();
      outbox.close();
      server.close();
    };
    // Order A's two attempts first, then three other orders.
    for (const o of [outcome('A', 1), outcome('A', 2), outcome('B', 1), outcome('C', 1), outcome('D', 1)]) outbox.enqueueOutcome(o, 0);

    const pass = await onceEventOrPass(forwarder);
    expect(pass.acked).toBe(5);
    expect(maxInFlight).toBe(CONCURRENCY);
    expect(overlapped).toBe(false);
    expect(arrivals.indexOf('A:alpha:1')).toBeLessThan(arrivals.indexOf('A:alpha:2'));
    expect(outbox.depth().outcomesPending).toBe(0);
  });
});

/** Starts the forwarder and waits for its first pass (bounded, so a deadlock fails clearly). */
async function onceEventOrPass(forwarder: OutboxForwarder): Promise<{ acked: number }> {
  const done = onceEvent<[{ acked: number }]>(forwarder, 'pass', 30_000);
  forwarder.start();
  const [r] = await done;
  return r;
}
