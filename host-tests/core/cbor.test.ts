// lichen's CBOR codec (src/core/cbor.ts): the checked-in vectors (cbor-x's bytes for the edge
// cases, host-tests/vectors/cbor.json) on both engines, strict decoding, refused values, round trips.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { cborDecode, cborEncode, cborEncodeEntries, cborEncodeFlat, cborEncodeFlatWrapping, CBOR_MAX_DEPTH } from "../../src/core/cbor.js";
import type { LichenError } from "../../src/core/errors.js";
import vectors from "../vectors/cbor.json";
import { fromHex, toHex } from "../../src/core/hex.js";
import { fromDescription, joinRuns, type Described, type HexRuns } from "../vectors/cbor-cases.js";
import { fc, property } from "../prop.js";

const code = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    return (e as LichenError).code ?? `not a LichenError: ${String(e)}`;
  }
  return "no error";
};

/** Equality that tells -0 from 0 apart only where the codec keeps it, and NaN equal to itself.
 * Walks pairs on a stack of its own: the values nest as deep as the codec takes them, and the
 * check runs within the device's stack like the code it checks. */
function same(a0: unknown, b0: unknown): boolean {
  const pairs: unknown[] = [a0, b0];
  while (pairs.length > 0) {
    const b = pairs.pop();
    const a = pairs.pop();
    if (typeof a === "number" && typeof b === "number") {
      if (!(Object.is(a, b) || (a === 0 && b === 0))) return false;
    } else if (a instanceof Uint8Array && b instanceof Uint8Array) {
      if (toHex(a) !== toHex(b)) return false;
    } else if (Array.isArray(a) && Array.isArray(b)) {
      if (a.length !== b.length) return false;
      for (let i = 0; i < a.length; i++) pairs.push(a[i], b[i]);
    } else if (a instanceof Map && b instanceof Map) {
      if (a.size !== b.size) return false;
      const bs = [...b];
      let i = 0;
      for (const [k, v] of a) {
        pairs.push(k, bs[i]![0], v, bs[i]![1]);
        i++;
      }
    } else if (a !== b) return false;
  }
  return true;
}

test("there are vectors, and they cover every major type", () => {
  assert.ok(vectors.length >= 60);
  const heads = new Set(vectors.map((v) => parseInt(joinRuns(v.cbor as HexRuns).slice(0, 2), 16) >> 5));
  for (const major of [0, 1, 2, 3, 4, 5, 7]) assert.ok(heads.has(major), `no vector of major type ${major}`);
});

for (const v of vectors) {
  test(`vector ${v.name}: encodes to cbor-x's bytes and decodes back`, () => {
    const value = fromDescription(v.value as Described);
    const expected = joinRuns(v.cbor as HexRuns);
    const bytes = cborEncode(value);
    assert.ok(Object.getPrototypeOf(bytes) === Uint8Array.prototype && bytes.byteOffset === 0 && bytes.buffer.byteLength === bytes.length, "not an exact-size Uint8Array");
    const got = toHex(bytes);
    if (got !== expected) assert.unreachable(`bytes differ: got ${got.slice(0, 80)}… (${got.length / 2} bytes), expected ${expected.slice(0, 80)}… (${expected.length / 2} bytes)`);
    assert.ok(same(cborDecode(fromHex(expected)), value), "decoded value differs");
  });
}

test("decoding refuses what lichen never writes, with MALFORMED", () => {
  const bad: Array<[string, number[]]> = [
    ["empty", []],
    ["truncated integer", [0x19, 0x01]],
    ["truncated string", [0x63, 0x61, 0x62]],
    ["truncated float", [0xfb, 0, 0, 0]],
    ["trailing bytes", [0x01, 0x02]],
    ["tag", [0xc1, 0x00]],
    ["indefinite array", [0x9f, 0x01, 0xff]],
    ["indefinite string", [0x7f, 0x61, 0x61, 0xff]],
    ["undefined", [0xf7]],
    ["simple value 16", [0xf0]],
    ["simple value in one byte", [0xf8, 0x20]],
    ["break outside an indefinite item", [0xff]],
    ["reserved additional information", [0x1c]],
    ["integer past 2^53", [0x1b, 0x00, 0x20, 0, 0, 0, 0, 0, 0]],
    ["negative past -2^53", [0x3b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]],
    ["array longer than the payload", [0x9a, 0xff, 0xff, 0xff, 0xff, 0x01]],
    ["map longer than the payload", [0xb9, 0xff, 0xff, 0x01, 0x01]],
    ["byte string longer than the payload", [0x5a, 0x7f, 0xff, 0xff, 0xff, 0x00]],
    ["duplicate map key", [0xa2, 0x61, 0x61, 0x01, 0x61, 0x61, 0x02]],
    ["UTF-8: a lone continuation byte", [0x61, 0x80]],
    ["UTF-8: an overlong 2-byte form", [0x62, 0xc0, 0x80]],
    ["UTF-8: an overlong 3-byte form", [0x63, 0xe0, 0x80, 0x80]],
    ["UTF-8: beyond U+10FFFF", [0x64, 0xf4, 0x90, 0x80, 0x80]],
    ["UTF-8: cut inside a character", [0x62, 0xe2, 0x82]],
    ["nested past the limit", Array.from({ length: CBOR_MAX_DEPTH + 2 }, () => 0x81).concat([0x00])],
  ];
  for (const [what, bytes] of bad) assert.is(code(() => cborDecode(new Uint8Array(bytes))), "MALFORMED", what);
});

test("decoding accepts 16- and 32-bit floats, and nesting up to the limit", () => {
  assert.is(cborDecode(new Uint8Array([0xf9, 0x3e, 0x00])), 1.5);
  assert.is(cborDecode(new Uint8Array([0xf9, 0x00, 0x01])), 2 ** -24);
  assert.is(cborDecode(new Uint8Array([0xf9, 0xfc, 0x00])), -Infinity);
  assert.ok(Number.isNaN(cborDecode(new Uint8Array([0xf9, 0x7e, 0x00]))));
  assert.is(cborDecode(new Uint8Array([0xfa, 0x41, 0xac, 0x40, 0x00])), 21.53125);
  let v: unknown = cborDecode(new Uint8Array(Array.from({ length: CBOR_MAX_DEPTH }, () => 0x81).concat([0x07])));
  for (let i = 0; i < CBOR_MAX_DEPTH; i++) v = (v as unknown[])[0];
  assert.is(v, 7);
});

/** CBOR_MAX_DEPTH + extra containers, maps and arrays by turns ({"k": [{"k": [...]}]}), around 7. */
function nestedBytes(extra: number): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < CBOR_MAX_DEPTH + extra; i++) out.push(...(i % 2 === 0 ? [0xa1, 0x61, 0x6b] : [0x81]));
  out.push(0x07);
  return new Uint8Array(out);
}

// In XS this runs with the device's stack (512 slots above the harness): the codec keeps its own
// stack of open containers, so the deepest payload it takes, or refuses, costs no machine stack.
test("a payload nested to the limit decodes and re-encodes, and one level more is refused, within the device's stack", () => {
  const bytes = nestedBytes(0);
  const v = cborDecode(bytes);
  let at: unknown = v;
  for (let i = 0; i < CBOR_MAX_DEPTH; i++) at = i % 2 === 0 ? (at as Map<string, unknown>).get("k") : (at as unknown[])[0];
  assert.is(at, 7);
  assert.is(toHex(cborEncode(v)), toHex(bytes));
  assert.is(code(() => cborDecode(nestedBytes(1))), "MALFORMED");
  assert.is(code(() => cborEncode(new Map([["k", v]]))), "INVALID_ARGUMENT");
  assert.is(code(() => cborEncode([v])), "INVALID_ARGUMENT");
});

test("byte strings decode as views of the input", () => {
  const input = new Uint8Array([0x82, 0x42, 0x0a, 0x0b, 0x01]);
  const [b, n] = cborDecode(input) as [Uint8Array, number];
  assert.is(n, 1);
  assert.is(toHex(b), "0a0b");
  assert.ok(b.buffer === input.buffer);
});

test("encoding refuses what lichen never writes, with INVALID_ARGUMENT", () => {
  const deep: unknown[] = [];
  let at = deep;
  for (let i = 0; i <= CBOR_MAX_DEPTH; i++) at.push((at = []));
  for (const v of [undefined, () => 1, Symbol("s"), 1n, new Date(0), new Set([1]), new Uint16Array(2), [undefined], new Map([["k", undefined]]), { k: 1n }, deep]) {
    assert.is(code(() => cborEncode(v)), "INVALID_ARGUMENT", String(typeof v));
  }
});

test("plain objects encode as maps in key order, like Map", () => {
  assert.is(toHex(cborEncode({ b: 1, a: [true] })), toHex(cborEncode(new Map<string, unknown>([["b", 1], ["a", [true]]]))));
  assert.is(toHex(cborEncode({ b: 1, a: [true] })), "a26162016161 81f5".replace(" ", ""));
});

const arbItem: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  item: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.oneof(fc.integer(), fc.integer({ min: -(2 ** 53) + 1, max: 2 ** 53 - 1 }), fc.double(), fc.constantFrom(0, -1, 23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, -(2 ** 31), -(2 ** 31) - 1, -(2 ** 32), -(2 ** 32) - 1)),
    fc.string({ unit: "binary", maxLength: 40 }),
    fc.uint8Array({ maxLength: 40 }),
    fc.constantFrom(null, true, false),
    fc.array(tie("item"), { maxLength: 6 }),
    fc.array(fc.tuple(fc.string({ maxLength: 8 }), tie("item")), { maxLength: 5 }).map((entries) => new Map(entries)),
  ),
})).item;

const arbScalar = fc.oneof(
  fc.oneof(fc.integer(), fc.integer({ min: 0, max: 2 ** 53 - 1 }), fc.double(), fc.constantFrom(0, 23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, -(2 ** 31) - 1, -(2 ** 32) - 1)),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.uint8Array({ maxLength: 300 }),
);

test("property: the flat encoders give cborEncode's bytes", () => {
  property("cborEncodeFlat equals cborEncode", [fc.array(arbScalar, { maxLength: 30 })], (items) => {
    assert.is(toHex(cborEncodeFlat(items)), toHex(cborEncode(items)));
  });
  property("cborEncodeFlatWrapping equals cborEncodeFlat with the inner array's bytes last", [fc.array(arbScalar, { maxLength: 6 }), fc.array(arbScalar, { maxLength: 30 })], (items, inner) => {
    assert.is(toHex(cborEncodeFlatWrapping(items, inner)), toHex(cborEncodeFlat([...items, cborEncodeFlat(inner)])));
  });
  property("cborEncodeEntries equals cborEncode of the pairs", [fc.array(fc.tuple(fc.string({ unit: "binary", maxLength: 20 }), fc.integer({ min: 0, max: 2 ** 53 - 1 })), { maxLength: 30 })], (pairs) => {
    const counts = new Map(pairs);
    const keys = [...counts.keys()];
    assert.is(toHex(cborEncodeEntries(keys, counts)), toHex(cborEncode(keys.map((k) => [k, counts.get(k)]))));
  });
});

test("property: a 64-bit float is written and read as a DataView writes and reads it, at every exponent", () => {
  // the encoder and decoder work normal numbers out by arithmetic: every bit pattern must agree
  const arbDouble = fc.oneof(fc.double(), fc.integer({ min: 2 ** 32, max: 2 ** 53 - 1 }), fc.tuple(fc.nat(0xffffffff), fc.nat(0xffffffff)).map(([hi, lo]) => {
    const v = new DataView(new ArrayBuffer(8));
    v.setUint32(0, hi);
    v.setUint32(4, lo);
    return v.getFloat64(0);
  }));
  property("float64 bytes as DataView's", [arbDouble], (x) => {
    const bytes = cborEncode(x);
    if (bytes.length === 9) {
      const want = new Uint8Array(9);
      want[0] = 0xfb;
      new DataView(want.buffer).setFloat64(1, x);
      assert.is(toHex(bytes), toHex(want));
    }
    const back = cborDecode(bytes) as number;
    assert.ok(Object.is(back, x) || (x === 0 && back === 0) || (Number.isNaN(x) && Number.isNaN(back)), `${x} read back as ${back}`);
  }, { numRuns: 2000, xsRuns: 300 });
});

test("property: a string is its UTF-8 after its head, ASCII or not, short or long", () => {
  // short ASCII strings take a path of their own in the encoder: every length around its limit
  const utf8 = (x: string): number[] => {
    const out: number[] = [];
    for (const ch of x) {
      const c = ch.codePointAt(0)!;
      if (c < 0x80) out.push(c);
      else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 0x3f));
      else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f));
      else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 0x3f), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f));
    }
    return out;
  };
  const arbText = fc.string({ unit: fc.oneof(fc.constantFrom("a", "Z", "0", "/", "~", "\x7f", "\x00"), fc.constantFrom("é", "€", "😀", "\ud800")), maxLength: 40 });
  property("string bytes", [arbText, fc.oneof(fc.constant(""), fc.string({ unit: fc.constantFrom("a", "b"), minLength: 20, maxLength: 40 }))], (x, pad) => {
    for (const v of [x, pad + x]) {
      const b = utf8(v);
      const head = b.length < 24 ? [0x60 | b.length] : b.length < 256 ? [0x78, b.length] : [0x79, b.length >> 8, b.length & 0xff];
      assert.is(toHex(cborEncode(v)), toHex(new Uint8Array([...head, ...b])), JSON.stringify(v));
      assert.is(toHex(cborEncodeFlat([v])), toHex(new Uint8Array([0x81, ...head, ...b])));
      assert.is(cborDecode(cborEncode(v)), v);
    }
  }, { numRuns: 500, xsRuns: 100 });
});

test("the flat encoder refuses a nested item, with INVALID_ARGUMENT", () => {
  for (const v of [[1, [2]], [null], [true], [new Map()]]) assert.is(code(() => cborEncodeFlat(v as never)), "INVALID_ARGUMENT");
});

test("property: what is encoded decodes to the same value, and re-encodes to the same bytes", () => {
  property("cbor round trip", [arbItem], (v) => {
    const bytes = cborEncode(v);
    const back = cborDecode(bytes);
    assert.ok(same(back, v), "decoded value differs");
    assert.is(toHex(cborEncode(back)), toHex(bytes));
  });
});

test("property: cut or flipped bytes decode to a value or fail with MALFORMED, never anything else", () => {
  property("cbor hostile bytes", [arbItem, fc.nat(), fc.nat(255)], (v, at, flip) => {
    const bytes = cborEncode(v);
    const cut = bytes.subarray(0, at % bytes.length);
    const flipped = bytes.slice();
    flipped[at % bytes.length] ^= flip;
    for (const b of [cut, flipped]) {
      const c = code(() => cborDecode(b));
      assert.ok(c === "no error" || c === "MALFORMED", c);
    }
  });
});

test.run();
