// BLE over the virtual cable: BleCableTransport (host) ↔ BleCableServer (device), a real unix
// socket carrying GATT operations whose values are exactly the BLE fragments.
// The exchange behaviour every cable shares is in cable-cases.ts; here what is BLE's own.

import { randomBytes, randomInt } from 'node:crypto';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { BleCableServer } from '../../device/links/ble-cable-server.ts';
import { BleCableTransport } from '../../host-bridge/transports/ble-cable-transport.ts';
import type { BleChannelTransport } from '../../host-bridge/transports/ble-channel-transport.ts';
import { BLE_CMD, BLE_DEFAULT_MAX_MESSAGE, BLE_ERR } from '../../protocol/framing/ble.ts';
import { BLE_CABLE_OP, BleCableRecordDecoder, encodeBleCableRecord } from '../../link-io/ble-cable-record.ts';
import { deferred, onceEvent, withTimeout } from '../../testkit/wait.ts';
import { CableRig, cableExchangeCases } from './cable-cases.ts';

describe('BLE cable: BleCableTransport ↔ BleCableServer', () => {
  const rig = new CableRig<BleChannelTransport>('precheck-ble-');

  function start(frameLength = 244, opts: { keepaliveMs?: number; attMtu?: number } = {}): Promise<BleChannelTransport> {
    const socketPath = rig.tmp.file('ble.sock');
    const server = new BleCableServer({
      socketPath,
      frameLength,
      handler: rig.deviceHandler,
      onRejectedFrame: rig.rejected.bump,
      endpoint: { keepaliveMs: opts.keepaliveMs },
    });
    return rig.connect(server, () => BleCableTransport.open({ socketPath, attMtu: opts.attMtu }));
  }

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
      expect(rig.conns).toHaveLength(1);
      expect(rig.conns[0].link).toBe('ble-cable');
    });
  }

  it('garbage fragments get an ERROR notification and are counted; nonsense records drop only that link', async () => {
    const t = await start();
    const raw = net.connect(rig.tmp.file('ble.sock'));
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
    const before = rig.rejected.value;
    // A continuation fragment with no message in progress.
    raw.write(encodeBleCableRecord(BLE_CABLE_OP.WRITE_CONTROL_POINT, Uint8Array.of(0x05, 1, 2, 3)));
    await withTimeout(gotNote.promise, 3000, 'ERROR notification');
    expect([...notes[0]]).toEqual([BLE_CMD.ERROR, 0, 1, BLE_ERR.INVALID_SEQ]);
    await rig.rejected.reach(before + 1);
    // A record no radio could produce: that link is dropped and counted.
    const rawClosed = onceEvent(raw, 'close', 3000);
    raw.write(Uint8Array.of(0x7e, 0, 0));
    await rawClosed;
    await rig.rejected.reach(before + 2);
    // The real host's link is untouched.
    const msg = randomBytes(3000);
    expect(Buffer.from(await t.request(msg)).equals(msg)).toBe(true);
  });

  // Last, as before the split: the 150 ms keepalive case is timing-sensitive on a cold process.
  cableExchangeCases(rig, (opts) => start(244, opts));
});
