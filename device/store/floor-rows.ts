// A slot's floor-limit section (dataset format 3) as its table holds it: one row, the limits as JSON.
import type { FloorLimits } from '../../protocol/dataset/types.ts';
import type { Db } from './database.ts';
import type { Slot } from './schema.ts';

/** A slot's floor-limit row as the dataset section (the row was written from a validated section). */
export function readFloor(db: Db, slot: Slot): FloorLimits | null {
  const r = db.prepare(`SELECT max_approvals, window_seconds, limits FROM floor_${slot} WHERE id = 1`).get() as
    | { max_approvals: number; window_seconds: number; limits: string }
    | undefined;
  return r ? { maxApprovals: r.max_approvals, windowSeconds: r.window_seconds, limits: JSON.parse(r.limits) as FloorLimits['limits'] } : null;
}
