// The end-of-run summary of `precheck sync`: one row per device and kind (device, link, from → to
// version, bytes sent, seconds, result), then one line per failure saying why.
import type { DeviceSyncResult, SyncReport } from './sync-engine.ts';

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(2)} MiB`;
}

function versions(r: DeviceSyncResult): string {
  // 0 is "not known" (a row that failed before the device or the service said) or "no dataset"
  // on the device: never print it as a version "v0".
  if (r.from === 0 && r.to === 0) return '-';
  if (r.result === 'up-to-date' || r.from === r.to) return `v${r.to}`;
  if (r.to === 0) return `v${r.from} → ?`;
  return `${r.from === 0 ? 'none' : `v${r.from}`} → v${r.to}`;
}

export function formatSummaryTable(report: SyncReport): string {
  const head = ['DEVICE', 'LINK', 'WHAT', 'VERSION', 'VIA', 'BYTES SENT', 'SECONDS', 'RESULT'];
  const rows = report.results.map((r) => [
    r.device,
    r.link,
    r.kind,
    versions(r),
    r.via ? `${r.via}${r.resumedFrom ? ` (resumed at ${r.resumedFrom})` : ''}` : '-',
    bytes(r.bytesSent),
    r.seconds.toFixed(1),
    r.result,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  const out = [line(head), ...rows.map(line)];
  const bad = report.results.filter((r) => r.error);
  for (const r of bad) out.push(`${r.device} ${r.kind} ${r.result}: ${r.error}`);
  if (report.service.error) out.push(`network service ${report.service.url}: ${report.service.error}`);
  if (report.results.length === 0 && !report.service.error) out.push('no devices to sync');
  else if (report.dataset) out.push(report.dataset.note);
  return out.join('\n');
}

/** One line for the CLI's error exit: which devices failed and why. */
export function failureLine(report: SyncReport): string {
  if (report.service.error && report.results.every((r) => r.result === 'failed')) {
    return `sync failed: network service ${report.service.url}: ${report.service.error}`;
  }
  const bad = report.results.filter((r) => r.result === 'failed' || r.result === 'rolled-back');
  const total = new Set(report.results.map((r) => r.device)).size;
  const names = bad.map((r) => `${r.device} ${r.kind} ${r.result} (${r.error ?? 'no reason given'})`).join('; ');
  return `sync: ${new Set(bad.map((r) => r.device)).size} of ${total} device(s) not brought up to date: ${names}`;
}
