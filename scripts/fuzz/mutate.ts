// Structure-aware mutation of valid frames. A frame is decoded to its CBOR tree, one to three
// values inside it are changed (counts, replica ids, versions, timestamps, lengths of arrays,
// the nested delta's own tree), and it is re-encoded with its CRC recomputed, so the mutation
// gets past the checksum and reaches the frame, CBOR and CRDT decoders. Some mutations work on
// the CBOR bytes instead (headers and lengths, CRC recomputed) to reach the CBOR decoder itself,
// and a few leave the CRC stale or go over the size limit, to keep those checks honest.
import { encodeCbor } from "../../src/core/codec.js";
import { Decoder } from "cbor-x";
import { sealFrame } from "../../src/transport/frames.js";
import { frameBody } from "./wire.js";

export type Strategy = "tree" | "nested" | "cbor-bytes" | "raw";

/** A decoder that accepts whatever CBOR comes (the fuzz reads its own inputs, not the product's). */
function plainDecoder(): Decoder {
  return new Decoder({ useRecords: false, mapsAsObjects: false, tagUint8Array: false } as ConstructorParameters<typeof Decoder>[0]);
}

const REPLICAS = ["n1", "n2", "n3", "gw", "x1", "n9", "", "a".repeat(65), "n1\u0000", "\u{1F600}"];
const DOCS = ["readings/n1", "readings/n2", "fleet/config", "shared/awmap", "shared/mode", "events/n1", "x/y", "nons", "/n1", "a/" + "b".repeat(200)];

function pick<T>(random: () => number, xs: readonly T[]): T {
  return xs[Math.floor(random() * xs.length)];
}

function mutateNumber(n: number, random: () => number): unknown {
  switch (Math.floor(random() * 14)) {
    case 0:
      return 0;
    case 1:
      return n + 1;
    case 2:
      return n - 1;
    case 3:
      return -1;
    case 4:
      return n * 2;
    case 5:
      return 2 ** 32;
    case 6:
      return Number.MAX_SAFE_INTEGER;
    case 7:
      return 2 ** 60;
    case 8:
      return n + 0.5;
    case 9:
      return n + Math.floor(random() * 1024 * 3_600_000 * 2); // a timestamp up to two hours ahead
    case 10:
      return Math.floor(n / 2);
    case 11:
      return pick(random, [null, true, "1", [n], NaN, Infinity]);
    case 12:
      return Math.floor(random() * 16);
    default:
      return n ^ (1 << Math.floor(random() * 30));
  }
}

function mutateString(s: string, random: () => number): unknown {
  switch (Math.floor(random() * 7)) {
    case 0:
      return pick(random, REPLICAS);
    case 1:
      return pick(random, DOCS);
    case 2:
      return "";
    case 3:
      return s + s;
    case 4:
      return s.slice(0, Math.floor(random() * s.length));
    case 5:
      return 7;
    default:
      return s.length > 0 ? s.slice(0, -1) + String.fromCharCode(s.charCodeAt(s.length - 1) + 1) : "x";
  }
}

function mutateArray(a: unknown[], random: () => number): unknown {
  const out = a.slice();
  const i = Math.floor(random() * Math.max(1, out.length));
  switch (Math.floor(random() * 8)) {
    case 0:
      out.splice(i, 1);
      return out;
    case 1:
      if (out.length > 0) out.splice(i, 0, out[i]);
      return out;
    case 2: {
      const j = Math.floor(random() * out.length);
      [out[i], out[j]] = [out[j], out[i]];
      return out;
    }
    case 3:
      return [];
    case 4:
      out.push(out.length > 0 ? out[out.length - 1] : 0);
      return out;
    case 5:
      return out.reverse();
    case 6:
      return out.slice(0, i);
    default:
      return new Map([[0, out]]);
  }
}

/** The bytes of a byte string: the nested payload's tree if it is CBOR, else the bytes themselves. */
function mutateBytes(b: Uint8Array, random: () => number, depth: number): unknown {
  const inner = decodeTree(b);
  if (inner !== undefined && random() < 0.8) {
    // a mutant tree may hold what CBOR cannot encode (an undefined from a swap in an empty array): then mutate the bytes
    try {
      return encodeCbor(mutateTree(inner, random, depth + 1));
    } catch {
      // fall through
    }
  }
  const out = b.slice();
  if (out.length === 0) return new Uint8Array([0]);
  const at = Math.floor(random() * out.length);
  if (random() < 0.5) out[at] ^= 1 << Math.floor(random() * 8);
  else return out.subarray(0, at);
  return out;
}

function decodeTree(bytes: Uint8Array): unknown {
  try {
    return plainDecoder().decode(bytes);
  } catch {
    return undefined;
  }
}

/** Every position in a tree: [parent, index] pairs, the root as [undefined, -1]. */
function positions(tree: unknown, out: Array<[unknown[] | undefined, number]>, parent: unknown[] | undefined, index: number): void {
  out.push([parent, index]);
  if (Array.isArray(tree)) tree.forEach((x, i) => positions(x, out, tree, i));
}

function mutateValue(x: unknown, random: () => number, depth: number): unknown {
  if (typeof x === "number") return mutateNumber(x, random);
  if (typeof x === "string") return mutateString(x, random);
  if (typeof x === "boolean") return random() < 0.5 ? !x : 1;
  if (x instanceof Uint8Array) return depth < 3 ? mutateBytes(x, random, depth) : x.subarray(1);
  if (Array.isArray(x)) return mutateArray(x, random);
  return pick(random, [0, "", [], null]);
}

/** One to three mutations at random positions of a decoded CBOR tree (copied, not changed in place). */
export function mutateTree(tree: unknown, random: () => number, depth = 0): unknown {
  let root = structuredClone(tree);
  const times = 1 + Math.floor(random() * 3);
  for (let k = 0; k < times; k++) {
    const all: Array<[unknown[] | undefined, number]> = [];
    positions(root, all, undefined, -1);
    // prefer leaves: the values inside the structure
    const [parent, index] = all[Math.floor(random() * all.length)];
    if (parent === undefined) root = mutateValue(root, random, depth);
    else parent[index] = mutateValue(parent[index], random, depth);
  }
  return root;
}

/** The byte offset of every CBOR item header in `b` (a valid item), for the byte-level mutations. */
function headers(b: Uint8Array): number[] {
  const out: number[] = [];
  const walk = (at: number): number => {
    out.push(at);
    const major = b[at] >> 5;
    const info = b[at] & 31;
    let len = info;
    let p = at + 1;
    if (info === 24) (len = b[p]), (p += 1);
    else if (info === 25) (len = (b[p] << 8) | b[p + 1]), (p += 2);
    else if (info === 26) (len = b[p] * 2 ** 24 + (b[p + 1] << 16) + (b[p + 2] << 8) + b[p + 3]), (p += 4);
    else if (info === 27) (len = 0), (p += 8);
    if (major === 2 || major === 3) return p + len;
    if (major === 4) {
      for (let i = 0; i < len; i++) p = walk(p);
      return p;
    }
    if (major === 5) {
      for (let i = 0; i < 2 * len; i++) p = walk(p);
      return p;
    }
    return p;
  };
  try {
    walk(0);
  } catch {
    // a header past the end: keep what was found
  }
  return out.filter((x) => x < b.length);
}

function mutateCborBytes(body: Uint8Array, random: () => number): Uint8Array {
  const out = body.slice();
  const hs = headers(out);
  const at = hs.length > 0 && random() < 0.7 ? pick(random, hs) : Math.floor(random() * out.length);
  switch (Math.floor(random() * 6)) {
    case 0:
      out[at] = (out[at] & 0xe0) | ((out[at] & 31) + 1) % 28; // the length or value: one more
      return out;
    case 1:
      out[at] = (out[at] & 0xe0) | Math.max(0, (out[at] & 31) - 1); // one less
      return out;
    case 2:
      out[at] = (out[at] & 31) | (Math.floor(random() * 8) << 5); // another major type
      return out;
    case 3:
      out[at] = pick(random, [0x1f, 0x3f, 0x5f, 0x7f, 0x9f, 0xbf, 0xc0, 0xd8, 0xf7, 0xff, 0x1c, 0xfb, 0x9b, 0xbb]); // indefinite, tags, undefined, reserved, huge lengths
      return out;
    case 4: {
      const cut = Math.floor(random() * out.length);
      return out.subarray(0, cut);
    }
    default: {
      const extra = new Uint8Array(out.length + 1);
      extra.set(out.subarray(0, at));
      extra[at] = Math.floor(random() * 256);
      extra.set(out.subarray(at), at + 1);
      return extra;
    }
  }
}

/** A mutant of a valid frame by one strategy; undefined if this frame cannot take it. */
export function mutateFrame(frame: Uint8Array, strategy: Strategy, random: () => number): Uint8Array | undefined {
  const body = frameBody(frame);
  switch (strategy) {
    case "tree":
    case "nested": {
      const tree = decodeTree(body);
      if (!Array.isArray(tree)) return undefined;
      let mutated: unknown;
      if (strategy === "nested") {
        // inside the payload a frame carries: the delta (kind 3) or a part (kind 5)
        const at = tree.findIndex((x) => x instanceof Uint8Array);
        if (at < 0) return undefined;
        const copy = tree.slice();
        copy[at] = mutateBytes(tree[at] as Uint8Array, random, 0);
        mutated = copy;
      } else mutated = mutateTree(tree, random);
      try {
        return sealFrame(encodeCbor(mutated));
      } catch {
        return undefined;
      }
    }
    case "cbor-bytes":
      return sealFrame(mutateCborBytes(body, random));
    case "raw": {
      if (random() < 0.1) return new Uint8Array(4001 + Math.floor(random() * 4000)); // over the frame limit
      const out = frame.slice();
      const at = Math.floor(random() * out.length);
      if (random() < 0.5) out[at] ^= 1 << Math.floor(random() * 8);
      else return out.subarray(0, at);
      return out;
    }
  }
}
