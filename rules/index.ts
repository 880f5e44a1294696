export * from './decide.ts';
export * from './prompts.ts';
export * from './response-codes.ts';
export * from './bin-rules.ts';
export * from './brand.ts';
export * from './routing.ts';
export * from './segment.ts';
