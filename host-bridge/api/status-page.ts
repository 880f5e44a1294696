// The bridge's status page at `/`: plain server-rendered HTML (no script, no build step) for the
// person at the shop PC — devices with link, pairing, firmware and dataset age, the network
// service and breaker, the outbox, the last decisions (BIN and last four only, never a number),
// and pairing a device from the page with its six-digit code shown for comparison.
// Loopback clients only, or any client with the bridge token (the token hook runs first).
// Its own Fastify plugin, so the form parser it needs applies to /ui/* and nowhere else.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { DeviceRegistry, DeviceSummary } from '../devices/types.ts';
import type { Outbox } from '../outbox/outbox-db.ts';
import { NetworkError, type NetworkClient } from '../network/network-client.ts';
import type { VerifyResult } from '../pipeline/verify-pipeline.ts';
import type { PairingBroker, PairStep } from './pairing-broker.ts';
import { datasetAgeOf, formatAge } from '../devices/freshness.ts';
import { isLoopback } from '../../runtime/loopback.ts';


export interface RecentDecision {
  at: number;
  orderId: string;
  bin: string;
  last4: string;
  brand: string | null;
  decision: string;
  stage: string;
  reason: string;
  device: string | null;
  ms: number;
}

/** The last `size` verification answers, newest first; holds only what the API answer shows. */
export class RecentDecisions {
  private readonly items: RecentDecision[] = [];
  constructor(private readonly size = 20) {}
  add(r: VerifyResult, at: number): void {
    this.items.unshift({ at, orderId: r.orderId, bin: r.card.bin, last4: r.card.last4, brand: r.card.brand, decision: r.decision, stage: r.stage, reason: r.reason, device: r.device?.id ?? null, ms: r.timings.totalMs });
    if (this.items.length > this.size) this.items.length = this.size;
  }
  list(): readonly RecentDecision[] {
    return this.items;
  }
}

export interface StatusPageOptions {
  registry: DeviceRegistry | null;
  outbox: Outbox;
  network: NetworkClient | null;
  pairing: PairingBroker;
  recent: RecentDecisions;
  fallback: string;
  token: string | null;
  startedAt: number;
  now: () => number;
  version: string;
}

const esc = (v: unknown): string =>
  String(v).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const CSS = `body{font:15px/1.4 system-ui,sans-serif;margin:1.5rem;color:#1b1f24;max-width:72rem}
h1{font-size:1.4rem;margin:0 0 .2rem}h2{font-size:1.1rem;margin:1.6rem 0 .4rem}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.3rem .6rem;border-bottom:1px solid #d8dee4}
th{background:#f3f5f7;font-weight:600}.ok{color:#116329}.bad{color:#a40e26;font-weight:600}.muted{color:#57606a}
.code{font:700 2.2rem/1 ui-monospace,monospace;letter-spacing:.3rem;padding:.4rem .8rem;border:2px solid #1b1f24;display:inline-block}
form{display:inline}button{font:inherit;padding:.2rem .8rem;cursor:pointer}.box{border:1px solid #d8dee4;padding:1rem;margin:1rem 0;border-radius:6px}`;

function page(title: string, body: string, refreshS: number | null): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
${refreshS ? `<meta http-equiv="refresh" content="${refreshS}">` : ''}<title>${esc(title)}</title><style>${CSS}</style></head>
<body>${body}</body></html>
`;
}

async function serviceProbe(network: NetworkClient | null): Promise<{ text: string; ok: boolean }> {
  if (!network) return { text: 'not configured: every question the device cannot settle gets the fallback policy', ok: false };
  try {
    // Through the bridge's service client: its breaker knows a dead service without waiting.
    const res = await network.get('/v1/health', { retries: 0, timeoutMs: 1500, accept: 'application/json', maxResponseBytes: 64 << 10 });
    const j = JSON.parse(res.body.toString('utf8')) as { status?: string; datasetVersion?: number | null };
    if (j.status === 'ok') return { text: `reachable, dataset ${j.datasetVersion ? `v${j.datasetVersion}` : 'none published'}`, ok: true };
    return { text: `answers HTTP ${res.status}`, ok: false };
  } catch (e) {
    if (e instanceof NetworkError) {
      if (e.kind === 'breaker') return { text: 'unreachable (circuit open after repeated failures)', ok: false };
      if (e.kind === 'timeout') return { text: 'no answer within 1.5 s', ok: false };
      if (e.status !== undefined) return { text: `answers HTTP ${e.status}`, ok: false };
    }
    return { text: 'unreachable', ok: false };
  }
}

function deviceRows(devices: DeviceSummary[], nowS: number): string {
  if (devices.length === 0) return '<p class="muted">No verifier device found on the configured links.</p>';
  const rows = devices.map((d) => {
    const { ageSeconds: dsAge, datasetState } = datasetAgeOf(d, nowS * 1000);
    return `<tr data-device="${esc(d.id)}"><td>${esc(d.id)}</td><td>${esc(d.link)}</td><td class="muted">${esc(d.address)}</td>
<td class="${d.paired ? 'ok' : 'bad'}">${d.paired ? 'paired' : 'not paired'}</td>
<td>${esc(d.firmwareVersion)}${d.firmwareState === 'trial' ? ' (trial)' : ''}</td>
<td>${d.datasetVersion ? `v${esc(d.datasetVersion)}` : '-'} <span class="${datasetState === 'fresh' ? 'ok' : 'bad'}">${esc(datasetState)}</span></td>
<td>${esc(formatAge(dsAge))}</td>
<td class="${d.healthy ? 'ok' : 'bad'}">${d.healthy ? 'ok' : esc(d.lastError ?? 'unhealthy')}</td>
<td><form method="post" action="/ui/devices/${encodeURIComponent(d.id)}/pair"><button type="submit">${d.paired ? 'Pair again' : 'Pair'}</button></form></td></tr>`;
  });
  return `<table><thead><tr><th>Device</th><th>Link</th><th>Address</th><th>Pairing</th><th>Firmware</th><th>Dataset</th><th>Age</th><th>Health</th><th></th></tr></thead><tbody>${rows.join('\n')}</tbody></table>`;
}

async function statusBody(o: StatusPageOptions): Promise<string> {
  const nowMs = o.now();
  const nowS = Math.floor(nowMs / 1000);
  const devices = (o.registry?.list() ?? []).map((h) => h.summary());
  const ob = o.outbox.depth();
  const breaker = o.network?.breakerState() ?? null;
  const svc = await serviceProbe(o.network);
  const recent = o.recent.list();
  const decisions = recent.length
    ? `<table><thead><tr><th>Time</th><th>Order</th><th>Card</th><th>Decision</th><th>Stage</th><th>Reason</th><th>Device</th><th>ms</th></tr></thead><tbody>${recent
        .map(
          (r) =>
            `<tr><td>${esc(new Date(r.at).toISOString().slice(11, 19))}</td><td>${esc(r.orderId)}</td><td>${esc(r.brand ?? '')} ${esc(r.bin)}…${esc(r.last4)}</td><td>${esc(r.decision.toUpperCase())}</td><td>${esc(r.stage)}</td><td>${esc(r.reason)}</td><td>${esc(r.device ?? '-')}</td><td>${esc(r.ms)}</td></tr>`,
        )
        .join('\n')}</tbody></table>`
    : '<p class="muted">No verification since the bridge started.</p>';
  return `<h1>Precheck bridge</h1>
<p class="muted">version ${esc(o.version)} · up ${esc(formatAge(Math.floor((nowMs - o.startedAt) / 1000)))} · fallback ${esc(o.fallback)} · <a href="/v1/openapi.json">API</a> · <a href="/metrics">metrics</a> · this page refreshes every 10 s</p>
<h2>Devices</h2>
${deviceRows(devices, nowS)}
<h2>Network service</h2>
<table><tbody>
<tr><th>Service</th><td class="${svc.ok ? 'ok' : 'bad'}" id="service">${o.network ? `${esc(o.network.serviceUrl)}: ` : ''}${esc(svc.text)}</td></tr>
<tr><th>Circuit breaker</th><td class="${breaker === 'open' ? 'bad' : 'ok'}" id="breaker">${esc(breaker ?? '-')}</td></tr>
</tbody></table>
<h2>Outbox</h2>
<table><tbody>
<tr><th>Outcomes pending</th><td id="outcomes-pending">${esc(ob.outcomesPending)}</td><th>rejected</th><td class="${ob.outcomesRejected ? 'bad' : ''}">${esc(ob.outcomesRejected)}</td></tr>
<tr><th>Reconciliations pending</th><td>${esc(ob.reconciliationsPending)}</td><th>rejected</th><td class="${ob.reconciliationsRejected ? 'bad' : ''}">${esc(ob.reconciliationsRejected)}</td></tr>
</tbody></table>
<h2>Last decisions</h2>
${decisions}`;
}

function pairBody(id: string, step: PairStep | { status: 'error'; message: string }): string {
  const back = '<p><a href="/">Back to the status page</a></p>';
  if (step.status === 'confirm') {
    return `<h1>Pair ${esc(id)}</h1>
<div class="box"><p>The bridge shows this code. Compare it with the code on the device's display:</p>
<p><span class="code" id="pairing-code">${esc(step.code)}</span></p>
<p>Only confirm if both codes are the same. The offer expires in ${esc(step.expiresInS)} s.</p>
<form method="post" action="/ui/devices/${encodeURIComponent(id)}/pair/confirm"><input type="hidden" name="code" value="${esc(step.code)}"><input type="hidden" name="accept" value="yes"><button type="submit" id="confirm">The codes match: pair</button></form>
<form method="post" action="/ui/devices/${encodeURIComponent(id)}/pair/confirm"><input type="hidden" name="accept" value="no"><button type="submit" id="reject">They differ: cancel</button></form></div>${back}`;
  }
  if (step.status === 'paired') return `<h1>Paired</h1><p class="ok" id="pair-result">${esc(id)} is paired with this bridge; its key is pinned.</p>${back}`;
  if (step.status === 'rejected') return `<h1>Not paired</h1><p class="bad" id="pair-result">Pairing with ${esc(id)} was cancelled; nothing was stored.</p>${back}`;
  return `<h1>Not paired</h1><p class="bad" id="pair-result">${esc(step.message)}</p>${back}`;
}

/** GET /, POST /ui/devices/:id/pair, POST /ui/devices/:id/pair/confirm. */
export function statusPageRoutes(o: StatusPageOptions) {
  return async (app: FastifyInstance): Promise<void> => {
    app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 1024 }, (_req, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(body as string)));
    });
    // Without a token, the page is for this machine only (a token-less bridge listens on loopback
    // anyway; this also covers a misconfigured proxy). With one, the token hook already checked it
    // unless loopbackWithoutToken let a loopback client in.
    app.addHook('onRequest', async (req, reply) => {
      if (!o.token && !isLoopback(req.socket.remoteAddress)) {
        return reply.status(403).type('text/plain; charset=utf-8').send('the status page answers loopback clients only\n');
      }
    });
    const html = (reply: FastifyReply, status: number, title: string, body: string, refresh: number | null = null) =>
      reply.status(status).type('text/html; charset=utf-8').header('cache-control', 'no-store').header('x-frame-options', 'DENY').header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'").send(page(title, body, refresh));

    app.get('/', { schema: { hide: true } }, async (_req, reply) => html(reply, 200, 'Precheck bridge', await statusBody(o), 10));

    app.post<{ Params: { id: string } }>('/ui/devices/:id/pair', { schema: { hide: true } }, async (req: FastifyRequest<{ Params: { id: string } }>, reply) => {
      const id = req.params.id;
      try {
        return html(reply, 200, `Pair ${id}`, pairBody(id, await o.pairing.start(id)));
      } catch (e) {
        return html(reply, 409, `Pair ${id}`, pairBody(id, { status: 'error', message: (e as Error).message }));
      }
    });

    app.post<{ Params: { id: string }; Body: Record<string, string> | undefined }>('/ui/devices/:id/pair/confirm', { schema: { hide: true } }, async (req, reply) => {
      const id = req.params.id;
      const b = (req.body ?? {}) as Record<string, string>;
      try {
        return html(reply, 200, `Pair ${id}`, pairBody(id, await o.pairing.confirm(id, b.accept === 'yes', typeof b.code === 'string' ? b.code : undefined)));
      } catch (e) {
        return html(reply, 409, `Pair ${id}`, pairBody(id, { status: 'error', message: (e as Error).message }));
      }
    });
  };
}
