// The one PAN guard of the project, used by the bridge and the network service alike: for request
// fields (anything the bridge acknowledges, the service would accept) and for log scrubbing.
//
// Detects anything that plausibly IS a card number (PAN) so a process can refuse it at the door,
// and scrubs digit runs from logs. Refusal is deliberately narrower than scrubbing: a value is
// refused when it is a card number — 12-19 digits, or the printed groupings (4-4-4-4[-3], Amex
// 4-6-5, Diners 4-6-4) with spaces or dashes, passing Luhn — standing as a whole field value or as
// a word of free text (bounded by whitespace, quotes, brackets or sentence punctuation), or a
// 13-19 digit Luhn run standing between identifier separators ("cli-4111…-x", "order:4111…").
// A run glued to letters ("ab4111…", random hex) or a 12-digit group (a UUID's last group) is not
// refused: one random UUID in ~2 800 ends in 12 Luhn-valid digits, and one random 24-hex id in
// ~1 000 holds a Luhn-valid 13+ digit run between letters; refusing those made real traffic fail
// at random. Fields named like a card number (pan, number, cardNumber) are refused whatever they
// hold. URL-encoded forms ("4111+1111…", "%20"-separated, "%34%31…") are decoded first.

import luhn10 from 'card-validator/dist/luhn-10.js';

// Before: start, whitespace or an opening quote/bracket/"=". After: end, whitespace, a closing
// quote/bracket, or , ; . ! ? followed by whitespace or the end. Never - _ : / @ # or letters/digits.
const CANDIDATE = new RegExp(
  String.raw`(?<=^|[\s"'(\[{<=])(?:\d{12,19}|\d{4}([ -])\d{4}\1\d{4}\1\d{1,7}|\d{4}([ -])\d{6}\2\d{4,5})(?=$|[\s"')\]}>]|[,;.!?](?:\s|$))`,
  'g',
);
const PAN_KEYS = new Set(['pan', 'number', 'cardnumber', 'card_number', 'primaryaccountnumber', 'accountnumber']);

/** The Luhn check (card-validator's, as the bridge's format checks use); false for anything but digits. */
export function luhnValid(digits: string): boolean {
  return luhn10(digits);
}

/** `body` plus its Luhn check digit (synthetic cards: the simulator, tests, benchmarks). */
export function luhnComplete(body: string): string {
  for (let d = 0; d < 10; d++) if (luhn10(body + d)) return body + d;
  throw new Error('luhnComplete: digits expected');
}

// A 13-19 digit run between identifier separators (or the value's ends), never touching a letter.
const DELIMITED_RUN = /(?<![A-Za-z0-9])\d{13,19}(?![A-Za-z0-9])/g;

/**
 * URL / percent decoding of what could hide a card number: "%3N" → digit, "%20" and "+" → space,
 * "%2D" → dash. Anything else is left as is (never throws, unlike decodeURIComponent).
 */
export function decodeUrlForms(s: string): string {
  if (!s.includes('%') && !s.includes('+')) return s;
  return s.replace(/%3([0-9])|%20|%2[dD]|\+/g, (m, d: string | undefined) => (d !== undefined ? d : m === '%20' || m === '+' ? ' ' : '-'));
}

// What every CANDIDATE or DELIMITED_RUN match holds: a 12-digit run, or a 4-digit group followed
// by its separator. One test without lookbehind or allocation turns away most strings (ids, random
// hex tokens) before the full scan; it never turns away one the scan would refuse.
const MAY_HOLD_PAN = /\d{12}|\d{4}[ -]\d/;

function containsPanPlain(s: string): boolean {
  if (s.length < 12 || !MAY_HOLD_PAN.test(s)) return false;
  CANDIDATE.lastIndex = 0;
  for (const m of s.matchAll(CANDIDATE)) {
    const digits = m[0].replace(/[ -]/g, '');
    if (digits.length >= 12 && digits.length <= 19 && luhnValid(digits)) return true;
  }
  DELIMITED_RUN.lastIndex = 0;
  for (const m of s.matchAll(DELIMITED_RUN)) if (luhnValid(m[0])) return true;
  return false;
}

/**
 * True when the string is, or has as a free-standing word or identifier part, a 12-19 digit
 * Luhn-valid number — plain, spaced, dashed or URL-/percent-encoded.
 */
export function containsPan(s: string): boolean {
  if (s.length < 12) return false;
  if (containsPanPlain(s)) return true;
  const decoded = decodeUrlForms(s);
  return decoded !== s && containsPanPlain(decoded);
}

// Logs are scrubbed more eagerly than requests are refused: every maximal digit run (single
// spaces or dashes allowed, and their URL-encoded forms: "+", "%20", "%2D", digits as "%3N"),
// even glued to letters. A 12-19 digit run passing Luhn keeps its BIN and last four; a longer run
// is redacted whole if any 12-19 digit window of it passes Luhn.
const LOG_RUN = /(?:\d|%3\d)(?:(?:[ +-]|%20|%2[dDbB])?(?:\d|%3\d))*/g;

function hasLuhnWindow(d: string): boolean {
  for (let len = 12; len <= 19; len++) {
    for (let i = 0; i + len <= d.length; i++) if (luhnValid(d.slice(i, i + len))) return true;
  }
  return false;
}

/** Replaces PAN-like runs with BIN…last4 so logs keep what PCI DSS allows. */
export function scrubPans(s: string): string {
  if (s.length < 12) return s;
  return s.replace(LOG_RUN, (run) => {
    if (run.length < 12) return run;
    const digits = run.replace(/%20|%2[dDbB]|[ +-]/g, '').replace(/%3(\d)/g, '$1');
    if (digits.length < 12) return run;
    if (digits.length <= 19) return luhnValid(digits) ? `${digits.slice(0, 6)}…${digits.slice(-4)}` : run;
    return hasLuhnWindow(digits) ? '[digits redacted]' : run;
  });
}

// Lengths of the PAN_KEYS: other keys skip their normalisation (no string made per key).
const PAN_KEY_LENGTHS = new Set([...PAN_KEYS].map((k) => k.length));
const isPanKey = (k: string): boolean => PAN_KEY_LENGTHS.has(k.length) && PAN_KEYS.has(k.toLowerCase().replace(/-/g, '_'));

/**
 * Finds the path of the first PAN-like value in a parsed JSON body: a field named like a card
 * number, or any string / integer that passes the test above. Returns null when clean.
 */
export function findPan(value: unknown, path = '', depth = 0): string | null {
  // The path is put together only on a hit: a clean body (every request) makes no strings.
  const at = findPanAt(value, depth);
  return at === null ? null : path + at || '/';
}

/** The path below `value` of its first PAN-like value ('' for the value itself), or null. */
function findPanAt(value: unknown, depth: number): string | null {
  if (depth > 32) return null;
  if (typeof value === 'string') return containsPan(value) ? '' : null;
  if (typeof value === 'number') {
    if (Number.isInteger(value) && Math.abs(value) >= 1e11) {
      const s = Math.abs(value).toString();
      if (/^\d{12,19}$/.test(s) && luhnValid(s)) return '';
    }
    return null;
  }
  if (value === null || typeof value !== 'object') return null;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const p = findPanAt(value[i], depth + 1);
      if (p !== null) return `/${i}${p}`;
    }
    return null;
  }
  for (const k in value as Record<string, unknown>) {
    if (!Object.hasOwn(value, k)) continue;
    if (isPanKey(k)) return `/${k}`;
    if (containsPan(k)) return '/(key)';
    const p = findPanAt((value as Record<string, unknown>)[k], depth + 1);
    if (p !== null) return `/${k}${p}`;
  }
  return null;
}

/** Deep copy of a log object with every PAN-like string scrubbed. */
export function scrubDeep(value: unknown, depth = 0): unknown {
  if (depth > 16) return value;
  if (typeof value === 'string') return scrubPans(value);
  if (Array.isArray(value)) return value.map((v) => scrubDeep(v, depth + 1));
  if (value instanceof Error) {
    const out: Record<string, unknown> = { type: value.name, message: scrubPans(value.message) };
    if (value.stack) out.stack = scrubPans(value.stack);
    const code = (value as { code?: unknown }).code;
    if (code !== undefined) out.code = code;
    return out;
  }
  // Only plain objects are rebuilt: class instances (Fastify's request/reply) are left to the
  // logger's serializers, which scrub what they emit themselves.
  const proto = value && typeof value === 'object' ? Object.getPrototypeOf(value) : undefined;
  if (proto === Object.prototype || proto === null) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[k] = scrubDeep(v, depth + 1);
    return out;
  }
  return value;
}
