// One `precheck up` per data dir, and no orphans even after a hard kill: <data>/run/up.json records
// this process's pid and its children's pids. A new run refuses while the recorded `up` lives, and
// stops children a killed `up` left behind (only pids whose command line names this data dir, so a
// recycled pid is never touched).
import fs from 'node:fs';
import path from 'node:path';
import { UpError } from './preflight.ts';
import { pidAlive } from '../../runtime/pid.ts';

interface RunRecord {
  pid: number;
  children: number[];
}

function cmdline(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

export class RunLock {
  private readonly file: string;
  private children: number[] = [];

  private constructor(
    runDir: string,
    private readonly dataDir: string,
  ) {
    this.file = path.join(runDir, 'up.pid.json');
  }

  /** Take the data dir; returns the pids of leftovers it stopped (for a message). */
  static async acquire(runDir: string, dataDir: string): Promise<{ lock: RunLock; cleaned: number[] }> {
    const lock = new RunLock(runDir, dataDir);
    const cleaned: number[] = [];
    let prev: RunRecord | null = null;
    try {
      prev = JSON.parse(fs.readFileSync(lock.file, 'utf8')) as RunRecord;
    } catch {
      prev = null;
    }
    if (prev && typeof prev.pid === 'number' && prev.pid !== process.pid && pidAlive(prev.pid) && / up( |$)/.test(cmdline(prev.pid))) {
      throw new UpError(`another precheck up (pid ${prev.pid}) is using ${dataDir}; stop it first (Ctrl-C in its terminal, or kill ${prev.pid})`, 3);
    }
    for (const pid of Array.isArray(prev?.children) ? prev!.children : []) {
      if (typeof pid === 'number' && pid > 1 && pidAlive(pid) && cmdline(pid).includes(dataDir)) {
        try {
          process.kill(-pid, 'SIGTERM'); // each child leads its own process group
        } catch {
          try {
            process.kill(pid, 'SIGTERM');
          } catch {
            // gone meanwhile
          }
        }
        cleaned.push(pid);
      }
    }
    // Wait (bounded) for the leftovers to release their ports and files.
    const deadline = Date.now() + 5000;
    while (cleaned.some(pidAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    for (const pid of cleaned.filter(pidAlive)) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    lock.write();
    return { lock, cleaned };
  }

  addChild(pid: number | undefined): void {
    if (pid === undefined) return;
    this.children.push(pid);
    this.write();
  }

  release(): void {
    try {
      const cur = JSON.parse(fs.readFileSync(this.file, 'utf8')) as RunRecord;
      if (cur.pid === process.pid) fs.rmSync(this.file, { force: true });
    } catch {
      // already gone
    }
  }

  private write(): void {
    const tmp = `${this.file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify({ pid: process.pid, children: this.children } satisfies RunRecord), { mode: 0o600 });
    fs.renameSync(tmp, this.file);
  }
}
