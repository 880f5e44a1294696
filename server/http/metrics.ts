// GET /metrics: the service's Prometheus text exposition (format 0.0.4), public like /v1/health.
// Hand-written on purpose: a handful of gauges and counters read from the parts that own them, so
// nothing here keeps state of its own. Add a metric by appending to `families()`.
import type { FastifyPluginAsync } from 'fastify';
import type { Service } from '../service.ts';
import { processMetricsText } from '../../runtime/process-metrics.ts';
import { toUnixSeconds } from '../../runtime/clock.ts';

export interface MetricFamily {
  name: string;
  help: string;
  type: 'gauge' | 'counter';
  /** One sample per label set; a null value is left out (an absent value, not a zero). */
  samples: { labels?: Record<string, string>; value: number | null }[];
}

const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');

/** Renders families in the Prometheus text format. */
export function renderMetrics(families: MetricFamily[]): string {
  const out: string[] = [];
  for (const f of families) {
    out.push(`# HELP ${f.name} ${f.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) {
      if (s.value === null || !Number.isFinite(s.value)) continue;
      const labels = s.labels && Object.keys(s.labels).length ? `{${Object.entries(s.labels).map(([k, v]) => `${k}="${esc(v)}"`).join(',')}}` : '';
      out.push(`${f.name}${labels} ${s.value}`);
    }
  }
  return `${out.join('\n')}\n`;
}

/** The service's metric families, read now. */
export async function serviceMetrics(svc: Service): Promise<MetricFamily[]> {
  const p = svc.publisher.status();
  const latest = await svc.storage.latestDataset();
  const now = toUnixSeconds(svc.opts.now());
  const declines = await svc.trust.falseDeclines(now - 30 * 86_400);
  const cards = svc.storage.cardsStatus?.();
  return [
    ...(cards
      ? ([
          { name: 'precheck_auth_cards_in_memory', help: '1 when /v1/auth answers cards and orders the database has never held from memory (SQLite), 0 while the filter is read.', type: 'gauge', samples: [{ value: cards.inMemory ? 1 : 0 }] },
          { name: 'precheck_auth_card_probes_total', help: '/v1/auth answers that read the card and order from the database (the filter could not rule them out).', type: 'counter', samples: [{ value: cards.probes }] },
          { name: 'precheck_auth_card_filter_bytes', help: 'Memory of the in-memory card and order filter.', type: 'gauge', samples: [{ value: cards.bytes }] },
        ] satisfies MetricFamily[])
      : []),
    {
      name: 'precheck_dataset_unpublished_change_age_seconds',
      help: 'Age of the oldest data change not yet in a published dataset (0 when none is pending).',
      type: 'gauge',
      samples: [{ value: p.oldestUnpublishedChangeAgeMs === null ? 0 : p.oldestUnpublishedChangeAgeMs / 1000 }],
    },
    { name: 'precheck_dataset_version', help: 'Version of the newest published dataset.', type: 'gauge', samples: [{ value: latest?.version ?? null }] },
    {
      name: 'precheck_dataset_age_seconds',
      help: 'Seconds since the newest published dataset was created (service clock).',
      type: 'gauge',
      samples: [{ value: latest ? Math.max(0, now - latest.createdAt) : null }],
    },
    { name: 'precheck_dataset_publishes_total', help: 'Dataset versions published by this process.', type: 'counter', samples: [{ value: p.published }] },
    { name: 'precheck_dataset_builds_total', help: 'Snapshot builds by this process, by result.', type: 'counter', samples: [{ labels: { result: 'ok' }, value: p.builds }, { labels: { result: 'error' }, value: p.failures }] },
    { name: 'precheck_dataset_last_build_seconds', help: 'Duration of the last snapshot build.', type: 'gauge', samples: [{ value: p.lastBuildMs === null ? null : p.lastBuildMs / 1000 }] },
    { name: 'precheck_dataset_building', help: '1 while a dataset or delta build is queued or running.', type: 'gauge', samples: [{ value: p.building ? 1 : 0 }] },
    {
      name: 'precheck_trust_declines',
      help: 'New-card trust declines in the last 30 days, by reason.',
      type: 'gauge',
      samples: declines.map((d) => ({ labels: { reason: d.reason }, value: d.declines })),
    },
    {
      name: 'precheck_trust_false_decline_ratio',
      help: 'Share of trust declines (last 30 days) whose card or account later paid with no fraud report, by reason.',
      type: 'gauge',
      samples: declines.map((d) => ({ labels: { reason: d.reason }, value: d.rate })),
    },
  ];
}

/** The route as a Fastify plugin: `await app.register(metricsRoute(svc))`. */
export const metricsRoute = (svc: Service): FastifyPluginAsync => async (app) => {
  app.get('/metrics', {
    schema: { summary: 'Prometheus metrics (text exposition format)', produces: ['text/plain'] },
  }, async (_req, reply) => {
    reply.type('text/plain; version=0.0.4; charset=utf-8');
    // process_* and precheck_build_info: the same families the bridge exposes (runtime/process-metrics.ts)
    return renderMetrics(await serviceMetrics(svc)) + processMetricsText('service');
  });
};
