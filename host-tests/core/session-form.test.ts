// The session form (src/core/session-form.ts): a lossless rewrite of lichen's CBOR in which the
// session's ids (and document keys ending in them) are one- or two-byte references; the delta
// sizes a session sends; what a hostile session frame cannot do.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { cborEncode } from "../../src/core/cbor.js";
import { GCounter, LWWMap, Text } from "../../src/index.js";
import type { LichenError } from "../../src/core/errors.js";
import { Hlc } from "../../src/core/hlc.js";
import { compactIds, expandIds, relativeSessionDelta, sessionDelta, standaloneDelta, standaloneRelativeDelta } from "../../src/core/session-form.js";
import { fromHex, toHex } from "../../src/core/hex.js";
import relativeVectors from "../vectors/session-relative.json";
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

// ---- LWWMap deltas relative to the receiver's version ----

/** A writer and a receiver "gw" that applied its first write; `gapMs` later the writer sets temp = 21.5. */
function fieldSet(id: string, gapMs = 1000): { m: LWWMap; gw: LWWMap; d: Uint8Array } {
  const a = clock();
  const m = new LWWMap(id, { clock: a.hlc });
  m.set("x", 1);
  const gw = new LWWMap("gw", { clock: clock().hlc });
  gw.applyDelta(m.delta());
  for (let i = 0; i < gapMs / 1000; i++) a.tick();
  m.set("temp", 21.5);
  return { m, gw, d: m.delta(gw.version()) };
}

for (const id of ["n1", MAC]) {
  test(`an LWWMap field set relative to the receiver's version, id "${id}": ≤ 10 B + key + value, read back exactly`, () => {
    const ids = [id, "gw"];
    const { m, gw, d } = fieldSet(id);
    const s = relativeSessionDelta(d, m.typeTag, ids);
    assert.ok(s !== undefined, "a field set after an acknowledged write goes relative");
    const keyAndValue = cborEncode("temp").length + cborEncode(21.5).length;
    assert.ok(s!.length - keyAndValue <= 10, `overhead ${s!.length - keyAndValue} bytes`);
    const back = standaloneRelativeDelta(s!, m.typeTag, ids, 1000, gw.version().get(id));
    assert.is(hex(back), hex(d));
    gw.applyDelta(back);
    assert.ok(gw.equals(m));
  });
}

test("a receiver whose prefix of the sender is not the delta's start refuses it (STALE_REFERENCE), whatever the difference", () => {
  const ids = ["n1", "gw"];
  const { m, gw, d } = fieldSet("n1");
  const s = relativeSessionDelta(d, m.typeTag, ids)!;
  const lo = gw.version().get("n1");
  // one timestamp unit, up to a second of them, whole milliseconds, whole seconds either side; and none
  const others = [0, 1, lo - 1, lo + 1, lo + 1023, lo - 1024, lo + 1024 * 1000, lo + 2 * 1024 * 1000, lo - 1024 * 1000, 2 ** 52];
  for (let k = 1; k <= 2000; k++) others.push(lo + k * 1024, lo - k * 1024, lo + k);
  for (const other of others) assert.is(code(() => standaloneRelativeDelta(s, m.typeTag, ids, 1000, other)), "STALE_REFERENCE", `prefix ${other}`);
  assert.is(code(() => standaloneRelativeDelta(s, m.typeTag, ids, 1000, lo)), "no error");
});

test("relative bodies: every LWWMap history the writer sends expands back to its exact bytes at the receiver's version", () => {
  // a step: a write or a delete of one of a few keys, after a gap (0 ms: a logical part in the timestamp)
  const step = fc.record({ key: fc.constantFrom("temp", "hum", "n1", "gw"), del: fc.boolean(), gapMs: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 70_000 })), v: fc.integer() });
  property("relative session delta round trip", [fc.array(step, { maxLength: 6 }), fc.array(step, { minLength: 1, maxLength: 6 })], (before, after) => {
    let wall = 1_700_000_000_000;
    const m = new LWWMap("n1", { clock: new Hlc({ wallClock: () => wall }) });
    const gw = new LWWMap("gw", { clock: new Hlc({ wallClock: () => wall }) });
    const play = (steps: typeof before): void => {
      for (const x of steps) {
        wall += x.gapMs;
        if (x.del) m.delete(x.key);
        else m.set(x.key, x.v);
      }
    };
    play(before);
    gw.applyDelta(m.delta());
    play(after);
    const d = m.delta(gw.version());
    const ids = ["n1", "gw"];
    const s = relativeSessionDelta(d, m.typeTag, ids);
    const prefix = gw.version().get("n1");
    if (s === undefined) {
      // not of the shape (nothing new of n1's at all, or a first delta): sent as sessionDelta writes it
      assert.ok(prefix === 0 || m.version().get("n1") === prefix, "only a first delta, or one with no range of n1, stays absolute");
      return;
    }
    assert.ok(s.length < sessionDelta(d, m.typeTag, ids).length, "shorter than the absolute session form");
    assert.is(hex(standaloneRelativeDelta(s, m.typeTag, ids, 1 << 20, prefix)), hex(d));
    assert.is(code(() => standaloneRelativeDelta(s, m.typeTag, ids, 1 << 20, prefix + 1)), "STALE_REFERENCE");
  }, { numRuns: 200 });
});

test("relative bodies: bad ones are refused with typed errors; other types and standalone bytes never go relative", () => {
  const ids = ["n1", "gw"];
  const { m, gw, d } = fieldSet("n1");
  const s = relativeSessionDelta(d, m.typeTag, ids)!;
  const lo = gw.version().get("n1");
  // truncated after the tag, and a tag over something that is not a count
  assert.is(code(() => standaloneRelativeDelta(s.slice(0, 3), m.typeTag, ids, 1000, lo)), "MALFORMED");
  assert.is(code(() => standaloneRelativeDelta(new Uint8Array([0x83, 0x02, 0xc6, 0x61, 0x78, 0x80]), m.typeTag, ids, 1000, lo)), "MALFORMED");
  // an empty range
  assert.is(code(() => standaloneRelativeDelta(new Uint8Array([0x83, 0x02, 0xc6, 0x00, 0x80]), m.typeTag, ids, 1000, 0)), "MALFORMED");
  // a bomb stays a bomb: the expansion is bounded as any session body's
  assert.is(code(() => standaloneRelativeDelta(s, m.typeTag, ids, 20, lo)), "TOO_LARGE");
  // the check is part of the count: a changed count is stale (or another length, which its check refuses too)
  const flipped = s.slice();
  flipped[6] ^= 1;
  assert.is(code(() => standaloneRelativeDelta(flipped, m.typeTag, ids, 1000, lo)), "STALE_REFERENCE");
  // only LWWMap, only the sender's own range, only from a session: a GCounter delta is left as it is
  const g = new GCounter("n1");
  g.increment();
  assert.is(relativeSessionDelta(g.delta(), g.typeTag, ids), undefined);
  assert.is(relativeSessionDelta(d, m.typeTag, ["gw", "n1"]), undefined, "another sender's delta");
  // the tag never reaches a payload: standalone lichen CBOR refuses it
  assert.is(code(() => m.applyDelta(standaloneDelta(s, m.typeTag, ids, 1000))), "MALFORMED");
});

test("relative bodies: the checked-in vectors expand to their standalone deltas, and are what a writer sends today", () => {
  for (const v of relativeVectors) {
    const ids = [v.sender, v.receiver];
    assert.is(toHex(standaloneRelativeDelta(fromHex(v.session), 9, ids, 1000, v.reference)), v.standalone);
    assert.is(toHex(relativeSessionDelta(fromHex(v.standalone), 9, ids)!), v.session);
    assert.is(code(() => standaloneRelativeDelta(fromHex(v.session), 9, ids, 1000, v.reference - 1024)), "STALE_REFERENCE");
  }
});

test.run();
