// Two dataset slots (A/B) and the active-slot pointer. A snapshot is written into the inactive
// slot, checked, and the pointer switched; a delta is applied in place to the active slot (only
// the rows it names are written) and the result hash-checked. Each install is ONE SQLite
// transaction (WAL, synchronous=FULL): a failure or power loss at any point rolls it back and
// leaves the previous dataset active and intact — the atomicity comes from SQLite's journal, so a
// delta need not copy the whole slot first (that copy grew with every card the slot holds).
import crypto from 'node:crypto';
import { ProtocolError } from '../../protocol/errors.ts';
import type { BinAction, BinRule, DatasetContent, DatasetDelta, DatasetManifest, FloorLimits, GatewayHealth, HistoryEvent, Prompt, RouteBand, RouteRegion } from '../../protocol/dataset/types.ts';
import { binPrefixes } from '../../rules/bin-rules.ts';
import { checkFuseFilter, fuseFilterContains, type FuseFilter } from '../../protocol/dataset/fuse-filter.ts';
import type { Statement } from 'better-sqlite3';
import type { Db } from './database.ts';
import { DATASET_TABLES, SLOTS, type Slot, otherSlot } from './schema.ts';
import { slotContentHash, storeHistoryEncodings } from './slot-content-hash.ts';
import { ROUTE_COLUMNS, routesFromRows } from './route-rows.ts';
import { readFloor } from './floor-rows.ts';

export interface SlotMeta {
  slot: Slot;
  version: number;
  createdAt: number;
  expiresAt: number;
  contentHash: Uint8Array;
  installedAt: number;
}

export interface CardFacts {
  restricted: { reason: string } | null;
  /** hit in the slot's restricted filter (only looked at when not restricted exactly) */
  restrictedMaybe: boolean;
  knownGood: boolean;
  history: { brand: string | null; events: HistoryEvent[] } | null;
}

export type InstallPayload = { kind: 'snapshot'; content: DatasetContent } | { kind: 'delta'; delta: DatasetDelta };

export interface InstallHooks {
  /** test hook: runs inside the transaction just before the switch (snapshot: the pointer; delta: the slot's meta) */
  beforeSwitch?: () => void;
}

interface SlotStatements {
  restricted: Statement;
  knownGood: Statement;
  history: Statement;
  bin: Statement;
  prompts: Statement;
  routes: Statement;
  health: Statement;
}

/** A route row as the slot holds it ('*' = any region / band). */
export interface SlotRoute {
  region: RouteRegion | '*';
  band: RouteBand | '*';
  gateway: string;
  successRate: number;
  rank: number | null;
}



export class DatasetSlots {
  private readonly db: Db;
  private readonly stmts: Record<Slot, SlotStatements>;
  private readonly activeStmt: Statement;
  private readonly metaStmt: Statement;
  /** cached active slot and its meta; undefined = reload (see invalidate) */
  private cached: { slot: Slot | null; meta: SlotMeta | null } | undefined;
  /** decoded filter per slot (null = none); reloaded after invalidate */
  private filters = new Map<Slot, FuseFilter | null>();
  /** decoded floor limits per slot (null = none); reloaded after invalidate */
  private floors = new Map<Slot, FloorLimits | null>();

  constructor(db: Db) {
    this.db = db;
    this.activeStmt = db.prepare(`SELECT value FROM device_state WHERE key = 'active_slot'`);
    this.metaStmt = db.prepare(`SELECT * FROM slot_meta WHERE slot = ?`);
    const make = (s: Slot): SlotStatements => ({
      restricted: db.prepare(`SELECT reason FROM restricted_${s} WHERE token = ?`),
      knownGood: db.prepare(`SELECT 1 AS x FROM known_good_${s} WHERE token = ?`),
      history: db.prepare(`SELECT brand, events FROM history_${s} WHERE token = ?`),
      bin: db.prepare(
        `SELECT prefix, action, reason FROM bin_rules_${s} WHERE prefix IN (?, ?, ?, ?, ?, ?, ?, ?) ORDER BY length(prefix) DESC LIMIT 1`,
      ),
      prompts: db.prepare(`SELECT code, lang, message FROM prompts_${s} WHERE code = ?`),
      routes: db.prepare(
        `SELECT region, band, gateway, success_rate AS successRate, rank FROM routes_${s}
          WHERE brand = ? AND currency = ? AND region IN (?, '*') AND band IN (?, '*')`,
      ),
      health: db.prepare(`SELECT gateway, eliminated_until AS eliminatedUntil FROM health_${s}`),
    });
    this.stmts = { a: make('a'), b: make('b') };
  }

  /** Forget the cached active slot (after a transaction that may have switched it ends). */
  invalidate(): void {
    this.cached = undefined;
    this.filters.clear();
    this.floors.clear();
  }

  filter(slot: Slot): FuseFilter | null {
    let f = this.filters.get(slot);
    if (f === undefined) {
      const row = this.filterRow(slot);
      f = row ? checkFuseFilter(row) : null;
      this.filters.set(slot, f);
    }
    return f;
  }

  private active(): { slot: Slot | null; meta: SlotMeta | null } {
    if (!this.cached) {
      const row = this.activeStmt.get() as { value: string } | undefined;
      const slot = row && (row.value === 'a' || row.value === 'b') ? row.value : null;
      this.cached = { slot, meta: slot ? this.meta(slot) : null };
    }
    return this.cached;
  }

  activeSlot(): Slot | null {
    return this.active().slot;
  }

  meta(slot: Slot): SlotMeta | null {
    const r = this.metaStmt.get(slot) as
      | { slot: Slot; version: number; created_at: number; expires_at: number; content_hash: Buffer; installed_at: number }
      | undefined;
    if (!r) return null;
    return {
      slot: r.slot,
      version: r.version,
      createdAt: r.created_at,
      expiresAt: r.expires_at,
      contentHash: new Uint8Array(r.content_hash),
      installedAt: r.installed_at,
    };
  }

  activeMeta(): SlotMeta | null {
    return this.active().meta;
  }

  // ------------------------------------------------------------------ lookups (hot path)

  facts(slot: Slot, token: Uint8Array): CardFacts {
    const st = this.stmts[slot];
    const r = st.restricted.get(token) as { reason: string } | undefined;
    const kg = st.knownGood.get(token) as { x: number } | undefined;
    const h = st.history.get(token) as { brand: string | null; events: string } | undefined;
    const filter = r ? null : this.filter(slot);
    return {
      restricted: r ? { reason: r.reason } : null,
      restrictedMaybe: filter !== null && fuseFilterContains(filter, token),
      knownGood: kg !== undefined,
      history: h ? { brand: h.brand, events: JSON.parse(h.events) as HistoryEvent[] } : null,
    };
  }

  binRule(slot: Slot, panDigits: string): BinRule | null {
    const p = binPrefixes(panDigits);
    while (p.length < 8) p.push(''); // '' never matches a 1–8 digit prefix
    const r = this.stmts[slot].bin.get(...p) as { prefix: string; action: BinAction; reason: string } | undefined;
    return r ?? null;
  }

  prompts(slot: Slot, code: string): Prompt[] {
    return this.stmts[slot].prompts.all(code) as Prompt[];
  }

  /**
   * The gateways of the finest segment the slot has routes for — (region, band), then (region,
   * any), (any, band), (any, any) — best first: by the service's rank, then success rate, then name.
   */
  segmentRoutes(slot: Slot, brand: string, currency: string, region: RouteRegion, band: RouteBand): SlotRoute[] {
    const rows = this.stmts[slot].routes.all(brand, currency, region, band) as SlotRoute[];
    if (rows.length === 0) return [];
    const level = (r: SlotRoute) => (r.region === '*' ? 2 : 0) + (r.band === '*' ? 1 : 0);
    const finest = Math.min(...rows.map(level));
    return rows
      .filter((r) => level(r) === finest)
      .sort((a, b) => (a.rank ?? 256) - (b.rank ?? 256) || b.successRate - a.successRate || (a.gateway < b.gateway ? -1 : a.gateway > b.gateway ? 1 : 0));
  }

  /** The brand × currency first choice (any region and band). */
  bestRoute(slot: Slot, brand: string, currency: string): { gateway: string; successRate: number } | null {
    const all = (this.stmts[slot].routes.all(brand, currency, '*', '*') as SlotRoute[]).sort(
      (a, b) => (a.rank ?? 256) - (b.rank ?? 256) || b.successRate - a.successRate || (a.gateway < b.gateway ? -1 : 1),
    );
    return all[0] ? { gateway: all[0].gateway, successRate: all[0].successRate } : null;
  }

  /** Gateways the service had eliminated when it built the slot's dataset, with their expiry. */
  gatewayHealth(slot: Slot): GatewayHealth[] {
    return this.stmts[slot].health.all() as GatewayHealth[];
  }

  /** The slot's floor limits (dataset format 3), or null: no unknown card is approved locally. */
  floorLimits(slot: Slot): FloorLimits | null {
    let f = this.floors.get(slot);
    if (f === undefined) {
      f = readFloor(this.db, slot);
      this.floors.set(slot, f);
    }
    return f;
  }

  // ------------------------------------------------------------------ whole-slot access

  readContent(slot: Slot): DatasetContent {
    const db = this.db;
    const tok = (b: Buffer) => new Uint8Array(b);
    const restricted = (db.prepare(`SELECT token, reason FROM restricted_${slot}`).raw().all() as [Buffer, string][]).map(([t, reason]) => ({
      token: tok(t),
      reason,
    }));
    const knownGood = (db.prepare(`SELECT token FROM known_good_${slot}`).raw().all() as [Buffer][]).map(([t]) => ({ token: tok(t) }));
    const history = (db.prepare(`SELECT token, brand, events FROM history_${slot}`).raw().all() as [Buffer, string | null, string][]).map(
      ([t, brand, events]) => (brand === null ? { token: tok(t), events: JSON.parse(events) } : { token: tok(t), brand, events: JSON.parse(events) }),
    );
    const binRules = db.prepare(`SELECT prefix, action, reason FROM bin_rules_${slot}`).all() as BinRule[];
    const prompts = db.prepare(`SELECT code, lang, message FROM prompts_${slot}`).all() as Prompt[];
    const routes = routesFromRows(db.prepare(`SELECT ${ROUTE_COLUMNS} FROM routes_${slot}`).all() as Parameters<typeof routesFromRows>[0]);
    const content: DatasetContent = { restricted, knownGood, history, binRules, prompts, routes };
    const f = this.filterRow(slot);
    if (f) content.restrictedFilter = f;
    const health = this.gatewayHealth(slot);
    if (health.length > 0) content.gatewayHealth = health;
    const floor = readFloor(this.db, slot);
    if (floor) content.floorLimits = floor;
    return content;
  }

  private filterRow(slot: Slot): FuseFilter | null {
    const r = this.db.prepare(`SELECT seed, segment_length, segment_count, fingerprints FROM filter_${slot} WHERE id = 1`).get() as
      | { seed: number; segment_length: number; segment_count: number; fingerprints: Buffer }
      | undefined;
    return r ? { seed: r.seed, segmentLength: r.segment_length, segmentCount: r.segment_count, fingerprints: new Uint8Array(r.fingerprints) } : null;
  }

  private writeFilter(slot: Slot, f: FuseFilter | null): void {
    this.db.prepare(`DELETE FROM filter_${slot}`).run();
    if (f) {
      this.db
        .prepare(`INSERT INTO filter_${slot} (id, seed, segment_length, segment_count, fingerprints) VALUES (1, ?, ?, ?, ?)`)
        .run(f.seed, f.segmentLength, f.segmentCount, f.fingerprints);
    }
  }

  private clear(slot: Slot): void {
    for (const t of DATASET_TABLES) this.db.exec(`DELETE FROM ${t}_${slot}`);
    this.db.prepare(`DELETE FROM slot_meta WHERE slot = ?`).run(slot);
  }

  private insertContent(slot: Slot, c: DatasetContent): void {
    const db = this.db;
    const ins = {
      r: db.prepare(`INSERT OR REPLACE INTO restricted_${slot} (token, reason) VALUES (?, ?)`),
      k: db.prepare(`INSERT OR REPLACE INTO known_good_${slot} (token) VALUES (?)`),
      h: db.prepare(`INSERT OR REPLACE INTO history_${slot} (token, brand, events) VALUES (?, ?, ?)`),
      b: db.prepare(`INSERT OR REPLACE INTO bin_rules_${slot} (prefix, action, reason) VALUES (?, ?, ?)`),
      p: db.prepare(`INSERT OR REPLACE INTO prompts_${slot} (code, lang, message) VALUES (?, ?, ?)`),
      ro: db.prepare(`INSERT OR REPLACE INTO routes_${slot} (brand, currency, region, band, gateway, success_rate, rank) VALUES (?, ?, ?, ?, ?, ?, ?)`),
    };
    for (const r of c.restricted) ins.r.run(r.token, r.reason);
    for (const k of c.knownGood) ins.k.run(k.token);
    for (const h of c.history) ins.h.run(h.token, h.brand ?? null, JSON.stringify(h.events));
    for (const b of c.binRules) ins.b.run(b.prefix, b.action, b.reason);
    for (const p of c.prompts) ins.p.run(p.code, p.lang, p.message);
    for (const r of c.routes) ins.ro.run(r.brand, r.currency, r.region ?? '*', r.band ?? '*', r.gateway, r.successRate, r.rank ?? null);
    if (c.restrictedFilter !== undefined) this.writeFilter(slot, c.restrictedFilter);
    if (c.gatewayHealth !== undefined) this.writeHealth(slot, c.gatewayHealth);
    if (c.floorLimits !== undefined) this.writeFloor(slot, c.floorLimits);
  }

  private writeFloor(slot: Slot, f: FloorLimits | null): void {
    this.db.prepare(`DELETE FROM floor_${slot}`).run();
    if (f) {
      this.db
        .prepare(`INSERT INTO floor_${slot} (id, max_approvals, window_seconds, limits) VALUES (1, ?, ?, ?)`)
        .run(f.maxApprovals, f.windowSeconds, JSON.stringify(f.limits));
    }
  }

  private writeHealth(slot: Slot, health: GatewayHealth[]): void {
    this.db.prepare(`DELETE FROM health_${slot}`).run();
    const ins = this.db.prepare(`INSERT INTO health_${slot} (gateway, eliminated_until) VALUES (?, ?)`);
    for (const h of health) ins.run(h.gateway, h.eliminatedUntil);
  }

  private applyDelta(slot: Slot, d: DatasetDelta): void {
    const db = this.db;
    const del = (sql: string) => db.prepare(sql);
    const dr = del(`DELETE FROM restricted_${slot} WHERE token = ?`);
    const dk = del(`DELETE FROM known_good_${slot} WHERE token = ?`);
    const dh = del(`DELETE FROM history_${slot} WHERE token = ?`);
    const dbin = del(`DELETE FROM bin_rules_${slot} WHERE prefix = ?`);
    const dp = del(`DELETE FROM prompts_${slot} WHERE code = ? AND lang = ?`);
    const dro = del(`DELETE FROM routes_${slot} WHERE brand = ? AND currency = ? AND region = ? AND band = ? AND gateway = ?`);
    for (const t of d.restricted.remove) dr.run(t);
    for (const t of d.knownGood.remove) dk.run(t);
    for (const t of d.history.remove) dh.run(t);
    for (const p of d.binRules.remove) dbin.run(p);
    for (const k of d.prompts.remove) dp.run(k.code, k.lang);
    for (const k of d.routes.remove) dro.run(k.brand, k.currency, k.region ?? '*', k.band ?? '*', k.gateway);
    this.insertContent(slot, {
      restricted: d.restricted.upsert,
      knownGood: d.knownGood.upsert,
      history: d.history.upsert,
      binRules: d.binRules.upsert,
      prompts: d.prompts.upsert,
      routes: d.routes.upsert,
    });
    if (d.restrictedFilter !== undefined) this.writeFilter(slot, d.restrictedFilter);
    if (d.gatewayHealth !== undefined) this.writeHealth(slot, d.gatewayHealth);
    if (d.floorLimits !== undefined) this.writeFloor(slot, d.floorLimits);
  }

  /**
   * Install a verified manifest's payload and make it active, atomically. A snapshot goes into the
   * inactive slot, then the pointer switches. A delta is applied in place to the active slot, whose
   * version must be manifest.baseVersion: only the rows it removes or upserts are written (cost
   * proportional to the change, not to the slot); the result's canonical content hash is compared
   * with the manifest (CHUNK_HASH on mismatch) and the slot's meta updated. Either way one
   * transaction: on any failure, or power loss before its commit, SQLite rolls every write back.
   * Returns the slot now active.
   */
  install(manifest: DatasetManifest, payload: InstallPayload, now: number, hooks: InstallHooks = {}): Slot {
    this.invalidate();
    const run = this.db.transaction((): Slot => {
      const row = this.activeStmt.get() as { value: Slot } | undefined;
      const active: Slot | null = row ? row.value : null;
      let target: Slot;
      if (payload.kind === 'snapshot') {
        target = active ? otherSlot(active) : SLOTS[0];
        this.clear(target);
        this.insertContent(target, payload.content);
      } else {
        const base = active ? this.meta(active) : null;
        if (!active || !base || base.version !== manifest.baseVersion) {
          throw new ProtocolError('SYNC_STATE', `delta needs base version ${manifest.baseVersion}, active is ${base?.version ?? 0}`);
        }
        target = active;
        this.applyDelta(target, payload.delta);
        // Rows the delta upserted (and, after a snapshot, every row once) get their encoding.
        storeHistoryEncodings(this.db, target);
      }
      if (payload.kind === 'snapshot') {
        // The payload's SHA-256 was already checked against contentHash and decoding rejects
        // duplicates, so the rows must be exactly the decoded entries: compare counts (reading
        // 10^6 rows back and re-hashing would cost seconds for no extra assurance).
        const c = payload.content;
        const n = this.counts(target);
        const want = [c.restricted, c.knownGood, c.history, c.binRules, c.prompts, c.routes].map((x) => x.length);
        want.push(c.restrictedFilter ? 1 : 0, c.gatewayHealth?.length ?? 0, c.floorLimits ? 1 : 0);
        if (DATASET_TABLES.some((t, i) => n[t] !== want[i])) throw new ProtocolError('INTERNAL', 'installed row counts differ from the snapshot');
      } else {
        // A delta's result exists only in the slot: hash it where it lies (slot-content-hash.ts
        // streams the canonical encoding out of SQLite; reading 10^6 rows back into objects and
        // re-encoding them cost more than installing a whole snapshot).
        const hash = slotContentHash(this.db, target);
        if (!crypto.timingSafeEqual(hash, manifest.contentHash)) {
          throw new ProtocolError('CHUNK_HASH', 'dataset after applying the delta does not match the manifest content hash');
        }
      }
      this.db
        .prepare(`INSERT OR REPLACE INTO slot_meta (slot, version, created_at, expires_at, content_hash, installed_at) VALUES (?, ?, ?, ?, ?, ?)`)
        .run(target, manifest.version, manifest.createdAt, manifest.expiresAt, manifest.contentHash, now);
      hooks.beforeSwitch?.();
      this.db.prepare(`INSERT OR REPLACE INTO device_state (key, value) VALUES ('active_slot', ?)`).run(target);
      return target;
    });
    try {
      return run.immediate();
    } finally {
      // the caller's enclosing transaction may still roll back: re-read the pointer next time
      this.invalidate();
    }
  }

  /** Row counts of a slot (for status/bench). */
  counts(slot: Slot): Record<(typeof DATASET_TABLES)[number], number> {
    const out = {} as Record<(typeof DATASET_TABLES)[number], number>;
    for (const t of DATASET_TABLES) out[t] = (this.db.prepare(`SELECT count(*) AS n FROM ${t}_${slot}`).get() as { n: number }).n;
    return out;
  }
}

