// The deepest input lichen takes, and one level more, within the device's stack: values nested as
// deep as a payload can carry them, and AWMaps nested in AWMaps as deep as AWMAP_MAX_NESTING.
// In XS each test body gets the ESP32's 512 slots of stack: a recursion per level of hostile
// nesting overflows there (a reboot on the device), where lichen promises a typed error.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { AWMap, AWMAP_MAX_NESTING, GCounter, LichenError, LWWMap, LWWRegister, ORSet } from "../../src/index.js";
import { MAX_DEPTH } from "../../src/core/codec.js";

const code = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    return e instanceof LichenError ? e.code : `not a LichenError: ${String(e)}`;
  }
  return "no error";
};

/** `levels` containers, objects and arrays by turns ({ k: [{ k: [...] }] }), around 7. */
function nest(levels: number): unknown {
  let v: unknown = 7;
  for (let i = levels - 1; i >= 0; i--) v = i % 2 === 0 ? { k: v } : [v];
  return v;
}

/** The deepest `make(n)` for which `ok(n)` holds, n from 1 up (ok(1) must hold). */
function deepest(ok: (n: number) => boolean): number {
  let n = 1;
  while (ok(n + 1)) n++;
  return n;
}

test("a value nested as deep as lichen takes is copied, encoded, decoded, compared and read; one level more is refused", () => {
  // a register takes values nested up to MAX_DEPTH containers
  const r = new LWWRegister("a");
  r.set(nest(MAX_DEPTH) as never);
  assert.is(code(() => r.set(nest(MAX_DEPTH + 1) as never)), "INVALID_ARGUMENT");
  // the deepest an LWWMap's saved state can carry round-trips, with its deltas
  const fits = (n: number): boolean => {
    const m = new LWWMap("a");
    m.set("k", nest(n) as never);
    return code(() => m.toBytes()) === "no error";
  };
  const n = deepest(fits);
  assert.ok(n > MAX_DEPTH - 8, `only ${n} levels fit a state`);
  const a = new LWWMap("a");
  a.set("k", nest(n) as never);
  const b = LWWMap.fromBytes(a.toBytes());
  assert.ok(b.equals(a));
  assert.is(JSON.stringify(b.value()), JSON.stringify({ k: nest(n) }));
  const c = new LWWMap("c");
  c.applyDelta(a.delta());
  assert.ok(c.equals(a));
  // one level more: refused when encoded, and nothing is kept half-done
  const d = new LWWMap("d");
  d.set("k", nest(n + 1) as never);
  assert.is(code(() => d.toBytes()), "INVALID_ARGUMENT");
  // deep elements of a set: their keys are texts of the whole value
  const s = new ORSet("s");
  s.add(nest(MAX_DEPTH) as never);
  assert.ok(s.has(nest(MAX_DEPTH) as never));
  assert.not.ok(s.has(nest(MAX_DEPTH - 1) as never));
});

/** AWMaps nested `levels` deep, a counter at the bottom, written by `replica`. */
function nestedMaps(replica: string, levels: number): AWMap {
  const top = new AWMap(replica);
  const down = (m: AWMap, left: number): void => {
    if (left === 1) m.update("c", GCounter, (g) => g.incrementBy(left));
    else m.update("m", AWMap, (inner) => down(inner, left - 1));
  };
  down(top, levels);
  return top;
}

test("AWMaps nested as deep as lichen takes merge, encode, decode, read and pass the authorship check; one level more is refused", () => {
  const n = AWMAP_MAX_NESTING;
  const a = nestedMaps("a", n);
  const bytes = a.toBytes();
  const b = AWMap.fromBytes(bytes);
  assert.ok(b.equals(a));
  assert.is(JSON.stringify(b.value()), JSON.stringify(a.value()));
  const c = new AWMap("c");
  const checked = c.checkDelta(a.delta());
  assert.is(c.unheldAuthor(checked, "a"), undefined);
  assert.is(c.unheldAuthor(checked, "x"), "a");
  c.applyChecked(checked);
  assert.ok(c.equals(a));
  const merged = nestedMaps("b", n);
  merged.merge(a);
  merged.merge(c);
  assert.ok(AWMap.fromBytes(merged.toBytes()).equals(merged));
  // one level more: from a caller, INVALID_ARGUMENT; from bytes, MALFORMED; nothing written either way
  assert.is(code(() => nestedMaps("a", n + 1)), "INVALID_ARGUMENT");
  const top = new AWMap("t");
  top.update("other", GCounter, (g) => g.increment());
  const before = top.toBytes();
  assert.is(code(() => top.set("m", a)), "INVALID_ARGUMENT");
  assert.is(code(() => top.update("m", AWMap, (inner) => inner.merge(a))), "INVALID_ARGUMENT");
  assert.is(code(() => top.update("m", AWMap, (inner) => inner.applyDelta(bytes))), "MALFORMED");
  assert.equal(top.toBytes(), before);
  // a map of the caller's is outermost, whatever it was set in: its own nesting stays its own
  const inner = nestedMaps("a", n - 1);
  top.set("m", inner);
  inner.update("x", AWMap, () => {}); // still n - 1 levels below its own top
  assert.equal(top.keys(), ["m", "other"]);
});

test.run();
