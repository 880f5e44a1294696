// Turns the service's tables into the dataset content devices hold (protocol/dataset types).
import { FAILURE_TYPES, type DatasetContent, type HistoryEvent } from '../../protocol/dataset/types.ts';
import type { DatasetRoutes } from './routes.ts';
import type { DatasetTables, HistoryRow } from '../storage/storage.ts';

const CODE_RE = /^[A-Za-z0-9]{1,8}$/;
const ADVICE_RE = /^[0-9]{2}$/;

export function historyEvent(r: HistoryRow): HistoryEvent {
  const e: HistoryEvent = { at: r.at, amount: r.amount, currency: r.currency, status: r.status };
  if (r.code && CODE_RE.test(r.code)) e.code = r.code;
  if (r.type && (FAILURE_TYPES as readonly string[]).includes(r.type)) e.type = r.type as HistoryEvent['type'];
  if (r.advice && ADVICE_RE.test(r.advice)) e.advice = r.advice;
  if (r.gateway) e.gateway = r.gateway.slice(0, 64);
  if (typeof r.crossBorder === 'boolean') e.crossBorder = r.crossBorder;
  return e;
}

export function contentFromTables(t: DatasetTables, r: DatasetRoutes): DatasetContent {
  const content: DatasetContent = {
    restricted: t.restricted.map((r) => ({ token: r.token, reason: r.reason.slice(0, 64) })),
    knownGood: t.knownGood.map((token) => ({ token })),
    history: t.history.map((h) => {
      const entry: DatasetContent['history'][number] = { token: h.token, events: h.events.map(historyEvent) };
      if (h.brand) entry.brand = h.brand.slice(0, 32);
      return entry;
    }),
    binRules: t.binRules.map((b) => ({ prefix: b.prefix, action: b.action, reason: b.reason })),
    prompts: t.prompts.map((p) => ({ code: p.code, lang: p.lang, message: p.message })),
    routes: r.routes,
  };
  if (r.gatewayHealth.length > 0) content.gatewayHealth = r.gatewayHealth;
  if (r.floorLimits) content.floorLimits = r.floorLimits;
  return content;
}
