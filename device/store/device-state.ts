// Small key/value device settings (merchant country, ...).
import type { Db } from './database.ts';

export class DeviceSettings {
  private readonly db: Db;
  constructor(db: Db) {
    this.db = db;
  }
  get(key: string): string | null {
    const r = this.db.prepare(`SELECT value FROM device_state WHERE key = ?`).get(key) as { value: string | null } | undefined;
    return r?.value ?? null;
  }
  set(key: string, value: string | null): void {
    this.db.prepare(`INSERT INTO device_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`).run(key, value);
  }
}
