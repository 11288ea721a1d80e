// Incremental states (StateStore's tails): a state stored as a base plus the deltas applied since
// loads exactly as the state written whole would, across compactions, reopenings, readers that
// keep no tails, and power cuts at every flash write (FlashKv over the NVS simulation).
// Runs under Node and inside XS.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { GCounter } from "../../src/core/counters.js";
import { Crdt } from "../../src/core/crdt.js";
import { LichenError } from "../../src/core/errors.js";
import { Hlc } from "../../src/core/hlc.js";
import { LWWMap } from "../../src/core/maps.js";
import { FlashKv } from "../../src/store/flash-kv.js";
import { FlashSim } from "../../src/store/flash-sim.js";
import { parseTailKey, stateKey, tailKey, tailPrefix } from "../../src/store/keys.js";
import { MemoryKv, type KvOp, type KvStore } from "../../src/store/kv.js";
import { StateStore, type TailPolicy } from "../../src/store/state-store.js";
import { ENGINE } from "../engine.js";
import { fc, property } from "../prop.js";

const code = (c: string) => (e: unknown) => e instanceof LichenError && e.code === c;
const NS = "cfg";
/** A map and a counter; the counter's id holds the tail key's separator and slashes. */
const IDS = ["a", "b#x/y"] as const;
const WRITERS = ["n0", "n1", "n2"];

type Step =
  | { readonly t: "delta"; readonly doc: number; readonly w: number; readonly k: number; readonly v: number }
  | { readonly t: "local"; readonly doc: number; readonly k: number; readonly v: number }
  | { readonly t: "flush" }
  | { readonly t: "reopen" };

const arbStep: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ t: fc.constant("delta" as const), doc: fc.nat(1), w: fc.nat(2), k: fc.nat(5), v: fc.integer({ min: -50, max: 50 }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("local" as const), doc: fc.nat(1), k: fc.nat(5), v: fc.integer({ min: -50, max: 50 }) }) },
  { weight: 5, arbitrary: fc.constant({ t: "flush" as const }) },
  { weight: 1, arbitrary: fc.constant({ t: "reopen" as const }) },
);
const arbPolicy: fc.Arbitrary<TailPolicy> = fc.record({ minBaseBytes: fc.constantFrom(0, 0, 40), maxRatio: fc.constantFrom(1, 4, 16), maxDeltas: fc.integer({ min: 1, max: 6 }) });

/** The replica that receives (a gateway), its writers, and one clock for all (no drift). */
class World {
  t = 1_700_000_000_000;
  readonly clock = new Hlc({ wallClock: () => this.t });
  readonly writers = WRITERS.map((w) => [new LWWMap<number>(w, { clock: new Hlc({ wallClock: () => this.t }) }), new GCounter(w, { clock: new Hlc({ wallClock: () => this.t }) })] as const);
  docs: Crdt[] = [];
  /** The documents stored or staged at least once: the others are not in the store. */
  readonly touched = new Set<number>();

  load(store: StateStore): void {
    const map = store.load(NS, IDS[0], (b) => LWWMap.fromBytes<number>(b, undefined, { clock: this.clock }));
    const counter = store.load(NS, IDS[1], (b) => GCounter.fromBytes(b, undefined, { clock: this.clock }));
    this.docs = [map ?? new LWWMap<number>("gw", { clock: this.clock }), counter ?? new GCounter("gw", { clock: this.clock })];
    this.touched.clear();
    if (map !== undefined) this.touched.add(0);
    if (counter !== undefined) this.touched.add(1);
  }

  /** Applies a step's change to the received copy; returns the delta it applied (undefined: a local change). */
  change(s: Step & { t: "delta" | "local" }): Uint8Array | undefined {
    this.t += 7;
    this.touched.add(s.doc);
    const doc = this.docs[s.doc]!;
    if (s.t === "local") {
      if (doc instanceof LWWMap) doc.set(`k${s.k}`, s.v);
      else (doc as GCounter).increment();
      return undefined;
    }
    const w = this.writers[s.w]![s.doc]!;
    if (w instanceof LWWMap) w.set(`k${s.k}`, s.v);
    else (w as GCounter).increment();
    const delta = w.delta(doc.version()); // what the receiver lacks, made for its version
    doc.applyChecked(doc.checkDelta(delta));
    return delta;
  }
}

/** What the stored states must read back as: the bytes of a whole write of each document. */
type Model = ReadonlyArray<Uint8Array | undefined>;

function wholeBytes(world: World): Model {
  return world.docs.map((d, i) => (world.touched.has(i) ? d.toBytes() : undefined));
}

function readBack(kv: KvStore, tails?: TailPolicy): Model {
  const store = new StateStore(kv, tails === undefined ? {} : { tails });
  const clock = new Hlc({ wallClock: () => 1_700_000_000_000 });
  const fromBytes: Array<(b: Uint8Array) => Crdt> = [(b) => LWWMap.fromBytes(b, undefined, { clock }), (b) => GCounter.fromBytes(b, undefined, { clock })];
  return IDS.map((id, i) => {
    const loaded = store.load(NS, id, fromBytes[i]!)?.toBytes();
    const stored = store.storedBytes(NS, id);
    assert.equal(stored, loaded, `storedBytes and load agree on ${id}`);
    return loaded;
  });
}

function sameModel(a: Model, b: Model): boolean {
  return a.length === b.length && a.every((x, i) => (x === undefined ? b[i] === undefined : b[i] !== undefined && x.length === b[i]!.length && x.every((y, j) => y === b[i]![j])));
}

interface RunResult {
  acked: Model;
  inflight: Model | undefined;
  lost: boolean;
  tailWrites: number;
  compactions: number;
}

/** A KvStore that counts tail puts and tail deletes (compactions) in the batches it passes on. */
function counting(kv: KvStore, r: { tailWrites: number; compactions: number }): KvStore {
  return {
    get: (k) => kv.get(k),
    put: (k, v) => kv.put(k, v),
    delete: (k) => kv.delete(k),
    keys: (p) => kv.keys(p),
    batch: (ops: readonly KvOp[], views) => {
      kv.batch(ops, views);
      for (const op of ops) if (parseTailKey(op.key) !== undefined) op.type === "put" ? r.tailWrites++ : r.compactions++;
    },
    close: () => kv.close(),
  };
}

/**
 * Runs the steps on a store opened by `open`, checking after each flush (with `check`) that a
 * fresh reader gets the documents back as written whole. A STORAGE error (a power cut) ends it.
 */
function runSteps(open: () => KvStore, steps: readonly Step[], tails: TailPolicy, check: boolean): RunResult {
  const r: RunResult = { acked: IDS.map(() => undefined), inflight: undefined, lost: false, tailWrites: 0, compactions: 0 };
  const world = new World();
  try {
    let kv = counting(open(), r);
    let store = new StateStore(kv, { tails });
    world.load(store);
    const flush = (): void => {
      r.inflight = wholeBytes(world);
      store.flush();
      r.acked = r.inflight;
      r.inflight = undefined;
      if (check) {
        assert.ok(sameModel(readBack(kv, tails), r.acked), "a reader keeping tails reads the states back whole");
        assert.ok(sameModel(readBack(kv), r.acked), "a reader keeping none reads them back whole");
      }
    };
    for (const s of [...steps, { t: "flush" } as const]) {
      if (s.t === "flush") flush();
      else if (s.t === "reopen") {
        flush();
        kv = counting(open(), r);
        store = new StateStore(kv, { tails });
        world.load(store);
        assert.ok(sameModel(wholeBytes(world), r.acked), "reopened: the documents are as they were");
      } else {
        const delta = world.change(s);
        store.stage(NS, IDS[s.doc]!, world.docs[s.doc]!, undefined, delta);
      }
    }
  } catch (e) {
    if (!code("STORAGE")(e)) throw e;
    r.lost = true;
  }
  return r;
}

test("base plus tail loads as the whole state, across compactions and reopenings", () => {
  let tailWrites = 0;
  let compactions = 0;
  property(
    "StateStore tails load as whole states",
    [fc.array(arbStep, { minLength: 1, maxLength: 40, size: "max" }), arbPolicy],
    (steps, tails) => {
      const kv = new MemoryKv();
      const r = runSteps(() => kv, steps, tails, true);
      assert.not.ok(r.lost);
      tailWrites += r.tailWrites;
      compactions += r.compactions;
    },
    { numRuns: 150, xsRuns: 25 },
  );
  console.log(`${tailWrites} tail writes, ${compactions} tail keys compacted away (${ENGINE})`);
  // the property exercised what it claims to: deltas appended, and tails folded into new bases
  assert.ok(tailWrites > 0 && compactions > 0);
});

test("a power cut at every flash write leaves the states of the last flush or of the one cut short", () => {
  let cases = 0;
  property(
    "StateStore tails survive power cuts",
    [fc.array(arbStep, { minLength: 2, maxLength: 12, size: "max" }), arbPolicy],
    (steps, tails) => {
      const clean = new FlashSim();
      const full = runSteps(() => FlashKv.open(clean), steps, tails, false);
      assert.not.ok(full.lost);
      const points = clean.writePoints;
      for (let k = 0; k < points; k++) {
        const landed = k % 2 === 1;
        cases++;
        const sim = new FlashSim();
        sim.cutAfter(k, { landed });
        const r = runSteps(() => FlashKv.open(sim), steps, tails, false);
        sim.reboot();
        const kv = FlashKv.open(sim);
        const back = readBack(kv, tails);
        const where = `cut after ${k} of ${points} writes (${landed ? "landed" : "not landed"})`;
        assert.ok(sameModel(back, r.acked) || (r.inflight !== undefined && sameModel(back, r.inflight)), `${where}: the states are neither the last flush's nor the one in flight`);
        // and it goes on: one more delta on what was read back, stored and read again
        const world = new World();
        const store = new StateStore(kv, { tails });
        world.load(store);
        const delta = world.change({ t: "delta", doc: 0, w: 1, k: 9, v: k });
        store.stage(NS, IDS[0], world.docs[0]!, undefined, delta);
        store.flush();
        assert.ok(sameModel(readBack(kv, tails), wholeBytes(world)), `${where}, then a delta`);
      }
    },
    { numRuns: 60, xsRuns: 4 },
  );
  console.log(`${cases} crash points checked (${ENGINE})`);
});

/** A map of `n` keys, stored whole once in a store keeping tails. */
function bigMap(n: number, tails: TailPolicy) {
  const t = { now: 1_700_000_000_000 };
  const clock = new Hlc({ wallClock: () => t.now });
  const node = new LWWMap<number>("n1", { clock: new Hlc({ wallClock: () => t.now }) });
  for (let i = 0; i < n; i++) node.set(`k${i}`, i);
  const kv = new MemoryKv();
  const batches: KvOp[][] = [];
  const spy: KvStore = { get: (k) => kv.get(k), put: (k, v) => kv.put(k, v), delete: (k) => kv.delete(k), keys: (p) => kv.keys(p), close: () => kv.close(), batch: (ops, v) => (batches.push([...ops]), kv.batch(ops, v)) };
  const store = new StateStore(spy, { tails });
  const gw = new LWWMap<number>("gw", { clock });
  const receive = (): Uint8Array => {
    t.now += 1000;
    const d = node.delta(gw.version());
    gw.applyChecked(gw.checkDelta(d));
    store.stage("cfg", "n1", gw, undefined, d);
    store.flush();
    return d;
  };
  receive();
  return { kv, store, gw, node, batches, receive, clock, t };
}

test("a one-key delta on a large map writes the delta alone; the tail is folded into a new base at its bound", () => {
  const m = bigMap(2000, { minBaseBytes: 1024, maxRatio: 1, maxDeltas: 8 });
  const base = m.kv.get(stateKey("cfg", "n1"))!;
  assert.ok(base.length > 20000);
  for (let i = 1; i <= 8; i++) {
    m.batches.length = 0;
    m.node.set(`k${i}`, -i);
    const d = m.receive();
    assert.equal(m.batches, [[{ type: "put", key: tailKey("cfg", "n1", i), value: d }]], `delta ${i}: one put of the delta itself`);
  }
  assert.is(m.kv.keys(tailPrefix()).length, 8);
  assert.equal(m.kv.get(stateKey("cfg", "n1")), base, "the base is untouched while the tail grows");
  // the ninth passes maxDeltas: one batch writes the new base and deletes the tail
  m.batches.length = 0;
  m.node.set("k0", 99);
  m.receive();
  assert.is(m.batches.length, 1);
  assert.equal(m.batches[0]![0], { type: "put", key: stateKey("cfg", "n1"), value: m.gw.toBytes() });
  assert.equal(m.batches[0]!.slice(1).map((op) => [op.type, op.key]), [1, 2, 3, 4, 5, 6, 7, 8].map((s) => ["delete", tailKey("cfg", "n1", s)]));
  assert.equal(m.kv.keys(tailPrefix()), []);
  // a byte bound too: the tail is folded once the deltas would pass maxRatio of the base's bytes
  const ratio = 0.004;
  const small = bigMap(2000, { minBaseBytes: 1024, maxRatio: ratio, maxDeltas: 1000 });
  const allowance = small.kv.get(stateKey("cfg", "n1"))!.length * ratio;
  let tailBytes = 0;
  let appended = 0;
  for (let i = 1; i <= 20; i++) {
    small.node.set(`k${i}`, -i);
    const d = small.receive();
    if (tailBytes + d.length > allowance) {
      assert.equal(small.kv.keys(tailPrefix()), [], `delta ${i} passes ${allowance} bytes: written whole`);
      break;
    }
    tailBytes += d.length;
    appended++;
    assert.is(small.kv.keys(tailPrefix()).length, appended);
    assert.ok(i < 20, "the byte bound was reached");
  }
  assert.ok(appended >= 2, `${appended} deltas appended before the fold`);
});

test("a small document is written whole; a local change (no delta) writes a new base and drops the tail", () => {
  const m = bigMap(3, { minBaseBytes: 1024, maxRatio: 1, maxDeltas: 100 });
  m.node.set("k1", 5);
  m.receive();
  assert.equal(m.kv.keys(tailPrefix()), [], "a base under minBaseBytes takes no tail");
  const big = bigMap(500, { minBaseBytes: 1024, maxRatio: 1, maxDeltas: 100 });
  big.node.set("k1", 5);
  big.receive();
  assert.is(big.kv.keys(tailPrefix()).length, 1);
  big.gw.set("mine", 1);
  big.store.save("cfg", "n1", big.gw);
  assert.equal(big.kv.keys(tailPrefix()), []);
  assert.equal(big.kv.get(stateKey("cfg", "n1")), big.gw.toBytes());
});

test("a reader that keeps no tails reads them, and its next whole write drops them; delete drops them", () => {
  const m = bigMap(500, { minBaseBytes: 0, maxRatio: 1, maxDeltas: 100 });
  for (let i = 0; i < 3; i++) {
    m.node.set(`k${i}`, -i);
    m.receive();
  }
  assert.is(m.kv.keys(tailPrefix()).length, 3);
  const plain = new StateStore(m.kv);
  const back = plain.load("cfg", "n1", (b) => LWWMap.fromBytes<number>(b, undefined, { clock: m.clock }))!;
  assert.equal(back.toBytes(), m.gw.toBytes());
  back.set("k0", 7);
  plain.save("cfg", "n1", back);
  assert.equal(m.kv.keys(tailPrefix()), []);
  assert.equal(m.kv.get(stateKey("cfg", "n1")), back.toBytes());

  const again = bigMap(500, { minBaseBytes: 0, maxRatio: 1, maxDeltas: 100 });
  again.node.set("k1", 1);
  again.receive();
  again.store.delete("cfg", "n1");
  assert.equal(again.kv.keys(), []);
});

test("an unreadable delta in a tail: CORRUPT, naming it; the clock's drift is not checked again on load", () => {
  const m = bigMap(300, { minBaseBytes: 0, maxRatio: 1, maxDeltas: 100 });
  m.node.set("k1", 1);
  m.receive();
  // the wall clock went back a day (a gateway without a real-time clock, restarted): the tail still loads
  const early = new Hlc({ wallClock: () => m.t.now - 86_400_000 });
  assert.equal(new StateStore(m.kv).load("cfg", "n1", (b) => LWWMap.fromBytes<number>(b, undefined, { clock: early }))!.toBytes(), m.gw.toBytes());
  m.kv.put(tailKey("cfg", "n1", 1), new Uint8Array([0x83, 0x01, 0x02]));
  assert.throws(() => new StateStore(m.kv).load("cfg", "n1", (b) => LWWMap.fromBytes<number>(b, undefined, { clock: m.clock })), (e: unknown) => code("CORRUPT")(e) && /delta 1 of its tail/.test((e as Error).message));
  assert.throws(() => new StateStore(m.kv).storedBytes("cfg", "n1"), code("CORRUPT"));
});

test("tail policies are checked", () => {
  for (const tails of [{ minBaseBytes: -1, maxRatio: 1, maxDeltas: 1 }, { minBaseBytes: 0, maxRatio: -1, maxDeltas: 1 }, { minBaseBytes: 0, maxRatio: 1, maxDeltas: 0 }, { minBaseBytes: 0, maxRatio: 1, maxDeltas: 1.5 }]) {
    assert.throws(() => new StateStore(new MemoryKv(), { tails }), code("INVALID_ARGUMENT"));
  }
});

test.run();
