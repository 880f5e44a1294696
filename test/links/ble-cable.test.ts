// BLE over the virtual cable: BleCableTransport (host) ↔ BleCableServer (device), a real unix
// socket carrying GATT operations whose values are exactly the BLE fragments.

import { randomBytes, randomInt } from 'node:crypto';
import net from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BleCableServer } from '../../device/links/ble-cable-server.ts';
import { BLE_CABLE_OP, BleCableRecordDecoder, encodeBleCableRecord } from '../../protocol/link-io/ble-cable-record.ts';
import type { LinkConnection, MessageHandler } from '../../device/links/types.ts';
import { BleCableTransport } from '../../host-bridge/transports/ble-cable-transport.ts';
import type { BleChannelTransport } from '../../host-bridge/transports/ble-channel-transport.ts';
import { ProtocolError } from '../../protocol/errors.ts';
import { BLE_CMD, BLE_DEFAULT_MAX_MESSAGE, BLE_ERR } from '../../protocol/framing/ble.ts';
import { makeTempDir, type TempDir } from '../helpers/tmp.ts';
import { Counter, deferred, onceEvent, withTimeout } from '../helpers/wait.ts';

describe('BLE cable: BleCableTransport ↔ BleCableServer', () => {
  let tmp: TempDir;
  let server: BleCableServer | undefined;
  let transport: BleChannelTransport | undefined;
  let handler: MessageHandler;
  const rejected = new Counter();
  const conns: LinkConnection[] = [];

  async function start(frameLength = 244, opts: { keepaliveMs?: number; attMtu?: number } = {}): Promise<BleChannelTransport> {
    server = new BleCableServer({
      socketPath: tmp.file('ble.sock'),
      frameLength,
      handler: (m, c) => {
        if (!conns.includes(c)) conns.push(c);
        return handler(m, c);
      },
      onRejectedFrame: rejected.bump,
      endpoint: { keepaliveMs: opts.keepaliveMs },
    });
    await server.start();
    transport = await BleCableTransport.open({ socketPath: tmp.file('ble.sock'), attMtu: opts.attMtu });
    return transport;
  }

  beforeEach(() => {
    tmp = makeTempDir('precheck-ble-');
    handler = async (m) => m.slice();
    conns.length = 0;
  });

  afterEach(async () => {
    await transport?.close();
    transport = undefined;
    await server?.close();
    server = undefined;
    tmp.cleanup();
  });

  for (const [frameLength, attMtu, expectWrite] of [
    [20, 23, 20],
    [244, 247, 244],
    [512, 185, 182],
  ] as const) {
    it(`round-trips random sizes at control point length ${frameLength}, ATT MTU ${attMtu}`, async () => {
      const t = await start(frameLength, { attMtu });
      expect(t.writeFrameLength).toBe(expectWrite);
      const sizes = [0, 1, frameLength - 3, frameLength - 2, BLE_DEFAULT_MAX_MESSAGE, ...Array.from({ length: 10 }, () => randomInt(0, BLE_DEFAULT_MAX_MESSAGE + 1))];
      for (const size of sizes) {
        const msg = randomBytes(size);
        expect(Buffer.from(await t.request(msg)).equals(msg), `size ${size}`).toBe(true);
      }
      expect(conns).toHaveLength(1);
      expect(conns[0].link).toBe('ble-cable');
    });
  }

  it('keepalives extend the exchange timeout while the handler is slow', async () => {
    const t = await start(244, { keepaliveMs: 50 });
    const keepalives = new Counter();
    t.on('keepalive', keepalives.bump);
    handler = async (m) => {
      await keepalives.reach(6, 5000);
      return m.slice();
    };
    expect(Buffer.from(await t.request(Buffer.from('slow'), { timeoutMs: 150 })).toString()).toBe('slow');
  });

  it('a device error comes back typed; PING echoes', async () => {
    const t = await start();
    handler = async () => {
      throw new ProtocolError('TOO_LARGE', 'nope');
    };
    await expect(t.request(Buffer.from('x'))).rejects.toMatchObject({ code: 'TOO_LARGE' });
    expect(Buffer.from(await t.ping(Buffer.from('hello'))).toString()).toBe('hello');
  });

  it('cancel: aborts, the late answer is dropped, the next exchange is clean', async () => {
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

  it('device going away mid-exchange → DISCONNECTED promptly; connection closed on the device', async () => {
    const t = await start();
    const entered = deferred();
    handler = () => {
      entered.resolve();
      return new Promise<Uint8Array>(() => undefined);
    };
    const disconnected = onceEvent(t, 'disconnect', 3000);
    const pending = t.request(Buffer.from('x'), { timeoutMs: 30_000 });
    await entered.promise;
    const closed = deferred();
    conns[0].onClose(closed.resolve);
    await server!.close();
    await withTimeout(expect(pending).rejects.toMatchObject({ code: 'DISCONNECTED' }), 2000, 'DISCONNECTED');
    await disconnected;
    await closed.promise;
    await expect(t.request(Buffer.from('y'))).rejects.toMatchObject({ code: 'DISCONNECTED' });
  });

  it('a host disconnecting closes its LinkConnection on the device', async () => {
    const t = await start();
    await t.request(Buffer.from('hi'));
    const closed = deferred();
    conns[0].onClose(closed.resolve);
    await t.close();
    await withTimeout(closed.promise, 2000, 'connection close');
  });

  it('garbage fragments get an ERROR notification and are counted; nonsense records drop only that link', async () => {
    const t = await start();
    const raw = net.connect(tmp.file('ble.sock'));
    await onceEvent(raw, 'connect');
    const decoder = new BleCableRecordDecoder();
    const notes: Uint8Array[] = [];
    const gotNote = deferred();
    raw.on('data', (d: Buffer) => {
      for (const r of decoder.push(d)) {
        if (r.op === BLE_CABLE_OP.NOTIFY_STATUS) {
          notes.push(r.value);
          gotNote.resolve();
        }
      }
    });
    raw.write(encodeBleCableRecord(BLE_CABLE_OP.SUBSCRIBE_STATUS));
    const before = rejected.value;
    // A continuation fragment with no message in progress.
    raw.write(encodeBleCableRecord(BLE_CABLE_OP.WRITE_CONTROL_POINT, Uint8Array.of(0x05, 1, 2, 3)));
    await withTimeout(gotNote.promise, 3000, 'ERROR notification');
    expect([...notes[0]]).toEqual([BLE_CMD.ERROR, 0, 1, BLE_ERR.INVALID_SEQ]);
    await rejected.reach(before + 1);
    // A record no radio could produce: that link is dropped and counted.
    const rawClosed = onceEvent(raw, 'close', 3000);
    raw.write(Uint8Array.of(0x7e, 0, 0));
    await rawClosed;
    await rejected.reach(before + 2);
    // The real host's link is untouched.
    const msg = randomBytes(3000);
    expect(Buffer.from(await t.request(msg)).equals(msg)).toBe(true);
  });
});
