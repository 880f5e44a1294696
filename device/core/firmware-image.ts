// Emulated firmware image format. On real hardware the image would be a root filesystem or an
// application bundle; in emulation it is a CBOR map:
//   {1: version (u32, must equal the signed manifest's version),
//    2: selfTest ("ok" | "fail": what the image's power-on self-test will report),
//    3: notes (text, optional, ≤ 1024 chars),
//    4: body (bytes, optional: stands in for the real code, to give images a realistic size)}
import { ProtocolError, isProtocolError } from '../../protocol/errors.ts';
import { decodeDatasetCbor as decodeCbor, encodeCbor } from '../../protocol/cbor.ts';
import { MAX_PAYLOAD_BYTES } from '../../protocol/dataset/codec.ts';

export interface FirmwareImage {
  version: number;
  selfTest: 'ok' | 'fail';
  notes?: string;
  body?: Uint8Array;
}

export function encodeFirmwareImage(img: FirmwareImage): Uint8Array {
  const m = new Map<number, unknown>([
    [1, img.version],
    [2, img.selfTest],
  ]);
  if (img.notes !== undefined) m.set(3, img.notes);
  if (img.body !== undefined) m.set(4, img.body);
  return encodeCbor(m);
}

/** FIRMWARE_INVALID for anything that is not a well-formed image. */
export function decodeFirmwareImage(bytes: Uint8Array): FirmwareImage {
  const bad = (why: string): never => {
    throw new ProtocolError('FIRMWARE_INVALID', `firmware image: ${why}`);
  };
  let v: unknown;
  try {
    v = decodeCbor(bytes, { maxBytes: MAX_PAYLOAD_BYTES, maxDepth: 1 });
  } catch (e) {
    return bad(isProtocolError(e) ? e.message : 'not CBOR');
  }
  if (!(v instanceof Map)) return bad('CBOR map expected');
  for (const k of v.keys()) if (k !== 1 && k !== 2 && k !== 3 && k !== 4) bad('unknown key');
  const version = v.get(1);
  const selfTest = v.get(2);
  const notes = v.get(3);
  const body = v.get(4);
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1 || version > 0xffffffff) bad('version must be a u32');
  if (selfTest !== 'ok' && selfTest !== 'fail') bad('selfTest must be "ok" or "fail"');
  if (notes !== undefined && (typeof notes !== 'string' || notes.length > 1024)) bad('notes must be text ≤ 1024');
  if (body !== undefined && !(body instanceof Uint8Array)) bad('body must be bytes');
  const img: FirmwareImage = { version: version as number, selfTest: selfTest as 'ok' | 'fail' };
  if (notes !== undefined) img.notes = notes as string;
  if (body !== undefined) img.body = new Uint8Array(body as Uint8Array);
  return img;
}
