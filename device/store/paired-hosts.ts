// Hosts paired with this device (Noise static public keys), at most `max` of them.
import { ProtocolError } from '../../protocol/errors.ts';
import type { Db } from './database.ts';

export const DEFAULT_MAX_PAIRED_HOSTS = 4;

export interface PairedHost {
  publicKey: Uint8Array;
  name: string;
  /** unix seconds */
  pairedAt: number;
}

function checkKey(k: Uint8Array): Buffer {
  if (!(k instanceof Uint8Array) || k.length !== 32) throw new ProtocolError('INVALID_FIELD', 'host key must be 32 bytes', 'hostKey');
  return Buffer.from(k);
}

export class PairedHostStore {
  private readonly db: Db;
  readonly max: number;
  constructor(db: Db, max = DEFAULT_MAX_PAIRED_HOSTS) {
    if (!Number.isInteger(max) || max < 1 || max > 255) throw new ProtocolError('INVALID_FIELD', 'maxPairedHosts must be 1..255', 'maxPairedHosts');
    this.db = db;
    this.max = max;
  }

  list(): PairedHost[] {
    return (this.db.prepare(`SELECT public_key, name, paired_at FROM paired_host ORDER BY paired_at, public_key`).all() as {
      public_key: Buffer;
      name: string;
      paired_at: number;
    }[]).map((r) => ({ publicKey: new Uint8Array(r.public_key), name: r.name, pairedAt: r.paired_at }));
  }

  count(): number {
    return (this.db.prepare(`SELECT count(*) AS n FROM paired_host`).get() as { n: number }).n;
  }

  isPaired(publicKey: Uint8Array): boolean {
    return this.db.prepare(`SELECT 1 FROM paired_host WHERE public_key = ?`).get(checkKey(publicKey)) !== undefined;
  }

  /** Add (or rename) a host. PAIRING_FULL when `max` other hosts are already paired. */
  add(publicKey: Uint8Array, name: string, pairedAt: number): PairedHost {
    const key = checkKey(publicKey);
    const label = typeof name === 'string' ? name.slice(0, 64) : '';
    return this.db.transaction(() => {
      if (!this.isPaired(key) && this.count() >= this.max) {
        throw new ProtocolError('PAIRING_FULL', `already paired with ${this.max} hosts; unpair one first`);
      }
      this.db.prepare(`INSERT INTO paired_host (public_key, name, paired_at) VALUES (?, ?, ?)
                       ON CONFLICT (public_key) DO UPDATE SET name = excluded.name`).run(key, label, pairedAt);
      return { publicKey: new Uint8Array(key), name: label, pairedAt };
    }).immediate();
  }

  /** Returns whether the host was paired. */
  remove(publicKey: Uint8Array): boolean {
    return this.db.prepare(`DELETE FROM paired_host WHERE public_key = ?`).run(checkKey(publicKey)).changes > 0;
  }
}
