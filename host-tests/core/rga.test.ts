// Rga, the replicated list, on both engines: the API, values copied and frozen, runs that stay whole,
// convergence with every surviving value in its place, deterministic bytes, and live slots in XS.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { fc, property } from "../prop.js";
import { ENGINE } from "../engine.js";
import { retainedSlots } from "../../sim/xs/meter.js";
import { LichenError, Rga, type Value } from "../../src/index.js";
import { toHex } from "../../src/core/hex.js";

const code = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    return e instanceof LichenError ? e.code : `not a LichenError: ${String(e)}`;
  }
  return "no error";
};


function syncAll(reps: Rga[]): void {
  for (let round = 0; round < 2; round++) for (const a of reps) for (const b of reps) if (a !== b) b.applyDelta(a.delta(b.version()));
}

test("insert, delete, get, length, toArray", () => {
  const l = new Rga<Value>("a4cf12b3c4d5");
  assert.equal(l.toArray(), []);
  l.insert(0, "b");
  l.insert(0, "a");
  l.insert(2, 3);
  l.insert(3, { k: [1, 2] });
  l.insert(4, null);
  l.insert(5, new Uint8Array([7]));
  assert.is(l.length, 6);
  assert.is(l.get(0), "a");
  assert.is(l.get(2), 3);
  assert.equal(l.get(3), { k: [1, 2] });
  assert.is(l.get(6), undefined);
  assert.is(l.get(-1), undefined);
  l.delete(1, 2);
  assert.equal(l.value(), ["a", { k: [1, 2] }, null, new Uint8Array([7])]);
  l.delete(0, 4);
  assert.is(l.length, 0);
});

test("values are copied and frozen; bad arguments are INVALID_ARGUMENT and change nothing", () => {
  const l = new Rga<Value>("a");
  const v = { list: [1, 2] };
  l.insert(0, v);
  v.list.push(3);
  assert.equal(l.get(0), { list: [1, 2] });
  assert.ok(Object.isFrozen(l.get(0)));
  const before = l.toBytes();
  for (const f of [
    () => l.insert(2, 1),
    () => l.insert(-1, 1),
    () => l.insert(0, undefined as never),
    () => l.insert(0, Number.NaN),
    () => l.insert(0, new Date() as never),
    () => l.delete(0, 2),
    () => l.delete(1.5, 0),
  ]) {
    assert.is(code(f), "INVALID_ARGUMENT");
  }
  assert.equal(l.toBytes(), before);
});

test("appends by one replica are one run: thousands of values, a handful of fragments, a short state", () => {
  const l = new Rga<number>("a");
  for (let i = 0; i < 5000; i++) l.insert(i, i % 7);
  const bytes = l.toBytes();
  // 5,000 one-byte values, the replica id, and a few bytes for the one run
  assert.ok(bytes.length < 5000 + 30, `${bytes.length} bytes`);
  const back = Rga.fromBytes<number>(bytes);
  assert.equal(back.toArray(), l.toArray());
});

test("concurrent runs of values at one place never interleave, whatever the order of delivery", () => {
  property("Rga interleaving", [fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 2, maxLength: 5 }), fc.array(fc.nat(), { minLength: 30, maxLength: 30 })], (lens, order) => {
    const reps = lens.map((_, i) => new Rga<string>(`r${i}`));
    reps[0].insert(0, "[");
    reps[0].insert(1, "]");
    for (const r of reps.slice(1)) r.applyDelta(reps[0].delta());
    lens.forEach((n, i) => {
      for (let k = 0; k < n; k++) reps[i].insert(1 + k, `${i}.${k}`);
    });
    const pending = reps.flatMap((_, to) => reps.map((__, from) => [from, to]).filter(([from]) => from !== to));
    for (const pick of order) {
      if (pending.length === 0) break;
      const [from, to] = pending.splice(pick % pending.length, 1)[0];
      reps[to].applyDelta(reps[from].delta());
    }
    syncAll(reps);
    const out = reps[0].toArray();
    for (const r of reps) assert.equal(r.toArray(), out);
    // each replica's values form one block, in typing order
    lens.forEach((n, i) => {
      const at = out.indexOf(`${i}.0`);
      for (let k = 0; k < n; k++) assert.is(out[at + k], `${i}.${k}`, JSON.stringify(out));
    });
  }, { numRuns: 150, xsRuns: 15 });
});

test("3 to 5 replicas editing and syncing at random converge, keeping every surviving value where it was inserted", () => {
  const step = (n: number) =>
    fc.oneof(
      { weight: 4, arbitrary: fc.record({ kind: fc.constant("insert" as const), at: fc.nat(n - 1), f: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }) }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant("delete" as const), at: fc.nat(n - 1), f: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), n: fc.integer({ min: 1, max: 3 }) }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant("sync" as const), from: fc.nat(n - 1), to: fc.nat(n - 1), full: fc.boolean() }) },
    );
  const arb = fc.integer({ min: 3, max: 5 }).chain((n) => fc.record({ n: fc.constant(n), steps: fc.array(step(n), { minLength: 5, maxLength: 60 }) }));
  property("Rga convergence and intentions", [arb], ({ n, steps }) => {
    const reps = Array.from({ length: n }, (_, i) => new Rga<number>(`r${i}`));
    const inserted: Array<{ v: number; left: number | undefined; right: number | undefined }> = [];
    const deleted = new Set<number>();
    let next = 0;
    for (const s of steps) {
      if (s.kind === "insert") {
        const r = reps[s.at];
        const pos = Math.floor(s.f * (r.length + 1));
        inserted.push({ v: next, left: r.get(pos - 1), right: r.get(pos) });
        r.insert(pos, next++);
      } else if (s.kind === "delete") {
        const r = reps[s.at];
        const pos = Math.floor(s.f * r.length);
        const count = Math.min(s.n, r.length - pos);
        for (let k = 0; k < count; k++) deleted.add(r.get(pos + k)!);
        r.delete(pos, count);
      } else if (s.from !== s.to) {
        reps[s.to].applyDelta(s.full ? reps[s.from].delta() : reps[s.from].delta(reps[s.to].version()));
      }
    }
    syncAll(reps);
    const out = reps[0].toArray();
    for (const r of reps) {
      assert.equal(r.toArray(), out);
      assert.ok(r.equals(reps[0]));
    }
    const where = new Map(out.map((v, i) => [v, i]));
    assert.is(where.size, out.length, "a value appears twice");
    for (const ins of inserted) {
      assert.is(where.has(ins.v), !deleted.has(ins.v));
      if (!where.has(ins.v)) continue;
      if (ins.left !== undefined && where.has(ins.left)) assert.ok(where.get(ins.left)! < where.get(ins.v)!);
      if (ins.right !== undefined && where.has(ins.right)) assert.ok(where.get(ins.right)! > where.get(ins.v)!);
    }
  }, { numRuns: 150, xsRuns: 15 });
});

test("the same list gives the same bytes on every engine, and they decode to it", () => {
  const a = new Rga<Value>("alice");
  const b = new Rga<Value>("bob");
  a.insert(0, "x");
  a.insert(1, { z: 1, a: [true, null] });
  b.applyDelta(a.delta());
  b.insert(2, 2.5);
  a.delete(0);
  a.applyDelta(b.delta(a.version()));
  a.insert(0, new Uint8Array([1, 2]));
  const bytes = a.toBytes();
  assert.is(toHex(bytes), "84010b838265616c69636563626f624a0100101204060542010083420102a2616182f5f6617a01fb400400000000000065616c696365");
  const back = Rga.fromBytes(bytes);
  assert.ok(back.equals(a));
  assert.equal(back.toArray(), [new Uint8Array([1, 2]), { z: 1, a: [true, null] }, 2.5]);
});

test("live slots inside XS: 1,000 values appended, then 500 deleted", async () => {
  const l = new Rga<number>("a4cf12b3c4d5");
  l.insert(0, 0);
  const slots = await retainedSlots(() => {
    for (let i = 1; i <= 1000; i++) l.insert(i, i);
    for (let i = 0; i < 500; i++) l.delete(250, 1);
  });
  if (slots === undefined) {
    for (let i = 1; i <= 1000; i++) l.insert(i, i);
    for (let i = 0; i < 500; i++) l.delete(250, 1);
  }
  assert.is(l.length, 501);
  assert.is(l.get(250), 750);
  if (ENGINE === "xs") {
    console.log(`Rga, 1,000 appends and 500 deletions: ${slots} live slots`);
    assert.ok(slots! < 50, `${slots} slots`);
  }
});

test.run();
