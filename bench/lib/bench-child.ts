// Child-process entry of `npm run bench` (bench/run.ts): imports ONE benchmark file, calls its
// run(), and sends the result to the parent over IPC. One process per benchmark, so a crash, a
// leaked handle or a stuck child process in one benchmark cannot affect the others; the parent
// enforces a timeout and kills this process group.
import { pathToFileURL } from 'node:url';
import type { BenchResult } from './report-types.ts';

export type ChildMessage =
  | { kind: 'ok'; result: BenchResult }
  | { kind: 'skip'; reason: string }
  | { kind: 'error'; message: string; stack?: string };

function send(m: ChildMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send) {
      process.stdout.write(`${JSON.stringify(m)}\n`);
      resolve();
      return;
    }
    process.send(m, undefined, {}, () => resolve());
  });
}

const file = process.argv[2];
let msg: ChildMessage;
try {
  const mod = (await import(pathToFileURL(file).href)) as { run?: () => Promise<unknown> };
  if (typeof mod.run !== 'function') {
    msg = { kind: 'skip', reason: 'exports no run()' };
  } else {
    const res = await mod.run();
    const r = typeof res === 'string' ? { markdown: res } : (res as BenchResult);
    if (!r || typeof r.markdown !== 'string') throw new Error('run() returned neither markdown nor { markdown, summary }');
    msg = { kind: 'ok', result: { title: r.title, markdown: r.markdown, summary: Array.isArray(r.summary) ? r.summary : [] } };
  }
} catch (e) {
  const err = e as Error;
  msg = { kind: 'error', message: err?.message ?? String(e), stack: err?.stack };
  process.exitCode = 1;
}
await send(msg);
process.disconnect?.();
// No process.exit(): a benchmark that leaves a handle open keeps this process alive, and the
// parent reports that (and kills the process group) instead of hiding it.
