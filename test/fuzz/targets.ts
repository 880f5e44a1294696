// Fuzz targets: every decoder that reads bytes from outside the process. Each target has a seed
// corpus of valid inputs (mutated by the runner) and a `run` that feeds one input and checks what
// must hold. A target returns normally or throws a typed ProtocolError for a refused input; any
// other throw — or a broken property (a decoded dataset that does not re-encode to the same bytes,
// a dispatcher answer that is not a message) — is a finding.
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CBOR_X_REJECTED } from '../../protocol/cbor.ts';
import { ProtocolError } from '../../protocol/errors.ts';
import { decodeInner, decodeMessage, encodeMessage } from '../../protocol/messages/index.ts';
import { decodeContent, decodeDelta, encodeContent, encodeDelta } from '../../protocol/dataset/codec.ts';
import { diffContent } from '../../protocol/dataset/delta.ts';
import { buildSnapshot, decodeManifest, generateSigningKeyPair, openSignedManifest, encodeManifest } from '../../protocol/dataset/index.ts';
import { HID_CMD, HidReassembler, decodeHidError, decodeHidInitRequest, decodeHidInitResponse, decodeHidKeepalive, fragmentHidMessage } from '../../protocol/framing/hid.ts';
import { BLE_CMD, BleReassembler, decodeBleError, decodeBleKeepalive, decodeControlPointLength, decodeServiceRevision, fragmentBleMessage } from '../../protocol/framing/ble.ts';
import { RtuFrameSplitter, decodeAdu, encodeAdu } from '../../protocol/framing/modbus-rtu.ts';
import { decodeReadInputRegistersRequest, decodeReadInputRegistersResponse, decodeStatusRegisters } from '../../protocol/framing/modbus-registers.ts';
import { RtuSlaveTransfer, decodeTransferPdu } from '../../protocol/framing/modbus-transfer.ts';
import { SessionInitiator, SessionResponder, generateStaticKeyPair } from '../../protocol/secure/index.ts';
import { DeviceCore } from '../../device/core/device-core.ts';
import { adaptDeviceCore } from '../../device/session/core-adapter.ts';
import { SessionDispatcher } from '../../device/session/dispatcher.ts';
import { DriverConnection } from '../../device/links/connection.ts';
import { anyMessageArb } from '../protocol/messages-arbitraries.ts';
import { contentArb } from '../protocol/dataset/arbitraries.ts';

export class PropertyViolation extends Error {
  override name = 'PropertyViolation';
}

export interface FuzzTarget {
  name: string;
  /** Valid inputs the runner mutates. */
  seeds: Uint8Array[];
  /** Largest random input the runner generates from scratch. */
  maxRandomLength: number;
  /** false: the main decoder refused the input (a typed refusal); true/undefined: accepted. */
  run(input: Uint8Array): boolean | void | Promise<boolean | void>;
  close?(): void;
}

/** A refusal the decoders are allowed to give: a ProtocolError that is not a wrapped library error. */
export function isTypedRefusal(e: unknown): boolean {
  return e instanceof ProtocolError && e.code !== 'INTERNAL' && e.detail !== CBOR_X_REJECTED;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;

/** Calls `f`; a typed refusal is swallowed, anything else propagates. */
function refusedOr<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch (e) {
    if (isTypedRefusal(e)) return undefined;
    throw e;
  }
}

/** Feeds `input` as frames of `size` bytes (the last one short) to each reassembler in turn: the whole messages, a refusal that is not typed thrown. */
function feedFrames(input: Uint8Array, size: number, reassemblers: { feed(frame: Uint8Array): { kind: string; error?: unknown } }[]): number {
  let messages = 0;
  for (let i = 0; i < Math.max(1, input.length); i += size) {
    const frame = input.subarray(i, i + size);
    for (const r of reassemblers) {
      const res = r.feed(frame);
      if (res.kind === 'error' && !isTypedRefusal(res.error)) throw res.error;
      if (res.kind === 'message') messages++;
    }
  }
  return messages;
}

/** Decodes the input; a decoded value must re-encode to the input (the accepted encoding is canonical). */
function reencodes<T>(what: string, decode: (b: Uint8Array) => T, encode: (v: T) => Uint8Array): (input: Uint8Array) => boolean {
  return (input) => {
    const v = refusedOr(() => decode(input));
    if (v !== undefined && !same(encode(v), input)) throw new PropertyViolation(`decoded ${what} does not re-encode to the input`);
    return v !== undefined;
  };
}

function messageTarget(seed: number): FuzzTarget[] {
  const corpus = fc.sample(anyMessageArb, { numRuns: 400, seed }).flatMap((m) => {
    try {
      return [encodeMessage(m)];
    } catch {
      return [];
    }
  });
  return [
    { name: 'cbor-message', seeds: corpus, maxRandomLength: 64, run: reencodes('message', decodeMessage, encodeMessage) },
    { name: 'cbor-inner', seeds: corpus, maxRandomLength: 64, run: reencodes('message', decodeInner, encodeMessage) },
  ];
}

function datasetTargets(seed: number): FuzzTarget[] {
  const contents = fc.sample(contentArb, { numRuns: 60, seed });
  const snapshots = contents.map(encodeContent);
  const deltas = contents.slice(1).map((c, i) => encodeDelta(diffContent(contents[i], c)));
  const kp = generateSigningKeyPair();
  const manifests = contents.slice(0, 20).map((c, i) => buildSnapshot(c, { version: i + 1, createdAt: 1_700_000_000, expiresAt: 1_700_086_400, chunkSize: 64 }, kp.privateKey));
  const signed = manifests.map((m) => m.manifestBytes);
  const bodies = manifests.map((m) => encodeManifest(m.manifest));
  return [
    {
      name: 'dataset-snapshot',
      seeds: snapshots,
      maxRandomLength: 256,
      // The format promises that a decoded dataset re-encodes to the same bytes (canonical CBOR).
      run: reencodes('dataset', decodeContent, encodeContent),
    },
    {
      name: 'dataset-delta',
      seeds: deltas,
      maxRandomLength: 256,
      run: reencodes('delta', decodeDelta, encodeDelta),
    },
    {
      name: 'manifest',
      seeds: [...signed, ...bodies],
      maxRandomLength: 200,
      run(input) {
        const body = refusedOr(() => decodeManifest(input));
        const m = refusedOr(() => openSignedManifest(input, [kp.publicKey]));
        // Only the genuine signed manifests may open.
        if (m !== undefined && !signed.some((s) => same(s, input))) throw new PropertyViolation(`forged manifest opened: ${hex(input)}`);
        return body !== undefined || m !== undefined;
      },
    },
  ];
}

function hidTarget(): FuzzTarget {
  const valid = fragmentHidMessage(0x01020304, HID_CMD.MSG, new Uint8Array(150).map((_, i) => i));
  const device = new HidReassembler({ role: 'device', maxMessageSize: 4096 });
  const host = new HidReassembler({ role: 'host', maxMessageSize: 4096 });
  return {
    name: 'hid',
    seeds: [Uint8Array.from(valid.flatMap((r) => [...r])), ...valid],
    maxRandomLength: 200,
    run(input) {
      // The input is a stream of 64-byte reports, fed to both roles.
      const messages = feedFrames(input, 64, [device, host]);
      for (const decode of [decodeHidInitRequest, decodeHidInitResponse, decodeHidKeepalive, decodeHidError]) refusedOr(() => decode(input));
      return messages > 0;
    },
  };
}

function bleTarget(): FuzzTarget {
  const frame = 20;
  const valid = fragmentBleMessage(BLE_CMD.MSG, new Uint8Array(100).fill(7), frame);
  const r = new BleReassembler(frame, { maxMessageSize: 2000 });
  return {
    name: 'ble',
    seeds: [Uint8Array.from(valid.flatMap((f) => [...f])), ...valid],
    maxRandomLength: 120,
    run(input) {
      const messages = feedFrames(input, frame, [r]);
      for (const decode of [decodeBleKeepalive, decodeBleError, decodeControlPointLength, decodeServiceRevision]) refusedOr(() => decode(input));
      return messages > 0;
    },
  };
}

function modbusTarget(): FuzzTarget {
  const adus = [
    encodeAdu({ address: 5, functionCode: 0x41, data: Uint8Array.of(0x81, 1, 0, 9, 9) }),
    encodeAdu({ address: 5, functionCode: 0x04, data: Uint8Array.of(0, 0, 0, 10) }),
    encodeAdu({ address: 5, functionCode: 0x41, data: Uint8Array.of(0x01, 1, 0, ...new Uint8Array(40).fill(3)) }),
  ];
  const splitter = new RtuFrameSplitter({ baud: 19200 });
  let t = 0;
  const slave: RtuSlaveTransfer = new RtuSlaveTransfer({
    address: 5,
    maxMessageSize: 1000,
    onRequest: (m, tid) => slave.respond(m, tid),
    inputRegisters: () => new Uint16Array(10),
  });
  return {
    name: 'modbus-rtu',
    seeds: adus,
    maxRandomLength: 300,
    run(input) {
      for (const r of splitter.push(input, (t += 5))) if (r.kind === 'error' && !isTypedRefusal(r.error)) throw r.error;
      const adu = refusedOr(() => decodeAdu(input));
      if (adu) {
        const out = slave.handle(adu);
        if (out) refusedOr(() => decodeAdu(out)) ?? (() => { throw new PropertyViolation('slave answered a malformed ADU'); })();
        refusedOr(() => decodeTransferPdu(adu.data));
        refusedOr(() => decodeReadInputRegistersRequest(adu.data, 10));
        refusedOr(() => decodeReadInputRegistersResponse(adu.data, 10));
      }
      refusedOr(() => decodeStatusRegisters(new Uint16Array(input.buffer.slice(input.byteOffset, input.byteOffset + (input.length & ~1)))));
      return adu !== undefined;
    },
  };
}

function noiseTarget(): FuzzTarget {
  const device = generateStaticKeyPair();
  const hosts = [generateStaticKeyPair(), generateStaticKeyPair()];
  const seeds = hosts.flatMap((h) => [0, 1, 2].map(() => new SessionInitiator({ staticKeyPair: h, deviceStatic: device.publicKey }).init()));
  return {
    name: 'noise-responder',
    seeds,
    maxRandomLength: 120,
    run(input) {
      const r = new SessionResponder({ staticKeyPair: device, pairedHosts: () => hosts.map((h) => h.publicKey) });
      const out = refusedOr(() => r.respond(input));
      if (out !== undefined && !seeds.some((s) => same(s, input))) throw new PropertyViolation(`forged SESSION_INIT accepted: ${hex(input)}`);
      return out !== undefined;
    },
  };
}

/** The device's whole session dispatcher on a real DeviceCore (SQLite in a temp dir). */
async function dispatcherTarget(seed: number): Promise<FuzzTarget> {
  const dir = mkdtempSync(join(tmpdir(), 'precheck-fuzz-device-'));
  const signing = generateSigningKeyPair();
  const core = DeviceCore.open(dir, { provision: { serverSigningPublicKey: signing.publicKey, cardKey: new Uint8Array(32).fill(9) } });
  const opened = adaptDeviceCore(core);
  const host = generateStaticKeyPair();
  opened.pairedHosts.add(host.publicKey);
  const d = new SessionDispatcher({ core: opened, confirmPairing: async () => false });
  const conn = new DriverConnection('fuzz:dispatcher', 'hid-cable');
  const si = new SessionInitiator({ staticKeyPair: host, deviceStatic: opened.staticKeyPair().publicKey });
  const resp = decodeMessage(await d.handle(encodeMessage({ type: 'SESSION_INIT', id: 1, noise: si.init() }), conn));
  if (resp.type !== 'SESSION_RESP') throw new Error(`fuzz setup: no session (${resp.type})`);
  const channel = si.finish(resp.noise).channel;
  const inner = fc.sample(anyMessageArb, { numRuns: 300, seed }).flatMap((m) => {
    try {
      return [encodeMessage(m)];
    } catch {
      return [];
    }
  });
  let id = 100;
  return {
    name: 'dispatcher',
    seeds: inner,
    maxRandomLength: 64,
    async run(input) {
      // Half as a plain message, half sealed in the live session (reaching every inner handler).
      const sealed = input.length > 0 && (input[0] & 1) === 1;
      const msg = sealed ? encodeMessage({ type: 'SECURE', id: (id = (id + 1) & 0xffff), ...channel.seal(input) }) : input;
      const answer = await d.handle(msg, conn);
      let m;
      try {
        m = decodeMessage(answer);
      } catch (e) {
        throw new PropertyViolation(`dispatcher answer is not a message (${(e as Error).message})`);
      }
      if (m.type === 'ERROR') return false;
      if (sealed && m.type === 'SECURE_RES') {
        try {
          decodeInner(channel.open(m));
        } catch (e) {
          throw new PropertyViolation(`sealed answer does not open to a message (${(e as Error).message})`);
        }
      }
      return true;
    },
    close() {
      d.close();
      core.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function allTargets(seed: number): Promise<FuzzTarget[]> {
  return [...messageTarget(seed), ...datasetTargets(seed), hidTarget(), bleTarget(), modbusTarget(), noiseTarget(), await dispatcherTarget(seed)];
}
