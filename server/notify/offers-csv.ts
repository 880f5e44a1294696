// Import of the merchant-offers catalogue from CSV (RFC 4180 quoting), streamed with the
// restricted import's bounded line splitter: header `merchant,name,category,lat,lon,item,price,currency`
// (any column order), one offer per line; a merchant's location and name come from its lines.
// Invalid lines are reported by number; text that looks like a card number is refused.
import { splitLines } from '../admin/restricted-import.ts';
import { ServiceError } from '../errors.ts';
import { containsPan } from '../../contracts/pan-guard.ts';
import type { CatalogueMerchant, Offer } from './store.ts';

export const OFFER_COLUMNS = ['merchant', 'name', 'category', 'lat', 'lon', 'item', 'price', 'currency'] as const;
export type OfferRow = { merchant: string; name: string; category: string; lat: number; lon: number; item: string; price: number; currency: string };

export interface OffersImportReport {
  lines: number;
  offers: number;
  merchants: number;
  invalidCount: number;
  invalidLines: number[];
}

/** Splits one CSV record; null when quoting is broken. */
export function parseCsvLine(line: string): string[] | null {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    if (line[i] === '"') {
      let v = '';
      i++;
      for (;;) {
        const q = line.indexOf('"', i);
        if (q < 0) return null;
        v += line.slice(i, q);
        if (line[q + 1] === '"') {
          v += '"';
          i = q + 2;
          continue;
        }
        i = q + 1;
        break;
      }
      out.push(v);
      if (i === line.length) return out;
      if (line[i] !== ',') return null;
      i++;
    } else {
      const c = line.indexOf(',', i);
      if (c < 0) {
        out.push(line.slice(i));
        return out;
      }
      out.push(line.slice(i, c));
      i = c + 1;
    }
  }
}

const ID_RE = /^[A-Za-z0-9_.:/@#-]{1,64}$/;
const TEXT_RE = /^[^\u0000-\u001f\u007f]{1,128}$/u;

/** Validates one offer (from CSV or JSON); returns null when invalid. */
export function validOffer(r: Record<string, unknown>): OfferRow | null {
  const s = (k: string) => (typeof r[k] === 'string' ? (r[k] as string).trim() : typeof r[k] === 'number' ? String(r[k]) : '');
  const merchant = s('merchant');
  const name = s('name');
  const category = s('category');
  const item = s('item');
  const currency = s('currency');
  const lat = Number(s('lat'));
  const lon = Number(s('lon'));
  const priceText = s('price');
  if (!ID_RE.test(merchant) || !TEXT_RE.test(name) || !TEXT_RE.test(item) || !/^[0-9]{4}$/.test(category) || !/^[A-Z]{3}$/.test(currency)) return null;
  if (!/^-?[0-9]{1,3}(\.[0-9]{1,9})?$/.test(s('lat')) || !/^-?[0-9]{1,3}(\.[0-9]{1,9})?$/.test(s('lon')) || Math.abs(lat) > 90 || Math.abs(lon) > 180) return null;
  if (!/^[0-9]{1,13}$/.test(priceText)) return null;
  if (containsPan(name) || containsPan(item)) return null;
  return { merchant, name, category, lat, lon, item, price: Number(priceText), currency };
}

export function splitRows(rows: OfferRow[]): { merchants: CatalogueMerchant[]; offers: Offer[] } {
  const merchants = new Map<string, CatalogueMerchant>();
  const offers: Offer[] = [];
  for (const r of rows) {
    merchants.set(r.merchant, { id: r.merchant, name: r.name, category: r.category, lat: r.lat, lon: r.lon });
    offers.push({ merchantId: r.merchant, item: r.item, price: r.price, currency: r.currency });
  }
  return { merchants: [...merchants.values()], offers };
}

async function* utf8(source: AsyncIterable<Uint8Array | string>): AsyncGenerator<string> {
  const dec = new TextDecoder('utf-8', { fatal: false });
  for await (const part of source) yield typeof part === 'string' ? part : dec.decode(part, { stream: true });
  const tail = dec.decode();
  if (tail) yield tail;
}

export async function importOffersCsv(
  source: AsyncIterable<Uint8Array | string>,
  write: (batch: OfferRow[]) => void,
  o: { maxBytes?: number; maxLineBytes?: number; batchSize?: number; maxReportedInvalid?: number } = {},
): Promise<OffersImportReport> {
  const report: OffersImportReport = { lines: 0, offers: 0, merchants: 0, invalidCount: 0, invalidLines: [] };
  const invalid = (n: number) => {
    report.invalidCount++;
    if (report.invalidLines.length < (o.maxReportedInvalid ?? 100)) report.invalidLines.push(n);
  };
  let columns: string[] | null = null;
  let batch: OfferRow[] = [];
  const merchants = new Set<string>();
  const flush = () => {
    if (batch.length === 0) return;
    write(batch);
    report.offers += batch.length;
    batch = [];
  };
  for await (const raw of splitLines(utf8(source), o.maxLineBytes ?? 2048, o.maxBytes ?? 512 * 1024 * 1024)) {
    report.lines++;
    if (raw === null) {
      invalid(report.lines);
      continue;
    }
    const line = raw.replace(/\r$/, '').replace(/^\uFEFF/, '');
    if (line.trim() === '') continue;
    const cells = parseCsvLine(line);
    if (!columns) {
      const header = cells?.map((c) => c.trim().toLowerCase()) ?? [];
      const missing = OFFER_COLUMNS.filter((c) => !header.includes(c));
      if (missing.length > 0) throw new ServiceError('INVALID_FIELD', `CSV header must name the columns ${OFFER_COLUMNS.join(',')} (missing ${missing.join(',')})`);
      columns = header;
      continue;
    }
    if (!cells || cells.length !== columns.length) {
      invalid(report.lines);
      continue;
    }
    const rec: Record<string, string> = {};
    columns.forEach((c, i) => (rec[c] = cells[i]));
    const row = validOffer(rec);
    if (!row) {
      invalid(report.lines);
      continue;
    }
    merchants.add(row.merchant);
    batch.push(row);
    if (batch.length >= (o.batchSize ?? 10_000)) flush();
  }
  if (!columns) throw new ServiceError('INVALID_FIELD', 'empty CSV: a header line is required');
  flush();
  report.merchants = merchants.size;
  return report;
}
