// Public entry of the message layer: the catalogue, its types and the codec.
export * from './catalogue.ts';
export * from './codec.ts';
export {
  MAX_UINT,
  describeType,
  type BodySchema,
  type BodyType,
  type FieldSpec,
  type FieldType,
} from './schema.ts';
export { DEFAULT_CBOR_LIMITS, type CborLimits } from '../cbor.ts';
