// The real `precheck` command (bin/precheck.js, the built dist/) as a child process, for tests.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from './process.ts';

export const PRECHECK_BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../bin/precheck.js');

/** `precheck ARGS...` to completion (60 s at most): its exit code and output, whatever the code. */
export async function precheck(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await run(process.execPath, [PRECHECK_BIN, ...args], { timeoutMs: 60_000 });
  return { code: r.code ?? -1, stdout: r.stdout, stderr: r.stderr };
}
