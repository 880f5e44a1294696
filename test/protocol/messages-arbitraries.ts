// fast-check arbitraries generated from the message catalogue's schema, so every message type
// and every field limit is exercised without hand-written generators. Other test suites (device,
// host bridge fuzzing) may import these too.

import fc from 'fast-check';
import { CATALOGUE, type Message, type MessageName } from '../../protocol/messages/catalogue.ts';
import type { BodySchema, FieldType } from '../../protocol/messages/schema.ts';

const utf8Len = (s: string) => Buffer.byteLength(s, 'utf8');

function clipUtf8(s: string, maxBytes: number): string {
  let out = '';
  let n = 0;
  for (const ch of s) {
    const w = utf8Len(ch);
    if (n + w > maxBytes) break;
    out += ch;
    n += w;
  }
  return out;
}

// Values just around every CBOR head-size boundary, so shortest-form encoding gets exercised.
const INT_EDGES = [0, 1, 23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1];

function uintArb(min: number, max: number): fc.Arbitrary<number> {
  const edges = [min, max, ...INT_EDGES.filter((e) => e >= min && e <= max)];
  const body =
    max <= 0x7fff_ffff
      ? fc.integer({ min, max })
      : fc.bigInt({ min: BigInt(min), max: BigInt(max) }).map((b) => Number(b));
  return fc.oneof({ weight: 4, arbitrary: body }, { weight: 1, arbitrary: fc.constantFrom(...edges) });
}

function textArb(t: Extract<FieldType, { kind: 'text' }>): fc.Arbitrary<string> {
  if (t.pattern) {
    return fc.stringMatching(t.pattern).filter((s) => utf8Len(s) >= t.minBytes && utf8Len(s) <= t.maxBytes);
  }
  const any = fc.string({ unit: 'binary', maxLength: t.maxBytes }).map((s) => clipUtf8(s, t.maxBytes));
  const full = fc.string({ unit: 'binary', minLength: t.maxBytes, maxLength: t.maxBytes }).map((s) => clipUtf8(s, t.maxBytes));
  const ascii = fc.string({ unit: 'grapheme-ascii', maxLength: t.maxBytes });
  return fc.oneof(ascii, any, full).filter((s) => utf8Len(s) >= t.minBytes);
}

export function fieldArb(t: FieldType): fc.Arbitrary<unknown> {
  switch (t.kind) {
    case 'uint':
      return uintArb(t.min, t.max);
    case 'bool':
      return fc.boolean();
    case 'text':
      return textArb(t);
    case 'bytes': {
      const small = fc.uint8Array({ minLength: t.minBytes, maxLength: Math.min(t.maxBytes, Math.max(t.minBytes, 64)) });
      if (t.maxBytes <= 64) return small;
      const large = fc.uint8Array({ minLength: t.minBytes, maxLength: t.maxBytes, size: 'max' });
      return fc.oneof({ weight: 4, arbitrary: small }, { weight: 1, arbitrary: large });
    }
    case 'array':
      return fc.array(fieldArb(t.items), { minLength: t.minItems, maxLength: t.maxItems });
    case 'map':
      return bodyArb(t.body);
  }
}

export function bodyArb(schema: BodySchema): fc.Arbitrary<Record<string, unknown>> {
  const model: Record<string, fc.Arbitrary<unknown>> = {};
  for (const f of schema.fields) model[f.name] = fieldArb(f.type);
  const requiredKeys = schema.fields.filter((f) => !f.optional).map((f) => f.name);
  return fc.record(model, { requiredKeys });
}

export const messageIdArb = uintArb(0, 0xffff_ffff);

export function messageArbOf<K extends MessageName>(name: K): fc.Arbitrary<Extract<Message, { type: K }>> {
  return fc
    .tuple(messageIdArb, bodyArb(CATALOGUE[name].body))
    .map(([id, b]) => ({ type: name, id, ...b }) as unknown as Extract<Message, { type: K }>);
}

export const MESSAGE_NAMES_LIST = Object.keys(CATALOGUE) as MessageName[];

/** Any message of any type. */
export const anyMessageArb: fc.Arbitrary<Message> = fc.oneof(...MESSAGE_NAMES_LIST.map((n) => messageArbOf(n) as fc.Arbitrary<Message>));
