// USB HID over the virtual cable: HidCableTransport (host) ↔ HidCableServer (device), a real
// unix socket carrying 64-byte reports through the project's CTAPHID framing on both ends.

import { randomBytes, randomInt } from 'node:crypto';
import net from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HidCableServer } from '../../device/links/hid-cable-server.ts';
import type { LinkConnection, MessageHandler } from '../../device/links/types.ts';
import { HidCableTransport } from '../../host-bridge/transports/hid-cable-transport.ts';
import type { HidChannelTransport } from '../../host-bridge/transports/hid-channel-transport.ts';
import { HID_CMD, HID_ERR, HID_MAX_MESSAGE } from '../../protocol/framing/hid.ts';
import { makeTempDir, type TempDir } from '../helpers/tmp.ts';
import { Counter, deferred, onceEvent, withTimeout } from '../helpers/wait.ts';

describe('HID cable: HidCableTransport ↔ HidCableServer', () => {
  let tmp: TempDir;
  let server: HidCableServer;
  let transport: HidChannelTransport | undefined;
  let handler: MessageHandler;
  const rejected = new Counter();
  const conns: LinkConnection[] = [];

  async function start(opts: { keepaliveMs?: number } = {}): Promise<HidChannelTransport> {
    server = new HidCableServer({
      socketPath: tmp.file('hid.sock'),
      handler: (m, c) => {
        if (!conns.includes(c)) conns.push(c);
        return handler(m, c);
      },
      onRejectedFrame: rejected.bump,
      endpoint: { keepaliveMs: opts.keepaliveMs },
    });
    await server.start();
    transport = await HidCableTransport.open({ socketPath: tmp.file('hid.sock') });
    return transport;
  }

  beforeEach(() => {
    tmp = makeTempDir('precheck-hid-');
    handler = async (m) => m.slice();
    conns.length = 0;
  });

  afterEach(async () => {
    await transport?.close();
    transport = undefined;
    await server?.close();
    tmp.cleanup();
  });

  it('allocates a channel and round-trips messages of random sizes up to 7609 bytes', async () => {
    const t = await start();
    expect(t.maxMessageSize).toBe(HID_MAX_MESSAGE);
    expect(t.info?.cid).toBeGreaterThan(0);
    const sizes = [0, 1, 57, 58, 116, 117, HID_MAX_MESSAGE, ...Array.from({ length: 20 }, () => randomInt(0, HID_MAX_MESSAGE + 1))];
    for (const size of sizes) {
      const msg = randomBytes(size);
      const answer = await t.request(msg);
      expect(Buffer.from(answer).equals(msg), `size ${size}`).toBe(true);
    }
    expect(conns).toHaveLength(1);
    expect(conns[0].link).toBe('hid-cable');
    expect(conns[0].id).toContain(`cid=${t.info!.cid.toString(16).padStart(8, '0')}`);
    expect(Buffer.from(await t.ping(Buffer.from('ping'))).toString()).toBe('ping');
  });

  it('refuses an oversized message locally', async () => {
    const t = await start();
    await expect(t.request(new Uint8Array(HID_MAX_MESSAGE + 1))).rejects.toMatchObject({ code: 'TOO_LARGE' });
  });

  it('keepalives extend the exchange timeout while the handler is slow', async () => {
    const t = await start({ keepaliveMs: 50 });
    const keepalives = new Counter();
    t.on('keepalive', keepalives.bump);
    // The handler finishes only after 6 keepalives (~300 ms), twice the 150 ms idle timeout.
    handler = async (m) => {
      await keepalives.reach(6, 5000);
      return m.slice();
    };
    const answer = await t.request(Buffer.from('slow'), { timeoutMs: 150 });
    expect(Buffer.from(answer).toString()).toBe('slow');
    expect(keepalives.value).toBeGreaterThanOrEqual(6);
  });

  it('a device error travels back as a typed ProtocolError', async () => {
    const t = await start();
    const { ProtocolError } = await import('../../protocol/errors.ts');
    handler = async () => {
      throw new ProtocolError('BUSY', 'core busy');
    };
    await expect(t.request(Buffer.from('x'))).rejects.toMatchObject({ code: 'BUSY' });
    handler = async (m) => m;
    expect(Buffer.from(await t.request(Buffer.from('ok'))).toString()).toBe('ok');
  });

  it('cancel: aborts the exchange, the device drops the late answer, the next exchange is clean', async () => {
    const t = await start();
    const release = deferred<Uint8Array>();
    const entered = deferred();
    handler = () => {
      entered.resolve();
      return release.promise;
    };
    const ac = new AbortController();
    const pending = t.request(Buffer.from('first'), { signal: ac.signal, timeoutMs: 10_000 });
    await entered.promise;
    ac.abort();
    await expect(pending).rejects.toMatchObject({ code: 'CANCELLED' });
    release.resolve(Buffer.from('late answer'));
    handler = async (m) => m.slice();
    expect(Buffer.from(await t.request(Buffer.from('second'))).toString()).toBe('second');
  });

  it('times out (TIMEOUT) when the device stops talking, then recovers', async () => {
    const t = await start({ keepaliveMs: 60_000 });
    const release = deferred<Uint8Array>();
    handler = () => release.promise;
    await expect(t.request(Buffer.from('x'), { timeoutMs: 200 })).rejects.toMatchObject({ code: 'TIMEOUT' });
    handler = async (m) => m.slice();
    expect(Buffer.from(await t.request(Buffer.from('after'))).toString()).toBe('after');
    release.resolve(new Uint8Array(0));
  });

  it('device closing the cable mid-exchange → DISCONNECTED promptly, and later requests too', async () => {
    const t = await start();
    const entered = deferred();
    handler = () => {
      entered.resolve();
      return new Promise<Uint8Array>(() => undefined);
    };
    const closedConn = deferred();
    const disconnected = onceEvent(t, 'disconnect', 3000);
    const pending = t.request(Buffer.from('x'), { timeoutMs: 30_000 });
    await entered.promise;
    conns[0].onClose(closedConn.resolve);
    await server.close();
    await withTimeout(expect(pending).rejects.toMatchObject({ code: 'DISCONNECTED' }), 2000, 'DISCONNECTED');
    await disconnected;
    await closedConn.promise; // the session layer is told the connection ended
    await expect(t.request(Buffer.from('y'))).rejects.toMatchObject({ code: 'DISCONNECTED' });
  });

  it('garbage reports get an ERROR packet, are counted, and the next exchange works', async () => {
    const t = await start();
    // A second host on the cable writes garbage: a report on a channel nobody allocated.
    const raw = net.connect(tmp.file('hid.sock'));
    await onceEvent(raw, 'connect');
    const got = new Promise<Buffer>((resolve) => {
      let acc = Buffer.alloc(0);
      raw.on('data', (d: Buffer) => {
        acc = Buffer.concat([acc, d]);
        if (acc.length >= 64) resolve(acc.subarray(0, 64));
      });
    });
    const garbage = randomBytes(64);
    garbage.writeUInt32BE(0x1234_5678, 0);
    const before = rejected.value;
    raw.write(garbage);
    const report = await withTimeout(got, 3000, 'ERROR report');
    expect(report.readUInt32BE(0)).toBe(0x1234_5678);
    expect(report[4]).toBe(HID_CMD.ERROR);
    expect((report[5] << 8) | report[6]).toBe(1);
    expect(report[7]).toBe(HID_ERR.INVALID_CHANNEL);
    await rejected.reach(before + 1);
    // A partial report followed by a close is dropped without harm.
    raw.end(randomBytes(10));
    const msg = randomBytes(500);
    expect(Buffer.from(await t.request(msg)).equals(msg)).toBe(true);
  });
});
