// Per-merchant routing objective (`precheck server routing`, PUT /v1/admin/merchants/{m}/routing):
// success first unless the merchant explicitly chooses 'value' with its own margin. Persisted in
// the service's meta table (key routing.objective:<merchant>, '*' = default for merchants without
// their own); read through a short cache so a direct CLI change reaches a running service soon.
import { ServiceError } from '../errors.ts';
import type { RoutingObjective } from './segment.ts';

export interface ObjectiveSetting {
  objective: 'success' | 'value';
  /** The merchant's margin on a paid order, basis points of the amount (value objective only). */
  marginBps: number | null;
}

export interface MetaStore {
  getMeta(key: string): Promise<string | null>;
  setMeta(key: string, value: string): Promise<void>;
}

/** The key of the default setting (merchants without their own). */
export const DEFAULT_MERCHANT = '*';
export const MAX_MARGIN_BPS = 100_000; // 1000 %: a margin above the amount itself is already absurd

/** Checks a setting from the API or the CLI; throws INVALID_FIELD with what is wrong. */
export function parseObjectiveSetting(v: { objective?: unknown; marginBps?: unknown }): ObjectiveSetting {
  if (v.objective === 'success') {
    if (v.marginBps !== undefined && v.marginBps !== null) throw new ServiceError('INVALID_FIELD', 'marginBps applies to the value objective only');
    return { objective: 'success', marginBps: null };
  }
  if (v.objective === 'value') {
    const m = v.marginBps;
    if (typeof m !== 'number' || !Number.isInteger(m) || m < 1 || m > MAX_MARGIN_BPS) {
      throw new ServiceError('INVALID_FIELD', `the value objective needs marginBps, an integer 1..${MAX_MARGIN_BPS} (the merchant's margin on a paid order)`);
    }
    return { objective: 'value', marginBps: m };
  }
  throw new ServiceError('INVALID_FIELD', "objective must be 'success' or 'value'");
}

export function toRoutingObjective(s: ObjectiveSetting): RoutingObjective {
  return s.objective === 'value' && s.marginBps ? { kind: 'value', marginBps: s.marginBps } : { kind: 'success' };
}

const key = (merchant: string) => `routing.objective:${merchant}`;

export class MerchantObjectives {
  private readonly cache = new Map<string, { setting: ObjectiveSetting | null; at: number }>();

  constructor(
    private readonly meta: MetaStore,
    private readonly nowMs: () => number = () => Date.now(),
    private readonly ttlMs = 30_000,
  ) {}

  private async own(merchant: string): Promise<ObjectiveSetting | null> {
    const c = this.cache.get(merchant);
    if (c && this.nowMs() - c.at < this.ttlMs) return c.setting;
    const raw = await this.meta.getMeta(key(merchant));
    let setting: ObjectiveSetting | null = null;
    if (raw) {
      try {
        setting = parseObjectiveSetting(JSON.parse(raw) as ObjectiveSetting);
      } catch {
        setting = null; // a damaged row falls back to the default rather than failing payments
      }
    }
    this.cache.set(merchant, { setting, at: this.nowMs() });
    return setting;
  }

  /** The merchant's setting, the default one, or success (built in); with where it came from. */
  async effective(merchant: string): Promise<ObjectiveSetting & { source: 'merchant' | 'default' | 'built-in' }> {
    const m = merchant === DEFAULT_MERCHANT ? null : await this.own(merchant);
    if (m) return { ...m, source: 'merchant' };
    const d = await this.own(DEFAULT_MERCHANT);
    if (d) return { ...d, source: 'default' };
    return { objective: 'success', marginBps: null, source: 'built-in' };
  }

  /** objectiveFor from the cache alone, or undefined when an entry it needs is missing or stale (then ask objectiveFor). */
  cachedObjectiveFor(merchant: string): RoutingObjective | undefined {
    const now = this.nowMs();
    const fresh = (m: string) => {
      const c = this.cache.get(m);
      return c && now - c.at < this.ttlMs ? c : undefined;
    };
    if (merchant !== DEFAULT_MERCHANT) {
      const m = fresh(merchant);
      if (!m) return undefined;
      if (m.setting) return toRoutingObjective(m.setting);
    }
    const d = fresh(DEFAULT_MERCHANT);
    if (!d) return undefined;
    return toRoutingObjective(d.setting ?? { objective: 'success', marginBps: null });
  }

  async objectiveFor(merchant: string): Promise<RoutingObjective> {
    return toRoutingObjective(await this.effective(merchant));
  }

  async set(merchant: string, setting: ObjectiveSetting): Promise<void> {
    const s = parseObjectiveSetting(setting);
    await this.meta.setMeta(key(merchant), JSON.stringify(s));
    this.cache.set(merchant, { setting: s, at: this.nowMs() });
  }
}
