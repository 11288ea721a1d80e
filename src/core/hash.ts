// FNV-1a, 32-bit: lichen's one non-cryptographic hash. It checksums flash records and chunked
// values (flash-kv.ts), buckets flash keys, digests a document's version (frames.ts) and seeds
// the simulated sensor. Its constants live here and nowhere else.

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** FNV-1a (32-bit, unsigned) of bytes[start, end). */
export function fnv1aBytes(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let h = FNV_OFFSET;
  for (let i = start; i < end; i++) {
    h ^= bytes[i];
    h = Math.imul(h, FNV_PRIME);
  }
  return h >>> 0;
}

/** FNV-1a (32-bit, unsigned) over a string's UTF-16 code units, one code unit per step. */
export function fnv1aString(s: string): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, FNV_PRIME);
  }
  return h >>> 0;
}
