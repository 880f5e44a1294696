// Moved: the dataset CBOR profile lives in protocol/cbor.ts (decodeDatasetCbor, one scanner for
// messages and datasets). This re-export only keeps device/store/slot-content-hash.ts building
// until it imports ../../protocol/cbor.ts; then delete this file.
export { encodeCbor } from '../cbor.ts';
