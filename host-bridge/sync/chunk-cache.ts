// Verified chunks on disk, content-addressed by SHA-256 (`<dir>/ab/abcdef...`), shared by every
// device and every retry: the hash chain tells the fetcher the digest of chunk i before it asks
// the service, so a chunk already here is never downloaded again. Only chunks that passed the
// chain check are written; a read re-hashes (a damaged file is a miss, never bad data).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const sha256 = (b: Uint8Array): Buffer => crypto.createHash('sha256').update(b).digest();

export class ChunkCache {
  readonly dir: string;
  constructor(dir: string) {
    this.dir = dir;
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  private fileOf(hash: Uint8Array): string {
    const hex = Buffer.from(hash).toString('hex');
    return path.join(this.dir, hex.slice(0, 2), hex);
  }

  /** The chunk whose SHA-256 is `hash`, or null (absent or damaged). */
  get(hash: Uint8Array): Uint8Array | null {
    const file = this.fileOf(hash);
    let data: Buffer;
    try {
      data = fs.readFileSync(file);
    } catch {
      return null;
    }
    if (!sha256(data).equals(Buffer.from(hash))) {
      fs.rmSync(file, { force: true });
      return null;
    }
    // mtime marks use, for prune()
    const now = new Date();
    try {
      fs.utimesSync(file, now, now);
    } catch {
      /* best effort */
    }
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }

  /** Store a verified chunk (atomic: temp file + rename, so a crash never leaves half a chunk). */
  put(hash: Uint8Array, data: Uint8Array): void {
    const file = this.fileOf(hash);
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, data, { mode: 0o600 });
    fs.renameSync(tmp, file);
  }

  /** Remove chunks unused for `maxAgeMs` (safe with other processes: it goes by last use). */
  prune(maxAgeMs: number, now = Date.now()): number {
    let removed = 0;
    for (const sub of safeReaddir(this.dir)) {
      const d = path.join(this.dir, sub);
      for (const f of safeReaddir(d)) {
        const file = path.join(d, f);
        try {
          if (now - fs.statSync(file).mtimeMs > maxAgeMs) {
            fs.rmSync(file, { force: true });
            removed++;
          }
        } catch {
          /* gone already */
        }
      }
    }
    return removed;
  }
}

function safeReaddir(d: string): string[] {
  try {
    return fs.readdirSync(d);
  } catch {
    return [];
  }
}
