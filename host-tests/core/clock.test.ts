// The hybrid logical clock, version vectors and causal contexts.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { CausalContext, Hlc, HLC_EPOCH_MS, HLC_LOGICAL_SPAN, LichenError, physicalTimestamp, timestampToMs, VersionVector } from "../../src/index.js";
import { fc, property } from "../prop.js";

const T0 = Date.UTC(2026, 10, 22);

function clockAt(now: { ms: number }, maxDriftMs?: number): Hlc {
  return new Hlc({ wallClock: () => now.ms, maxDriftMs });
}

test("HLC: timestamps are safe integers that encode the wall clock", () => {
  const now = { ms: T0 };
  const c = clockAt(now);
  const t = c.now();
  assert.ok(Number.isSafeInteger(t));
  assert.is(t, (T0 - HLC_EPOCH_MS) * HLC_LOGICAL_SPAN);
  assert.is(timestampToMs(t), T0);
  assert.is(physicalTimestamp(HLC_EPOCH_MS - 5), 0, "before the epoch the physical part is 0");
  // the range: 2^53 / 1024 ms after 2020 is past the year 2297
  assert.ok(new Date(timestampToMs(Number.MAX_SAFE_INTEGER)).getUTCFullYear() >= 2297);
});

test("HLC: strictly increasing within one millisecond and when the wall clock jumps back", () => {
  const now = { ms: T0 };
  const c = clockAt(now);
  const a = c.now();
  const b = c.now();
  now.ms -= 60_000; // the wall clock jumps back a minute
  const d = c.now();
  now.ms += 120_000;
  const e = c.now();
  assert.ok(a < b && b < d && d < e);
  assert.is(b, a + 1);
  assert.is(d, b + 1, "while the wall clock is behind, only the logical part moves");
  assert.is(e, (now.ms - HLC_EPOCH_MS) * HLC_LOGICAL_SPAN, "once the wall clock is ahead again, it is used");
});

test("HLC: more than 1024 events in a millisecond carry into the next millisecond", () => {
  const now = { ms: T0 };
  const c = clockAt(now);
  let last = 0;
  for (let i = 0; i < 3000; i++) last = c.now();
  assert.is(timestampToMs(last), T0 + 2, "3000 events in one ms run the clock 2 ms ahead");
});

test("HLC: a remote timestamp within the drift bound is adopted, one too far ahead is rejected", () => {
  const now = { ms: T0 };
  const c = clockAt(now, 1000);
  const near = (T0 + 900 - HLC_EPOCH_MS) * HLC_LOGICAL_SPAN;
  c.check(near);
  c.observe(near);
  assert.ok(c.now() > near, "after observing, local timestamps are past the remote one");
  const far = (T0 + 5000 - HLC_EPOCH_MS) * HLC_LOGICAL_SPAN;
  try {
    c.check(far);
    assert.unreachable("a timestamp 5 s ahead passed a 1 s bound");
  } catch (e) {
    assert.instance(e, LichenError);
    assert.is((e as LichenError).code, "CLOCK_DRIFT");
  }
  assert.ok(c.latest < far, "the rejected timestamp was not adopted");
});

test("HLC: without a wall clock (before the epoch) it is a Lamport clock that adopts remote time", () => {
  const c = new Hlc({ wallClock: () => 0 });
  assert.is(c.now(), 1);
  assert.is(c.now(), 2);
  const remote = (T0 - HLC_EPOCH_MS) * HLC_LOGICAL_SPAN;
  c.check(remote); // no notion of "too far ahead"
  c.observe(remote);
  assert.is(c.now(), remote + 1);
});

test("HLC: bad options are refused", () => {
  assert.throws(() => new Hlc({ maxDriftMs: -1 }), (e: unknown) => (e as LichenError).code === "INVALID_ARGUMENT");
  assert.throws(() => new Hlc({ wallClock: 5 as unknown as () => number }), (e: unknown) => (e as LichenError).code === "INVALID_ARGUMENT");
});

test("VersionVector: merge, compare, contains", () => {
  const a = new VersionVector([["n1", 3], ["n2", 1]]);
  const b = new VersionVector({ n1: 2, n3: 4 });
  assert.is(a.compare(b), "concurrent");
  assert.is(a.compare(a.clone()), "equal");
  assert.ok(a.contains({ replica: "n1", counter: 3 }));
  assert.not.ok(a.contains({ replica: "n1", counter: 4 }));
  assert.not.ok(a.contains({ replica: "n9", counter: 1 }));
  const m = a.clone().merge(b);
  assert.equal(m.toJSON(), { n1: 3, n2: 1, n3: 4 });
  assert.is(a.compare(m), "before");
  assert.is(m.compare(b), "after");
  assert.ok(m.dominates(a) && m.dominates(b));
  assert.equal(new VersionVector().set("x", 0).toJSON(), {}, "zero entries are absent");
  assert.throws(() => new VersionVector([["n1", -1]]), /non-negative/);
  assert.throws(() => new VersionVector([["", 1]]), /replica id/);
});

test("VersionVector: compare is consistent with merge (property)", () => {
  const vv = fc.dictionary(fc.constantFrom("a", "b", "c"), fc.nat(5), { noNullPrototype: true }).map((o) => VersionVector.from(o));
  property("version vector order", [vv, vv], (a, b) => {
    const m = a.clone().merge(b);
    assert.ok(m.dominates(a) && m.dominates(b));
    const c = a.compare(b);
    const back = b.compare(a);
    const mirror = { equal: "equal", before: "after", after: "before", concurrent: "concurrent" } as const;
    assert.is(back, mirror[c]);
    assert.is(c === "equal" || c === "after", m.equals(a));
  });
});

test("CausalContext: ranges seen out of order wait outside the version, then join it", () => {
  const c = new CausalContext();
  c.addRange("n1", 0, 10);
  c.addRange("n1", 20, 30);
  c.addRange("n1", 40, 50);
  assert.equal(c.version().toJSON(), { n1: 10 }, "only the contiguous prefix is claimed");
  assert.ok(c.has("n1", 25) && c.has("n1", 10));
  assert.not.ok(c.has("n1", 15));
  assert.not.ok(c.has("n1", 35));
  assert.is(c.max("n1"), 50);
  assert.equal(c.rangesSince(new Map([["n1", 5]])), [["n1", [5, 10, 20, 30, 40, 50]]]);
  assert.equal(c.rangesSince(new Map([["n1", 25]])), [["n1", [25, 30, 40, 50]]]);
  c.addRange("n1", 10, 20); // fills the first gap
  assert.equal(c.version().toJSON(), { n1: 30 });
  c.addRange("n1", 28, 45); // bridges the second
  assert.equal(c.version().toJSON(), { n1: 50 });
  assert.ok(c.within(new Map([["n1", 50]])));
  assert.not.ok(c.within(new Map([["n1", 49]])));
});

test("CausalContext: adding ranges in any order gives the same context (property)", () => {
  const range = fc.tuple(fc.nat(40), fc.integer({ min: 1, max: 10 })).map(([lo, len]) => [lo, lo + len] as const);
  property("causal context order", [fc.array(range, { maxLength: 12 }), fc.nat()], (ranges, seed) => {
    const a = new CausalContext();
    const b = new CausalContext();
    for (const [lo, hi] of ranges) a.addRange("r", lo, hi);
    const shuffled = [...ranges].sort((x, y) => ((x[0] * 31 + seed) % 17) - ((y[0] * 31 + seed) % 17));
    for (const [lo, hi] of shuffled) b.addRange("r", lo, hi);
    assert.equal(a.rangesSince(new Map()), b.rangesSince(new Map()));
    for (let t = 1; t <= 52; t++) {
      const inside = ranges.some(([lo, hi]) => t > lo && t <= hi);
      assert.is(a.has("r", t), inside, `has(${t})`);
    }
  });
});

test("CausalContext: a local event counts as seeing everything of its replica up to it, between ranges seen out of order (property)", () => {
  // addOwn(r, id) must leave the context as addRange(r, 0, id) does, whatever came before it
  const c = new CausalContext();
  c.addOwn("r", 10);
  c.addRange("r", 0, 50); // a merge takes the prefix past the last local event
  c.addOwn("r", 45);
  assert.is(c.prefix("r"), 50, "a local event below the prefix leaves it");
  c.addRange("r", 60, 70); // seen out of order
  c.addOwn("r", 80);
  assert.equal(c.rangesSince(new Map()), [["r", [0, 80]]], "a local event above a cloud takes it into the prefix");
  const op = fc.tuple(fc.boolean(), fc.constantFrom("r", "s"), fc.nat(20), fc.integer({ min: 1, max: 10 }));
  property("causal context own events", [fc.array(op, { maxLength: 24 })], (ops) => {
    const a = new CausalContext();
    const b = new CausalContext();
    for (const [own, r, lo, len] of ops) {
      if (own) {
        a.addOwn(r, lo + len);
        b.addRange(r, 0, lo + len);
      } else {
        a.addRange(r, lo, lo + len);
        b.addRange(r, lo, lo + len);
      }
    }
    assert.equal(a.rangesSince(new Map()), b.rangesSince(new Map()));
    for (const r of ["r", "s"]) {
      assert.is(a.prefix(r), b.prefix(r), `prefix(${r})`);
      assert.is(a.max(r), b.max(r), `max(${r})`);
      for (let t = 1; t <= 32; t++) assert.is(a.has(r, t), b.has(r, t), `has(${r}, ${t})`);
    }
  });
});

test.run();
