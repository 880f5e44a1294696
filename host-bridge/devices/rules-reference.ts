// Which decision rules a device should run: the rules version of the newest dataset the bridge's
// sync delivered (the service that built it, manifest key 13), else the rules this bridge was
// built with (the same release's rules/). A device reporting another version — or none, firmware
// from before rules versions — answers by other rules than the service: listed as not current.
import { RULES_VERSION } from '../../rules/decide.ts';

export class RulesReference {
  private fromDataset: number | null = null;

  /** The version devices should report. */
  get version(): number {
    return this.fromDataset ?? RULES_VERSION;
  }

  get source(): 'dataset' | 'bridge' {
    return this.fromDataset === null ? 'bridge' : 'dataset';
  }

  /** A dataset manifest's rulesVersion (absent in manifests from before rules versions). */
  observe(rulesVersion: number | undefined | null): void {
    if (typeof rulesVersion === 'number') this.fromDataset = rulesVersion;
  }

  /** Sync report rows that delivered a dataset carry its manifest's rulesVersion. */
  observeSyncReport(report: unknown): void {
    const rows = (report as { results?: unknown } | null)?.results;
    if (!Array.isArray(rows)) return;
    for (const r of rows as Array<{ kind?: unknown; result?: unknown; rulesVersion?: unknown }>) {
      if (r.kind === 'dataset' && r.result === 'updated' && typeof r.rulesVersion === 'number') this.observe(r.rulesVersion);
    }
  }

  current(deviceRulesVersion: number | null): boolean {
    return deviceRulesVersion === this.version;
  }
}
