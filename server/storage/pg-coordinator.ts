// Several service instances on one PostgreSQL database: one of them is the dataset publisher, the
// others tell it about their changes and learn the versions it publishes (LISTEN/NOTIFY).
//
// Measured before (bench/REPORT.md, outcomes with two instances): every instance built on its own
// schedule, each build read the tables whole and — since an instance's routes come from the
// outcomes it ingested — found other content than the other instance's version, so both
// published, alternately; each then had to index the other's version from storage before it could
// build a delta. And an instance that did not build kept announcing its own last version in
// Precheck-Dataset-Version, so bridges behind it missed the newer ones.
//
// Now: the instance holding a session advisory lock (PUBLISHER_LOCK, on a connection of its own,
// held for the process's life) runs the change-driven and refresh builds. The others forward
// "changed" to it with NOTIFY — at most one per `forwardMs`, sent after the change committed, so
// a build that starts after the notification reads it. Every publish is announced ("published
// <version>") and every instance serves that version. If the publisher's connection ends (crash,
// network), PostgreSQL releases the lock and another instance takes the role within `claimMs`,
// then builds once (changes forwarded while nobody held the role are in that build).
// Explicit publishes (API, CLI) still run wherever they are asked, under the publish lock.
import pg from 'pg';

const PUBLISHER_LOCK = 0x70726563_0003n; // 'prec' + 3 (1: migrations, 2: one build at a time)
const CHANNEL = 'precheck_datasets';

export interface CoordinatorEvents {
  /** Another instance changed data that goes into datasets (only while this one publishes). */
  onChanged(): void;
  /** A version was published (by any instance, this one included). */
  onPublished(version: number): void;
  /**
   * This instance became the publisher (or stopped being it). `takeover`: not this instance's first
   * try at start — changes forwarded while no instance published may be waiting.
   */
  onRole(publisher: boolean, takeover: boolean): void;
  onError?(e: unknown): void;
}

export interface CoordinatorOptions {
  /** How often an instance that is not the publisher tries to take the role; default 2000 ms. */
  claimMs?: number;
  /** At most one "changed" notification per this interval; default 250 ms. */
  forwardMs?: number;
}

export class PgCoordinator {
  private client: pg.Client | null = null;
  private publisher = false;
  private closed = false;
  private claimTimer: NodeJS.Timeout | null = null;
  private forwardTimer: NodeJS.Timeout | null = null;
  private lastForward = 0;
  private forwardPending = false;
  private connecting: Promise<void> | null = null;
  private everConnected = false;
  private claimed = false;

  constructor(
    private readonly url: string,
    private readonly events: CoordinatorEvents,
    private readonly opts: CoordinatorOptions = {},
  ) {}

  /** Connects, listens and tries the publisher role once (resolves after that first try). */
  async start(): Promise<void> {
    await this.connect();
    this.claimTimer = setInterval(() => void this.tick(), this.opts.claimMs ?? 2000);
    this.claimTimer.unref();
  }

  /** True while this instance holds the publisher role. */
  get isPublisher(): boolean {
    return this.publisher;
  }

  private async tick(): Promise<void> {
    if (this.closed) return;
    if (!this.client) {
      await this.connect();
      return;
    }
    if (!this.publisher) await this.claim().catch((e) => this.failed(e));
  }

  private async connect(): Promise<void> {
    if (this.connecting) return this.connecting;
    this.connecting = (async () => {
      const c = new pg.Client({ connectionString: this.url, application_name: 'precheck-coordinator' });
      c.on('error', (e) => this.failed(e));
      c.on('end', () => this.lost(c));
      c.on('notification', (m) => this.notified(m.payload ?? ''));
      try {
        await c.connect();
        await c.query(`LISTEN ${CHANNEL}`);
      } catch (e) {
        await c.end().catch(() => undefined);
        this.events.onError?.(e);
        return; // the next tick tries again
      }
      if (this.closed) {
        await c.end().catch(() => undefined);
        return;
      }
      this.client = c;
      await this.claim().catch((e) => this.failed(e));
      // A change made while this instance had no connection may not have reached the publisher.
      if (!this.publisher && this.everConnected) this.notify('changed');
      this.everConnected = true;
    })().finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  private async claim(): Promise<void> {
    const c = this.client;
    if (!c || this.publisher) return;
    const r = await c.query('SELECT pg_try_advisory_lock($1) AS ok', [PUBLISHER_LOCK.toString()]);
    if (r.rows[0].ok === true && this.client === c && !this.closed) {
      this.publisher = true;
      this.events.onRole(true, this.claimed);
      this.claimed = true;
    } else {
      this.claimed = true; // someone else publishes: a later claim of the role is a takeover
    }
  }

  private failed(e: unknown): void {
    this.events.onError?.(e);
    const c = this.client;
    if (c) {
      c.end().catch(() => undefined);
      this.lost(c);
    }
  }

  /** The connection is gone: so is the lock (PostgreSQL released it with the session). */
  private lost(c: pg.Client): void {
    if (this.client !== c) return;
    this.client = null;
    if (this.publisher) {
      this.publisher = false;
      this.events.onRole(false, false);
    }
  }

  private notified(payload: string): void {
    if (payload === 'changed') {
      if (this.publisher) this.events.onChanged();
      return;
    }
    const m = /^published (\d+)$/.exec(payload);
    if (m) this.events.onPublished(Number(m[1]));
  }

  private notify(payload: string): void {
    const c = this.client;
    if (!c) return; // no connection: the publisher that takes over builds once anyway
    c.query('SELECT pg_notify($1, $2)', [CHANNEL, payload]).catch((e) => this.failed(e));
  }

  /** Data that goes into datasets changed here (and is committed): tell the publisher. */
  changed(): void {
    if (this.closed || this.publisher) return;
    const every = this.opts.forwardMs ?? 250;
    const wait = this.lastForward + every - Date.now();
    if (wait <= 0 && !this.forwardTimer) {
      this.lastForward = Date.now();
      this.notify('changed');
      return;
    }
    this.forwardPending = true;
    if (this.forwardTimer) return;
    this.forwardTimer = setTimeout(() => {
      this.forwardTimer = null;
      if (!this.forwardPending) return;
      this.forwardPending = false;
      this.lastForward = Date.now();
      this.notify('changed');
    }, Math.max(0, wait));
    this.forwardTimer.unref();
  }

  /** This instance published `version`: every instance (this one too) hears it. */
  published(version: number): void {
    if (!this.closed) this.notify(`published ${version}`);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.claimTimer) clearInterval(this.claimTimer);
    if (this.forwardTimer) clearTimeout(this.forwardTimer);
    this.claimTimer = this.forwardTimer = null;
    await this.connecting;
    const c = this.client;
    this.client = null;
    this.publisher = false;
    // Ending the session releases the publisher lock: another instance takes the role.
    if (c) await c.end().catch(() => undefined);
  }
}
