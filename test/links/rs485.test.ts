// RS485 link over a real pty pair (socat) with real serialport on both ends: the host bridge's
// Modbus RTU master (Rs485Bus) against the device's slave driver serving two addresses.

import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rs485SlaveDriver, type Rs485Connection } from '../../device/links/rs485-slave-driver.ts';
import type { StatusRegisters } from '../../device/links/types.ts';
import { Rs485Bus } from '../../host-bridge/transports/rs485-bus.ts';
import { ProtocolError } from '../../protocol/errors.ts';
import { encodeAdu } from '../../protocol/framing/modbus-rtu.ts';
import { encodeTransferPdu, FC_PRECHECK_TRANSFER, TRANSFER_OP } from '../../protocol/framing/modbus-transfer.ts';
import { encodeReadInputRegistersRequest } from '../../protocol/framing/modbus-registers.ts';
import { openPtyPair, type PtyPair } from '../../testkit/pty-pair.ts';
import { killAllTracked, run } from '../../testkit/process.ts';
import { Counter, onceEvent, withTimeout } from '../../testkit/wait.ts';

const BAUD = 115200;

function status(n: number): StatusRegisters {
  return {
    protocolVersion: 1,
    firmwareVersion: 0x0102_0300 + n,
    datasetVersion: 70_000 + n,
    datasetState: n === 1 ? 'fresh' : 'stale',
    verificationsServed: 123_456 * n,
    framesRejected: 0,
  };
}

describe('RS485: Rs485Bus master ↔ Rs485SlaveDriver (addresses 1, 2) on a pty pair', () => {
  let pty: PtyPair;
  let slave: Rs485SlaveDriver;
  let bus: Rs485Bus;
  const handledBy: number[] = [];
  const rejected = { 1: new Counter(), 2: new Counter() };
  // Frames the slave has finished serving. It emits 'frame' only after its answer is written, so
  // the master can hold an answer before the slave is done with that frame; and under load an
  // earlier test's request may have been resent, its copy still on the line. Tests that look at
  // the slave's counters settle first: one more round trip (everything sent before it is served
  // and answered before it), then wait until the slave has finished every frame it began.
  const served = new Counter();
  const settle = async (): Promise<void> => {
    await bus.readStatus(1);
    await served.reach(slave.stats.framesIn);
  };
  /** The first frame the slave hears for `address` from now on. */
  const frameTo = (address: number): Promise<{ address: number; answered: boolean }> =>
    withTimeout(
      new Promise((resolve) => {
        const on = (f: { address: number; answered: boolean }): void => {
          if (f.address !== address) return;
          slave.off('frame', on);
          resolve(f);
        };
        slave.on('frame', on);
      }),
      5000,
      `a frame to address ${address}`,
    );

  beforeAll(async () => {
    pty = await openPtyPair();
    slave = new Rs485SlaveDriver({
      path: pty.b,
      baud: BAUD,
      addresses: [1, 2].map((address) => ({
        address,
        statusProvider: () => ({ ...status(address), framesRejected: rejected[address as 1 | 2].value }),
        onRejectedFrame: rejected[address as 1 | 2].bump,
      })),
      handler: async (msg, conn) => {
        handledBy.push((conn as Rs485Connection).address);
        return msg.slice();
      },
    });
    slave.on('frame', served.bump);
    await slave.start();
    bus = await Rs485Bus.open({ path: pty.a, baud: BAUD });
  });

  afterAll(async () => {
    await bus?.close();
    await slave?.close();
    await pty?.close();
    await killAllTracked();
  });

  it('round-trips messages of 0..7609 bytes to each address', async () => {
    for (const size of [0, 1, 248, 249, 250, 1000, 4096, 7609]) {
      for (const address of [1, 2]) {
        const msg = randomBytes(size);
        handledBy.length = 0;
        const answer = await bus.device(address).request(msg, { timeoutMs: 10_000 });
        expect(Buffer.from(answer).equals(msg), `size ${size} to ${address}`).toBe(true);
        expect(handledBy).toEqual([address]);
      }
    }
  });

  it('refuses a message over the limit before touching the bus', async () => {
    const before = bus.stats.requestsSent;
    await expect(bus.device(1).request(new Uint8Array(7610))).rejects.toMatchObject({ code: 'TOO_LARGE' });
    expect(bus.stats.requestsSent).toBe(before);
  });

  it('reads the status input registers (0x04) from each address', async () => {
    expect(await bus.readStatus(1)).toEqual({ ...status(1), framesRejected: rejected[1].value });
    expect(await bus.readStatus(2)).toEqual({ ...status(2), framesRejected: rejected[2].value });
  });

  it('answers an out-of-range register read with exception 02 (illegal data address)', async () => {
    const err = await bus.readInputRegisters(1, 5, 10).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProtocolError);
    expect((err as ProtocolError).code).toBe('INVALID_FIELD');
    expect((err as ProtocolError).message).toMatch(/exception 02/);
  });

  it('a frame to address 3 is heard but ignored by addresses 1 and 2', async () => {
    await settle();
    const heard = frameTo(3);
    const before = { ...slave.stats };
    const err = await bus.readInputRegisters(3, 0, 1, { retries: 0 }).catch((e: unknown) => e);
    expect((err as ProtocolError).code).toBe('TIMEOUT');
    const frame = await heard;
    // not answered (no write for an address the slave does not serve), and counted as ignored;
    // a late copy of an earlier request to address 1 or 2 would change neither
    expect(frame).toMatchObject({ address: 3, answered: false });
    expect(slave.stats.ignored).toBe(before.ignored + 1);
  });

  it('scan finds exactly the addresses that answer', async () => {
    expect(await bus.scan([1, 2, 3, 4], { allowanceMs: 500 })).toEqual([1, 2]);
  });

  it('never answers a broadcast', async () => {
    await settle();
    const heard = frameTo(0);
    await bus.broadcast(0x04, encodeReadInputRegistersRequest(0, 10));
    const frame = await heard;
    expect(frame).toMatchObject({ address: 0, answered: false });
    // Frames are served in order: had the broadcast been answered, that answer would reach the
    // master before the next one and count as unexpected.
    const framesIn = bus.stats.framesIn;
    const unexpected = bus.stats.unexpectedFrames;
    await bus.readStatus(1);
    expect(bus.stats.framesIn).toBe(framesIn + 1);
    expect(bus.stats.unexpectedFrames).toBe(unexpected);
  });

  it('drops and counts garbage and bit-flipped frames, then serves the next request', async () => {
    const before1 = rejected[1].value;
    const before2 = rejected[2].value;
    // Garbage: every device on the bus hears it, so each counts it.
    await bus.writeRaw(Uint8Array.from({ length: 40 }, (_, i) => (i * 37 + 11) & 0xff));
    await rejected[1].reach(before1 + 1);
    await rejected[2].reach(before2 + 1);

    // A valid REQ frame for address 1 with one bit flipped: bad CRC, dropped silently.
    const frame = encodeAdu({
      address: 1,
      functionCode: FC_PRECHECK_TRANSFER,
      data: encodeTransferPdu({ op: TRANSFER_OP.REQ, tid: 9, seq: 0, last: true, payload: randomBytes(100) }),
    });
    frame[20] ^= 0x04;
    const framesOut = slave.stats.framesOut;
    await bus.writeRaw(frame);
    await rejected[1].reach(before1 + 2);
    await rejected[2].reach(before2 + 2);
    expect(slave.stats.framesOut).toBe(framesOut);

    const msg = randomBytes(600);
    const answer = await bus.device(1).request(msg);
    expect(Buffer.from(answer).equals(msg)).toBe(true);
    // The rejected-frames register reflects what the device counted.
    expect((await bus.readStatus(2)).framesRejected).toBe(rejected[2].value);
  });

  it('answers an unknown function code with exception 01 and counts it', async () => {
    const before = rejected[2].value;
    const err = await bus.readInputRegisters(2, 0, 1).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeUndefined(); // sanity: 0x04 works
    await bus.writeRaw(encodeAdu({ address: 2, functionCode: 0x2b, data: Uint8Array.of(0x0e, 1, 0) }));
    await rejected[2].reach(before + 1);
  });
});

describe('RS485: device gone mid-exchange', () => {
  it('fails the exchange with DISCONNECTED when the bus port goes away, never hangs', async () => {
    const pty = await openPtyPair();
    let entered!: () => void;
    const inHandler = new Promise<void>((r) => (entered = r));
    const slave = new Rs485SlaveDriver({
      path: pty.b,
      baud: BAUD,
      addresses: [5],
      handler: () => {
        entered();
        return new Promise<Uint8Array>(() => undefined); // never answers: the master polls
      },
    });
    await slave.start();
    const bus = await Rs485Bus.open({ path: pty.a, baud: BAUD });
    try {
      const dev = bus.device(5);
      const disconnected = onceEvent<[ProtocolError]>(dev, 'disconnect', 5000);
      const pending = dev.request(randomBytes(300), { timeoutMs: 30_000 });
      await inHandler;
      // The USB-RS485 adapter is unplugged: the master's port closes under it.
      await pty.close();
      await expect(pending).rejects.toMatchObject({ code: 'DISCONNECTED' });
      expect((await disconnected)[0].code).toBe('DISCONNECTED');
      await expect(dev.request(new Uint8Array(1))).rejects.toMatchObject({ code: 'DISCONNECTED' });
    } finally {
      await bus.close();
      await slave.close();
      await pty.close();
    }
  });
});

describe('RS485: mbpoll (Debian) reads the status registers', () => {
  let pty: PtyPair;
  let slave: Rs485SlaveDriver;

  beforeAll(async () => {
    pty = await openPtyPair();
    slave = new Rs485SlaveDriver({
      path: pty.b,
      baud: BAUD,
      addresses: [7],
      statusProvider: () => status(7),
      handler: async (m) => m,
    });
    await slave.start();
  });

  afterAll(async () => {
    await slave?.close();
    await pty?.close();
    await killAllTracked();
  });

  it('mbpoll -t 3 -r 1 -c 10 gets the provider values', async () => {
    // -t 3: input registers (function 0x04); -r 1: reference 1 = PDU address 0 (mbpoll is
    // 1-based unless -0); -1: poll once; -P none: 8N1 like the driver.
    const r = await run('mbpoll', ['-m', 'rtu', '-a', '7', '-b', String(BAUD), '-P', 'none', '-t', '3', '-r', '1', '-c', '10', '-1', '-o', '2', pty.a], {
      timeoutMs: 15_000,
    });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const values = new Map<number, number>();
    for (const m of r.stdout.matchAll(/^\[(\d+)\]:\s+(-?\d+)/gm)) values.set(Number(m[1]), Number(m[2]) & 0xffff);
    const s = status(7);
    const expected = [
      s.protocolVersion,
      s.firmwareVersion >>> 16,
      s.firmwareVersion & 0xffff,
      s.datasetVersion >>> 16,
      s.datasetVersion & 0xffff,
      1, // stale
      Math.floor(s.verificationsServed / 65536),
      s.verificationsServed & 0xffff,
      0,
      0,
    ];
    expect([...Array(10)].map((_, i) => values.get(i + 1))).toEqual(expected);
  });
});
