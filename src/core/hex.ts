// Bytes as lowercase hexadecimal text and back: the SQL mirror's {"$bytes": hex}, the canonical
// text of values, and the host messages of the simulation. No Buffer: it runs on the device too.

import { malformed } from "./errors.js";

const DIGITS = "0123456789abcdef";

/** Lowercase hex, two digits per byte. Joined once: in XS, appending to a long string copies it. */
export function toHex(bytes: Uint8Array): string {
  const pairs: string[] = [];
  for (let i = 0; i < bytes.length; i++) pairs.push(DIGITS[bytes[i] >> 4] + DIGITS[bytes[i] & 15]);
  return pairs.join("");
}

function digit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

/**
 * The bytes of hex text (either case); undefined if it is not an even run of hex digits. It walks
 * the string once: in XS, reaching a code unit at an offset of a long string costs O(offset).
 */
export function parseHex(text: string): Uint8Array | undefined {
  if (typeof text !== "string" || text.length % 2 !== 0) return undefined;
  const out = new Uint8Array(text.length / 2);
  let i = 0;
  let high = -1;
  for (const ch of text) {
    const d = digit(ch.charCodeAt(0));
    if (d < 0) return undefined;
    if (high < 0) high = d;
    else {
      out[i++] = (high << 4) | d;
      high = -1;
    }
  }
  return out;
}

/** parseHex, or MALFORMED naming `what` when the text is not hex. */
export function fromHex(text: string, what = "hex text"): Uint8Array {
  const bytes = parseHex(text);
  if (bytes === undefined) throw malformed(`${what} is not an even run of hex digits`);
  return bytes;
}
