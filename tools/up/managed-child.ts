// One child of `precheck up`: a separate process (the same `precheck` subcommands production runs),
// its output appended to a log file under the data dir, its lines watched for ready/fact lines.
// Children run in their own process group (detached) so a Ctrl-C in the terminal reaches only
// `precheck up`, which then stops them in order; `stop()` sends SIGTERM to the group, then SIGKILL.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import readline from 'node:readline';

export interface LineWaiter {
  pattern: RegExp;
  resolve: (m: RegExpMatchArray) => void;
}

export class ChildExitedError extends Error {
  constructor(
    readonly child: string,
    readonly exitCode: number | null,
    readonly lastLine: string | null,
  ) {
    super(`${child} exited (${exitCode ?? 'signal'})${lastLine ? `: ${lastLine}` : ''}`);
    this.name = 'ChildExitedError';
  }
}

export interface ManagedChildOptions {
  name: string;
  command: string;
  args: string[];
  logFile: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export class ManagedChild {
  readonly name: string;
  readonly proc: ChildProcess;
  private readonly log: fs.WriteStream;
  private readonly waiters = new Set<{ pattern: RegExp; resolve: (m: RegExpMatchArray) => void; reject: (e: Error) => void }>();
  private readonly lineListeners = new Set<(line: string, stream: 'stdout' | 'stderr') => void>();
  /** Last line that is not a JSON log record: what a failing command printed. */
  private lastPlainLine: string | null = null;
  /** Recent lines, so a wait registered after the line was printed still sees it. */
  private readonly history: string[] = [];
  private dropped = 0;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  private stopping: Promise<void> | null = null;

  constructor(opts: ManagedChildOptions) {
    this.name = opts.name;
    this.log = fs.createWriteStream(opts.logFile, { flags: 'a', mode: 0o600 });
    this.log.on('error', () => undefined);
    this.proc = spawn(opts.command, opts.args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    this.exited = new Promise((resolve) => {
      const done = (code: number | null, signal: NodeJS.Signals | null): void => {
        if (this.exitInfo) return;
        this.exitInfo = { code, signal };
        const err = new ChildExitedError(this.name, code, this.lastPlainLine);
        for (const w of this.waiters) w.reject(err);
        this.waiters.clear();
        resolve(this.exitInfo);
      };
      this.proc.once('exit', done);
      this.proc.once('error', (e) => {
        this.lastPlainLine = e.message;
        done(null, null);
      });
    });
    for (const [stream, src] of [['stdout', this.proc.stdout], ['stderr', this.proc.stderr]] as const) {
      if (!src) continue;
      readline.createInterface({ input: src, crlfDelay: Infinity }).on('line', (line) => this.onLine(line, stream));
    }
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  get running(): boolean {
    return this.exitInfo === null;
  }

  private onLine(line: string, stream: 'stdout' | 'stderr'): void {
    this.log.write(`${line}\n`);
    this.history.push(line);
    if (this.history.length > 2000) {
      this.history.shift();
      this.dropped++;
    }
    if (line.trim() && !line.startsWith('{')) this.lastPlainLine = line.trim();
    for (const l of this.lineListeners) l(line, stream);
    for (const w of this.waiters) {
      const m = line.match(w.pattern);
      if (m) {
        this.waiters.delete(w);
        w.resolve(m);
      }
    }
  }

  onLineOf(listener: (line: string, stream: 'stdout' | 'stderr') => void): () => void {
    this.lineListeners.add(listener);
    return () => this.lineListeners.delete(listener);
  }

  /** Number of lines printed so far (a `from` mark for waitForLine). */
  get lineCount(): number {
    return this.dropped + this.history.length;
  }

  /**
   * The first line matching `pattern` from line number `from` on (default: from the start, so a
   * line printed before the call counts); rejects when the child exits or after `timeoutMs`.
   */
  waitForLine(pattern: RegExp, timeoutMs: number, what = String(pattern), from = 0): Promise<RegExpMatchArray> {
    for (let i = Math.max(0, from - this.dropped); i < this.history.length; i++) {
      const m = this.history[i].match(pattern);
      if (m) return Promise.resolve(m);
    }
    if (this.exitInfo) return Promise.reject(new ChildExitedError(this.name, this.exitInfo.code, this.lastPlainLine));
    return new Promise((resolve, reject) => {
      const w = {
        pattern,
        resolve: (m: RegExpMatchArray) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(w);
        reject(new Error(`${this.name} did not print ${what} within ${Math.round(timeoutMs / 1000)} s${this.lastPlainLine ? ` (last line: ${this.lastPlainLine})` : ''}`));
      }, timeoutMs);
      this.waiters.add(w);
    });
  }

  /** SIGTERM to the child's process group, SIGKILL after `graceMs`; resolves once it exited. */
  stop(graceMs = 5000): Promise<void> {
    this.stopping ??= (async () => {
      if (this.exitInfo || this.proc.pid === undefined) return this.closeLog();
      this.signal('SIGTERM');
      const killed = await Promise.race([
        this.exited.then(() => false),
        new Promise<boolean>((r) => setTimeout(() => r(true), graceMs).unref()),
      ]);
      if (killed) {
        this.signal('SIGKILL');
        await this.exited;
      }
      // anything the child started in its group (none expected) goes too
      this.signal('SIGKILL');
      await this.closeLog();
    })();
    return this.stopping;
  }

  /** Last resort on process exit: synchronous SIGKILL of the group. */
  killNow(): void {
    if (this.exitInfo) return;
    this.signal('SIGKILL');
  }

  private signal(sig: NodeJS.Signals): void {
    const pid = this.proc.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, sig); // the group: detached made the child its leader
    } catch {
      try {
        this.proc.kill(sig);
      } catch {
        // already gone
      }
    }
  }

  private closeLog(): Promise<void> {
    return new Promise((r) => this.log.end(r));
  }
}
