// A `precheck up` stack for end-to-end tests: the real orchestrator (separate processes for the
// service, socat, the emulated devices and the bridge) on free ports in a temp data dir.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startUp, type UpOptions, type UpOrchestrator } from '../../../tools/up/orchestrator.ts';

export interface UpFixture {
  up: UpOrchestrator;
  dir: string;
  lines: string[];
  adminKey(): string;
  close(): Promise<void>;
}

export async function startUpFixture(opts: Partial<UpOptions> = {}, dir?: string): Promise<UpFixture> {
  const root = dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'pc-e2e-'));
  const lines: string[] = [];
  const up = await startUp({ dataDir: path.join(root, 'd'), port: 0, serverPort: 0, timeoutMs: 90_000, out: (l) => lines.push(l), ...opts });
  return {
    up,
    dir: root,
    lines,
    adminKey: () => fs.readFileSync(path.join(up.paths.serverDir, 'admin.key'), 'utf8').trim(),
    close: () => up.close(),
  };
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/** Pids of live processes whose command line mentions `needle` (to prove nothing was left behind). */
export function processesMentioning(needle: string): number[] {
  const out: number[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${e}/cmdline`, 'utf8').replace(/\0/g, ' ');
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      // zombies are gone as far as resources go; the reaper is their parent's business
      if (cmd.includes(needle) && !/\) Z /.test(stat)) out.push(Number(e));
    } catch {
      // exited while we looked
    }
  }
  return out;
}
