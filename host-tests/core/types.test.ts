// What each type means: the conflict rules a user relies on.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { compareKeys, sortKeys } from "../../src/core/value.js";
import { fc, property } from "../prop.js";
import {
  AWMap,
  GCounter,
  GSet,
  Hlc,
  LichenError,
  LWWMap,
  LWWRegister,
  LWWSet,
  MVRegister,
  ORSet,
  PNCounter,
  TwoPSet,
  type Crdt,
} from "../../src/index.js";

/** Replicas on one simulated wall clock, so that timestamps are predictable. */
function world() {
  const now = { ms: Date.UTC(2026, 0, 1) };
  return { now, clock: () => new Hlc({ wallClock: () => now.ms }) };
}

/** Full two-way sync through deltas. */
function sync(a: Crdt, b: Crdt): void {
  b.applyDelta(a.delta(b.version()));
  a.applyDelta(b.delta(a.version()));
}

const code = (c: string) => (e: unknown) => e instanceof LichenError && e.code === c;

test("GCounter: increments add up across replicas; amounts must be non-negative integers", () => {
  const a = new GCounter("a");
  const b = new GCounter("b");
  a.increment();
  a.incrementBy(4);
  b.incrementBy(10);
  sync(a, b);
  assert.is(a.value(), 15);
  assert.is(b.value(), 15);
  assert.is(a.get("b"), 10);
  assert.equal(a.version().toJSON(), { a: 5, b: 10 });
  assert.throws(() => a.incrementBy(-1), code("INVALID_ARGUMENT"));
  assert.throws(() => a.incrementBy(1.5), code("INVALID_ARGUMENT"));
  assert.throws(() => a.incrementBy(Number.MAX_SAFE_INTEGER), code("INVALID_ARGUMENT"));
  assert.is(a.value(), 15, "a refused increment changes nothing");
});

test("PNCounter: goes up and down; merging is idempotent", () => {
  const a = new PNCounter("a");
  const b = new PNCounter("b");
  a.incrementBy(5);
  b.decrementBy(8);
  b.increment();
  sync(a, b);
  sync(a, b);
  assert.is(a.value(), -2);
  assert.is(b.value(), -2);
  assert.is(a.get("b"), -7);
});

test("LWWRegister: the later write wins; equal timestamps go to the greater replica id", () => {
  const w = world();
  const a = new LWWRegister<string>("a", { clock: w.clock() });
  const b = new LWWRegister<string>("b", { clock: w.clock() });
  assert.is(a.get(), undefined);
  a.set("first");
  w.now.ms += 10;
  b.set("second");
  sync(a, b);
  assert.is(a.get(), "second");
  // same wall clock, same logical count: a tie broken by replica id
  const x = new LWWRegister<string>("x", { clock: w.clock() });
  const y = new LWWRegister<string>("y", { clock: w.clock() });
  x.set("from x");
  y.set("from y");
  assert.is(x.timestamp, y.timestamp);
  sync(x, y);
  assert.is(x.get(), "from y");
  assert.is(y.get(), "from y");
});

test("LWWRegister: a write after seeing a remote value wins even with a clock behind", () => {
  const fast = new LWWRegister<number>("fast", { clock: new Hlc({ wallClock: () => Date.UTC(2026, 0, 1, 0, 30) }) });
  const slow = new LWWRegister<number>("slow", { clock: new Hlc({ wallClock: () => Date.UTC(2026, 0, 1) }) });
  fast.set(1);
  sync(fast, slow);
  slow.set(2); // causally after fast's write: the HLC moved past it
  sync(fast, slow);
  assert.is(fast.get(), 2);
});

test("LWWRegister: stored values are copies, frozen, and must be plain data", () => {
  const r = new LWWRegister("a");
  const v = { list: [1, 2], nested: { ok: true } };
  r.set(v);
  v.list.push(3);
  assert.equal(r.get(), { list: [1, 2], nested: { ok: true } });
  assert.ok(Object.isFrozen(r.get()));
  assert.throws(() => r.set(new Date() as never), code("INVALID_ARGUMENT"));
  assert.throws(() => r.set(NaN), code("INVALID_ARGUMENT"));
  assert.throws(() => r.set(undefined as never), code("INVALID_ARGUMENT"));
  assert.throws(() => r.set((() => 1) as never), code("INVALID_ARGUMENT"));
});

test("MVRegister: concurrent writes are all kept until a write that saw them", () => {
  const a = new MVRegister<string>("a");
  const b = new MVRegister<string>("b");
  a.set("red");
  b.set("blue");
  sync(a, b);
  assert.equal(a.get(), ["red", "blue"]);
  assert.ok(a.conflicted);
  b.set("purple");
  sync(a, b);
  assert.equal(a.get(), ["purple"]);
  assert.equal(b.get(), ["purple"]);
  assert.not.ok(a.conflicted);
});

test("GSet: elements of any plain type, compared by value", () => {
  const s = new GSet("a");
  s.add({ b: 1, a: 2 });
  s.add({ a: 2, b: 1 });
  s.add("1");
  s.add(1);
  s.add(new Uint8Array([1]));
  assert.is(s.size, 4, "key order does not make objects different; 1 and '1' differ");
  assert.ok(s.has({ a: 2, b: 1 }));
  assert.not.ok(s.has("2"));
});

test("sortKeys: the order of sort(compareKeys), in place, short arrays and long", () => {
  property(
    "sortKeys = sort(compareKeys)",
    [fc.array(fc.oneof(fc.string({ maxLength: 4 }), fc.integer({ min: -20, max: 200 }), fc.constantFrom(-0, 0, 1.5, -1e-7, 1e21)), { maxLength: 40 })],
    (keys) => {
      const mine = keys.slice();
      assert.is(sortKeys(mine), mine, "in place");
      assert.equal(mine, keys.slice().sort(compareKeys));
    },
    { numRuns: 300, xsRuns: 40 },
  );
});

test("sets: number elements sort by their text beside other elements; -0 and 0 are one; both survive bytes and merges", () => {
  // the canonical order is code-unit order of the element's key text: a number's is NUL "n" and its decimal text
  const expected = [0, 1.5, 10, 100, 9, "\u0000n5", [1], "b"];
  const orders: Array<Array<number | string | number[]>> = [
    [10, 9, -0, 0, 1.5, "\u0000n5", "b", [1], 100],
    [100, [1], "b", "\u0000n5", 1.5, 0, 9, 10, -0],
  ];
  for (const make of [(r: string) => new GSet(r), (r: string) => new TwoPSet(r), (r: string) => new LWWSet(r), (r: string) => new ORSet(r)]) {
    const [a, b] = orders.map((order, i) => {
      const s = make(i === 0 ? "a" : "b");
      for (const v of order) s.add(v);
      return s;
    });
    const name = a.constructor.name;
    assert.equal(a.value(), expected, name);
    assert.equal(b.value(), expected, name);
    assert.is(a.size, 8, `${name}: -0 and 0 are one element`);
    assert.ok(a.has(9) && a.has(-0) && a.has("\u0000n5"), name);
    assert.not.ok(a.has(5) || a.has("9") || a.has("\u0000n9"), `${name}: a number and a string never share a key`);
    const back = (a.constructor as unknown as { fromBytes(x: Uint8Array): Crdt }).fromBytes(a.toBytes());
    assert.equal(back.value(), expected, `${name}: read back`);
    b.merge(a as never);
    assert.equal(b.value(), expected, `${name}: merged`);
  }
});

test("TwoPSet: a removed element never comes back", () => {
  const a = new TwoPSet<string>("a");
  const b = new TwoPSet<string>("b");
  a.add("x");
  sync(a, b);
  assert.ok(b.remove("x"));
  a.add("x"); // no effect on a replica that has it already
  sync(a, b);
  assert.not.ok(a.has("x"));
  a.add("x");
  assert.not.ok(a.has("x"));
  assert.ok(a.isRemoved("x"));
  assert.not.ok(a.remove("y"), "removing an element never added does nothing");
});

test("ORSet: add wins over a concurrent remove; a remove wins over the adds it saw", () => {
  const a = new ORSet<string>("a");
  const b = new ORSet<string>("b");
  a.add("x");
  a.add("y");
  sync(a, b);
  b.remove("x");
  a.add("x"); // concurrent with b's remove
  b.remove("y");
  sync(a, b);
  assert.equal(a.value(), ["x"]);
  assert.equal(b.value(), ["x"]);
  a.remove("x");
  sync(a, b);
  assert.equal(b.value(), []);
  assert.not.ok(b.remove("x"));
});

test("ORSet: removing leaves no tombstone: the state after add+remove is as small as an empty set's context", () => {
  const s = new ORSet<string>("a");
  const empty = s.toBytes().length;
  for (let i = 0; i < 200; i++) s.add(`element-${i}`);
  const full = s.toBytes().length;
  for (let i = 0; i < 200; i++) s.remove(`element-${i}`);
  const after = s.toBytes().length;
  assert.ok(full > 3000, `200 elements take room (${full} bytes)`);
  assert.ok(after < empty + 40, `after removing all, ${after} bytes remain (empty: ${empty})`);
  assert.is(s.size, 0);
});

test("LWWSet: the latest add or remove wins", () => {
  const w = world();
  const a = new LWWSet<string>("a", { clock: w.clock() });
  const b = new LWWSet<string>("b", { clock: w.clock() });
  a.add("x");
  sync(a, b);
  w.now.ms += 5;
  b.remove("x");
  w.now.ms += 5;
  a.add("y");
  sync(a, b);
  assert.equal(a.value(), ["y"]);
  w.now.ms += 5;
  a.add("x");
  sync(a, b);
  assert.equal(b.value(), ["x", "y"]);
});

test("LWWMap: per-key last writer wins, deletes win over older writes", () => {
  const w = world();
  const a = new LWWMap<number>("a", { clock: w.clock() });
  const b = new LWWMap<number>("b", { clock: w.clock() });
  a.set("t", 20);
  a.set("h", 40);
  sync(a, b);
  w.now.ms += 5;
  b.set("t", 21);
  w.now.ms += 5;
  a.delete("h");
  sync(a, b);
  assert.equal(a.value(), { t: 21 });
  assert.equal(b.entries(), [["t", 21]]);
  assert.not.ok(b.has("h"));
  assert.not.ok(b.delete("h"), "deleting an absent key does nothing");
  assert.throws(() => a.set(7 as never, 1), code("INVALID_ARGUMENT"));
});

test("LWWMap and AWMap: keys such as __proto__ are plain keys, no prototype is touched", () => {
  const m = new LWWMap("a");
  m.set("__proto__", { polluted: true } as never);
  m.set("constructor", 1);
  const v = m.value() as Record<string, unknown>;
  assert.equal(Object.keys(v), ["__proto__", "constructor"]);
  assert.is(Object.getPrototypeOf(v), Object.prototype);
  assert.is(({} as Record<string, unknown>).polluted, undefined);
  const back = LWWMap.fromBytes(m.toBytes());
  assert.equal(back.get("__proto__"), { polluted: true });
  const aw = new AWMap("a");
  aw.update("__proto__", GCounter, (c) => c.increment());
  const av = AWMap.fromBytes(aw.toBytes()).value();
  assert.equal(Object.keys(av), ["__proto__"]);
  assert.is(Object.getPrototypeOf(av), Object.prototype);
  // values with such keys, through bytes too
  const r = new LWWRegister("a");
  r.set(JSON.parse('{"__proto__": {"x": 1}}'));
  const rv = LWWRegister.fromBytes(r.toBytes()).get() as Record<string, unknown>;
  assert.ok(Object.prototype.hasOwnProperty.call(rv, "__proto__"));
  assert.is((rv as { x?: number }).x, undefined);
});

test("AWMap: nested CRDTs merge; a concurrent update survives a delete", () => {
  const a = new AWMap("a");
  const b = new AWMap("b");
  a.update("visits", GCounter, (c) => c.incrementBy(2));
  a.update("tags", ORSet, (s) => s.add("hot"));
  sync(a, b);
  b.update("visits", GCounter, (c) => c.increment());
  a.update("visits", GCounter, (c) => c.increment());
  sync(a, b);
  assert.equal(a.value(), { tags: ["hot"], visits: 4 });
  // delete vs concurrent update: the update wins, with its value
  a.delete("tags");
  b.update("tags", ORSet, (s) => s.add("cold"));
  sync(a, b);
  assert.equal(a.value(), { tags: ["cold", "hot"], visits: 4 });
  assert.equal(b.value(), a.value());
  // a delete that saw everything removes the key everywhere
  b.delete("tags");
  sync(a, b);
  assert.equal(a.keys(), ["visits"]);
  // nested maps
  a.update("config", AWMap, (m) => m.update("mode", LWWRegister, (r) => r.set("eco")));
  sync(a, b);
  assert.equal(b.value(), { config: { mode: "eco" }, visits: 4 });
  // get returns a copy: mutating it changes nothing
  (b.get("visits") as GCounter).incrementBy(100);
  assert.is((b.get("visits") as GCounter).value(), 4);
  assert.throws(() => a.update("visits", ORSet, () => {}), code("WRONG_TYPE"));
});

test("merge refuses another type", () => {
  assert.throws(() => new GCounter("a").merge(new PNCounter("a") as never), code("INVALID_ARGUMENT"));
});

test("replica ids are whole strings: ids sharing a long prefix never collide", () => {
  const base = "gateway-0000-0000-0000-";
  const a = new GCounter(base + "0001");
  const b = new GCounter(base + "0002");
  a.increment();
  b.increment();
  sync(a, b);
  assert.is(a.value(), 2);
  assert.equal(Object.keys(a.version().toJSON()).length, 2);
  assert.throws(() => new GCounter(""), code("INVALID_ARGUMENT"));
  assert.throws(() => new GCounter("x".repeat(65)), code("INVALID_ARGUMENT"));
  assert.throws(() => new GCounter("bad\nid"), code("INVALID_ARGUMENT"));
});

test("fromBytes: a saved state keeps its owner; a delta needs one", () => {
  const c = new GCounter("node-7");
  c.increment();
  assert.is(GCounter.fromBytes(c.toBytes()).replica, "node-7");
  assert.is(GCounter.fromBytes(c.toBytes(), "other").replica, "other");
  assert.throws(() => GCounter.fromBytes(c.delta()), code("INVALID_ARGUMENT"));
  assert.is(GCounter.fromBytes(c.delta(), "n").value(), 1);
});

test("a restored replica's clock continues after its saved timestamps", () => {
  const frozen = new Hlc({ wallClock: () => 0 }); // a device without time: Lamport only
  const r = new LWWRegister<number>("dev", { clock: frozen });
  for (let i = 0; i < 5; i++) r.set(i);
  const back = LWWRegister.fromBytes<number>(r.toBytes(), undefined, { clock: new Hlc({ wallClock: () => 0 }) });
  back.set(99);
  assert.ok(back.timestamp > r.timestamp, "no timestamp is reused after a restart");
  r.applyDelta(back.delta(r.version()));
  assert.is(r.get(), 99);
});

test("a delta made for a replica that has seen more is refused, and changes nothing", () => {
  const a = new ORSet<string>("a");
  const b = new ORSet<string>("b");
  const c = new ORSet<string>("c");
  a.add("x");
  b.applyDelta(a.delta(b.version()));
  a.add("y");
  const forB = a.delta(b.version()); // assumes the receiver has "x"
  const before = c.toBytes();
  assert.throws(() => c.applyDelta(forB), code("OUT_OF_ORDER"));
  assert.equal(c.toBytes(), before);
  c.applyDelta(a.delta(c.version()));
  assert.equal(c.value(), ["x", "y"]);
});

test.run();
