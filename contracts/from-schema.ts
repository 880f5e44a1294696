// TypeScript types derived from the JSON Schemas in this folder, so a body's type cannot drift
// from what is validated. Covers the subset the contract uses: objects (required / optional
// properties), strings, integers, numbers, booleans, arrays, enums and ["x", "null"] unions.

type Simplify<T> = { [K in keyof T]: T[K] } & {};

type Primitive<T> = T extends 'string' ? string : T extends 'integer' | 'number' ? number : T extends 'boolean' ? boolean : T extends 'null' ? null : unknown;

type ObjectOf<P, R> = Simplify<
  { -readonly [K in keyof P as K extends R ? K : never]: FromSchema<P[K]> } & { -readonly [K in keyof P as K extends R ? never : K]?: FromSchema<P[K]> }
>;

export type FromSchema<S> = S extends { enum: readonly (infer E)[] }
  ? E
  : S extends { type: 'object'; properties: infer P }
    ? ObjectOf<P, S extends { required: readonly (infer R)[] } ? R : never>
    : S extends { type: 'array'; items: infer I }
      ? FromSchema<I>[]
      : S extends { type: readonly (infer T)[] }
        ? T extends 'null'
          ? null
          : T extends 'object'
            ? S extends { properties: infer P }
              ? ObjectOf<P, S extends { required: readonly (infer R)[] } ? R : never>
              : Record<string, unknown>
            : Primitive<T>
        : S extends { type: infer T }
          ? Primitive<T>
          : unknown;
