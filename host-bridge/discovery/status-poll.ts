// Periodic status refresh: every device reachable now is asked for its status (dataset version
// and age, firmware, health) so the API, metrics and the status page stay current without I/O.
export class StatusPoller {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly periodMs: number,
    private readonly refresh: () => Promise<unknown>,
  ) {}

  start(): void {
    if (this.periodMs <= 0 || this.timer) return;
    this.timer = setInterval(() => void this.refresh(), this.periodMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
