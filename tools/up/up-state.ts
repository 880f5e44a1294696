// What `precheck up` remembers between runs in <data>/up.json (no secrets, no card data):
// which emulated devices it provisioned and whether the demo data was seeded, so later runs
// neither re-provision, re-pair nor seed twice. Written atomically (temp file + rename).
import fs from 'node:fs';
import path from 'node:path';

export interface UpState {
  format: 1;
  devices: { rs485?: string; usb?: string };
  /** Unix seconds of the demo seed, and the dataset version it published. */
  seeded: { at: number; datasetVersion: number } | null;
  /** Unix seconds of the last demo soft decline reported (a soft decline only speaks for 24 h). */
  softAt?: number;
}

export const STATE_FILE = 'up.json';

export function readUpState(dataDir: string): UpState {
  const file = path.join(dataDir, STATE_FILE);
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { format: 1, devices: {}, seeded: null };
    throw new Error(`${file} is not readable JSON (${(e as Error).message.split('\n')[0]}); remove it to start over`);
  }
  const r = raw as Partial<UpState>;
  return {
    format: 1,
    devices: typeof r.devices === 'object' && r.devices ? { ...r.devices } : {},
    seeded: r.seeded && typeof r.seeded.at === 'number' ? r.seeded : null,
    ...(typeof r.softAt === 'number' ? { softAt: r.softAt } : {}),
  };
}

export function writeUpState(dataDir: string, state: UpState): void {
  const file = path.join(dataDir, STATE_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  fs.renameSync(tmp, file);
}
