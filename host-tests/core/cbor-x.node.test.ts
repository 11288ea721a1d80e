// lichen's codec against cbor-x with the options lichen's wire format was first written with:
// the same bytes for random values, and the same values back from them (Node only: cbor-x is the reference).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Encoder } from "cbor-x";
import { cborDecode, cborEncode } from "../../src/core/cbor.js";
import { toHex } from "../../src/core/hex.js";
import { fc, property } from "../prop.js";

const reference = new Encoder({ useRecords: false, tagUint8Array: false, variableMapSize: true, mapsAsObjects: false, pack: false, structuredClone: false, bundleStrings: false, useFloat32: 0 } as ConstructorParameters<typeof Encoder>[0]);

// Well-formed strings only: cbor-x writes a lone surrogate one way under 64 characters and
// another (U+FFFD) above; lichen's codec keeps it (cbor.json has the short case).
const arbValue: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  v: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.oneof(fc.integer(), fc.maxSafeInteger(), fc.double(), fc.integer({ min: -(2 ** 32) - 5, max: -(2 ** 31) + 5 })),
    fc.string({ unit: "grapheme", maxLength: 120 }),
    fc.uint8Array({ maxLength: 300 }),
    fc.constantFrom(null, true, false),
    fc.array(tie("v"), { maxLength: 30 }),
    fc.array(fc.tuple(fc.string({ maxLength: 10 }), tie("v")), { maxLength: 30 }).map((e) => new Map(e)),
  ),
})).v;

test("property: the same bytes as cbor-x, and cbor-x reads them back as lichen does", () => {
  property(
    "codec equals cbor-x",
    [arbValue],
    (v) => {
      const ours = cborEncode(v);
      assert.is(toHex(ours), toHex(reference.encode(v)));
      assert.equal(cborDecode(ours), reference.decode(ours));
    },
    { numRuns: 300 },
  );
});

test.run();
