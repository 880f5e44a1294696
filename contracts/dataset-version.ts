// The response header by which the network service tells a bridge, on answers the bridge gets
// anyway (POST /v1/auth, POST /v1/outcomes), the newest dataset version it has published. The
// bridge then syncs its devices without waiting for its schedule (host-bridge/sync/follower.ts).
// One definition, so the service that sets it and the bridge that reads it cannot disagree.
export const DATASET_VERSION_HEADER = 'precheck-dataset-version';

/** The header's version (a u32 above 0), or null when absent or not a plain decimal number. */
export function parseDatasetVersionHeader(v: string | string[] | undefined): number | null {
  const s = Array.isArray(v) ? v[0] : v;
  if (s === undefined || !/^[0-9]{1,10}$/.test(s)) return null;
  const n = Number(s);
  return n >= 1 && n <= 0xffff_ffff ? n : null;
}
