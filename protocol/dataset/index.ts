// Public surface of the dataset format (re-exports only).
export * from './types.ts';
export * from './token.ts';
export {
  CONTENT_FORMAT,
  CONTENT_FORMATS,
  MAX_PAYLOAD_BYTES,
  contentHash,
  decodeContent,
  decodeDelta,
  emptyDelta,
  encodeContent,
  encodeDelta,
  normalizeContent,
  sha256,
  tokenKey,
} from './codec.ts';
export { diffContent, isEmptyDelta } from './delta.ts';
export * from './manifest.ts';
export * from './chunks.ts';
export * from './build.ts';
export * from './freshness.ts';
export { buildFuseFilter, fuseFilterContains, encodeFuseFilter, decodeFuseFilter, fuseBitsPerEntry } from './fuse-filter.ts';
