// Progress of `precheck sync` on stderr: one bar per device and kind (cli-progress) on a TTY,
// plain lines elsewhere (cron, CI, pipes): start, every 10 %, commit, reboot, done.
import cliProgress from 'cli-progress';
import type { SyncProgress } from './sync-engine.ts';

export interface ProgressView {
  update(p: SyncProgress): void;
  stop(): void;
}

export function createProgressView(stream: NodeJS.WriteStream = process.stderr, tty = stream.isTTY === true): ProgressView {
  return tty ? new BarView(stream) : new LineView(stream);
}

const key = (p: SyncProgress) => `${p.device}/${p.kind}`;

class BarView implements ProgressView {
  private readonly multi: cliProgress.MultiBar;
  private readonly bars = new Map<string, cliProgress.SingleBar>();
  constructor(stream: NodeJS.WriteStream) {
    this.multi = new cliProgress.MultiBar(
      {
        stream,
        format: '{device} {kind} {versions} [{bar}] {percentage}% {value}/{total} chunks {phase}',
        hideCursor: true,
        clearOnComplete: false,
        stopOnComplete: false,
        etaBuffer: 50,
      },
      cliProgress.Presets.shades_classic,
    );
  }
  update(p: SyncProgress): void {
    const k = key(p);
    let bar = this.bars.get(k);
    const payload = { device: p.device, kind: p.kind, versions: `${p.from ? `v${p.from}` : 'none'}→v${p.to}`, phase: p.phase };
    if (!bar) {
      bar = this.multi.create(Math.max(1, p.chunks), 0, payload);
      this.bars.set(k, bar);
    }
    if (p.chunks > 0) bar.setTotal(p.chunks);
    if (p.phase === 'done') bar.update(bar.getTotal(), payload);
    else bar.update(p.chunk, payload);
  }
  stop(): void {
    this.multi.stop();
  }
}

class LineView implements ProgressView {
  private readonly last = new Map<string, { phase: string; decile: number }>();
  constructor(private readonly stream: NodeJS.WriteStream) {}
  update(p: SyncProgress): void {
    const k = key(p);
    const prev = this.last.get(k);
    const decile = p.chunks > 0 ? Math.floor((p.chunk / p.chunks) * 10) : 0;
    if (prev && prev.phase === p.phase && (p.phase !== 'send' || prev.decile === decile)) return;
    this.last.set(k, { phase: p.phase, decile });
    const what = `sync: ${p.device} ${p.kind} ${p.from ? `v${p.from}` : 'none'} → v${p.to}`;
    switch (p.phase) {
      case 'send':
        this.stream.write(`${what}: chunk ${p.chunk}/${p.chunks} (${Math.floor((p.chunk / p.chunks) * 100)}%, ${p.bytesSent} bytes sent)\n`);
        break;
      case 'done':
        this.stream.write(`${what}: finished\n`);
        break;
      case 'check':
        break;
      default:
        this.stream.write(`${what}: ${p.phase}\n`);
    }
  }
  stop(): void {}
}
