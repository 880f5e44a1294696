// ReconnectingTransport over the BLE cable: a link loss fails the exchange in flight with
// DISCONNECTED, then the transport reconnects by itself once the peripheral is back.

import { afterEach, describe, expect, it } from 'vitest';
import { BleCableServer } from '../../device/links/ble-cable-server.ts';
import { BleCableTransport } from '../../host-bridge/transports/ble-cable-transport.ts';
import { ReconnectingTransport } from '../../host-bridge/transports/reconnecting-transport.ts';
import { makeTempDir } from '../../testkit/tmp.ts';
import { deferred, onceEvent, withTimeout } from '../../testkit/wait.ts';

describe('ReconnectingTransport', () => {
  const tmp = makeTempDir('precheck-reconn-');
  const servers: BleCableServer[] = [];
  afterEach(async () => {
    for (const s of servers) await s.close();
    tmp.cleanup();
  });

  it('fails the in-flight exchange with DISCONNECTED, reconnects, serves again', async () => {
    const socketPath = tmp.file('ble.sock');
    const entered = deferred();
    let hang = true;
    const mk = (): BleCableServer =>
      new BleCableServer({
        socketPath,
        frameLength: 244,
        handler: (m) => {
          if (!hang) return Promise.resolve(m);
          entered.resolve();
          return new Promise<Uint8Array>(() => undefined);
        },
      });
    const first = mk();
    servers.push(first);
    await first.start();
    const t = await ReconnectingTransport.open({
      link: 'ble-cable',
      address: `ble-cable:${socketPath}`,
      connect: () => BleCableTransport.open({ socketPath }),
      backoff: { minMs: 10, maxMs: 50 },
    });
    try {
      const pending = t.request(Buffer.from('a'), { timeoutMs: 30_000 });
      await entered.promise;
      const lost = onceEvent(t, 'disconnect', 3000);
      await first.close();
      await withTimeout(expect(pending).rejects.toMatchObject({ code: 'DISCONNECTED' }), 2000, 'DISCONNECTED');
      await lost;
      expect(t.connected).toBe(false);
      // A request made while the link is down waits for it (up to its timeout).
      hang = false;
      const waiting = t.request(Buffer.from('after'), { timeoutMs: 10_000 });
      const back = onceEvent(t, 'reconnect', 10_000);
      const second = mk();
      servers.push(second);
      await second.start();
      await back;
      expect(Buffer.from(await waiting).toString()).toBe('after');
    } finally {
      await t.close();
    }
    await expect(t.request(Buffer.from('x'))).rejects.toMatchObject({ code: 'DISCONNECTED' });
  });
});
