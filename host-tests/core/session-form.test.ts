// The session form (src/core/session-form.ts): a lossless rewrite of lichen's CBOR in which the
// session's ids (and document keys ending in them) are one- or two-byte references; the delta
// sizes a session sends; what a hostile session frame cannot do.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { cborEncode } from "../../src/core/cbor.js";
import { GCounter, LWWMap, Text } from "../../src/index.js";
import type { LichenError } from "../../src/core/errors.js";
import { Hlc } from "../../src/core/hlc.js";
import { compactIds, expandIds, sessionDelta, standaloneDelta } from "../../src/core/session-form.js";
import { fc, property } from "../prop.js";

const MAC = "a4cf12b3c4d5";
const code = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    return (e as LichenError).code ?? `not a LichenError: ${String(e)}`;
  }
  return "no error";
};
const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

test("compact then expand gives back the exact bytes, and is never longer", () => {
  const ids = ["n1", MAC];
  const text = fc.oneof(fc.constantFrom("n1", MAC, `readings/${MAC}`, "x/n1", "/n1", "n1/", "n12", "é/n1", "gw", ""), fc.string());
  const leaf = fc.oneof(text, fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.uint8Array({ maxLength: 8 }));
  const tree = fc.letrec((tie) => ({ node: fc.oneof({ depthSize: "small" }, leaf, fc.array(tie("node"), { maxLength: 5 })) })).node;
  property("session form round trip", [tree], (value) => {
    const bytes = cborEncode(value);
    const compact = compactIds(bytes, ids);
    assert.ok(compact.length <= bytes.length);
    assert.is(hex(expandIds(compact, ids, 1 << 20)), hex(bytes));
  }, { numRuns: 300 });
});

test("ids and document keys ending in them become references; other strings stay", () => {
  const ids = ["n1", MAC];
  const bytes = cborEncode(["n1", MAC, `readings/${MAC}`, "readings/n1", "n1x", "readings/n1x", "/n1"]);
  const compact = compactIds(bytes, ids);
  // [e0, e1, f8 21 "readings", f8 20 "readings", "n1x", "readings/n1x", "/n1"]
  assert.is(hex(compact), "87e0e1f8216872656164696e6773f8206872656164696e6773636e31786c72656164696e67732f6e3178632f6e31");
  assert.is(hex(expandIds(compact, ids, 1000)), hex(bytes));
});

test("expansion refuses a reference to no session id, a dangling document reference and a bomb, with typed errors", () => {
  assert.is(code(() => expandIds(new Uint8Array([0x82, 0xe0, 0xe2]), ["a", "b"], 100)), "MALFORMED");
  assert.is(code(() => expandIds(new Uint8Array([0x81, 0xf8, 0x22, 0x61, 0x78]), ["a", "b"], 100)), "MALFORMED");
  assert.is(code(() => expandIds(new Uint8Array([0x81, 0xf8, 0x20, 0x01]), ["a", "b"], 100)), "MALFORMED");
  assert.is(code(() => expandIds(new Uint8Array([0x81, 0xf8, 0x20]), ["a", "b"], 100)), "MALFORMED");
  assert.is(code(() => expandIds(new Uint8Array([0x7f, 0xff]), ["a"], 100)), "MALFORMED");
  assert.is(code(() => expandIds(new Uint8Array([0x63, 0x61]), ["a"], 100)), "MALFORMED");
  // 1,000 one-byte references to a 64-character id: 65 KB from 1 KB, refused before allocating
  const bomb = new Uint8Array(1003);
  bomb.set([0x99, 0x03, 0xe8]);
  bomb.fill(0xe0, 3);
  assert.is(code(() => expandIds(bomb, ["r".repeat(64)], 16384)), "TOO_LARGE");
  assert.is(expandIds(bomb, ["r".repeat(64)], 1 << 20).length, 3 + 1000 * 66);
  // standalone bytes never hold a simple value: one there is not lichen's
  assert.is(code(() => compactIds(new Uint8Array([0xe0]), ["a"])), "MALFORMED");
  // a session delta is the body of a payload of the frame's type
  assert.is(code(() => sessionDelta(cborEncode([1, 9, []]), 1, ["a"])), "MALFORMED");
  assert.is(code(() => standaloneDelta(new Uint8Array(0), 1, ["a"], 100)), "MALFORMED");
});

/** A replica whose HLC reads a wall clock moved by hand: deterministic bytes. */
function clock(): { hlc: Hlc; tick: () => void } {
  let wall = 1_700_000_000_000;
  return { hlc: new Hlc({ wallClock: () => wall }), tick: () => (wall += 1000) };
}

for (const id of ["n1", MAC]) {
  test(`the deltas a session sends, id "${id}": GCounter increment ≤ 6 B, a typed character ≤ 8 B + the character`, () => {
    const ids = [id, "gw"];
    const g = new GCounter(id);
    g.increment();
    const peer = new GCounter("gw");
    peer.applyDelta(g.delta());
    g.increment();
    const d = g.delta(peer.version());
    const s = sessionDelta(d, g.typeTag, ids);
    assert.ok(s.length <= 6, `GCounter increment: ${s.length} bytes in a session`);
    assert.is(hex(standaloneDelta(s, g.typeTag, ids, 1000)), hex(d));

    const a = clock();
    const t = new Text(id, { clock: a.hlc });
    t.insert(0, "a");
    const tp = new Text("gw", { clock: clock().hlc });
    tp.applyDelta(t.delta());
    a.tick();
    t.insert(1, "b");
    const td = t.delta(tp.version());
    const ts = sessionDelta(td, t.typeTag, ids);
    assert.ok(ts.length <= 8 + 2, `one typed character: ${ts.length} bytes in a session ("b" is 2 bytes of CBOR)`);
    tp.applyDelta(standaloneDelta(ts, t.typeTag, ids, 1000));
    assert.is(tp.toString(), "ab");

    // an LWWMap field set: the session form leaves out the id and the header, not the timestamps
    const m = new LWWMap(id, { clock: a.hlc });
    m.set("x", 1);
    const mp = new LWWMap("gw", { clock: clock().hlc });
    mp.applyDelta(m.delta());
    a.tick();
    m.set("temp", 21.5);
    const md = m.delta(mp.version());
    const ms = sessionDelta(md, m.typeTag, ids);
    assert.is(ms.length, md.length - 3 - (cborEncode(id).length - 1));
    mp.applyDelta(standaloneDelta(ms, m.typeTag, ids, 1000));
    assert.ok(mp.equals(m));
  });
}

test.run();
