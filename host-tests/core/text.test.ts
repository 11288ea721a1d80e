// Text, the collaborative string, on both engines: the API and its checks, interleaving, convergence
// with every surviving insert kept where it was typed, agreement with a naive implementation of the
// algorithm, the traces' prefixes (host-tests/vectors/trace-fixture.json), deterministic bytes,
// forged deltas, and live slots inside XS.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { fc, property } from "../prop.js";
import { ENGINE } from "../engine.js";
import { retainedSlots } from "../../sim/xs/meter.js";
import fixture from "../vectors/trace-fixture.json";
import { encodeCbor, LichenError, Text } from "../../src/index.js";
import { toHex } from "../../src/core/hex.js";
import { naiveIntegrate } from "../vectors/naive-sequence.js";

const code = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    return e instanceof LichenError ? e.code : `not a LichenError: ${String(e)}`;
  }
  return "no error";
};


/** Applies a delta that may have been made for another replica: OUT_OF_ORDER (state unchanged) is the one other outcome. */
function offer(to: Text, bytes: Uint8Array): boolean {
  const before = to.toBytes();
  try {
    to.applyDelta(bytes);
    return true;
  } catch (e) {
    if (!(e instanceof LichenError && e.code === "OUT_OF_ORDER")) throw e;
    assert.equal(to.toBytes(), before, "a refused delta changed the state");
    return false;
  }
}

function syncAll(reps: Text[]): void {
  for (let round = 0; round < 2; round++) for (const a of reps) for (const b of reps) if (a !== b) b.applyDelta(a.delta(b.version()));
}

function assertConverged(reps: Text[]): void {
  for (let i = 1; i < reps.length; i++) {
    assert.is(reps[i].toString(), reps[0].toString(), `r${i} and r0 read differently`);
    assert.ok(reps[i].equals(reps[0]), `r${i} and r0 hold different states`);
    assert.ok(reps[i].version().equals(reps[0].version()), `r${i} and r0 have different versions`);
  }
}

// ---- the API ----

test("insert, delete, length, toString, charAt", () => {
  const t = new Text("a4cf12b3c4d5");
  assert.is(t.length, 0);
  assert.is(t.toString(), "");
  t.insert(0, "hello");
  t.insert(5, " world");
  t.insert(0, "> ");
  assert.is(t.toString(), "> hello world");
  t.delete(0, 2);
  t.delete(5, 6);
  assert.is(t.toString(), "hello");
  t.insert(5, "!");
  t.insert(2, "");
  assert.is(t.value(), "hello!");
  assert.is(t.length, 6);
  assert.is(t.charAt(1), "e");
  assert.is(t.charAt(6), "");
  t.delete(0, 6);
  assert.is(t.toString(), "");
  assert.is(t.version().get("a4cf12b3c4d5"), 14 + 14, "every inserted and every deleted unit takes one counter");
});

test("positions count UTF-16 code units; an astral character is never split", () => {
  const t = new Text("a");
  t.insert(0, "a😀b"); // 😀 is two code units
  assert.is(t.length, 4);
  assert.is(code(() => t.insert(2, "x")), "INVALID_ARGUMENT");
  assert.is(code(() => t.delete(1, 1)), "INVALID_ARGUMENT");
  assert.is(code(() => t.delete(2, 2)), "INVALID_ARGUMENT");
  assert.is(code(() => t.insert(0, "\ud83d")), "INVALID_ARGUMENT", "a lone high surrogate");
  assert.is(code(() => t.insert(0, "x\ude00")), "INVALID_ARGUMENT", "a lone low surrogate");
  assert.is(t.toString(), "a😀b");
  t.insert(1, "🎉");
  t.insert(5, "c");
  assert.is(t.toString(), "a🎉😀cb");
  t.delete(3, 2);
  assert.is(t.toString(), "a🎉cb");
});

test("bad arguments are INVALID_ARGUMENT and change nothing", () => {
  const t = new Text("a");
  t.insert(0, "abc");
  const before = t.toBytes();
  for (const f of [
    () => t.insert(4, "x"),
    () => t.insert(-1, "x"),
    () => t.insert(1.5, "x"),
    () => t.insert(Number.NaN, "x"),
    () => t.insert(0, 5 as never),
    () => t.delete(2, 2),
    () => t.delete(0, -1),
    () => t.delete(4, 0),
  ]) {
    assert.is(code(f), "INVALID_ARGUMENT");
  }
  assert.equal(t.toBytes(), before);
  assert.is(code(() => new Text("")), "INVALID_ARGUMENT");
});

// ---- interleaving ----

test("two replicas typing at the same place: each run stays whole, in the same order on both", () => {
  const a = new Text("alice");
  const b = new Text("bob");
  a.insert(0, "Dear , thanks");
  b.applyDelta(a.delta());
  // character by character, concurrently, at position 5
  for (const [i, ch] of [..."Alice"].entries()) a.insert(5 + i, ch);
  for (const [i, ch] of [..."Bob and Carol"].entries()) b.insert(5 + i, ch);
  const da = a.delta(b.version());
  const db = b.delta(a.version());
  a.applyDelta(db);
  b.applyDelta(da);
  assert.is(a.toString(), "Dear AliceBob and Carol, thanks");
  assert.is(b.toString(), a.toString());
});

test("typing backwards (each character before the last) interleaves no more than typing forwards", () => {
  const a = new Text("a");
  const b = new Text("b");
  a.insert(0, "[]");
  b.applyDelta(a.delta());
  for (const ch of "xyz") a.insert(1, ch); // [zyx]
  for (const ch of "123") b.insert(1, ch); // [321]
  a.applyDelta(b.delta(a.version()));
  b.applyDelta(a.delta(b.version()));
  assert.is(a.toString(), b.toString());
  assert.ok(["[zyx321]", "[321zyx]"].includes(a.toString()), a.toString());
});

interface RunPlan {
  len: number;
  backward: boolean;
}

test("concurrent runs at one place never interleave, whatever the order of delivery (2 to 5 replicas)", () => {
  const plan = fc.record({
    base: fc.string({ unit: fc.constantFrom("a", "b", "😀"), maxLength: 6 }),
    at: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
    runs: fc.array(fc.record({ len: fc.integer({ min: 1, max: 6 }), backward: fc.boolean() }), { minLength: 2, maxLength: 5 }),
    orderA: fc.array(fc.nat(), { minLength: 40, maxLength: 40 }),
    orderB: fc.array(fc.nat(), { minLength: 40, maxLength: 40 }),
    full: fc.boolean(),
  });
  property("Text interleaving", [plan], ({ base, at, runs, orderA, orderB, full }) => {
    const finals: string[] = [];
    const typed: string[] = [];
    for (const order of [orderA, orderB]) {
      const reps = runs.map((_, i) => new Text(`r${i}`));
      reps[0].insert(0, base);
      for (const r of reps.slice(1)) r.applyDelta(reps[0].delta());
      let pos = Math.floor(at * (base.length + 1));
      if (pos > 0 && pos < base.length && /[\udc00-\udfff]/.test(base[pos])) pos--;
      typed.length = 0;
      runs.forEach((run: RunPlan, i) => {
        // unique pieces per run: a letter per replica and a digit per piece, each piece one insert
        const pieces = Array.from({ length: run.len }, (_, k) => String.fromCharCode(0x41 + i) + String(k));
        typed.push((run.backward ? [...pieces].reverse() : pieces).join(""));
        pieces.forEach((p, k) => reps[i].insert(run.backward ? pos : pos + 2 * k, p));
      });
      // every replica receives every other's run, in an order drawn by the property
      const pending = reps.flatMap((_, to) => reps.map((__, from) => [from, to]).filter(([from]) => from !== to));
      const made = reps.map((r) => r.version());
      for (const pick of order) {
        if (pending.length === 0) break;
        const [from, to] = pending.splice(pick % pending.length, 1)[0];
        offer(reps[to], full ? reps[from].delta() : reps[from].delta(made[to]));
      }
      syncAll(reps);
      assertConverged(reps);
      finals.push(reps[0].toString());
    }
    assert.is(finals[0], finals[1], "the order of the runs depends on the order of delivery");
    for (const run of typed) assert.ok(finals[0].includes(run), `run ${JSON.stringify(run)} is not whole in ${JSON.stringify(finals[0])}`);
  }, { numRuns: 150, xsRuns: 15 });
});

// ---- convergence, with every surviving insert in its place ----

type Step =
  | { kind: "insert"; at: number; f: number; n: number; astral: boolean }
  | { kind: "delete"; at: number; f: number; n: number }
  | { kind: "send"; from: number; to: number; full: boolean }
  | { kind: "deliver"; pick: number; keep: boolean; stray: number | null }
  | { kind: "sync"; from: number; to: number };

function steps(replicas: number): fc.Arbitrary<Step[]> {
  const at = fc.nat(replicas - 1);
  const f = fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true });
  const step: fc.Arbitrary<Step> = fc.oneof(
    { weight: 5, arbitrary: fc.record({ kind: fc.constant("insert" as const), at, f, n: fc.integer({ min: 1, max: 5 }), astral: fc.boolean() }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant("delete" as const), at, f, n: fc.integer({ min: 1, max: 4 }) }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant("send" as const), from: at, to: at, full: fc.boolean() }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant("deliver" as const), pick: fc.nat(), keep: fc.boolean(), stray: fc.option(at, { freq: 3 }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("sync" as const), from: at, to: at }) },
  );
  return fc.array(step, { minLength: 5, maxLength: 60, size: "max" });
}

/** The start of the code point at or before `pos`. */
function boundary(s: string, pos: number): number {
  return pos > 0 && pos < s.length && /[\udc00-\udfff]/.test(s[pos]) ? pos - 1 : pos;
}

interface Insert {
  chars: string[];
  left: string | null;
  right: string | null;
}

test("3 to 5 replicas, random edits, deltas and whole states delivered in any order, some twice: they converge, keeping every surviving insert where it was typed", () => {
  const arb = fc.integer({ min: 3, max: 5 }).chain((n) => fc.record({ n: fc.constant(n), steps: steps(n), final: fc.array(fc.nat(), { maxLength: 60 }) }));
  property("Text convergence and intentions", [arb], ({ n, steps, final }) => {
    const reps = Array.from({ length: n }, (_, i) => new Text(`r${i}`));
    const network: Array<{ bytes: Uint8Array; to: number }> = [];
    const inserts: Insert[] = [];
    const deleted = new Set<string>();
    let next = 0;
    for (const s of steps) {
      if (s.kind === "insert") {
        const t = reps[s.at];
        const text = t.toString();
        const pos = boundary(text, Math.floor(s.f * (text.length + 1)));
        // unique characters: CJK ideographs, and astral ones from plane 2
        const chars = Array.from({ length: s.n }, (_, k) => String.fromCodePoint((s.astral && k % 2 === 0 ? 0x20000 : 0x4e00) + next++));
        const before = [...text.slice(0, pos)];
        const after = [...text.slice(pos)];
        inserts.push({ chars, left: before.length > 0 ? before[before.length - 1] : null, right: after.length > 0 ? after[0] : null });
        t.insert(pos, chars.join(""));
      } else if (s.kind === "delete") {
        const t = reps[s.at];
        const text = t.toString();
        const a = boundary(text, Math.floor(s.f * text.length));
        const b = boundary(text, Math.min(text.length, a + s.n));
        for (const c of text.slice(a, b)) deleted.add(c);
        t.delete(a, b - a);
      } else if (s.kind === "send") {
        if (s.from !== s.to) network.push({ bytes: s.full ? reps[s.from].delta() : reps[s.from].delta(reps[s.to].version()), to: s.to });
      } else if (s.kind === "deliver") {
        if (network.length === 0) continue;
        const i = s.pick % network.length;
        const m = network[i];
        if (!s.keep) network.splice(i, 1);
        offer(reps[s.stray ?? m.to], m.bytes);
      } else if (s.from !== s.to) reps[s.to].applyDelta(reps[s.from].delta(reps[s.to].version()));
    }
    for (const pick of final) if (network.length > 0) offer(reps[pick % n], network[pick % network.length].bytes);
    syncAll(reps);
    assertConverged(reps);
    const out = [...reps[0].toString()];
    const where = new Map<string, number>();
    out.forEach((c, i) => {
      assert.not.ok(where.has(c), `${c} appears twice`);
      where.set(c, i);
    });
    for (const ins of inserts) {
      const kept = ins.chars.filter((c) => !deleted.has(c));
      for (const c of ins.chars) assert.is(where.has(c), !deleted.has(c), `${c} is ${deleted.has(c) ? "deleted but present" : "missing"}`);
      for (let k = 1; k < kept.length; k++) assert.ok(where.get(kept[k - 1])! < where.get(kept[k])!, "an insert's characters out of order");
      if (kept.length === 0) continue;
      if (ins.left !== null && where.has(ins.left)) assert.ok(where.get(ins.left)! < where.get(kept[0])!, "an insert moved before its left neighbour");
      if (ins.right !== null && where.has(ins.right)) assert.ok(where.get(ins.right)! > where.get(kept[kept.length - 1])!, "an insert moved after its right neighbour");
    }
    assert.is(where.size, inserts.reduce((x, i) => x + i.chars.length, 0) - deleted.size);
  }, { numRuns: 200, xsRuns: 20 });
});

// ---- agreement with a naive implementation of the algorithm ----

/** One object per code unit, positions by indexOf: reference-crdts' integrateYjsMod, written plainly. */
interface NaiveItem {
  agent: string;
  seq: number;
  oL: NaiveItem | null;
  oR: NaiveItem | null;
  deleted: boolean;
  ch: string;
}
type NaiveOp = { ins: NaiveItem & { l: [string, number] | null; r: [string, number] | null } } | { del: [string, number] };

class Naive {
  items: NaiveItem[] = [];
  byId = new Map<string, NaiveItem>();
  seq = 0;
  log: NaiveOp[] = [];
  constructor(readonly agent: string) {}
  private integrate(n: NaiveItem): void {
    naiveIntegrate(this.items, n);
    this.byId.set(`${n.agent}:${n.seq}`, n);
  }
  /** True if the op applied (its dependencies were there). */
  apply(op: NaiveOp): boolean {
    if ("del" in op) {
      const it = this.byId.get(`${op.del[0]}:${op.del[1]}`);
      if (it === undefined) return false;
      it.deleted = true;
      return true;
    }
    const { l, r } = op.ins;
    const oL = l === null ? null : this.byId.get(`${l[0]}:${l[1]}`);
    const oR = r === null ? null : this.byId.get(`${r[0]}:${r[1]}`);
    if (oL === undefined || oR === undefined) return false;
    this.integrate({ agent: op.ins.agent, seq: op.ins.seq, ch: op.ins.ch, deleted: false, oL, oR });
    return true;
  }
  private visible(pos: number): number {
    let i = 0;
    for (; i < this.items.length; i++) {
      if (this.items[i].deleted) continue;
      if (pos === 0) return i;
      pos--;
    }
    return i;
  }
  insert(pos: number, s: string): void {
    for (let k = 0; k < s.length; k++) {
      const i = this.visible(pos + k);
      const l = this.items[i - 1] ?? null;
      const r = this.items[i] ?? null;
      const op: NaiveOp = { ins: { agent: this.agent, seq: this.seq++, ch: s[k], deleted: false, oL: null, oR: null, l: l && [l.agent, l.seq], r: r && [r.agent, r.seq] } };
      this.apply(op);
      this.log.push(op);
    }
  }
  delete(pos: number, n: number): void {
    for (let k = 0; k < n; k++) {
      const it = this.items[this.visible(pos)];
      it.deleted = true;
      this.log.push({ del: [it.agent, it.seq] });
    }
  }
  toString(): string {
    return this.items
      .filter((x) => !x.deleted)
      .map((x) => x.ch)
      .join("");
  }
}

/** Everything `from` applied that `to` lacks, in an order that respects dependencies. */
function naiveMerge(to: Naive, from: Naive, docs: Naive[], seen: Map<Naive, number[]>): void {
  const mine = seen.get(to)!;
  const theirs = seen.get(from)!;
  for (let progress = true; progress; ) {
    progress = false;
    docs.forEach((origin, x) => {
      while (mine[x] < theirs[x] && to.apply(origin.log[mine[x]])) {
        mine[x]++;
        progress = true;
      }
    });
  }
  assert.equal(mine, theirs.map((n, x) => Math.max(n, mine[x])), "the naive merge is stuck");
}

test("the same edits and merges give the same text as a naive implementation of YjsMod", () => {
  const op = fc.oneof(
    { weight: 4, arbitrary: fc.record({ kind: fc.constant("edit" as const), at: fc.nat(2), f: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), del: fc.integer({ min: 0, max: 3 }), ins: fc.string({ unit: fc.constantFrom("a", "b", "c", "😀"), maxLength: 3 }) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant("merge" as const), from: fc.nat(2), to: fc.nat(2) }) },
  );
  property("Text vs naive YjsMod", [fc.array(op, { minLength: 5, maxLength: 40 }), fc.constantFrom(["a", "b", "c"], ["c", "b", "a"], ["n2", "n10", "n1"])], (ops, ids) => {
    const reps = ids.map((id) => new Text(id));
    const docs = ids.map((id) => new Naive(id));
    const seen = new Map(docs.map((d, i) => [d, docs.map((_, x) => (x === i ? 0 : 0))]));
    for (const o of ops) {
      if (o.kind === "edit") {
        const t = reps[o.at];
        const d = docs[o.at];
        const text = t.toString();
        const pos = boundary(text, Math.floor(o.f * (text.length + 1)));
        const del = boundary(text, Math.min(text.length, pos + o.del)) - pos;
        if (del > 0) {
          t.delete(pos, del);
          d.delete(pos, del);
        }
        t.insert(pos, o.ins);
        d.insert(pos, o.ins);
        seen.get(d)![o.at] = d.log.length;
      } else if (o.from !== o.to) {
        reps[o.to].applyDelta(reps[o.from].delta(reps[o.to].version()));
        naiveMerge(docs[o.to], docs[o.from], docs, seen);
      }
      for (let i = 0; i < reps.length; i++) assert.is(reps[i].toString(), docs[i].toString(), `replica ${ids[i]}`);
    }
  }, { numRuns: 200, xsRuns: 20 });
});

// ---- the traces' prefixes ----

test(`automerge-paper, first ${fixture.automergePaper.edits.length} edits: one Text gives the expected text; a peer fed each edit's delta follows; bytes round-trip and editing goes on`, () => {
  const doc = new Text("a4cf12b3c4d5");
  const peer = new Text("gateway");
  let largest = 0;
  for (const [pos, del, ins] of fixture.automergePaper.edits as Array<[number, number, string]>) {
    const since = peer.version();
    if (del > 0) doc.delete(pos, del);
    if (ins !== "") doc.insert(pos, ins);
    const d = doc.delta(since);
    if (del === 0 && ins.length === 1) largest = Math.max(largest, d.length - 1);
    peer.applyDelta(d);
  }
  assert.is(doc.toString(), fixture.automergePaper.text);
  assert.is(peer.toString(), fixture.automergePaper.text);
  assert.ok(peer.equals(doc));
  console.log(`largest delta for one typed character: ${largest} bytes + the character (replica id of 12 characters)`);
  assert.ok(largest <= 30, `${largest} bytes`);
  const bytes = doc.toBytes();
  const back = Text.fromBytes(bytes);
  assert.is(back.replica, "a4cf12b3c4d5");
  assert.ok(back.equals(doc));
  assert.equal(back.toBytes(), bytes);
  back.insert(0, "% lichen\n");
  back.delete(back.length - 5, 5);
  peer.applyDelta(back.delta(peer.version()));
  assert.is(peer.toString(), back.toString());
  assert.is(peer.toString(), `% lichen\n${fixture.automergePaper.text.slice(0, -5)}`);
});

test(`friendsforever, first ${fixture.friendsforever.txns.length} transactions: one replica per agent, forked and merged as the parents say, both reach the naive implementation's text`, () => {
  const { agents, txns, text } = fixture.friendsforever as { agents: string[]; txns: Array<{ agent: number; parents: number[]; patches: Array<[number, number, string]> }>; text: string };
  const reps = agents.map((id) => new Text(id));
  const deltas: Uint8Array[] = [];
  const byAgent: number[][] = agents.map(() => []);
  const applied = agents.map(() => agents.map(() => 0));
  const frontier: number[][] = [];
  txns.forEach((tx, t) => {
    const f = agents.map(() => -1);
    for (const p of tx.parents) frontier[p].forEach((x, b) => (f[b] = Math.max(f[b], x)));
    const r = reps[tx.agent];
    agents.forEach((_, b) => {
      if (b === tx.agent) return;
      const list = byAgent[b];
      while (applied[tx.agent][b] < list.length && list[applied[tx.agent][b]] <= f[b]) r.applyDelta(deltas[list[applied[tx.agent][b]++]]);
    });
    const before = r.version();
    for (const [pos, del, ins] of tx.patches) {
      if (del > 0) r.delete(pos, del);
      if (ins !== "") r.insert(pos, ins);
    }
    deltas.push(r.delta(before));
    byAgent[tx.agent].push(t);
    f[tx.agent] = t;
    frontier.push(f);
  });
  syncAll(reps);
  for (const r of reps) assert.is(r.toString(), text);
  assertConverged(reps);
  const back = Text.fromBytes(reps[1].toBytes());
  assert.ok(back.equals(reps[0]));
});

// ---- bytes ----

/** A small document with every kind of run: two replicas, a run cut by a later insert, deletions forwards and backwards, a character deleted by both, an astral character. */
function scenario(): Text {
  const a = new Text("alice");
  const b = new Text("bob");
  a.insert(0, "Hello world");
  b.applyDelta(a.delta());
  a.insert(5, ",");
  b.insert(11, "!😀");
  b.delete(0, 1); // both delete the H
  a.delete(0, 1);
  a.delete(3, 1);
  a.delete(2, 1); // backspace twice
  a.applyDelta(b.delta(a.version()));
  b.applyDelta(a.delta(b.version()));
  a.insert(2, "y");
  return a;
}

test("the same document gives the same bytes on every engine", () => {
  const a = scenario();
  assert.is(a.toString(), "ely, world!😀");
  assert.equal(a.version().toJSON(), { alice: 16, bob: 4 });
  assert.is(
    toHex(a.toBytes()),
    "84010c848265616c69636563626f6255010060840185010a12141809000d86050dc20201006f656c792c20776f726c6421f09f9880440200010665616c696365",
  );
  assert.is(toHex(a.delta({ alice: 14, bob: 4 })), "83010c848165616c69636546381e0015000761794300061c");
});

test("forged deltas are refused with a typed error and change nothing", () => {
  const doc = new Text("r");
  const a = new Text("a");
  a.insert(0, "x😀");
  a.delete(0, 1);
  doc.applyDelta(a.delta()); // a:1 is deleted (its tag is a:4), a:2 and a:3 are the two halves of 😀
  const before = doc.toBytes();
  const body = (table: string[], runs: number[], content: string, recs?: number[]): Uint8Array =>
    encodeCbor([1, 12, recs === undefined ? [table, new Uint8Array(runs), content] : [table, new Uint8Array(runs), content, new Uint8Array(recs)]]);
  const cases: Array<[string, Uint8Array, string]> = [
    ["ids with a gap", body(["b"], [0, 0, 0, 2], "xy"), "MALFORMED"],
    ["ids twice", body(["b"], [0, 0, 0, 1], "xy"), "MALFORMED"],
    // long runs b:1-100, b:51-150, b:201-250: as many ids as the interval holds, but overlapping (checked by sorting)
    ["long runs that overlap", body(["b"], [0x80, 0x63, 0, 0x80, 0x63, 99, 0x80, 0x31, 100], "x".repeat(250)), "MALFORMED"],
    ["origins in a cycle", body(["b"], [8, 0, 0, 2, 4], "xy"), "MALFORMED"],
    ["content longer than the runs", body(["b"], [0, 0], "xy"), "MALFORMED"],
    ["runs that cut an astral character in two", body(["b"], [0, 0, 0, 0], "😀"), "MALFORMED"],
    ["an insert between the halves of 😀", body(["a", "b"], [120, 1, 0, 0, 2, 0, 4], "y"), "MALFORMED"],
    ["a deletion of half of 😀", body(["a", "b"], [], "", [2, 2, 1, 0]), "MALFORMED"],
    ["an origin that is a deletion, not an item", body(["a", "b"], [120, 1, 0, 0, 6, 0, 2], "y"), "MALFORMED"],
    ["an origin this replica has not seen", body(["a", "b"], [120, 1, 0, 0, 20, 0, 2], "y"), "OUT_OF_ORDER"],
    ["a delta made for a replica that has seen more of b", body(["b"], [0, 8], "y"), "OUT_OF_ORDER"],
    ["an unknown origin kind", body(["b"], [10, 0], "y"), "MALFORMED"],
    ["a replica index out of range", body(["b"], [64, 3, 0], "y"), "MALFORMED"],
    ["an overlong number", body(["b"], [0, 0x80, 0], "y"), "MALFORMED"],
    ["a run refers to a previous one", body(["b"], [2, 0], "y"), "MALFORMED"],
  ];
  for (const [what, bytes, expected] of cases) {
    assert.is(code(() => doc.applyDelta(bytes)), expected, what);
    assert.equal(doc.toBytes(), before, `${what}: the state changed`);
  }
  assert.is(doc.toString(), "😀");
});

test("a delta for a replica that is behind is refused as OUT_OF_ORDER; from its own version it applies", () => {
  const a = new Text("a");
  const b = new Text("b");
  const c = new Text("c");
  a.insert(0, "abc");
  b.applyDelta(a.delta());
  a.insert(3, "d");
  a.delete(0, 1);
  assert.is(code(() => c.applyDelta(a.delta(b.version()))), "OUT_OF_ORDER");
  assert.is(c.toString(), "");
  c.applyDelta(a.delta(c.version()));
  assert.is(c.toString(), "bcd");
  assert.is(code(() => Text.fromBytes(a.delta(b.version()), "z")), "OUT_OF_ORDER");
});

test("a delta for a version no replica ever had still applies where it can", () => {
  const a = new Text("a");
  a.insert(0, "ab😀cd");
  a.delete(1, 1);
  // a:1..6 are the items, a:7 the deletion; cut inside the astral character, and inside the deletion's reach
  for (let n = 0; n <= 8; n++) {
    const b = new Text("b");
    b.applyDelta(a.delta());
    b.applyDelta(a.delta({ a: n }));
    assert.ok(b.equals(a), `since a:${n}`);
  }
});

// ---- memory inside XS ----

test("live slots inside XS: the first 2,000 edits of automerge-paper", async () => {
  const keep: Text[] = [];
  const slots = await retainedSlots(() => {
    const t = new Text("a4cf12b3c4d5");
    for (const [pos, del, ins] of fixture.automergePaper.edits as Array<[number, number, string]>) {
      if (del > 0) t.delete(pos, del);
      if (ins !== "") t.insert(pos, ins);
    }
    keep.push(t);
  });
  if (keep.length === 0) {
    // under Node: run it for its result
    const t = new Text("a4cf12b3c4d5");
    for (const [pos, del, ins] of fixture.automergePaper.edits as Array<[number, number, string]>) {
      if (del > 0) t.delete(pos, del);
      if (ins !== "") t.insert(pos, ins);
    }
    keep.push(t);
  }
  assert.is(keep[0].toString(), fixture.automergePaper.text);
  if (ENGINE === "xs") {
    console.log(`Text after 2,000 edits: ${slots} live slots`);
    assert.ok(slots! < 400, `${slots} live slots`);
  }
});

test.run();
