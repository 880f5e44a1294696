// The bridge's metrics: verifications by decision and stage, verification latency, device link
// errors, network breaker state, outbox depth and each device's dataset age.
import { processMetricsText } from '../../runtime/process-metrics.ts';
import { Counter, Gauge, Histogram, MetricsRegistry } from './prometheus.ts';
import type { DeviceRegistry } from '../devices/types.ts';
import type { Outbox } from '../outbox/outbox-db.ts';
import type { NetworkClient } from '../network/network-client.ts';
import type { LearningLag } from './learning-lag.ts';
import { deviceDatasetAges } from '../devices/freshness.ts';

const BREAKER_VALUE = { closed: 0, 'half-open': 1, open: 2 } as const;

export interface BridgeMetricSources {
  registry?: DeviceRegistry | null;
  outbox: Outbox;
  network: NetworkClient | null;
  /** Gateways failing now, as the bridge sees them. */
  failingGateways?: () => string[];
  /** Outcome accepted by the service → device holds a dataset with it. */
  learningLag?: LearningLag;
  /** The newest dataset version the network service announced to the sync follower (null: none yet or no follower). */
  serviceDatasetVersion?: () => number | null;
  now?: () => number;
}

export class BridgeMetrics {
  readonly registry = new MetricsRegistry();
  readonly verifications = this.registry.register(new Counter('precheck_bridge_verifications_total', 'Verifications by final decision and stage.'));
  readonly verifyErrors = this.registry.register(new Counter('precheck_bridge_verify_rejected_total', 'Verify requests refused before a decision, by error code.'));
  readonly latency = this.registry.register(
    new Histogram('precheck_bridge_verify_duration_seconds', 'Verification latency through the pipeline, by stage.', [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]),
  );
  readonly deviceErrors = this.registry.register(new Counter('precheck_bridge_device_link_errors_total', 'Device errors during local authentication, by device and code.'));
  /** Device rows of the sync follower's runs, by result (updated, up-to-date, failed). */
  readonly followSyncs = this.registry.register(new Counter('precheck_bridge_sync_follow_total', 'Device syncs started because the network service had a newer dataset (sync.follow), by device and result.'));
  readonly outcomes = this.registry.register(new Counter('precheck_bridge_outcomes_received_total', 'Gateway outcomes reported by the shop (duplicate="true" when already queued).'));
  readonly routeOverrides = this.registry.register(
    new Counter('precheck_bridge_route_overrides_total', "Local answers whose device-recommended gateway the bridge replaced: reason failing (failing now) or declined (it just declined this card)."),
  );

  constructor(src: BridgeMetricSources) {
    const now = src.now ?? Date.now;
    this.registry.register(
      new Gauge('precheck_bridge_outbox_depth', 'Rows waiting in the outbox, by queue and status.', () => {
        const d = src.outbox.depth();
        return [
          { labels: { queue: 'outcomes', status: 'pending' }, value: d.outcomesPending },
          { labels: { queue: 'outcomes', status: 'rejected' }, value: d.outcomesRejected },
          { labels: { queue: 'reconciliations', status: 'pending' }, value: d.reconciliationsPending },
          { labels: { queue: 'reconciliations', status: 'rejected' }, value: d.reconciliationsRejected },
        ];
      }),
    );
    this.registry.register(
      new Gauge('precheck_bridge_reconciliation_mismatches', 'Fallback decisions the network service later decided differently.', () => [
        { value: src.outbox.depth().reconciliationMismatches },
      ]),
    );
    this.registry.register(
      new Gauge('precheck_bridge_network_breaker_state', 'Network service circuit breaker: 0 closed, 1 half-open, 2 open.', () =>
        src.network ? [{ value: BREAKER_VALUE[src.network.breakerState()] }] : [],
      ),
    );
    this.registry.register(
      new Gauge('precheck_bridge_dataset_age_seconds', 'Age of each device dataset (now - created).', () =>
        deviceDatasetAges(src.registry?.list() ?? [], now()).flatMap((a) => (a.ageSeconds === null ? [] : [{ labels: { device: a.device }, value: a.ageSeconds }])),
      ),
    );
    if (src.learningLag) {
      const lag = src.learningLag;
      this.registry.register(
        new Gauge('precheck_bridge_outcome_lag_seconds', 'Outcome accepted by the network service → the device holds a dataset containing it, p50/p99 over its last 1000 outcomes.', () =>
          lag.devices().flatMap((device) => {
            const q = lag.quantiles(device);
            return q ? [{ labels: { device, quantile: '0.5' }, value: q.p50 }, { labels: { device, quantile: '0.99' }, value: q.p99 }] : [];
          }),
        ),
      );
      this.registry.register(
        new Gauge('precheck_bridge_outcome_lag_count', 'Outcomes whose lag to the device was measured.', () =>
          lag.devices().map((device) => ({ labels: { device }, value: lag.quantiles(device)?.count ?? 0 })),
        ),
      );
      this.registry.register(
        new Gauge('precheck_bridge_outcomes_not_on_device', 'Outcomes the network service accepted that the device does not hold yet.', () =>
          lag.devices().map((device) => ({ labels: { device }, value: lag.pending(device) })),
        ),
      );
    }
    if (src.serviceDatasetVersion) {
      const v = src.serviceDatasetVersion;
      this.registry.register(
        new Gauge('precheck_bridge_service_dataset_version', "Newest dataset version the network service announced (Precheck-Dataset-Version header or poll); compare with each device's.", () => {
          const n = v();
          return n === null ? [] : [{ value: n }];
        }),
      );
    }
    if (src.failingGateways) {
      const failing = src.failingGateways;
      this.registry.register(
        new Gauge('precheck_bridge_gateway_failing', 'Gateways failing now by the outcomes seen in the last minute (1); local answers avoid them.', () =>
          failing().map((g) => ({ labels: { gateway: g }, value: 1 })),
        ),
      );
    }
    this.registry.register(
      new Gauge('precheck_bridge_device_healthy', 'Device health: 1 healthy and paired, 0 otherwise.', () =>
        (src.registry?.list() ?? []).map((h) => {
          const s = h.summary();
          return { labels: { device: s.id, link: s.link }, value: s.healthy && s.paired ? 1 : 0 };
        }),
      ),
    );
  }

  render(): string {
    const own = this.registry.render();
    return `${own}${own.endsWith('\n') ? '' : '\n'}${processMetricsText('bridge')}`;
  }
}
