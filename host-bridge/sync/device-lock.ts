// Two guards so one device is never synced twice at once:
//
// - in process: the device ids this process is syncing (the scheduler, POST /v1/sync and the CLI
//   share one engine). A second request of the same process waits for the run in progress
//   (`acquireAfterOwn`) instead of failing: right after a device re-attaches, the bridge's own
//   run is still resuming its transfer, and a POST /v1/sync or a cron `sync --all` must not
//   report that as SYNC_BUSY (exit 4);
// - across processes: a lock file per device in the bridge data dir (`<dataDir>/sync/locks/`),
//   created with O_EXCL and holding {pid, hostname, startedAt}. A second process finds it and fails
//   at once with SYNC_BUSY naming the holder (it cannot see when the other process is done). A lock whose holder died (bridge killed mid-sync, SIGKILL)
//   is stale: same host and the pid is gone. It is taken over by renaming it aside first, so of two
//   processes racing for a stale lock only one rename succeeds.
//
// Why a lock file and not an OS lock: Node has no flock(); a pid file with stale detection is the
// portable way, and a crashed holder cannot keep the device locked forever.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SyncError } from './errors.ts';
import { pidAlive } from '../../runtime/pid.ts';

export interface LockInfo {
  pid: number;
  hostname: string;
  /** unix ms */
  startedAt: number;
  purpose: string;
}

export interface HeldLock {
  readonly deviceId: string;
  readonly file: string;
  release(): void;
}

function safeName(deviceId: string): string {
  // device ids are "pc-" + hex, but the file name must never escape the lock dir whatever they are
  return deviceId.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 128) || '_';
}

function readLock(file: string): LockInfo | null {
  try {
    const v = JSON.parse(fs.readFileSync(file, 'utf8')) as LockInfo;
    return typeof v.pid === 'number' && typeof v.hostname === 'string' ? v : null;
  } catch {
    return null;
  }
}

export class DeviceLocks {
  /** device id → settles when this process's sync of it releases the lock */
  private readonly held = new Map<string, Promise<void>>();
  readonly dir: string;

  constructor(lockDir: string) {
    this.dir = lockDir;
  }

  /** Who holds the device now (this process or another), or null. */
  holder(deviceId: string): LockInfo | null {
    if (this.held.has(deviceId)) return { pid: process.pid, hostname: os.hostname(), startedAt: 0, purpose: 'this process' };
    const info = readLock(this.fileOf(deviceId));
    if (!info) return null;
    return this.isStale(info) ? null : info;
  }

  fileOf(deviceId: string): string {
    return path.join(this.dir, `${safeName(deviceId)}.lock`);
  }

  private isStale(info: LockInfo): boolean {
    return info.hostname === os.hostname() && info.pid !== process.pid && !pidAlive(info.pid);
  }

  /**
   * Take the device; if this process is syncing it already, wait until that run releases it first
   * (any number of waiters, each gets the lock in turn). `onWait` is called once when it waits.
   * Another process's lock still fails at once with SYNC_BUSY.
   */
  async acquireAfterOwn(deviceId: string, purpose = 'sync', onWait?: () => void): Promise<HeldLock> {
    let told = false;
    for (let own = this.held.get(deviceId); own; own = this.held.get(deviceId)) {
      if (!told) onWait?.();
      told = true;
      await own;
    }
    return this.acquire(deviceId, purpose);
  }

  /** Take the device or throw SYNC_BUSY naming who has it. */
  acquire(deviceId: string, purpose = 'sync'): HeldLock {
    if (this.held.has(deviceId)) {
      throw new SyncError('SYNC_BUSY', `device ${deviceId} is already being synced by this process`);
    }
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const file = this.fileOf(deviceId);
    const mine: LockInfo = { pid: process.pid, hostname: os.hostname(), startedAt: Date.now(), purpose };
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = fs.openSync(file, 'wx', 0o600);
        try {
          fs.writeSync(fd, JSON.stringify(mine));
        } finally {
          fs.closeSync(fd);
        }
        let settle!: () => void;
        this.held.set(deviceId, new Promise<void>((r) => (settle = r)));
        let released = false;
        return {
          deviceId,
          file,
          release: () => {
            if (released) return;
            released = true;
            this.held.delete(deviceId);
            try {
              const now = readLock(file);
              if (now && now.pid === mine.pid && now.startedAt === mine.startedAt) fs.rmSync(file, { force: true });
            } finally {
              settle();
            }
          },
        };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const other = readLock(file);
      if (other && !this.isStale(other)) {
        const since = new Date(other.startedAt).toISOString();
        const where = other.hostname === os.hostname() ? `pid ${other.pid}` : `pid ${other.pid} on ${other.hostname}`;
        throw new SyncError('SYNC_BUSY', `device ${deviceId} is being synced by ${where} since ${since} (lock ${file})`);
      }
      // Stale (holder died) or unreadable (holder died while writing): move it aside atomically.
      const aside = `${file}.stale-${process.pid}-${Date.now()}`;
      try {
        fs.renameSync(file, aside);
      } catch {
        continue; // someone else moved it first: try the exclusive create again
      }
      const moved = readLock(aside);
      fs.rmSync(aside, { force: true });
      if (moved && !this.isStale(moved)) {
        // Lost a race: what we moved was a fresh lock someone just took. Give it back and yield.
        try {
          fs.writeFileSync(file, JSON.stringify(moved), { flag: 'wx', mode: 0o600 });
        } catch {
          /* they re-created it themselves */
        }
        throw new SyncError('SYNC_BUSY', `device ${deviceId} is being synced by pid ${moved.pid}`);
      }
    }
    throw new SyncError('SYNC_BUSY', `device ${deviceId}: could not take the sync lock ${file}`);
  }
}
