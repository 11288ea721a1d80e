// Deltas cut to a size (Crdt.deltaWithin): applied one after the other, each made from the
// receiver's version after the last, they bring it exactly the state a whole delta brings,
// removals included; and a receiver that stops halfway holds only events it can build on.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { AWMap, GCounter, GSet, Hlc, LWWMap, LWWSet, ORSet, TwoPSet, type Crdt } from "../../src/index.js";
import { fc, property } from "../prop.js";

type Op = [number, number, number]; // which replica, which operation, which key

/** Two replicas of a type, edited at random and synced now and then: the sender and a receiver left behind. */
function run<C extends Crdt>(make: (id: string, clock: Hlc) => C, edit: (c: C, op: number, key: string) => void, ops: Op[], budget: number): void {
  let t = Date.UTC(2026, 0, 1);
  const clock = () => new Hlc({ wallClock: () => (t += 3) });
  const a = make("a", clock());
  const b = make("b", clock());
  const c = make("c", clock());
  for (const [who, op, k] of ops) {
    const r = who === 0 ? a : who === 1 ? b : c;
    edit(r, op, `k${k}`);
    if (op % 7 === 0) a.applyDelta(b.delta(a.version())); // a learns b's edits now and then
  }
  a.applyDelta(b.delta(a.version()));
  // c, behind, gets a's state in cuts of at most `budget` bytes (or a single event)
  const expected = c.clone();
  expected.applyDelta(a.delta());
  let rounds = 0;
  while (!c.version().dominates(a.version())) {
    const d = a.deltaWithin(c.version(), budget);
    c.applyDelta(d);
    assert.ok(++rounds < 400, "every cut makes progress");
  }
  assert.ok(c.equals(expected), "the cuts brought everything a whole delta brings");
}

const ops = fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 12 })), { maxLength: 80 });
const budget = fc.integer({ min: 40, max: 400 });

test("deltaWithin: LWWMap, GSet, TwoPSet, LWWSet in cuts converge as one delta does", () => {
  property("cut LWW types", [ops, budget], (o, n) => {
    run((id, clock) => new LWWMap<number>(id, { clock }), (m, op, k) => (op % 4 === 0 ? m.delete(k) : m.set(k, op)), o, n);
    run((id, clock) => new GSet<string>(id, { clock }), (s, _op, k) => s.add(k), o, n);
    run((id, clock) => new TwoPSet<string>(id, { clock }), (s, op, k) => (op % 3 === 0 ? s.remove(k) : s.add(k)), o, n);
    run((id, clock) => new LWWSet<string>(id, { clock }), (s, op, k) => (op % 3 === 0 ? s.remove(k) : s.add(k)), o, n);
  }, { numRuns: 100, xsRuns: 10 });
});

test("deltaWithin: ORSet and AWMap, removals included, in cuts converge as one delta does", () => {
  property("cut add-wins types", [ops, budget], (o, n) => {
    run((id, clock) => new ORSet<string>(id, { clock }), (s, op, k) => (op % 3 === 0 ? s.remove(k) : op % 11 === 0 ? s.clear() : s.add(k)), o, n);
    run((id, clock) => new AWMap(id, { clock }), (m, op, k) => (op % 3 === 0 ? m.delete(k) : m.update(k, GCounter, (g) => g.incrementBy(op))), o, n);
  }, { numRuns: 100, xsRuns: 10 });
});

test("deltaWithin: a delta that fits is the whole delta; a type that cannot cut sends it whole", () => {
  const m = new LWWMap<number>("a");
  m.set("x", 1);
  assert.equal([...m.deltaWithin(undefined, 10_000)], [...m.delta()]);
  const g = new GCounter("a");
  g.incrementBy(5);
  assert.equal([...g.deltaWithin(undefined, 1)], [...g.delta()]);
});

test.run();
