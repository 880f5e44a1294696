// Child-process helpers for benchmarks (benches do not import from test/): wait for a line of a
// child's output, and stop a child (SIGTERM, then SIGKILL) while awaiting its exit. Every child
// started through spawnTracked() is remembered so killAllTracked() leaves nothing behind when a
// benchmark fails half-way.

import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

const tracked = new Set<ChildProcess>();

export function track(child: ChildProcess): ChildProcess {
  tracked.add(child);
  child.once('exit', () => tracked.delete(child));
  child.once('error', () => tracked.delete(child));
  return child;
}

export function spawnTracked(cmd: string, args: readonly string[], opts: SpawnOptions = {}): ChildProcess {
  return track(spawn(cmd, args, opts));
}

/** Reject with `what` if `p` has not settled after `ms`. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise<never>((_, reject) => {
      t = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]);
}

export function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve, reject) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', reject);
  });
}

/** First match of `pattern` in the child's accumulated stdout or stderr; rejects if it exits first. */
export function waitForOutput(
  child: ChildProcess,
  pattern: RegExp,
  opts: { stream?: 'stdout' | 'stderr'; timeoutMs?: number } = {},
): Promise<RegExpMatchArray> {
  const stream = opts.stream === 'stdout' ? child.stdout : child.stderr;
  if (!stream) return Promise.reject(new Error(`child has no ${opts.stream ?? 'stderr'} pipe`));
  let acc = '';
  let cleanup = (): void => undefined;
  const found = new Promise<RegExpMatchArray>((resolve, reject) => {
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
    cleanup = () => {
      stream.off('data', onData);
      child.off('exit', onExit);
    };
    stream.on('data', onData);
    child.once('exit', onExit);
  });
  return withTimeout(found, opts.timeoutMs ?? 10_000, `output ${pattern}`).finally(() => cleanup());
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

export async function killAllTracked(): Promise<void> {
  await Promise.all([...tracked].map((c) => killAndWait(c).catch(() => undefined)));
}
