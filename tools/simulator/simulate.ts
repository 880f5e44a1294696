// One simulation run: build the market once, play arm A (baseline: the shop's single best gateway
// by default, see baseline.ts) and arm B (Precheck over the bridge's HTTP API), compare. The target is either a self-contained service + bridge this run
// starts, or an existing bridge (and optionally its network service, for seeding).
import crypto from 'node:crypto';
import { buildMarket, type Market } from './market.ts';
import { runArm, type OrderResult, type PrecheckPort } from './engine.ts';
import { armMetrics, compareArms, type ArmMetrics, type Comparison } from './stats.ts';
import { BridgeClient, type BridgeClientStats } from './bridge-client.ts';
import { issueBridgeKey, seedService, startSelfContained, type SimDeviceStarter, type VerifierMode } from './self-contained.ts';
import type { Scenario } from './scenario.ts';
import { baselineGateway, baselineLabel, gatewayTable, type BaselineChoice, type GatewayExpectation } from './baseline.ts';
import { ScheduledSyncPort, type LagStats, type SyncTickRecord } from './sim-clock.ts';
import { UP_SYNC_SCHEDULE } from '../up/bridge-config.ts';
import { OracleRoutingPort } from './oracle-port.ts';

export type SimulationTarget =
  | { kind: 'self-contained'; verifier?: VerifierMode; startDevice?: SimDeviceStarter; syncSchedule?: string; /** the bridge's sync follower and the publisher's own schedule (default true) */ syncFollow?: boolean }
  | { kind: 'bridge'; bridgeUrl: string; bridgeToken?: string | null; serverUrl?: string | null; adminKey?: string | null }
  | { kind: 'in-process'; precheck: PrecheckPort; label?: string };

export interface SimulationOptions {
  scenario: Scenario;
  target: SimulationTarget;
  /** Overrides the scenario's order count. */
  orders?: number;
  resamples?: number;
  /** Arm A's gateway: the shop's single best (default), uniformly random, or a named one. */
  baseline?: BaselineChoice;
  onProgress?: (arm: 'A' | 'B', done: number, total: number) => void;
  /** Orders between two onProgress calls (default a tenth of the run). */
  progressEvery?: number;
  /**
   * Arm B's gateways chosen by an oracle that knows the market's own model (oracle-port.ts):
   * a reference for what routing could still add, not a measurement of Precheck's routing.
   */
  oracleRouting?: boolean;
}

export interface SimulationReport {
  scenario: string;
  description: string;
  seed: number;
  orders: number;
  target: string;
  /** Arm A in words, the gateway it uses (null = random) and the scenario's gateway table it was chosen from. */
  baseline: { label: string; gateway: string | null; table: GatewayExpectation[] };
  /** Arm B with a device: the simulated sync schedule, its ticks and the outcome → device lag (simulated seconds). */
  deviceLoop: {
    deviceId: string;
    schedule: string;
    ticks: number;
    syncsUpdated: number;
    syncFailures: number;
    /** The bridge's follow runs (null: the schedule alone, `--no-sync-follow`). */
    follow: { runs: number; updated: number; failed: number } | null;
    lag: LagStats;
    lastTicks: SyncTickRecord[];
    wallMs: { publish: number; sync: number };
    bridgeLag: { p50: number; p99: number } | null;
  } | null;
  arms: { A: ArmMetrics; B: ArmMetrics };
  comparison: Comparison;
  precheck: BridgeClientStats | null;
  durationMs: { A: number; B: number };
  /** Things that make arm B not measure Precheck (fallbacks, refused outcomes, verify errors). */
  warnings: string[];
  /** Gateway attempts and successes per arm (where Precheck's routing sent the traffic). */
  gateways: { A: Record<string, { attempts: number; successes: number }>; B: Record<string, { attempts: number; successes: number }> };
  /** With oracleRouting: Precheck's gateways the oracle kept and replaced; otherwise null. */
  oracle: { kept: number; replaced: number } | null;
}

/**
 * The bridge's own outcome → device lag for the device (precheck_bridge_outcome_lag_seconds, over its
 * last outcomes, on the bridge's clock = the simulated one), or null when the bridge has no such metric.
 */
export function parseLagMetric(metrics: string, device: string): { p50: number; p99: number } | null {
  const q: Record<string, number> = {};
  for (const line of metrics.split('\n')) {
    const m = /^precheck_bridge_outcome_lag_seconds\{([^}]*)\}\s+(\S+)/.exec(line);
    if (!m || !m[1].includes(`device="${device}"`)) continue;
    const quantile = /quantile="([^"]+)"/.exec(m[1])?.[1];
    if (quantile) q[quantile] = Number(m[2]);
  }
  return q['0.5'] !== undefined && q['0.99'] !== undefined ? { p50: q['0.5'], p99: q['0.99'] } : null;
}

export function gatewayUse(rs: readonly OrderResult[]): Record<string, { attempts: number; successes: number }> {
  const out: Record<string, { attempts: number; successes: number }> = {};
  for (const r of rs) {
    for (const a of r.attemptLog) {
      const g = (out[a.gateway] ??= { attempts: 0, successes: 0 });
      g.attempts++;
      if (a.status === 'success') g.successes++;
    }
  }
  return out;
}

/** Reasons to distrust arm B, in words for the table. */
export function warningsFor(b: ArmMetrics, stats: BridgeClientStats | null): string[] {
  const w: string[] = [];
  if (b.verifyErrors > 0) w.push(`${b.verifyErrors} of ${b.verifies} verifications failed (the shop went ahead without Precheck)`);
  if (stats) {
    const fb = stats.stages.fallback ?? 0;
    if (fb > 0) w.push(`${fb} of ${stats.verifies} verifications were answered by the bridge's fallback policy (network stage unreachable or refusing the request): those measure the fallback, not Precheck`);
    if (stats.outcomesRejected > 0) w.push(`${stats.outcomesRejected} of ${stats.reports} outcomes were refused by the network service: Precheck could not learn from them`);
    if (stats.drainTimeouts > 0) w.push(`${stats.drainTimeouts} times the bridge's outbox did not drain before the next verification`);
  }
  return w;
}

export interface SimulationRun {
  report: SimulationReport;
  market: Market;
  a: OrderResult[];
  b: OrderResult[];
}

export async function simulate(o: SimulationOptions): Promise<SimulationRun> {
  const s = o.scenario;
  const market = buildMarket(s, { orders: o.orders });
  const total = market.orders.length;
  const step = Math.max(1, o.progressEvery ?? Math.floor(total / 10));
  const progress = (arm: 'A' | 'B') => (_r: OrderResult, i: number) => {
    if ((i + 1) % step === 0 || i + 1 === total) o.onProgress?.(arm, i + 1, total);
  };

  const choice = o.baseline ?? { kind: 'best' };
  const defaultGateway = baselineGateway(s, choice);
  const t0 = Date.now();
  const a = await runArm(market, null, { onOrder: progress('A'), defaultGateway });
  const tA = Date.now() - t0;

  const runId = crypto.randomBytes(4).toString('hex');
  const prefix = `sim-${s.name}-${runId}-`.slice(0, 40);
  let b: OrderResult[];
  let stats: BridgeClientStats | null = null;
  let targetLabel: string;
  let deviceLoop: SimulationReport['deviceLoop'] = null;
  let oracle: OracleRoutingPort | null = null;
  const routed = (port: PrecheckPort, startAt: number): PrecheckPort => (o.oracleRouting ? (oracle = new OracleRoutingPort(port, s, startAt)) : port);
  const t1 = Date.now();
  if (o.target.kind === 'in-process') {
    targetLabel = o.target.label ?? 'in-process';
    b = await runArm(market, routed(o.target.precheck, 0), { onOrder: progress('B'), defaultGateway });
  } else if (o.target.kind === 'self-contained') {
    const sc = await startSelfContained(s, { verifier: o.target.verifier, startDevice: o.target.startDevice, follow: o.target.syncFollow });
    const client = new BridgeClient({ bridgeUrl: sc.bridgeUrl, sendTimes: true });
    const startAt = sc.clock.nowSeconds();
    try {
      if (sc.device) {
        const schedule = o.target.syncSchedule ?? UP_SYNC_SCHEDULE;
        targetLabel = sc.device.follow
          ? `self-contained (verifier device ${sc.device.id} on the HID cable; datasets published on the service's own schedule and synced by the bridge's follower, plus "${schedule}", in simulated time)`
          : `self-contained (verifier device ${sc.device.id} on the HID cable; dataset published and synced on "${schedule}" in simulated time)`;
        const port = new ScheduledSyncPort(client, sc, schedule);
        await port.start();
        b = await runArm(market, routed(port, startAt), { orderIdPrefix: prefix, startAt, onOrder: progress('B'), defaultGateway });
        await client.finish();
        await port.finish(startAt + Math.ceil(s.durationHours * 3600));
        deviceLoop = {
          deviceId: sc.device.id,
          schedule,
          ticks: port.ticks.length,
          syncsUpdated: port.ticks.filter((t) => t.result === 'updated').length,
          syncFailures: port.syncFailures,
          follow: port.following ? { ...port.follow } : null,
          lag: port.lag(),
          lastTicks: port.ticks.slice(-3),
          wallMs: { publish: Math.round(port.wallMs.publish), sync: Math.round(port.wallMs.sync) },
          bridgeLag: parseLagMetric(await sc.device.metrics(), sc.device.id),
        };
      } else {
        targetLabel = `self-contained (network stage; verifier ${sc.verifier})`;
        b = await runArm(market, routed(Object.assign(client, { advanceTo: (t: number) => sc.clock.advanceTo(t) }), startAt), { orderIdPrefix: prefix, startAt, onOrder: progress('B'), defaultGateway });
        await client.finish();
      }
    } finally {
      await client.close();
      await sc.close();
    }
    stats = client.stats;
  } else {
    const t = o.target;
    targetLabel = `bridge ${t.bridgeUrl}`;
    if (t.serverUrl && t.adminKey) await seedService(t.serverUrl, t.adminKey, s);
    const client = new BridgeClient({ bridgeUrl: t.bridgeUrl, token: t.bridgeToken ?? null, sendTimes: false });
    try {
      await client.health(); // fail fast, with one line, when the bridge is not there
      const startAt = Math.floor(Date.now() / 1000);
      b = await runArm(market, routed(client, startAt), { orderIdPrefix: prefix, startAt, onOrder: progress('B'), defaultGateway });
      await client.finish();
    } finally {
      await client.close();
    }
    stats = client.stats;
  }
  const tB = Date.now() - t1;

  const report: SimulationReport = {
    scenario: s.name,
    description: s.description,
    seed: s.seed,
    orders: total,
    target: targetLabel,
    baseline: { label: baselineLabel(s, choice), gateway: defaultGateway, table: gatewayTable(s) },
    deviceLoop,
    arms: { A: armMetrics(a), B: armMetrics(b) },
    comparison: compareArms(a, b, { resamples: o.resamples, seed: s.seed }),
    precheck: stats,
    durationMs: { A: tA, B: tB },
    warnings: [],
    gateways: { A: gatewayUse(a), B: gatewayUse(b) },
    oracle: oracle === null ? null : { ...(oracle as OracleRoutingPort).counts },
  };
  if (o.oracleRouting) report.target += "; arm B's gateways chosen by an oracle that knows the market's own model (a reference, not Precheck's routing)";
  report.warnings = warningsFor(report.arms.B, stats);
  return { report, market, a, b };
}

export { issueBridgeKey };
