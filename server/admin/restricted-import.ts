// Streaming import of restricted cards: one PAN per line, or CSV "number,reason" (an optional
// header line is skipped). Each number is tokenised the moment its line is read and the number is
// dropped; only token, BIN, last four and reason are stored, in batches. Invalid lines are
// reported by line number only (never their content).
// Lines are split by hand rather than with node:readline because readline has no line-length
// limit: a body without newlines would otherwise be buffered whole.
import { cardToken, panBin, panLast4 } from '../../protocol/dataset/token.ts';
import { luhnValid, containsPan } from '../../contracts/pan-guard.ts';
import { ServiceError } from '../errors.ts';
import type { RestrictedEntry, Storage } from '../storage/storage.ts';

export interface ImportOptions {
  cardKey: Uint8Array;
  storage: Storage;
  now: number;
  source?: string;
  defaultReason?: string;
  expiresAt?: number | null;
  batchSize?: number;
  maxBytes?: number;
  maxLineBytes?: number;
  /** Invalid line numbers kept in the report (the count is always exact). */
  maxReportedInvalid?: number;
  onProgress?: (p: { lines: number; imported: number }) => void;
}

export interface ImportReport {
  lines: number;
  imported: number;
  /** Rows that were not on the list before. */
  added: number;
  invalidCount: number;
  /** 1-based line numbers of invalid lines (first maxReportedInvalid). */
  invalidLines: number[];
}

const REASON_RE = /^[A-Za-z0-9_.:\- ]{1,64}$/;

/** Async line splitter with a per-line byte limit (over-long lines yield null) and a total limit. */
export async function* splitLines(source: AsyncIterable<Uint8Array | string>, maxLineBytes: number, maxBytes: number): AsyncGenerator<string | null> {
  let pending = '';
  let skipping = false; // inside an over-long line: drop bytes up to its newline
  let total = 0;
  for await (const part of source) {
    const s = typeof part === 'string' ? part : Buffer.from(part).toString('latin1');
    total += s.length;
    if (total > maxBytes) throw new ServiceError('TOO_LARGE', `import body exceeds ${maxBytes} bytes`);
    let pos = 0;
    while (pos < s.length) {
      const nl = s.indexOf('\n', pos);
      if (skipping) {
        if (nl < 0) break;
        skipping = false;
        pos = nl + 1;
        continue;
      }
      if (nl < 0) {
        pending += s.slice(pos);
        if (pending.length > maxLineBytes) {
          pending = '';
          skipping = true;
          yield null;
        }
        break;
      }
      const line = pending + s.slice(pos, nl);
      pending = '';
      pos = nl + 1;
      yield line.length > maxLineBytes ? null : line;
    }
  }
  if (!skipping && pending.length > 0) yield pending.length > maxLineBytes ? null : pending;
}

/** Parses one line: {digits, reason} | 'skip' (blank/comment/header) | 'invalid'. */
export function parseImportLine(raw: string, lineNo: number, defaultReason: string): { digits: string; reason: string } | 'skip' | 'invalid' {
  const line = raw.replace(/\r$/, '').trim();
  if (line === '' || line.startsWith('#')) return 'skip';
  const comma = line.indexOf(',');
  let num = comma >= 0 ? line.slice(0, comma) : line;
  let reason = comma >= 0 ? line.slice(comma + 1).trim() : defaultReason;
  num = num.trim().replace(/^"|"$/g, '');
  reason = reason.replace(/^"|"$/g, '').trim() || defaultReason;
  if (lineNo === 1 && /^[A-Za-z_ ]+$/.test(num)) return 'skip'; // header "number,reason"
  const digits = num.replace(/[ -]/g, '');
  if (!/^[0-9]{12,19}$/.test(digits) || !luhnValid(digits)) return 'invalid';
  if (!REASON_RE.test(reason) || containsPan(reason)) return 'invalid';
  return { digits, reason };
}

export async function importRestricted(source: AsyncIterable<Uint8Array | string>, o: ImportOptions): Promise<ImportReport> {
  const batchSize = o.batchSize ?? 5000;
  const maxReported = o.maxReportedInvalid ?? 1000;
  const report: ImportReport = { lines: 0, imported: 0, added: 0, invalidCount: 0, invalidLines: [] };
  let batch: RestrictedEntry[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    report.added += await o.storage.addRestricted(batch);
    report.imported += batch.length;
    batch = [];
    o.onProgress?.({ lines: report.lines, imported: report.imported });
  };
  for await (const raw of splitLines(source, o.maxLineBytes ?? 1024, o.maxBytes ?? Number.MAX_SAFE_INTEGER)) {
    report.lines++;
    const parsed = raw === null ? 'invalid' : parseImportLine(raw, report.lines, o.defaultReason ?? 'imported');
    if (parsed === 'skip') continue;
    if (parsed === 'invalid') {
      report.invalidCount++;
      if (report.invalidLines.length < maxReported) report.invalidLines.push(report.lines);
      continue;
    }
    batch.push({
      token: cardToken(o.cardKey, parsed.digits),
      bin: panBin(parsed.digits),
      last4: panLast4(parsed.digits),
      reason: parsed.reason,
      source: o.source ?? 'import',
      addedAt: o.now,
      expiresAt: o.expiresAt ?? null,
    });
    if (batch.length >= batchSize) await flush();
  }
  await flush();
  return report;
}
