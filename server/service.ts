// The network service without its HTTP face: storage, keys, admin key, dataset publisher and
// network authentication wired together. The HTTP app (http/app.ts) and the CLI's direct
// commands (import-restricted, publish, ...) both open this.
import fs from 'node:fs';
import path from 'node:path';
import { generateApiKey } from './auth/api-keys.ts';
import { ApiKeyCache } from './auth/key-cache.ts';
import { NetworkAuth } from './decision/network-auth.ts';
import { RouterRecommender } from './routing/recommender.ts';
import { MerchantObjectives } from './routing/objectives.ts';
import { NewCardTrust } from './trust/new-card-service.ts';
import { startTrainSchedule, type TrainSchedule } from './trust/train-schedule.ts';
import { resolveOptions, type ResolvedOptions, type ServerOptions } from './config.ts';
import { DatasetPublisher } from './datasets/publisher.ts';
import { datasetRoutes } from './datasets/routes.ts';
import { FloorLearner } from './datasets/floor-limits.ts';
import { loadOrCreateKeys, loadOrCreateSecret, type ServiceKeys } from './keys.ts';
import { createLogger, type Logger } from './log.ts';
import { ServiceError } from './errors.ts';
import { openStorage, redactUrl, sqliteSpec, type StoreSpec } from './storage/open.ts';
import { SqliteStorage } from './storage/sqlite-storage.ts';
import { PgCoordinator } from './storage/pg-coordinator.ts';
import { NotifyService } from './notify/notify-service.ts';
import type { RoutingRow, Storage } from './storage/storage.ts';
import { OutcomeFollower } from './routing/outcome-follower.ts';
import { toUnixSeconds } from '../runtime/clock.ts';

export interface Service {
  opts: ResolvedOptions;
  log: Logger;
  storage: Storage;
  /** The SQLite file (for operators and the no-PAN test); with PostgreSQL, '' (see `store`). */
  databaseFile: string;
  /** Where the data is: the SQLite file or the PostgreSQL URL. */
  store: StoreSpec;
  keys: ServiceKeys;
  router: RouterRecommender;
  /** New-card trust: signals, current model, training (`precheck server train`, `train.schedule`). */
  trust: NewCardTrust;
  publisher: DatasetPublisher;
  auth: NetworkAuth;
  /** Payer notices after payments at located terminals (server/notify). */
  notify: NotifyService;
  /** Cached API key lookups of the request path (revocations through this instance apply at once). */
  apiKeys: ApiKeyCache;
  /** The admin key in clear (from <data>/admin.key, mode 0600). */
  adminKey: string;
  /** True when this start created the admin key (the CLI prints it once). */
  adminKeyCreated: boolean;
  /** Several instances on PostgreSQL: the reader of other instances' outcomes for routing. */
  routingFollower: OutcomeFollower | null;
  /** Version of the newest stored dataset (kept current by the publisher). */
  datasetVersion(): number | null;
  /** Issues a bridge API key for a merchant; returns the clear key (shown once). */
  issueKey(merchant: string, label?: string | null): Promise<{ id: string; key: string; merchant: string }>;
  close(): Promise<void>;
}

export async function openService(options: ServerOptions): Promise<Service> {
  const opts = resolveOptions(options);
  const log = opts.logger ?? createLogger({ level: opts.logLevel, destination: opts.logDestination });
  const keys = loadOrCreateKeys(opts.dataDir);
  const store: StoreSpec = opts.database ? { kind: 'postgres', url: opts.database } : sqliteSpec(opts.dataDir);
  const databaseFile = store.kind === 'sqlite' ? path.join(opts.dataDir, 'precheck.db') : '';
  let storage: Awaited<ReturnType<typeof openStorage>>;
  try {
    storage = await openStorage(store);
  } catch (e) {
    if (store.kind === 'postgres') throw new ServiceError('UNAVAILABLE', `cannot open database ${redactUrl(store.url)}: ${(e as Error).message}`);
    throw e;
  }
  if (databaseFile) fs.chmodSync(databaseFile, 0o600);

  // Admin key: stored hashed in the database, in clear only in a 0600 file next to it.
  const existingAdmin = (await storage.listApiKeys()).some((k) => k.role === 'admin' && k.revokedAt === null);
  const adminFile = path.join(opts.dataDir, 'admin.key');
  let adminKeyCreated = false;
  let adminKey: string;
  if (!existingAdmin) {
    const k = generateApiKey('admin');
    fs.rmSync(adminFile, { force: true });
    loadOrCreateSecret(adminFile, () => Buffer.from(`${k.key}\n`));
    await storage.insertApiKey({ id: k.id, hash: k.hash, role: 'admin', merchant: null, label: 'admin', createdAt: toUnixSeconds(opts.now()), revokedAt: null });
    adminKey = k.key;
    adminKeyCreated = true;
  } else {
    adminKey = fs.existsSync(adminFile) ? loadOrCreateSecret(adminFile, () => Buffer.alloc(0)).value.toString('utf8').trim() : '';
  }

  let currentVersion: number | null = (await storage.latestDataset())?.version ?? null;
  const router = new RouterRecommender(() => storage.listGateways(), { ...opts.routing, clock: opts.now }, new MerchantObjectives(storage));
  const routingOutcome = (o: RoutingRow) => ({
    gateway: o.gateway,
    brand: o.brand ?? 'unknown',
    issuerCountry: o.country && /^[A-Z]{2}$/.test(o.country) ? o.country : null,
    crossBorder: o.crossBorder ?? null,
    currency: o.currency,
    amount: o.amount,
    status: o.status,
    type: o.type === 'hard' || o.type === 'soft' || o.type === 'technical' || o.type === 'fraud' ? (o.type as 'hard' | 'soft' | 'technical' | 'fraud') : null,
    code: o.code,
    at: o.at,
    card: o.card,
  });
  const windowStart = () => router.router.windowStart(toUnixSeconds(opts.now()));
  // Rebuild the routing window from stored outcomes (older ones would be dropped anyway). With a
  // database several instances share, a follower reads them and then keeps reading what the other
  // instances ingest (routing/outcome-follower.ts).
  let follower: OutcomeFollower | null = null;
  if (store.kind === 'postgres' && storage.outcomesAfter) {
    const read = storage.outcomesAfter.bind(storage);
    follower = new OutcomeFollower({
      read,
      record: (rows) => router.replay(rows.map(routingOutcome)),
      windowStart,
      onError: (e) => log.warn({ err: e }, 'reading other instances\' outcomes failed; retried'),
    });
    await follower.start();
  } else {
    router.replay((await storage.outcomesSince(windowStart())).map(routingOutcome));
  }
  const background = (what: string) => (e: unknown) => log.error({ err: e }, `${what} failed; retried with the next batch`);
  const trust = await NewCardTrust.open({ store: storage, secret: keys.cardKey, limitsUsd: opts.trustLimitsUsd, now: opts.now, signals: { onError: background('trust attempt write') } });
  let trainSchedule: TrainSchedule | null = null;
  if (opts.train.schedule) {
    try {
      trainSchedule = startTrainSchedule(opts.train.schedule, () => trust.train(), log);
    } catch (e) {
      await follower?.close();
      await storage.close();
      throw new ServiceError('BAD_REQUEST', (e as Error).message);
    }
  }
  // Floor limits for unknown cards, learned from the outcomes ingested from now on (in memory:
  // zero after a restart until the window has the evidence again; floor-limits.ts).
  const floors = opts.floorLimits ? new FloorLearner() : null;
  // Several instances on one PostgreSQL database: one publishes on schedule, the others forward
  // their changes to it and serve the versions it announces (storage/pg-coordinator.ts).
  let coordinator: PgCoordinator | null = null;
  const publisher = new DatasetPublisher(
    storage,
    keys,
    async () => {
      const now = toUnixSeconds(opts.now());
      const r = datasetRoutes(router.router, (await storage.listGateways()).map((g) => g.name), now);
      const floorLimits = floors?.limits(now);
      return floorLimits ? { ...r, floorLimits } : r;
    },
    {
      now: opts.now,
      ttlSeconds: opts.datasetTtlSeconds,
      debounceMs: opts.publishDebounceMs,
      maxDelayMs: opts.publishMaxDelayMs,
      clock: opts.publishClock,
      keepVersions: opts.keepVersions,
      deltaBases: opts.deltaBases,
      chunkSize: opts.chunkSize,
      historyWindowSeconds: opts.historyWindowSeconds,
      maxEventsPerToken: opts.maxEventsPerToken,
      buildProcess: opts.buildInChild ? { dataDir: opts.dataDir, store } : null,
      // One builder across every instance on the database (PostgreSQL advisory lock): a second
      // instance waits, then finds the content published and makes no new version.
      runJob: (job, run) => (job.kind === 'snapshot' ? storage.withPublishLock(() => run(job), { wait: true }).then((r) => r!) : run(job)),
      coordination: store.kind === 'postgres' ? { isPublisher: () => coordinator?.isPublisher ?? false, forward: () => coordinator?.changed() } : null,
    },
    log,
  );
  publisher.onPublished((r) => {
    currentVersion = r.info.version;
    coordinator?.published(r.info.version);
  });
  if (store.kind === 'postgres') {
    const c = new PgCoordinator(store.url, {
      onChanged: () => publisher.notifyChanged(),
      onPublished: (v) => {
        if (currentVersion === null || v > currentVersion) currentVersion = v;
      },
      onRole: (isPublisher, takeover) => {
        log.info({ publisher: isPublisher }, isPublisher ? 'this instance publishes datasets' : 'this instance no longer publishes datasets');
        // Changes forwarded while no instance held the role are in the first build.
        if (isPublisher && takeover) publisher.notifyChanged();
      },
      onError: (e) => log.warn({ err: e }, 'instance coordination connection failed; retrying'),
    });
    coordinator = c;
    try {
      await c.start();
    } catch (e) {
      await follower?.close();
      await publisher.close();
      await storage.close();
      throw e;
    }
  }
  const auth = new NetworkAuth({
    storage,
    router,
    trust,
    now: opts.now,
    historyWindowSeconds: opts.historyWindowSeconds,
    maxEventsPerToken: opts.maxEventsPerToken,
    datasetVersion: () => currentVersion,
    onDataChanged: () => publisher.notifyChanged(),
    routingClaim: follower ? (id) => follower.claim(id) : undefined,
    onBackgroundError: background('order context write'),
    // One instance (SQLite) reads its own queue first: written every 100 ms, in fewer, larger
    // batches. Several (PostgreSQL): another instance may take the order's outcome, so 20 ms.
    contextFlushMs: store.kind === 'sqlite' ? 100 : 20,
    ...(floors ? { floors } : {}),
  });
  const apiKeys = new ApiKeyCache(storage);

  // Notices keep their own SQLite tables next to the service's (server/notify speaks SQLite only):
  // with PostgreSQL they live in <data>/notify.db per instance, which does not see devices
  // registered in the shared database (known limitation, docs/operations.md).
  const notifyStore = storage instanceof SqliteStorage ? null : new SqliteStorage(path.join(opts.dataDir, 'notify.db'));
  const notifyDb = storage instanceof SqliteStorage ? storage.db : notifyStore!.db;
  const notify = new NotifyService(notifyDb, log, opts.now, opts.notify);
  let closed = false;
  return {
    opts,
    log,
    storage,
    databaseFile,
    store,
    keys,
    router,
    trust,
    publisher,
    auth,
    notify,
    apiKeys,
    adminKey,
    adminKeyCreated,
    routingFollower: follower,
    datasetVersion: () => currentVersion,
    async issueKey(merchant, label = null) {
      const k = generateApiKey('bridge');
      await storage.insertApiKey({ id: k.id, hash: k.hash, role: 'bridge', merchant, label, createdAt: toUnixSeconds(opts.now()), revokedAt: null });
      log.info({ keyId: k.id, merchant }, 'bridge key issued');
      return { id: k.id, key: k.key, merchant };
    },
    async close() {
      if (closed) return;
      closed = true;
      trainSchedule?.stop();
      // First: another instance takes the publisher role while this one drains.
      await coordinator?.close();
      await follower?.close();
      await notify.close();
      await publisher.close();
      // Learning-only writes queued behind the answers are written before the database closes.
      await auth.close().catch(background('order context write'));
      await trust.close().catch(background('trust attempt write'));
      await storage.close();
      await notifyStore?.close();
    },
  };
}
