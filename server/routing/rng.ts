// Seeded pseudo-random numbers for exploration draws. Not for anything secret: tests need
// reproducible draws, production only needs draws that are not correlated with traffic.

/** mulberry32: tiny, fast, good enough statistical quality for a 5% coin flip. Returns [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
