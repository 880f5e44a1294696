// API key lookups for every request, cached: a bridge sends thousands of requests a minute with
// the same key, and the key table changes rarely. Found keys are kept for `ttlMs`; a revocation
// through this instance drops the entry at once, one through another instance on the same
// database takes effect here within `ttlMs` (docs/operations.md). Unknown keys are not cached, so
// a key issued anywhere works at once. Bounded: the oldest entry goes when full.
import type { ApiKeyRecord, KeyStore } from '../storage/storage.ts';

export class ApiKeyCache {
  private readonly entries = new Map<string, { rec: ApiKeyRecord; until: number }>();

  constructor(
    private readonly store: KeyStore,
    private readonly ttlMs = 5000,
    private readonly max = 10_000,
  ) {}

  /** The cached record while it is fresh, else undefined (then ask `find`): no promise on the hot path. */
  cached(hash: string): ApiKeyRecord | undefined {
    const hit = this.entries.get(hash);
    return hit && Date.now() < hit.until ? hit.rec : undefined;
  }

  async find(hash: string): Promise<ApiKeyRecord | null> {
    const hit = this.cached(hash);
    if (hit) return hit;
    const rec = await this.store.findApiKey(hash);
    if (!rec) {
      this.entries.delete(hash);
      return null;
    }
    if (this.entries.size >= this.max) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(hash, { rec, until: Date.now() + this.ttlMs });
    return rec;
  }

  /** After a revocation through this instance. */
  invalidate(): void {
    this.entries.clear();
  }
}
