// Pure pieces of the service: PAN detection and scrubbing, import line parsing, gateway choice,
// outcome classification, storage migrations and restart behaviour.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { containsPan, findPan, luhnValid, scrubDeep, scrubPans } from '../../contracts/pan-guard.ts';
import { importRestricted, parseImportLine, splitLines } from '../../server/admin/restricted-import.ts';
import { isHardOutcome, restrictionFor } from '../../rules/restriction.ts';
import { EXPIRY_GRACE_SECONDS, isExpired } from '../../rules/expiry.ts';
import { SqliteStorage } from '../../server/storage/sqlite-storage.ts';
import { MIGRATIONS } from '../../server/storage/migrations.ts';
import { openService } from '../../server/service.ts';
import { httpStatusFor } from '../../server/errors.ts';
import { luhnPan } from './helpers.ts';

const dirs: string[] = [];
const tmp = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'precheck-units-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  while (dirs.length) fs.rmSync(dirs.pop()!, { recursive: true, force: true });
});

describe('PAN guard', () => {
  it('finds every generated Luhn PAN, plain or printed in groups, and masks it in logs', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 }), fc.constantFrom(13, 15, 16, 19), (seed, len) => {
        let x = seed;
        const pan = luhnPan('4', len, () => ((x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31));
        expect(containsPan(`card ${pan} here`)).toBe(true);
        expect(findPan({ a: [{ b: pan }] })).toBe('/a/0/b');
        const log = scrubPans(`x${pan}y`);
        expect(log).not.toContain(pan);
        expect(log).toContain(pan.slice(-4));
      }),
      { numRuns: 200 },
    );
    expect(containsPan('4111 1111 1111 1111')).toBe(true);
    expect(containsPan('3782-822463-10005')).toBe(true);
  });

  it('does not flag tokens, ids and non-Luhn numbers', () => {
    expect(luhnValid('4111111111111112')).toBe(false);
    expect(containsPan('4111111111111112')).toBe(false);
    expect(containsPan('41111111111')).toBe(false); // 11 digits
    expect(containsPan('order-2024-11-23-0042')).toBe(false);
    expect(findPan({ token: '1234567890123456789012345678abcd', amount: 2500 })).toBeNull();
    expect(findPan({ nested: { pan: 'x' } })).toBe('/nested/pan');
  });

  it('does not refuse a UUID whose last group is a Luhn-valid 12-digit run (~1 in 2 800 random UUIDs)', () => {
    fc.assert(
      fc.property(fc.uuid(), fc.integer({ min: 0, max: 2 ** 31 }), (uuid, seed) => {
        let x = seed;
        const tail = luhnPan(String(seed % 10), 12, () => ((x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31));
        expect(luhnValid(tail)).toBe(true);
        const id = `${uuid.slice(0, 24)}${tail}`;
        expect(containsPan(id)).toBe(false);
        expect(findPan({ order: { id }, customer: { accountId: id }, idempotencyKey: id })).toBeNull();
        // ...nor a 12-digit run in other identifiers, nor a longer one glued to letters (hex ids)
        expect(containsPan(`acct:${tail}`)).toBe(false);
        expect(containsPan(`ab${tail}1234cd`)).toBe(false);
      }),
      { numRuns: 300 },
    );
    // A whole value that is a card number, or a card number standing as a word of free text, still is.
    const pan = '4111111111111111';
    expect(findPan({ order: { id: pan } })).toBe('/order/id');
    expect(containsPan(`please charge ${pan}, thanks`)).toBe(true);
    expect(containsPan(`"${pan}"`)).toBe(true);
    expect(containsPan('4111-1111-1111-1111')).toBe(true);
  });

  it('refuses a 13-19 digit card number standing between identifier separators', () => {
    for (const id of ['cli-4012888888881881-x', 'order:4111111111111111', 'a/5555555555554444', '4111111111111111_1']) {
      expect(containsPan(id), id).toBe(true);
    }
    expect(containsPan('ob-0123456789abcdef0123456789abcdef01234567')).toBe(false);
    expect(containsPan('cli-4012888888881882-x')).toBe(false); // not Luhn-valid
  });

  it('names where the card number is: array index, field, a key that is one, the value itself', () => {
    const pan = '4111111111111111';
    expect(findPan(pan)).toBe('/');
    expect(findPan(Number(pan))).toBe('/');
    expect(findPan({ a: [1, 'x', { b: { c: `${pan.slice(0, 4)} ${pan.slice(4, 8)} ${pan.slice(8, 12)} ${pan.slice(12)}` } }] })).toBe('/a/2/b/c');
    expect(findPan({ a: [{ [pan]: 1 }] })).toBe('/a/0/(key)');
    expect(findPan({ x: { 'Card-Number': 'redacted' } })).toBe('/x/Card-Number');
    expect(findPan({ q: pan }, '/query')).toBe('/query/q');
    expect(findPan({ token: '0123456789abcdef0123456789abcdef', bin: '411111', amount: 2500, list: [], none: null, yes: true })).toBeNull();
  });

  it('finds and scrubs URL-encoded and percent-encoded card numbers', () => {
    for (const form of ['4111+1111+1111+1111', '4111%201111%201111%201111', '%34%31%31%31%31%31%31%31%31%31%31%31%31%31%31%31', '4111%2D1111%2D1111%2D1111']) {
      expect(containsPan(form), form).toBe(true);
      const url = `/v1/x?card=${form}&n=1`;
      expect(scrubPans(url), form).toBe('/v1/x?card=411111…1111&n=1');
    }
  });

  it('scrubs nested log objects and error messages, keeping other values', () => {
    const out = scrubDeep({ msg: 'card 4111111111111111', n: 5, err: new Error('bad 5555555555554444') }) as any;
    expect(out.msg).toBe('card 411111…1111');
    expect(out.n).toBe(5);
    expect(out.err.message).toBe('bad 555555…4444');
  });
});

describe('restricted import parsing', () => {
  it('parses plain lines, CSV with reasons, headers and comments', () => {
    expect(parseImportLine('4111 1111 1111 1111\r', 2, 'imp')).toEqual({ digits: '4111111111111111', reason: 'imp' });
    expect(parseImportLine('"5555555555554444","stolen"', 3, 'imp')).toEqual({ digits: '5555555555554444', reason: 'stolen' });
    expect(parseImportLine('number,reason', 1, 'imp')).toBe('skip');
    expect(parseImportLine('# comment', 9, 'imp')).toBe('skip');
    expect(parseImportLine('   ', 9, 'imp')).toBe('skip');
    expect(parseImportLine('4111111111111112', 2, 'imp')).toBe('invalid');
    expect(parseImportLine('4111111111111111,<script>', 2, 'imp')).toBe('invalid');
    expect(parseImportLine('4111111111111111,5555555555554444', 2, 'imp')).toBe('invalid');
  });

  it('splits lines across chunk boundaries and turns over-long lines into one invalid line', async () => {
    async function* parts() {
      yield 'ab';
      yield 'c\nde';
      yield 'f\n' + 'x'.repeat(50);
      yield 'y'.repeat(50) + '\nlast';
    }
    const lines: (string | null)[] = [];
    for await (const l of splitLines(parts(), 20, 1e6)) lines.push(l);
    expect(lines).toEqual(['abc', 'def', null, 'last']);
    await expect(async () => {
      for await (const _ of splitLines(parts(), 20, 10)) void _;
    }).rejects.toMatchObject({ code: 'TOO_LARGE' });
  });

  it('imports in batches and reports line numbers only', async () => {
    const st = new SqliteStorage(path.join(tmp(), 't.db'));
    const lines = ['4111111111111111', 'garbage', '5555555555554444,lost', ''];
    const progress: number[] = [];
    const r = await importRestricted(Readable.from([lines.join('\n')]), { cardKey: new Uint8Array(32).fill(7), storage: st, now: 100, batchSize: 1, onProgress: (p) => progress.push(p.imported) });
    expect(r).toEqual({ lines: 3, imported: 2, added: 2, invalidCount: 1, invalidLines: [2] });
    expect(progress).toEqual([1, 2]);
    await st.close();
  });
});

describe('outcome classification', () => {
  it('restricts on hard declines and fraud, but not on 57/62 or soft declines', () => {
    expect(restrictionFor({ status: 'failure', code: '43' })).toEqual({ reason: '43' });
    expect(restrictionFor({ status: 'failure', code: '05', type: 'fraud' })).toEqual({ reason: 'fraud:05' });
    expect(restrictionFor({ status: 'failure', code: '05', advice: '03' })).toEqual({ reason: '05' });
    expect(restrictionFor({ status: 'failure', code: '57' })).toBeNull();
    expect(restrictionFor({ status: 'failure', code: '51', type: 'soft' })).toBeNull();
    expect(restrictionFor({ status: 'success', code: '43' })).toBeNull();
    expect(isHardOutcome({ status: 'failure', code: '57' })).toBe(true);
    expect(isHardOutcome({ status: 'failure', code: '51' })).toBe(false);
  });

  it('expiry is the end of the expiry month, plus one day of grace (time zones behind UTC)', () => {
    const expiredFrom = Date.UTC(2030, 3, 1) / 1000 + EXPIRY_GRACE_SECONDS;
    expect(isExpired(3, 2030, expiredFrom - 1)).toBe(false);
    expect(isExpired(3, 2030, expiredFrom)).toBe(true);
    expect(isExpired(3, 30, expiredFrom)).toBe(true);
  });
});

describe('storage and restart', () => {
  it('migrates a new database to the latest schema and reopens it without re-running', async () => {
    const file = path.join(tmp(), 's.db');
    const a = new SqliteStorage(file);
    expect(a.schemaVersion).toBe(MIGRATIONS.length);
    await a.upsertBinRule({ prefix: '4', action: 'review', reason: 'r1' });
    await a.upsertBinRule({ prefix: '4111', action: 'decline', reason: 'r2' });
    expect(await a.matchBinRule('411111')).toEqual({ prefix: '4111', action: 'decline', reason: 'r2' });
    expect(await a.matchBinRule('422222')).toEqual({ prefix: '4', action: 'review', reason: 'r1' });
    expect(await a.matchBinRule('522222')).toBeNull();
    expect(a.db.pragma('journal_mode', { simple: true })).toBe('wal');
    await a.close();
    const b = new SqliteStorage(file);
    expect((await b.listBinRules()).length).toBe(2);
    await b.close();
  });

  it('refuses a database from a newer schema', async () => {
    const file = path.join(tmp(), 'n.db');
    const a = new SqliteStorage(file);
    a.db.pragma(`user_version = ${MIGRATIONS.length + 1}`);
    await a.close();
    expect(() => new SqliteStorage(file)).toThrow(/newer/);
  });

  it('keeps keys and the admin key across restarts and refuses a world-readable key file', async () => {
    const dir = tmp();
    const s1 = await openService({ dataDir: dir, logLevel: 'silent' });
    expect(s1.adminKeyCreated).toBe(true);
    const pub = Buffer.from(s1.keys.signingPublicKey).toString('hex');
    await s1.close();
    const s2 = await openService({ dataDir: dir, logLevel: 'silent' });
    expect(s2.adminKeyCreated).toBe(false);
    expect(s2.adminKey).toBe(s1.adminKey);
    expect(Buffer.from(s2.keys.signingPublicKey).toString('hex')).toBe(pub);
    await s2.close();
    fs.chmodSync(path.join(dir, 'card.key'), 0o644);
    await expect(openService({ dataDir: dir, logLevel: 'silent' })).rejects.toThrow(/chmod 600/);
  });

  it('maps error codes to HTTP statuses in one place', () => {
    expect(httpStatusFor('PAN_REJECTED')).toBe(400);
    expect(httpStatusFor('DELTA_UNAVAILABLE')).toBe(404);
    expect(httpStatusFor('RATE_LIMITED')).toBe(429);
    expect(httpStatusFor('WHATEVER')).toBe(500);
  });
});
