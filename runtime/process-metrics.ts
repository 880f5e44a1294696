// process_* (the names Prometheus' own client libraries use) and precheck_build_info, in the text
// exposition format, for the bridge's and the service's /metrics alike. Read at scrape time from
// process.* and, on Linux, /proc/self; a value the platform cannot give is left out, not zeroed.
import fs from 'node:fs';
import { productVersion } from './version.ts';

const startedAtS = Math.round((Date.now() - process.uptime() * 1000) / 1000);
let version: string | null = null;

function openFds(): number | null {
  try {
    return fs.readdirSync('/proc/self/fd').length;
  } catch {
    return null;
  }
}

function maxFds(): number | null {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** The families as text lines (ending with a newline), `component` = "bridge" or "service". */
export function processMetricsText(component: 'bridge' | 'service'): string {
  version ??= productVersion();
  const cpu = process.cpuUsage();
  const mem = process.memoryUsage();
  const lines: string[] = [];
  const fam = (name: string, type: 'gauge' | 'counter', help: string, value: number | null, labels = ''): void => {
    if (value === null || !Number.isFinite(value)) return;
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name}${labels} ${value}`);
  };
  fam('process_cpu_user_seconds_total', 'counter', 'User CPU time spent in seconds.', cpu.user / 1e6);
  fam('process_cpu_system_seconds_total', 'counter', 'System CPU time spent in seconds.', cpu.system / 1e6);
  fam('process_cpu_seconds_total', 'counter', 'Total user and system CPU time spent in seconds.', (cpu.user + cpu.system) / 1e6);
  fam('process_resident_memory_bytes', 'gauge', 'Resident memory size in bytes.', mem.rss);
  fam('process_heap_bytes', 'gauge', 'V8 heap in use in bytes.', mem.heapUsed);
  fam('process_start_time_seconds', 'gauge', 'Start time of the process since unix epoch in seconds.', startedAtS);
  fam('process_open_fds', 'gauge', 'Number of open file descriptors.', openFds());
  fam('process_max_fds', 'gauge', 'Maximum number of open file descriptors.', maxFds());
  const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
  fam('precheck_build_info', 'gauge', 'Always 1; the labels say which build runs.', 1, `{component="${component}",version="${esc(version)}",node="${esc(process.version)}"}`);
  return `${lines.join('\n')}\n`;
}
