// The payer-notification channel around the verification core (seed 004): after an accepted
// `success` outcome for an order verified at a located terminal, a notice in the payer's language
// plus personalised items (rules over the offers catalogue and its spatial index) is queued for
// every consenting endpoint of the payer's account, and delivered by the DeliveryWorker.
// Nothing here decides anything about a card: it only listens to outcomes the core accepted.
import crypto from 'node:crypto';
import { BlockList, isIP } from 'node:net';
import { parsePhoneNumberFromString } from 'libphonenumber-js';
import type Database from 'better-sqlite3';
import type { SmsAdapter } from '../../protocol/channels/sms-adapter.ts';
import type { HistoryStatus } from '../../protocol/dataset/types.ts';
import { cardBrand } from '../../rules/brand.ts';
import { ServiceError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { containsPan } from '../../contracts/pan-guard.ts';
import { isLoopback } from '../../runtime/loopback.ts';
import { DeliveryWorker, type DeliveryOptions } from './delivery.ts';
import { CatalogueIndex } from './geo-index.ts';
import { buildNotice, NOTICE_EVENT, type NoticePayload } from './notice.ts';
import { importOffersCsv, splitRows, validOffer, type OfferRow, type OffersImportReport } from './offers-csv.ts';
import { DEFAULT_RULE_SET, evaluateRules, parseRuleSet, type RuleSet } from './rules.ts';
import { newWebhookSecret, NotifyStore, type Endpoint, type MessageState, type QueuedMessage, type TerminalLocation } from './store.ts';
import { toUnixSeconds, type NowMs } from '../../runtime/clock.ts';

export interface NotifyConfig {
  /** SMS provider adapter; without one, SMS endpoints cannot be registered. */
  sms?: SmsAdapter | null;
  /** Accept http:// webhook URLs to a loopback host (tests, a receiver on the same host). Default: https only. */
  allowHttp?: boolean;
  /**
   * Hosts a webhook URL may name: exact names (`hooks.shop.example`), `*.shop.example` (any name
   * under it) or IP literals; other hosts are refused with WEBHOOK_HOST_NOT_ALLOWED. Absent: any
   * host, except loopback, private, link-local and other non-public address literals (and
   * `localhost`), so a merchant cannot point the service's requests into its own network.
   */
  webhookHosts?: readonly string[] | null;
  delivery?: Partial<DeliveryOptions>;
}

/** The fields of an accepted outcome the channel looks at. */
export interface OutcomeFacts {
  idempotencyKey: string;
  orderId: string;
  status: HistoryStatus;
  amount: number;
  currency: string;
  /** Brand id; derived from the BIN when absent. */
  brand?: string | null;
  bin: string;
  last4: string;
  at: number;
  /** Verifier device (terminal) that verified the order. */
  terminal?: string;
  /** The payer's account at the merchant (whose endpoints are notified). */
  account?: string;
}

export interface EndpointInput {
  account: string;
  kind: 'webhook' | 'sms';
  url?: string;
  phone?: string;
  /** Default region for a phone number written without +country code (ISO 3166 alpha-2). */
  region?: string;
  lang: string;
  consent: { granted: boolean; text: string; at?: number };
}

/** URL hostnames keep IPv6 literals in brackets; compare without them, lower case. */
const bareHost = (h: string): string => h.replace(/^\[|\]$/g, '').toLowerCase();

/** Address ranges a webhook must not reach by default (RFC 6890 special-purpose, non-global); the IPv4 ranges also hold for IPv4-mapped IPv6 (BlockList checks both). */
const INTERNAL = new BlockList();
for (const [net, bits] of [['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12], ['192.0.0.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['224.0.0.0', 4], ['240.0.0.0', 4]] as const) INTERNAL.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8]] as const) INTERNAL.addSubnet(net, bits, 'ipv6');

function isInternalHost(host: string): boolean {
  const v = isIP(host);
  if (v === 0) return isLoopback(host);
  return INTERNAL.check(host, v === 6 ? 'ipv6' : 'ipv4');
}

/** `pattern`: an exact host, or `*.domain` for any name under domain (not domain itself). */
function hostMatches(host: string, pattern: string): boolean {
  const p = bareHost(pattern.trim());
  return p.startsWith('*.') ? host.endsWith(p.slice(1)) && host.length > p.length - 1 : host === p;
}

/** Refuses a malformed allow-list at start (an entry like `https://x/` would silently match nothing). */
export function checkWebhookHosts(list: readonly string[] | null | undefined): void {
  if (list === undefined || list === null) return;
  if (!Array.isArray(list)) throw new TypeError('notify.webhookHosts must be an array of host names');
  for (const p of list) {
    const h = typeof p === 'string' ? bareHost(p.trim()) : '';
    if (!(isIP(h) !== 0 || /^(\*\.)?[a-z0-9-]+(\.[a-z0-9-]+)*$/.test(h))) {
      throw new TypeError(`notify.webhookHosts: ${JSON.stringify(p)} is not a host name, *.domain or IP address`);
    }
  }
}

export type PublicEndpoint = Omit<Endpoint, 'secret'>;
const publicEndpoint = ({ secret: _s, ...e }: Endpoint): PublicEndpoint => e;

export class NotifyService {
  readonly store: NotifyStore;
  readonly worker: DeliveryWorker;
  private index: CatalogueIndex | null = null;
  private rules: { version: number; set: RuleSet } | null = null;
  private readonly clockMs: () => number;

  constructor(
    db: Database.Database,
    private readonly log: Logger,
    /** Wall clock, ms (runtime/clock.ts); stored instants are Unix seconds. */
    private readonly now: NowMs,
    private readonly config: NotifyConfig = {},
  ) {
    checkWebhookHosts(config.webhookHosts);
    this.clockMs = config.delivery?.clockMs ?? (() => Date.now());
    this.store = new NotifyStore(db);
    // The host policy holds at delivery too: a narrowed allow-list stops endpoints registered before it.
    this.worker = new DeliveryWorker(this.store, log, config.sms ?? null, { ...config.delivery, refuseUrl: (url) => (this.hostRefusal(new URL(url)) ? 'webhook host no longer allowed (notify.webhookHosts)' : null) });
  }

  /** Starts delivering (the running server only; CLI commands open the queue without sending). */
  startDelivery(): void {
    this.worker.start();
  }

  async close(): Promise<void> {
    await this.worker.stop();
  }

  // ------------------------------------------------------------ terminal locations
  setTerminal(deviceId: string, loc: { lat: number; lon: number; category: string; merchantName?: string | null }): TerminalLocation {
    if (this.store.deviceMerchant(deviceId) === null) throw new ServiceError('NOT_FOUND', 'no such device; register it first (POST /v1/admin/devices)');
    if (!(Math.abs(loc.lat) <= 90) || !(Math.abs(loc.lon) <= 180)) throw new ServiceError('INVALID_FIELD', 'lat must be -90..90 and lon -180..180');
    if (!/^[0-9]{4}$/.test(loc.category)) throw new ServiceError('INVALID_FIELD', 'category must be a 4-digit merchant category code (ISO 18245)');
    const t: TerminalLocation = { deviceId, lat: loc.lat, lon: loc.lon, category: loc.category, merchantName: loc.merchantName ?? null, updatedAt: toUnixSeconds(this.now()) };
    this.store.upsertTerminal(t);
    return t;
  }

  /** Device listings with each device's location (or null). */
  withLocations<T extends { id: string }>(devices: T[]): (T & { location: Omit<TerminalLocation, 'deviceId'> | null })[] {
    const byId = new Map(this.store.terminals().map((t) => [t.deviceId, t]));
    return devices.map((d) => {
      const t = byId.get(d.id);
      return { ...d, location: t ? { lat: t.lat, lon: t.lon, category: t.category, merchantName: t.merchantName, updatedAt: t.updatedAt } : null };
    });
  }

  // ------------------------------------------------------------ endpoints and consent
  registerEndpoint(merchant: string, b: EndpointInput): { endpoint: PublicEndpoint; secret: string | null } {
    if (b.consent?.granted !== true) throw new ServiceError('INVALID_FIELD', 'explicit consent is required: consent.granted must be true');
    if (containsPan(b.consent.text)) throw new ServiceError('PAN_REJECTED', 'consent text must not contain a card number');
    let url: string | null = null;
    let phone: string | null = null;
    let secret: string | null = null;
    if (b.kind === 'webhook') {
      url = this.checkUrl(b.url);
      secret = newWebhookSecret();
    } else {
      if (!this.config.sms) throw new ServiceError('UNAVAILABLE', 'no SMS adapter is configured on this service');
      const p = b.phone ? parsePhoneNumberFromString(b.phone, (b.region ?? undefined) as Parameters<typeof parsePhoneNumberFromString>[1]) : undefined;
      if (!p || !p.isValid()) throw new ServiceError('INVALID_FIELD', 'phone is not a valid number (E.164, or national with region)');
      phone = p.number;
    }
    const e: Endpoint = {
      id: `ep_${crypto.randomBytes(12).toString('hex')}`,
      merchant,
      account: b.account,
      kind: b.kind,
      url,
      phone,
      secret,
      lang: b.lang,
      consentText: b.consent.text,
      consentAt: b.consent.at ?? toUnixSeconds(this.now()),
      createdAt: toUnixSeconds(this.now()),
    };
    this.store.insertEndpoint(e);
    this.log.info({ endpoint: e.id, kind: e.kind }, 'notification endpoint registered with consent');
    return { endpoint: publicEndpoint(e), secret };
  }

  private checkUrl(raw: string | undefined): string {
    let u: URL;
    try {
      u = new URL(raw ?? '');
    } catch {
      throw new ServiceError('INVALID_FIELD', 'url is not a valid absolute URL');
    }
    const loopbackForTests = this.config.allowHttp === true && isLoopback(bareHost(u.hostname));
    if (u.protocol !== 'https:' && !(u.protocol === 'http:' && loopbackForTests)) {
      throw new ServiceError('INVALID_FIELD', this.config.allowHttp ? 'url must be https (http only to a loopback host)' : 'url must be https');
    }
    if (u.username || u.password) throw new ServiceError('INVALID_FIELD', 'url must not carry credentials');
    if (u.href.length > 2048) throw new ServiceError('INVALID_FIELD', 'url is too long');
    const refused = this.hostRefusal(u);
    if (refused) {
      const host = bareHost(u.hostname);
      throw new ServiceError('WEBHOOK_HOST_NOT_ALLOWED', refused === 'unlisted' ? `webhook host ${host} is not in this service's allow-list (notify.webhookHosts)` : `webhook host ${host} is not a public address; list it in notify.webhookHosts to allow it`);
    }
    return u.href;
  }

  /** The webhook host policy (notify.webhookHosts, else public hosts only): why `u` is refused, or null. */
  private hostRefusal(u: URL): 'unlisted' | 'internal' | null {
    const host = bareHost(u.hostname);
    const list = this.config.webhookHosts;
    if (list) return list.some((pattern) => hostMatches(host, pattern)) ? null : 'unlisted';
    const loopbackForTests = this.config.allowHttp === true && isLoopback(host);
    return !loopbackForTests && isInternalHost(host) ? 'internal' : null;
  }

  endpoints(merchant: string, account?: string): PublicEndpoint[] {
    return (account === undefined ? this.store.endpointsOfMerchant(merchant) : this.store.endpointsOf(merchant, account)).map(publicEndpoint);
  }

  withdraw(merchant: string, id: string): { messages: number } {
    const r = this.store.withdraw(id, merchant);
    if (!r.endpoint) throw new ServiceError('NOT_FOUND', 'no such endpoint');
    this.log.info({ endpoint: id, messages: r.messages }, 'consent withdrawn: endpoint and its messages deleted');
    return { messages: r.messages };
  }

  eraseAccount(merchant: string, account: string): { endpoints: number; messages: number } {
    const r = this.store.eraseAccount(merchant, account);
    this.log.info({ endpoints: r.endpoints, messages: r.messages }, 'account erased from notifications');
    return r;
  }

  // ------------------------------------------------------------ catalogue and rules
  async importCsv(source: AsyncIterable<Uint8Array | string>): Promise<OffersImportReport> {
    return importOffersCsv(source, (rows) => this.writeOffers(rows));
  }

  importRows(rows: Record<string, unknown>[]): { offers: number; invalid: number[] } {
    const ok: OfferRow[] = [];
    const invalid: number[] = [];
    rows.forEach((r, i) => {
      const v = validOffer(r);
      if (v) ok.push(v);
      else invalid.push(i);
    });
    if (ok.length) this.writeOffers(ok);
    return { offers: ok.length, invalid };
  }

  private writeOffers(rows: OfferRow[]): void {
    const { merchants, offers } = splitRows(rows);
    this.store.importCatalogue(merchants, offers);
  }

  /** The spatial index of the current catalogue (rebuilt when any process changed the catalogue). */
  catalogueIndex(): CatalogueIndex {
    const v = this.store.catalogueVersion();
    if (!this.index || this.index.version !== v) {
      const { merchants, offers } = this.store.catalogue();
      this.index = CatalogueIndex.build(merchants, offers, v);
    }
    return this.index;
  }

  ruleSet(): { version: number; set: RuleSet } {
    const latest = this.store.latestRuleSet();
    if (!latest) return { version: 0, set: DEFAULT_RULE_SET };
    if (this.rules?.version !== latest.version) this.rules = { version: latest.version, set: parseRuleSet(JSON.parse(latest.body)) };
    return this.rules;
  }

  putRuleSet(doc: unknown): { version: number; set: RuleSet } {
    const set = parseRuleSet(doc);
    const version = this.store.saveRuleSet(JSON.stringify(set), toUnixSeconds(this.now()));
    this.log.info({ version, rules: set.rules.length }, 'notice rule set stored');
    return { version, set };
  }

  // ------------------------------------------------------------ generation
  /** The notice for one endpoint's language (pure apart from reading the catalogue). */
  generate(merchant: string, o: OutcomeFacts, terminal: TerminalLocation, lang: string): NoticePayload {
    const { version, set } = this.ruleSet();
    const items = evaluateRules(set, { category: terminal.category, lat: terminal.lat, lon: terminal.lon, amount: o.amount, currency: o.currency, merchant }, this.catalogueIndex());
    return buildNotice(
      {
        orderId: o.orderId,
        merchantName: terminal.merchantName ?? merchant,
        amount: o.amount,
        currency: o.currency,
        at: o.at,
        brand: o.brand ?? cardBrand(o.bin) ?? null,
        last4: o.last4,
        lang,
        terminal: { id: terminal.deviceId, category: terminal.category },
        items,
        ruleSetVersion: version,
      },
      new Date(this.now()),
    );
  }

  /**
   * Called for every outcome the core accepted (not for replays). Queues a notice per consenting
   * endpoint when the outcome is a success at a located terminal of this merchant. Never throws:
   * a notice problem must not fail the outcome report.
   */
  onOutcome(merchant: string, o: OutcomeFacts): number {
    try {
      if (o.status !== 'success' || !o.terminal || !o.account) return 0;
      const terminal = this.store.terminal(o.terminal);
      if (!terminal || this.store.deviceMerchant(o.terminal) !== merchant) return 0;
      const endpoints = this.store.endpointsOf(merchant, o.account);
      if (endpoints.length === 0) return 0;
      const byLang = new Map<string, string>();
      const nowMs = this.clockMs();
      const msgs = endpoints.map((e) => {
        let payload = byLang.get(e.lang);
        if (payload === undefined) byLang.set(e.lang, (payload = JSON.stringify(this.generate(merchant, o, terminal, e.lang))));
        return {
          // Deterministic: the same accepted outcome can never queue a second message per endpoint.
          id: `msg_${crypto.createHash('sha256').update(`${merchant}\u0000${o.idempotencyKey}\u0000${e.id}`).digest('hex').slice(0, 32)}`,
          endpointId: e.id,
          merchant,
          account: o.account!,
          orderId: o.orderId,
          eventType: NOTICE_EVENT,
          payload,
          nextAt: nowMs,
          createdAt: nowMs,
        };
      });
      const queued = this.store.enqueue(msgs);
      if (queued.length) this.worker.kick();
      return queued.length;
    } catch (e) {
      this.log.error({ err: e, orderId: o.orderId }, 'payment notice not generated');
      return 0;
    }
  }

  // ------------------------------------------------------------ queue operations
  messages(f: { state?: MessageState; merchant?: string; limit?: number } = {}): QueuedMessage[] {
    return this.store.listMessages(f);
  }
  replay(id: string): boolean {
    const ok = this.store.replay(id, this.clockMs());
    if (ok) this.worker.kick();
    return ok;
  }
  replayDead(): number {
    const n = this.store.replayDead(this.clockMs());
    if (n) this.worker.kick();
    return n;
  }
  purge(state: 'delivered' | 'dead', olderThanMs = 0): number {
    return this.store.purge(state, this.clockMs() - olderThanMs);
  }
  purgeOne(id: string): boolean {
    return this.store.purgeOne(id);
  }
}
