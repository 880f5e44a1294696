// USB HID over the virtual cable: HidCableTransport (host) ↔ HidCableServer (device), a real
// unix socket carrying 64-byte reports through the project's CTAPHID framing on both ends.
// The exchange behaviour every cable shares is in cable-cases.ts; here what is HID's own.

import { randomBytes, randomInt } from 'node:crypto';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { HidCableServer } from '../../device/links/hid-cable-server.ts';
import { HidCableTransport } from '../../host-bridge/transports/hid-cable-transport.ts';
import type { HidChannelTransport } from '../../host-bridge/transports/hid-channel-transport.ts';
import { HID_CMD, HID_ERR, HID_MAX_MESSAGE } from '../../protocol/framing/hid.ts';
import { onceEvent, withTimeout } from '../../testkit/wait.ts';
import { CableRig, cableExchangeCases } from './cable-cases.ts';

describe('HID cable: HidCableTransport ↔ HidCableServer', () => {
  const rig = new CableRig<HidChannelTransport>('precheck-hid-');

  function start(opts: { keepaliveMs?: number } = {}): Promise<HidChannelTransport> {
    const socketPath = rig.tmp.file('hid.sock');
    const server = new HidCableServer({
      socketPath,
      handler: rig.deviceHandler,
      onRejectedFrame: rig.rejected.bump,
      endpoint: { keepaliveMs: opts.keepaliveMs },
    });
    return rig.connect(server, () => HidCableTransport.open({ socketPath }));
  }

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
    expect(rig.conns).toHaveLength(1);
    expect(rig.conns[0].link).toBe('hid-cable');
    expect(rig.conns[0].id).toContain(`cid=${t.info!.cid.toString(16).padStart(8, '0')}`);
    expect(Buffer.from(await t.ping(Buffer.from('ping'))).toString()).toBe('ping');
  });

  it('refuses an oversized message locally', async () => {
    const t = await start();
    await expect(t.request(new Uint8Array(HID_MAX_MESSAGE + 1))).rejects.toMatchObject({ code: 'TOO_LARGE' });
  });

  it('garbage reports get an ERROR packet, are counted, and the next exchange works', async () => {
    const t = await start();
    // A second host on the cable writes garbage: a report on a channel nobody allocated.
    const raw = net.connect(rig.tmp.file('hid.sock'));
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
    const before = rig.rejected.value;
    raw.write(garbage);
    const report = await withTimeout(got, 3000, 'ERROR report');
    expect(report.readUInt32BE(0)).toBe(0x1234_5678);
    expect(report[4]).toBe(HID_CMD.ERROR);
    expect((report[5] << 8) | report[6]).toBe(1);
    expect(report[7]).toBe(HID_ERR.INVALID_CHANNEL);
    await rig.rejected.reach(before + 1);
    // A partial report followed by a close is dropped without harm.
    raw.end(randomBytes(10));
    const msg = randomBytes(500);
    expect(Buffer.from(await t.request(msg)).equals(msg)).toBe(true);
  });

  // Last, as before the split: the 150 ms keepalive case is timing-sensitive on a cold process.
  cableExchangeCases(rig, start);
});
