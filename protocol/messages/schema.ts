// Declarative message bodies: field name <-> integer key, type and limits, and one generic
// validator that walks a schema in both directions (decoded CBOR Map -> object, object -> Map).
// TypeScript types are derived from the same schema, so the wire table and the types cannot drift.
//
// Error messages name the field and the rule, never the value: a value may be a card number.

import { ProtocolError } from '../errors.ts';

export const MAX_UINT = Number.MAX_SAFE_INTEGER; // 2^53 - 1: the largest integer a JS number holds

interface Phantom<T> {
  /** Type-level only: the TypeScript type of the field's value. Never set at runtime. */
  readonly __type?: T;
}

export type FieldType<T = unknown> = (
  | { readonly kind: 'uint'; readonly label: string; readonly min: number; readonly max: number }
  | { readonly kind: 'bool'; readonly label: string }
  | {
      readonly kind: 'text';
      readonly label: string;
      readonly minBytes: number;
      readonly maxBytes: number;
      readonly pattern?: RegExp;
    }
  | { readonly kind: 'bytes'; readonly label: string; readonly minBytes: number; readonly maxBytes: number }
  | {
      readonly kind: 'array';
      readonly label: string;
      readonly items: FieldType;
      readonly minItems: number;
      readonly maxItems: number;
    }
  | { readonly kind: 'map'; readonly label: string; readonly body: BodySchema }
) &
  Phantom<T>;

// ---- field type constructors ---------------------------------------------------------------

function uintOf(label: string, limit: number, max: number, min: number): FieldType<number> {
  if (!(Number.isSafeInteger(min) && Number.isSafeInteger(max) && 0 <= min && min <= max && max <= limit)) {
    throw new Error(`schema: bad ${label} range ${min}..${max}`);
  }
  return { kind: 'uint', label, min, max };
}
export const uint = (max = MAX_UINT, min = 0) => uintOf('uint', MAX_UINT, max, min);
export const uint8 = (max = 0xff, min = 0) => uintOf('uint8', 0xff, max, min);
export const uint16 = (max = 0xffff, min = 0) => uintOf('uint16', 0xffff, max, min);
export const uint32 = (max = 0xffff_ffff, min = 0) => uintOf('uint32', 0xffff_ffff, max, min);
export const bool = (): FieldType<boolean> => ({ kind: 'bool', label: 'bool' });

/** UTF-8 text, length in bytes; `pattern` (anchored) is checked after the length. */
export function text(maxBytes: number, opts: { minBytes?: number; pattern?: RegExp } = {}): FieldType<string> {
  return { kind: 'text', label: 'text', minBytes: opts.minBytes ?? 0, maxBytes, pattern: opts.pattern };
}
export function bytes(maxBytes: number, minBytes = 0): FieldType<Uint8Array> {
  return { kind: 'bytes', label: 'bytes', minBytes, maxBytes };
}
export const fixedBytes = (n: number): FieldType<Uint8Array> => bytes(n, n);
export function arrayOf<T>(items: FieldType<T>, maxItems: number, minItems = 0): FieldType<T[]> {
  return { kind: 'array', label: 'array', items, minItems, maxItems };
}
export function mapOf<B extends BodySchema>(body: B): FieldType<BodyType<B>> {
  return { kind: 'map', label: 'map', body };
}

// ---- fields and bodies ---------------------------------------------------------------------

export interface FieldSpec<N extends string = string, T = unknown, O extends boolean = boolean> {
  readonly key: number;
  readonly name: N;
  readonly type: FieldType<T>;
  readonly optional: O;
  /** One line for the specification table. */
  readonly doc?: string;
}

export function req<N extends string, T>(key: number, name: N, type: FieldType<T>, doc?: string): FieldSpec<N, T, false> {
  return { key, name, type, optional: false, doc };
}
export function opt<N extends string, T>(key: number, name: N, type: FieldType<T>, doc?: string): FieldSpec<N, T, true> {
  return { key, name, type, optional: true, doc };
}

export interface BodySchema<S extends readonly FieldSpec[] = readonly FieldSpec[]> {
  readonly fields: S;
  readonly byKey: ReadonlyMap<number, FieldSpec>;
  readonly names: ReadonlySet<string>;
}

/** Keys 0 and 1 belong to the envelope (type, id), so body keys start at 2. */
export const FIRST_BODY_KEY = 2;

export function body<const S extends readonly FieldSpec[]>(...fields: S): BodySchema<S> {
  const byKey = new Map<number, FieldSpec>();
  const names = new Set<string>();
  let last = FIRST_BODY_KEY - 1;
  for (const f of fields) {
    if (!Number.isInteger(f.key) || f.key <= last || f.key > 0xffff) throw new Error(`schema: key ${f.key} of ${f.name} not ascending`);
    if (names.has(f.name) || f.name === 'type' || f.name === 'id') throw new Error(`schema: bad field name ${f.name}`);
    last = f.key;
    byKey.set(f.key, f);
    names.add(f.name);
  }
  return { fields, byKey, names };
}

type Simplify<T> = { [K in keyof T]: T[K] } & {};
type ValueOf<F> = F extends FieldSpec<string, infer T, boolean> ? T : never;

/** The TypeScript object type a body schema describes. */
export type BodyType<B extends BodySchema> =
  B extends BodySchema<infer S>
    ? Simplify<
        { [F in S[number] as F['optional'] extends true ? never : F['name']]: ValueOf<F> } & {
          [F in S[number] as F['optional'] extends true ? F['name'] : never]?: ValueOf<F>;
        }
      >
    : never;

// ---- validation ----------------------------------------------------------------------------

function invalid(path: string, rule: string): ProtocolError {
  return new ProtocolError('INVALID_FIELD', `${path}: ${rule}`, path);
}

export function describeType(t: FieldType): string {
  switch (t.kind) {
    case 'uint':
      return t.min === 0 && t.max === defaultMax(t.label) ? t.label : `${t.label} ${t.min}..${t.max}`;
    case 'bool':
      return 'bool';
    case 'text': {
      const len = t.minBytes === t.maxBytes ? `${t.maxBytes}` : t.minBytes > 0 ? `${t.minBytes}..${t.maxBytes}` : `<=${t.maxBytes}`;
      return `text[${len}]${t.pattern ? ` ${t.pattern.source}` : ''}`;
    }
    case 'bytes': {
      const len = t.minBytes === t.maxBytes ? `${t.maxBytes}` : t.minBytes > 0 ? `${t.minBytes}..${t.maxBytes}` : `<=${t.maxBytes}`;
      return `bytes[${len}]`;
    }
    case 'array':
      return `array[${t.minItems > 0 ? `${t.minItems}..` : '<='}${t.maxItems}] of ${describeType(t.items)}`;
    case 'map':
      return 'map';
  }
}

function defaultMax(label: string): number {
  return label === 'uint8' ? 0xff : label === 'uint16' ? 0xffff : label === 'uint32' ? 0xffff_ffff : MAX_UINT;
}

// A lone surrogate cannot be encoded as UTF-8 (cbor-x would silently write U+FFFD).
const LONE_SURROGATE = /\p{Cs}/u;

function utf8Length(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

function checkUint(t: { label: string; min: number; max: number }, v: unknown, path: string): number {
  let n: number;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'bigint' && v >= 0n && v <= BigInt(MAX_UINT)) n = Number(v);
  else throw invalid(path, `expected ${t.label}`);
  if (!Number.isSafeInteger(n) || n < t.min || n > t.max) throw invalid(path, `expected ${t.label} in ${t.min}..${t.max}`);
  return n;
}

function checkText(t: { minBytes: number; maxBytes: number; pattern?: RegExp }, v: unknown, path: string): string {
  if (typeof v !== 'string') throw invalid(path, 'expected text');
  const n = utf8Length(v);
  if (n < t.minBytes || n > t.maxBytes) throw invalid(path, `text length ${n} not in ${t.minBytes}..${t.maxBytes} bytes`);
  if (t.pattern && !t.pattern.test(v)) throw invalid(path, `text does not match ${t.pattern.source}`);
  return v;
}

function checkBytes(t: { minBytes: number; maxBytes: number }, v: unknown, path: string): Uint8Array {
  if (!(v instanceof Uint8Array)) throw invalid(path, 'expected bytes');
  if (v.length < t.minBytes || v.length > t.maxBytes) {
    throw invalid(path, `byte length ${v.length} not in ${t.minBytes}..${t.maxBytes}`);
  }
  return v;
}

function checkArray(t: { minItems: number; maxItems: number }, v: unknown, path: string): unknown[] {
  if (!Array.isArray(v)) throw invalid(path, 'expected array');
  if (v.length < t.minItems || v.length > t.maxItems) throw invalid(path, `array length ${v.length} not in ${t.minItems}..${t.maxItems}`);
  return v;
}

/** Decoded CBOR value -> JS value of the field (byte strings copied out of the input). */
function readValue(t: FieldType, v: unknown, path: string): unknown {
  switch (t.kind) {
    case 'uint':
      return checkUint(t, v, path);
    case 'bool':
      if (typeof v !== 'boolean') throw invalid(path, 'expected bool');
      return v;
    case 'text':
      return checkText(t, v, path);
    case 'bytes':
      // cbor-x returns a Buffer view of the input; copy so the message owns plain bytes.
      return new Uint8Array(checkBytes(t, v, path));
    case 'array':
      return checkArray(t, v, path).map((item, i) => readValue(t.items, item, `${path}[${i}]`));
    case 'map':
      return readBody(t.body, v, path);
  }
}

/**
 * Decoded CBOR Map -> body object. Keys below `skipBelow` are left to the caller (the envelope's
 * type and id); any other key not in the schema is rejected.
 */
export function readBody(schema: BodySchema, m: unknown, path: string, skipBelow = 0): Record<string, unknown> {
  if (!(m instanceof Map)) throw invalid(path, 'expected map');
  for (const k of m.keys()) {
    if (typeof k === 'number' && k < skipBelow) continue;
    if (typeof k !== 'number' || !schema.byKey.has(k)) throw invalid(path, `unknown key ${typeof k === 'number' ? k : typeof k}`);
  }
  const out: Record<string, unknown> = {};
  for (const f of schema.fields) {
    const v = m.get(f.key);
    if (v === undefined) {
      if (!f.optional) throw invalid(`${path}.${f.name}`, `missing required key ${f.key}`);
      continue;
    }
    out[f.name] = readValue(f.type, v, `${path}.${f.name}`);
  }
  return out;
}

/** JS value of the field -> value ready for deterministic CBOR encoding. */
function writeValue(t: FieldType, v: unknown, path: string): unknown {
  switch (t.kind) {
    case 'uint': {
      const n = checkUint(t, v, path);
      // cbor-x writes numbers >= 2^32 as float64; a bigint becomes a canonical uint64.
      return n > 0xffff_ffff ? BigInt(n) : n;
    }
    case 'bool':
      if (typeof v !== 'boolean') throw invalid(path, 'expected bool');
      return v;
    case 'text': {
      const s = checkText(t, v, path);
      if (LONE_SURROGATE.test(s)) throw invalid(path, 'text is not valid Unicode (lone surrogate)');
      return s;
    }
    case 'bytes':
      return checkBytes(t, v, path);
    case 'array':
      return checkArray(t, v, path).map((item, i) => writeValue(t.items, item, `${path}[${i}]`));
    case 'map':
      return writeBody(t.body, v, path);
  }
}

/**
 * Body object -> Map with keys in ascending order (the deterministic encoding). Properties named
 * in `ignore` (the envelope's type and id) are skipped; any other unknown property is rejected,
 * which catches misspelt optional fields. A property set to undefined counts as absent.
 */
export function writeBody(
  schema: BodySchema,
  obj: unknown,
  path: string,
  into: Map<number, unknown> = new Map(),
  ignore: readonly string[] = [],
): Map<number, unknown> {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj) || obj instanceof Uint8Array) {
    throw invalid(path, 'expected object');
  }
  const rec = obj as Record<string, unknown>;
  for (const name of Object.keys(rec)) {
    if (ignore.includes(name) || rec[name] === undefined) continue;
    if (!schema.names.has(name)) throw invalid(path, `unknown field ${JSON.stringify(name)}`);
  }
  for (const f of schema.fields) {
    const v = rec[f.name];
    if (v === undefined) {
      if (!f.optional) throw invalid(`${path}.${f.name}`, 'missing required field');
      continue;
    }
    into.set(f.key, writeValue(f.type, v, `${path}.${f.name}`));
  }
  return into;
}
