// LWWMap's compact delta body: what it writes, and bad bodies refused with a typed error, nothing applied.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { decodeCbor, encodeCbor, GSet, Hlc, LichenError, LWWMap } from "../../src/index.js";
import { toHex } from "../../src/core/hex.js";
import { fc, property } from "../prop.js";

const NOW = Date.UTC(2026, 0, 1);

/** Replica "n1" with two writes a second apart, a peer "gw" that has seen nothing, and the event ids. */
function writer(): { n1: LWWMap<number>; t1: number; t2: number } {
  let ms = NOW;
  const n1 = new LWWMap<number>("n1", { clock: new Hlc({ wallClock: () => ms }) });
  n1.set("hum", 40);
  ms += 1000;
  n1.set("temp", 21.5);
  return { n1, t1: n1.timestamp("hum"), t2: n1.timestamp("temp") };
}

function peer(): LWWMap<number> {
  return new LWWMap<number>("gw", { clock: new Hlc({ wallClock: () => NOW }) });
}

const delta = (body: unknown): Uint8Array => encodeCbor([1, 9, body]);

function refused(body: unknown, why: string): void {
  const gw = peer();
  gw.set("x", 1);
  const before = gw.toBytes();
  try {
    gw.applyDelta(delta(body));
  } catch (e) {
    assert.ok(e instanceof LichenError, `${why}: not a LichenError`);
    assert.is((e as LichenError).code, "MALFORMED", why);
    assert.equal(gw.toBytes(), before, `${why}: the state changed`);
    return;
  }
  assert.unreachable(`${why}: accepted`);
}

test("one writer: unit code, the id alone, context rows and entries without replica index", () => {
  const { n1, t1, t2 } = writer();
  assert.is(t2 - t1, 1000 * 1024);
  const body = (decodeCbor(n1.delta(peer().version())) as unknown[])[2];
  // unit 1,024,000 (1,000 ms): code 2 × 1000 + 1; offsets 1 and 0 units below the top
  assert.equal(body, [2001, "n1", [[0, t2]], ["hum", 3, 40, "temp", 1, 21.5]]);
  const gw = peer();
  gw.applyDelta(n1.delta(gw.version()));
  assert.ok(gw.equals(n1));
  assert.is(gw.timestamp("hum"), t1);
});

test("a deletion is an even code with no value; a unit that is no whole millisecond is written doubled", () => {
  const { n1 } = writer();
  const gw = peer();
  gw.applyDelta(n1.delta(gw.version()));
  n1.delete("hum");
  const t3 = n1.timestamp("hum");
  const body = (decodeCbor(n1.delta(gw.version())) as unknown[])[2] as unknown[];
  assert.equal(body[3], ["hum", 0]);
  assert.is(body[0], 2); // one offset, 0: unit 1
  gw.applyDelta(n1.delta(gw.version()));
  assert.is(gw.has("hum"), false);
  assert.is(gw.timestamp("hum"), t3);
  // an offset of 1,025 ticks: unit 1,025, code 2,050
  const t = t3 + 5;
  const hand = [2050, "n1", [[0, t + 1025]], ["a", 3, 1, "b", 1, 2]];
  const fresh = peer();
  fresh.applyDelta(delta(hand));
  assert.is(fresh.timestamp("a"), t);
  assert.is(fresh.timestamp("b"), t + 1025);
});

test("several writers: replica table and per-entry indexes, read back", () => {
  const { n1 } = writer();
  const gw = peer();
  gw.applyDelta(n1.delta(gw.version()));
  gw.set("rssi", -70);
  const third = peer();
  third.applyDelta(gw.delta(third.version()));
  const body = (decodeCbor(gw.toBytes()) as unknown[])[2] as unknown[];
  assert.equal(body[1], ["gw", "n1"]);
  const entries = body[3] as unknown[];
  assert.is(entries.length, 3 * 4); // key, index, offset code, value
  assert.ok(third.equals(gw));
});

test("bad compact bodies: a typed error, nothing applied", () => {
  const { t2 } = writer();
  refused([0, "n1", [[0, t2]], ["temp", 1, 21.5]], "unit code 0");
  refused([1, "n1", [[0, t2]], ["temp", 1, 21.5]], "unit 0 ms");
  refused([2, "n1", [[0, t2]], ["temp"]], "entry cut after its key");
  refused([2, "n1", [[0, t2]], ["temp", 1]], "a value announced, none there");
  refused([2, "n1", [[0, t2]], ["temp", 1, 21.5, "hum"]], "second entry cut short");
  refused([2, "n1", [[0, t2]], ["temp", 2 * t2 + 1, 21.5]], "an event at 0, below the context");
  refused([2, "n1", [[t2 - 1024, 1024]], ["temp", 2 * 1024 + 1, 21.5]], "an event outside the context range");
  refused([2, ["n1"], [[0, 0, t2]], ["temp", 1, 21.5]], "one id written as a table");
  refused([2, ["gw", "n1"], [[1, 0, t2]], ["temp", 1, 21.5]], "several ids, an entry without its index");
  refused([2, "n1", [[0, t2]], ["temp", 1, 21.5], []], "an empty base written out");
  refused([2, "n1", [[0, t2]], ["temp", 1, 21.5, "hum", 1, 40]], "entries out of order");
  refused([2, "n1", [0], ["temp", 1, 21.5]], "a context row that is no list");
  refused([2, "n1", [[0, t2]], ["temp", 2 ** 60, 21.5]], "an offset past the safe integers");
  refused([2, "n1", [[0, t2]], ["temp", 1, 21.5], 5, 6], "too many parts");
});

test("the compact form is LWWMap's alone: another type's body that starts with a number is refused", () => {
  const s = new GSet<string>("gw", { clock: new Hlc({ wallClock: () => NOW }) });
  assert.throws(
    () => s.applyDelta(encodeCbor([1, 5, [2, "n1", [[0, 1024]], ["a", 1]]])),
    (e: unknown) => e instanceof LichenError && e.code === "MALFORMED",
  );
});

// toBytes of a state of one replica's events is written straight (LwwStore.wholeBytes); every other
// state goes through the body's structure and cborEncode. Both must give the same bytes.
const arbLeaf = fc.oneof(fc.integer({ min: -(2 ** 33), max: 2 ** 53 - 1 }), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.string({ unit: "binary", maxLength: 8 }), fc.boolean(), fc.constant(null));
const arbValue = fc.oneof(arbLeaf, arbLeaf, arbLeaf, fc.array(arbLeaf, { maxLength: 2 }), fc.record({ a: arbLeaf }, { noNullPrototype: true }));
const arbOp = fc.tuple(fc.constantFrom("temp", "hum", "", "é", "battery", "k".repeat(30)), arbValue, fc.boolean(), fc.integer({ min: 0, max: 5000 }));

test("property: the whole state written straight is the generic encoder's bytes", () => {
  let straight = 0;
  property("LWWMap toBytes equals encodeCbor of its body", [fc.array(arbOp, { maxLength: 8 }), fc.integer({ min: 0, max: 2 }), fc.constantFrom("n1", "a4cf12b30001", "nœud")], (ops, others, id) => {
    let ms = NOW;
    const m = new LWWMap(id, { clock: new Hlc({ wallClock: () => ms }) });
    for (const [k, v, del, step] of ops) {
      ms += step;
      if (del) m.delete(k);
      else m.set(k, v as never);
    }
    // another writer's events (the generic path), merged in
    for (let i = 0; i < others; i++) {
      const o = new LWWMap(`w${i}`, { clock: new Hlc({ wallClock: () => ms + 7 }) });
      o.set(`o${i}`, i);
      m.merge(o as never);
    }
    const generic = encodeCbor([1, 9, (m as unknown as { encodeBody(s: Map<string, number>): unknown }).encodeBody(new Map()), m.replica]);
    if ((m as unknown as { wholeBytes(): Uint8Array | undefined }).wholeBytes() !== undefined) straight++;
    assert.is(toHex(m.toBytes()), toHex(generic));
    assert.equal(LWWMap.fromBytes(m.toBytes(), id).value(), m.value());
  });
  assert.ok(straight > 0, "no state was written straight");
});

test.run();
