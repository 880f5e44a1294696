// CBOR for datasets and manifests: cbor-x does the encoding and decoding, this module adds the
// limits cbor-x lacks. cbor-x has no option to refuse tags (its tag 27 even constructs objects
// from global names) nor to cap nesting depth, so `decodeCbor` first walks the bytes with a
// small well-formedness scanner: definite lengths only, no tags, only false/true/null/floats as
// simple values, every length checked against the bytes that remain, bounded depth. Only then
// does cbor-x decode, and any library error is wrapped as a ProtocolError.
import { Decoder, Encoder } from 'cbor-x';
import { ProtocolError, asProtocolError } from '../errors.ts';

// Maps are encoded from JS Map objects (integer keys, insertion order = canonical order);
// byte strings untagged; no records/structures so the bytes are plain RFC 8949.
const encoder = new Encoder({
  useRecords: false,
  mapsAsObjects: false,
  useTag259ForMaps: false,
  tagUint8Array: false,
  variableMapSize: true,
} as ConstructorParameters<typeof Encoder>[0]);
const decoder = new Decoder({ useRecords: false, mapsAsObjects: false } as ConstructorParameters<typeof Decoder>[0]);

export function encodeCbor(value: unknown): Uint8Array {
  // Copy out of cbor-x's reusable buffer so callers own the bytes.
  return new Uint8Array(encoder.encode(value));
}

export interface CborLimits {
  maxBytes: number;
  maxDepth: number;
}

export function decodeCbor(bytes: Uint8Array, limits: CborLimits): unknown {
  if (!(bytes instanceof Uint8Array)) throw new ProtocolError('MALFORMED', 'expected bytes');
  if (bytes.length > limits.maxBytes) {
    throw new ProtocolError('TOO_LARGE', `CBOR item of ${bytes.length} bytes exceeds ${limits.maxBytes}`);
  }
  if (bytes.length === 0) throw new ProtocolError('MALFORMED', 'empty CBOR item');
  const end = scan(bytes, 0, 0, limits.maxDepth);
  if (end !== bytes.length) throw new ProtocolError('MALFORMED', 'trailing bytes after CBOR item');
  try {
    return decoder.decode(bytes);
  } catch (e) {
    throw asProtocolError(e, 'MALFORMED');
  }
}

function readArg(b: Uint8Array, pos: number, ai: number): [number, number] {
  if (ai < 24) return [ai, pos];
  const need = ai === 24 ? 1 : ai === 25 ? 2 : ai === 26 ? 4 : ai === 27 ? 8 : -1;
  if (need < 0) throw new ProtocolError('MALFORMED', 'reserved or indefinite CBOR length');
  if (pos + need > b.length) throw new ProtocolError('MALFORMED', 'truncated CBOR header');
  let v = 0;
  for (let i = 0; i < need; i++) v = v * 256 + b[pos + i];
  // 8-byte arguments above 2^53 lose precision but are then far beyond any length limit.
  return [v, pos + need];
}

function scan(b: Uint8Array, pos: number, depth: number, maxDepth: number): number {
  if (depth > maxDepth) throw new ProtocolError('LIMIT_EXCEEDED', `CBOR nesting deeper than ${maxDepth}`);
  if (pos >= b.length) throw new ProtocolError('MALFORMED', 'truncated CBOR item');
  const ib = b[pos];
  const major = ib >> 5;
  const ai = ib & 0x1f;
  const [arg, p] = major === 7 ? [0, pos + 1] : readArg(b, pos + 1, ai);
  const remaining = b.length - p;
  switch (major) {
    case 0:
    case 1:
      return p;
    case 2:
    case 3:
      if (arg > remaining) throw new ProtocolError('MALFORMED', 'CBOR string longer than the input');
      return p + arg;
    case 4: {
      if (arg > remaining) throw new ProtocolError('MALFORMED', 'CBOR array longer than the input');
      let q = p;
      for (let i = 0; i < arg; i++) q = scan(b, q, depth + 1, maxDepth);
      return q;
    }
    case 5: {
      if (arg * 2 > remaining) throw new ProtocolError('MALFORMED', 'CBOR map longer than the input');
      let q = p;
      for (let i = 0; i < arg * 2; i++) q = scan(b, q, depth + 1, maxDepth);
      return q;
    }
    case 6:
      throw new ProtocolError('MALFORMED', 'CBOR tags are not allowed');
    default: {
      // major 7: false, true, null and half/single/double floats only
      if (ai === 20 || ai === 21 || ai === 22) return p;
      const size = ai === 25 ? 2 : ai === 26 ? 4 : ai === 27 ? 8 : -1;
      if (size < 0) throw new ProtocolError('MALFORMED', 'CBOR simple value not allowed');
      if (p + size > b.length) throw new ProtocolError('MALFORMED', 'truncated CBOR float');
      return p + size;
    }
  }
}
