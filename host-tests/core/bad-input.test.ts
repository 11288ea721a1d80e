// Bad bytes, from the network or from flash: a typed error, and the state as it was.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { encodeCbor, GCounter, Hlc, LichenError, LWWMap, ORSet, PNCounter, type Crdt } from "../../src/index.js";
import { fc, property } from "../prop.js";
import { MODELS, World, type Model } from "./models.js";

/** A replica with some history, and a delta and a state of another replica to corrupt. */
function fixture(model: Model, ops: ((c: Crdt) => void)[]) {
  const world = new World();
  const target = model.make("target", world.clock(0));
  const source = model.make("source", world.clock(0));
  ops.forEach((op, i) => op(i % 2 === 0 ? target : source));
  target.applyDelta(source.delta(target.version()));
  ops.forEach((op) => op(source));
  return { target, delta: source.delta(target.version()), state: source.toBytes() };
}

/** Applies bytes that may be bad: either they apply, or a LichenError leaves the state untouched. */
function tryApply(c: Crdt, bytes: Uint8Array): "applied" | string {
  const before = c.toBytes();
  try {
    c.applyDelta(bytes);
    return "applied";
  } catch (e) {
    if (!(e instanceof LichenError)) throw new Error(`not a LichenError: ${String(e)}`);
    assert.ok(e.message.length > 10, "the error says what is wrong");
    assert.equal(c.toBytes(), before, `a refused payload (${e.code}) changed the state`);
    return e.code;
  }
}

const garbage = fc.uint8Array({ minLength: 0, maxLength: 64 });

for (const model of MODELS) {
  test(`${model.name}: random, truncated and bit-flipped bytes give a typed error and change nothing`, () => {
    property(`${model.name} bad bytes`, [fc.array(model.op, { minLength: 1, maxLength: 8 }), garbage, fc.nat(), fc.nat()], (ops, junk, cut, flip) => {
      const { target, delta, state } = fixture(model, ops);
      const r = tryApply(target, junk);
      assert.not.equal(r, "applied", "random bytes were accepted");
      for (const bytes of [delta, state]) {
        const truncated = bytes.subarray(0, cut % bytes.length);
        assert.ok(["MALFORMED", "TOO_LARGE"].includes(tryApply(target, truncated)), "a truncated payload was not refused as malformed");
        const flipped = bytes.slice();
        flipped[flip % flipped.length] ^= 1 << (flip % 8);
        tryApply(target, flipped); // a flip may still be a valid payload; if refused, nothing changed
        // whatever happened, the state is still whole: it round-trips through its bytes
        assert.ok(model.fromBytes(target.toBytes()).equals(target));
      }
    }, { numRuns: 200, xsRuns: 20 });
  });

  test(`${model.name}: a delta that fits applies, then the same bytes from a newer format or of another type are refused`, () => {
    const world = new World();
    const a = model.make("a", world.clock(0));
    const b = model.make("b", world.clock(0));
    const bytes = a.delta(b.version());
    tryApply(b, bytes);
    // [version, tag, body]: bump the version (second byte) to a format this code does not know
    const newer = bytes.slice();
    assert.is(newer[1], 1);
    newer[1] = 2;
    assert.is(tryApply(b, newer), "UNSUPPORTED_VERSION");
    const other = model.name === "GCounter" ? new ORSet("x").delta() : new GCounter("x").delta();
    assert.is(tryApply(b, other), "WRONG_TYPE");
    assert.throws(() => b.applyDelta("not bytes" as never), (e: unknown) => (e as LichenError).code === "INVALID_ARGUMENT");
  });
}

test("oversized payloads are refused before decoding", () => {
  const big = new LWWMap("a");
  for (let i = 0; i < 100; i++) big.set(`key-${i}`, "x".repeat(50));
  const small = new LWWMap("b", { maxPayloadBytes: 1000 });
  assert.is(tryApply(small, big.toBytes()), "TOO_LARGE");
  assert.throws(() => LWWMap.fromBytes(big.toBytes(), "b", { maxPayloadBytes: 1000 }), (e: unknown) => (e as LichenError).code === "TOO_LARGE");
});

test("hostile CBOR: deep nesting, huge declared lengths, tags, indefinite lengths, big integers", () => {
  const c = new GCounter("a");
  c.increment();
  const deep = new Uint8Array(2000).fill(0x81); // [[[[...
  const hugeArray = new Uint8Array([0x83, 0x01, 0x01, 0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
  const hugeString = new Uint8Array([0x83, 0x01, 0x01, 0x7a, 0x7f, 0xff, 0xff, 0xff, 0x61]);
  const tagged = new Uint8Array([0x83, 0x01, 0x01, 0xc1, 0x00]); // tag 1 (a date)
  const indefinite = new Uint8Array([0x9f, 0x01, 0x01, 0x80, 0xff]);
  const bigint = new Uint8Array([0x83, 0x01, 0x01, 0x81, 0x82, 0x61, 0x61, 0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
  for (const bytes of [deep, hugeArray, hugeString, tagged, indefinite, bigint]) assert.is(tryApply(c, bytes), "MALFORMED");
  assert.is(c.value(), 1);
});

test("well-formed CBOR of the wrong shape is refused as malformed", () => {
  const c = new ORSet("a");
  c.add("kept");
  const shapes: unknown[] = [
    [1, 7],
    [1, 7, "body"],
    [1, 7, [[], [], [], [], [], []], "owner", "extra"],
    [1, 7, [["b", "a"], [], [], [], [], []]], // replica table out of order
    [1, 7, [["a"], [], [[0, 0, 5]], [["x", 0, 9]], [], []]], // an event outside the delta's context
    [1, 7, [["a"], [], [[3, 0, 5]], [], [], []]], // replica index out of range
    [1, 7, [["a"], [], [[0, 10, 0]], [], [], []]], // empty range
    [0, 7, []],
    [-1, 7, []],
    [1.5, 7, []],
    { version: 1 },
  ];
  for (const s of shapes) assert.is(tryApply(c, encodeCbor(s)), "MALFORMED", JSON.stringify(s));
  assert.equal(c.value(), ["kept"]);
});

test("PNCounter: deltas whose merged entry would pass the safe integers are refused as malformed and change nothing", () => {
  // each delta is within range alone; together one replica's totals (its version) would not be
  const up = new PNCounter("x");
  up.incrementBy(Number.MAX_SAFE_INTEGER - 10);
  const down = new PNCounter("x");
  down.decrementBy(2 ** 52);
  const c = new PNCounter("c");
  assert.is(tryApply(c, up.delta()), "applied");
  const before = c.toBytes();
  assert.is(tryApply(c, down.delta()), "MALFORMED");
  assert.equal(c.toBytes(), before, "nothing changed");
  assert.is(PNCounter.fromBytes(c.toBytes()).value(), Number.MAX_SAFE_INTEGER - 10, "the state still saves and loads");
});

test("a delta from a clock too far ahead is refused as CLOCK_DRIFT and changes nothing", () => {
  const now = Date.UTC(2026, 10, 22);
  const future = new LWWMap("ahead", { clock: new Hlc({ wallClock: () => now + 2 * 3600_000 }) });
  const local = new LWWMap("here", { clock: new Hlc({ wallClock: () => now }) });
  local.set("k", 1);
  future.set("k", 2);
  assert.is(tryApply(local, future.delta()), "CLOCK_DRIFT");
  assert.is(local.get("k"), 1);
  const lenient = new LWWMap("here2", { clock: new Hlc({ wallClock: () => now, maxDriftMs: 3 * 3600_000 }) });
  assert.is(tryApply(lenient, future.delta()), "applied");
});

test.run();
