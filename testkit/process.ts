// Child-process helpers for tests and benchmarks: run a command to completion with a timeout,
// start a long-running one and wait for a line of its output, and stop it (SIGTERM, then SIGKILL)
// while awaiting its exit. Every started child is tracked so `killAllTracked()` in
// afterAll/afterEach (or a benchmark's finally) leaves nothing behind even when it fails half-way.

import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { withTimeout } from './wait.ts';

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const tracked = new Set<ChildProcess>();

/** Run to completion. Rejects on spawn failure; kills the child if it outlives `timeoutMs`. */
export async function run(
  cmd: string,
  args: readonly string[],
  opts: { timeoutMs?: number; input?: string | Uint8Array; cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<RunResult> {
  const child = spawnTracked(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  if (opts.input !== undefined) child.stdin?.end(opts.input);
  else child.stdin?.end();
  const done = exited(child);
  try {
    const { code, signal } = await withTimeout(done, opts.timeoutMs ?? 15_000, `${cmd} to exit`);
    return { code, signal, stdout, stderr };
  } catch (e) {
    await killAndWait(child);
    throw e;
  }
}

/** Remember a child started elsewhere for killAllTracked(). */
export function track(child: ChildProcess): ChildProcess {
  tracked.add(child);
  child.once('exit', () => tracked.delete(child));
  child.once('error', () => tracked.delete(child));
  return child;
}

/** spawn() and remember the child for killAllTracked(). */
export function spawnTracked(cmd: string, args: readonly string[], opts: SpawnOptions = {}): ChildProcess {
  return track(spawn(cmd, args, opts));
}

/** Resolves with the exit code/signal; rejects if the process could not be spawned. */
export function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve, reject) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', reject);
  });
}

/**
 * Resolve with the first match of `pattern` in the child's output (stdout or stderr, as chosen),
 * accumulated across chunks. Rejects if the child exits first or after `timeoutMs`.
 */
export function waitForOutput(
  child: ChildProcess,
  pattern: RegExp,
  opts: { stream?: 'stdout' | 'stderr'; timeoutMs?: number; /** output already read: matched first, then extended */ already?: string } = {},
): Promise<RegExpMatchArray> {
  const stream = opts.stream === 'stdout' ? child.stdout : child.stderr;
  if (!stream) return Promise.reject(new Error(`child has no ${opts.stream ?? 'stderr'} pipe`));
  let acc = opts.already ?? '';
  const seen = acc.match(pattern);
  if (seen) return Promise.resolve(seen);
  return withTimeout(
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const onData = (d: Buffer | string): void => {
        acc += d.toString();
        const m = acc.match(pattern);
        if (m) {
          cleanup();
          resolve(m);
        }
      };
      const onExit = (code: number | null): void => {
        cleanup();
        reject(new Error(`process exited (${code}) before printing ${pattern}; output: ${acc.slice(-500)}`));
      };
      const cleanup = (): void => {
        stream.off('data', onData);
        child.off('exit', onExit);
      };
      stream.on('data', onData);
      child.once('exit', onExit);
    }),
    opts.timeoutMs ?? 10_000,
    `output ${pattern}`,
  );
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. */
export async function killAndWait(child: ChildProcess, graceMs = 2000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const done = exited(child).catch(() => undefined);
  child.kill('SIGTERM');
  try {
    await withTimeout(done, graceMs, `pid ${child.pid} to exit after SIGTERM`);
  } catch {
    child.kill('SIGKILL');
    await withTimeout(done, graceMs, `pid ${child.pid} to exit after SIGKILL`);
  }
}

/** Stop every child started through this module that is still running. */
export async function killAllTracked(): Promise<void> {
  await Promise.all([...tracked].map((c) => killAndWait(c).catch(() => undefined)));
}
