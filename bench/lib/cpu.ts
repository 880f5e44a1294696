// CPU time of processes (Linux /proc), for a figure the machine's other load does not skew as much
// as wall-clock throughput: CPU milliseconds per request of the service next to the bare route's.
// On a shared machine req/s drops with everyone else's load; CPU per request mostly does not.
import fs from 'node:fs';
import path from 'node:path';
import type { LoadResult } from './http-load.ts';

const TICK_MS = 10; // USER_HZ is 100 on Linux

/** utime + stime of a process in ms (0 when it is gone or /proc is not there). */
export function processCpuMs(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields from 3 (state) on
    return (Number(f[11]) + Number(f[12])) * TICK_MS;
  } catch {
    return 0;
  }
}

/**
 * The PostgreSQL server's processes (postmaster and its children) when PRECHECK_BENCH_PG_DATADIR
 * names its data directory on this machine; else null (a remote server: its CPU is not counted).
 * With `database`, backends of other databases are left out (a shared cluster: other people's
 * tests on it would count as the service's cost); the cluster's own background processes stay.
 */
export function pgServerPids(database?: string): number[] | null {
  const dir = process.env.PRECHECK_BENCH_PG_DATADIR;
  if (!dir) return null;
  try {
    const master = Number(fs.readFileSync(path.join(dir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    const pids = [master];
    for (const e of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(e)) continue;
      try {
        const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
        if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) !== master) continue;
        if (database !== undefined) {
          // "postgres: USER DB HOST(PORT) STATE" for a backend, "postgres: autovacuum worker DB"
          const title = fs.readFileSync(`/proc/${e}/cmdline`, 'utf8').replace(/\0/g, ' ');
          const db = /^postgres: autovacuum worker (\S+)/.exec(title)?.[1] ?? /^postgres: \S+ (\S+) (?:\S+\(\d+\)|\[local\])/.exec(title)?.[1];
          if (db !== undefined && db !== database) continue;
        }
        pids.push(Number(e));
      } catch {
        // gone meanwhile
      }
    }
    return pids;
  } catch {
    return null;
  }
}

/** The children of `pids` (the service's dataset build child), from /proc. */
export function childPids(pids: readonly number[]): number[] {
  const out: number[] = [];
  try {
    for (const e of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(e)) continue;
      try {
        const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
        if (pids.includes(Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]))) out.push(Number(e));
      } catch {
        // gone meanwhile
      }
    }
  } catch {
    // no /proc
  }
  return out;
}

/** CPU ms used by `pids` (re-listed by `list` at the end, for servers that fork) while `fn` runs. */
export async function cpuDuring<T>(list: () => number[], fn: () => Promise<T>): Promise<{ result: T; cpuMs: number }> {
  const before = new Map(list().map((p) => [p, processCpuMs(p)]));
  const result = await fn();
  let cpuMs = 0;
  for (const p of new Set([...before.keys(), ...list()])) cpuMs += processCpuMs(p) - (before.get(p) ?? 0);
  return { result, cpuMs };
}

/** "service vs bare → ratio" in CPU ms per request answered (warm-ups included). */
export function cpuCell(cpu: { bare: number; svc: number }, bare: LoadResult[], svc: LoadResult[]): string {
  const per = (ms: number, runs: LoadResult[]) => ms / Math.max(1, runs.reduce((a, r) => a + (r.total ?? r.requests), 0));
  const b = per(cpu.bare, bare);
  const x = per(cpu.svc, svc);
  return `${x.toFixed(2)} vs ${b.toFixed(3)} → ${(b / x).toFixed(2)}`;
}

export interface SideBySide {
  bareRuns: LoadResult[];
  svcRuns: LoadResult[];
  /** CPU ms of each side's processes over the whole alternation, its spill included. */
  cpu: { bare: number; svc: number };
  /** CPU ms each side used while the other was loaded (work left over from its own round). */
  spill: { bare: number; svc: number };
}

/**
 * Waits until `list`'s processes have used under `busyMs` CPU ms in each of two `stepMs` steps
 * in a row (at most `maxMs`): the work a round left behind (write-behind flushes, a dataset
 * build, GC) runs before the other side's round starts, instead of slowing it.
 */
export async function settle(list: () => number[], stepMs = 100, busyMs = 10, maxMs = 15_000): Promise<void> {
  const cpu = () => list().reduce((a, p) => a + processCpuMs(p), 0);
  const t0 = performance.now();
  let quiet = 0;
  let last = cpu();
  while (quiet < 2 && performance.now() - t0 < maxMs) {
    await new Promise((r) => setTimeout(r, stepMs));
    const now = cpu();
    quiet = now - last < busyMs ? quiet + 1 : 0;
    last = now;
  }
}

/**
 * The bare bound and the service loaded in `rounds` alternating rounds (a slow spell on a shared
 * machine then hits both figures rather than one), with the CPU ms each side's processes used;
 * the service's child processes (dataset builds) and the PostgreSQL server's processes (when
 * `pgUrl` is set and it runs here; its backends of other databases not) count on the service's side.
 * Each round starts once both sides are idle (`settle`), and each side's CPU is read over every
 * round, its own and the other's: what a side's requests left to do after its round (the service's
 * write-behind flushes and dataset builds) counts on its side and does not slow the other's round
 * (before this, the service's leftovers ran during the bare route's rounds, uncounted, and made the
 * bound look slower).
 * `load` gets the run label `bare<round>` / `svc<round>`.
 */
export async function alternatingRounds(
  rounds: number,
  bare: { urls: string[]; pids: number[] },
  svc: { urls: string[]; pids: number[] },
  /** The service's PostgreSQL database URL (its server's processes count), or null. */
  pgUrl: string | null,
  load: (urls: string[], run: string, side: 'bare' | 'svc') => Promise<LoadResult>,
): Promise<SideBySide> {
  const out: SideBySide = { bareRuns: [], svcRuns: [], cpu: { bare: 0, svc: 0 }, spill: { bare: 0, svc: 0 } };
  // The service's build children count on its side (a child that exits within a round is missed).
  const db = pgUrl ? decodeURIComponent(new URL(pgUrl).pathname.slice(1)) : null;
  const svcPids = () => [...svc.pids, ...childPids(svc.pids), ...(db !== null ? (pgServerPids(db) ?? []) : [])];
  const bothPids = () => [...bare.pids, ...svcPids()];
  const round = async (side: 'bare' | 'svc', label: string): Promise<LoadResult> => {
    await settle(bothPids);
    const other = side === 'bare' ? svcPids : () => bare.pids;
    const otherBefore = new Map(other().map((p) => [p, processCpuMs(p)]));
    const own = await cpuDuring(side === 'bare' ? () => bare.pids : svcPids, () => load(side === 'bare' ? bare.urls : svc.urls, label, side));
    let spill = 0;
    for (const p of new Set([...otherBefore.keys(), ...other()])) spill += processCpuMs(p) - (otherBefore.get(p) ?? 0);
    const o = side === 'bare' ? 'svc' : 'bare';
    out.cpu[side] += own.cpuMs;
    out.cpu[o] += spill;
    out.spill[o] += spill;
    return own.result;
  };
  for (let r = 0; r < rounds; r++) {
    out.bareRuns.push(await round('bare', `bare${r}`));
    out.svcRuns.push(await round('svc', `svc${r}`));
  }
  // The service's last round's leftovers count too.
  const tail = await cpuDuring(svcPids, () => settle(svcPids));
  out.cpu.svc += tail.cpuMs;
  out.spill.svc += tail.cpuMs;
  return out;
}
