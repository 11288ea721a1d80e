// Section 1, time: crdt-kit's reference operations, and ops/s of every type's mutators beside
// Yjs, under Node. Every figure is the median of many timed samples after a warm-up (timing.ts).
// Before anything is timed, `nodeSanity` runs each timed operation once and checks its result.

import * as Y from "yjs";
import { AWMap, Crdt, GCounter, GSet, Hlc, LWWMap, LWWRegister, LWWSet, MVRegister, ORSet, PNCounter, TwoPSet } from "../src/core/index.js";
import { elementKey, type ElementKey } from "../src/core/value.js";
import { type Check, met, num, type Section, type Table, type Target } from "./report.js";
import { median, spread, timePerCall, timeRun } from "./timing.js";

// ---- crdt-kit's reference operations ----
// Same definitions as crdt-kit's criterion benches (benches/crdt_benchmarks.rs), with its published
// Rust figures (µs per whole operation).

interface Reference {
  name: string;
  what: string;
  crdtKitUs: number;
  op: () => unknown;
  /** What `op` must return. */
  expect: unknown;
}

function references(): Reference[] {
  const counters = Array.from({ length: 100 }, (_, i) => {
    const c = new GCounter(`node-${i}`);
    c.incrementBy(100);
    return c;
  });
  const or1 = new ORSet<number>("a");
  const or2 = new ORSet<number>("b");
  for (let i = 0; i < 500; i++) {
    or1.add(i);
    or2.add(i + 250);
  }
  const g1 = new GSet<number>("a");
  const g2 = new GSet<number>("b");
  for (let i = 0; i < 1000; i++) {
    g1.add(i);
    g2.add(i + 500);
  }
  // like crdt-kit's LWWRegister::with_timestamp(node-i, value-i, i): replica i writes at time base + i ms
  const base = Date.now() - 1000;
  const registers = Array.from({ length: 100 }, (_, i) => {
    const r = new LWWRegister<string>(`node-${i}`, { clock: new Hlc({ wallClock: () => base + i }) });
    r.set(`value-${i}`);
    return r;
  });
  return [
    {
      name: "GCounter increment x1000",
      what: 'new GCounter("bench"), 1000 × increment(), value()',
      crdtKitUs: 53,
      expect: 1000,
      op: () => {
        const c = new GCounter("bench");
        for (let i = 0; i < 1000; i++) c.increment();
        return c.value();
      },
    },
    {
      name: "GCounter merge 100 replicas",
      what: "100 counters (node-0..node-99, each +100): clone the first, merge the 99 others into it (99 merges), value()",
      crdtKitUs: 17.8,
      expect: 10000,
      op: () => {
        const m = counters[0].clone();
        for (let i = 1; i < counters.length; i++) m.merge(counters[i]);
        return m.value();
      },
    },
    {
      name: "PNCounter inc+dec x1000",
      what: 'new PNCounter("bench"), 500 × (increment(), decrement()), value()',
      crdtKitUs: 60,
      expect: 0,
      op: () => {
        const c = new PNCounter("bench");
        for (let i = 0; i < 500; i++) {
          c.increment();
          c.decrement();
        }
        return c.value();
      },
    },
    {
      name: "ORSet insert x1000",
      what: 'new ORSet("bench"), add(0..999), size',
      crdtKitUs: 187,
      expect: 1000,
      op: () => {
        const s = new ORSet<number>("bench");
        for (let i = 0; i < 1000; i++) s.add(i);
        return s.size;
      },
    },
    {
      name: "ORSet merge 500+500",
      what: 'replica "a" added 0..499, replica "b" 250..749 (50% overlap, as crdt-kit): clone a, merge b, size (750)',
      crdtKitUs: 191,
      expect: 750,
      op: () => {
        const m = or1.clone();
        m.merge(or2);
        return m.size;
      },
    },
    {
      name: "GSet merge 1000+1000",
      what: 'replica "a" added 0..999, replica "b" 500..1499: clone a, merge b, size (1500)',
      crdtKitUs: 102,
      expect: 1500,
      op: () => {
        const m = g1.clone();
        m.merge(g2);
        return m.size;
      },
    },
    {
      name: "LWWRegister merge 100 replicas",
      what: 'registers node-0..node-99, node-i set "value-i" at time base + i ms: clone the first, merge the 99 others, value()',
      crdtKitUs: 11.5,
      expect: "value-99",
      op: () => {
        const m = registers[0].clone();
        for (let i = 1; i < registers.length; i++) m.merge(registers[i]);
        return m.value();
      },
    },
  ];
}

// ---- floors: what the two missed reference operations cost without lichen ----
// Each decomposes one reference operation into parts timed in the same rounds, so that
// a claim about where its time goes is measured, not guessed.

interface Floor {
  /** The reference operation it explains (a name in `references()`). */
  of: string;
  name: string;
  what: string;
  op: () => unknown;
  expect: unknown;
}

interface Item {
  readonly r: string;
  readonly t: number;
  readonly p: number;
}

function floors(): Floor[] {
  // a wall clock that never moves: timestamps come from the HLC's logical counter alone
  const stopped = (): number => 1767225600000;
  // the GSet merge's data as plain Maps: the same element keys, one {replica, ts, element} each
  const items = (replica: string, from: number): Map<ElementKey, Item> => {
    const m = new Map<ElementKey, Item>();
    for (let i = 0; i < 1000; i++) m.set(elementKey(i + from), { r: replica, t: 1.6e14 + i * 1024, p: i + from });
    return m;
  };
  const a = items("a", 0);
  const b = items("b", 500);
  const wins = (x: Item, y: Item): boolean => x.t > y.t || (x.t === y.t && x.r > y.r);
  return [
    {
      of: "ORSet insert x1000",
      name: "the same, with a clock that does not read the wall clock",
      what: 'new ORSet("bench", { clock: new Hlc({ wallClock: stopped }) }), add(0..999), size',
      expect: 1000,
      op: () => {
        const s = new ORSet<number>("bench", { clock: new Hlc({ wallClock: stopped }) });
        for (let i = 0; i < 1000; i++) s.add(i);
        return s.size;
      },
    },
    {
      of: "ORSet insert x1000",
      name: "1000 × Date.now() (the HLC's default wall clock)",
      what: "sum of 1000 Date.now() readings",
      expect: true,
      op: () => {
        let x = 0;
        for (let i = 0; i < 1000; i++) x += Date.now();
        return x > 0;
      },
    },
    {
      of: "ORSet insert x1000",
      name: "a plain Map: 1000 × set(element key, [event])",
      what: "new Map; for 0..999: elementKey(i) (the set's key) → [{ r, t, v }], size",
      expect: 1000,
      op: () => {
        const m = new Map<ElementKey, Array<{ r: string; t: number; v: number }>>();
        for (let i = 0; i < 1000; i++) m.set(elementKey(i), [{ r: "bench", t: i + 1, v: i }]);
        return m.size;
      },
    },
    {
      of: "GSet merge 1000+1000",
      name: "plain Maps: copy 1000 entries, then merge 1000 by timestamp",
      what: "the GSet's keys and items as two Maps (0..999, 500..1499): forEach-copy the first into a new Map, then for each of the second get, compare (later timestamp wins), set; size",
      expect: 1500,
      op: () => {
        const m = new Map<ElementKey, Item>();
        a.forEach((it, k) => m.set(k, it));
        b.forEach((it, k) => {
          const mine = m.get(k);
          if (mine === undefined || wins(it, mine)) m.set(k, it);
        });
        return m.size;
      },
    },
  ];
}

// ---- mutators, lichen beside Yjs ----

const N = 1000;
const KEYS = Array.from({ length: N }, (_, i) => `k${i}`);

interface Mutator<S> {
  op: string;
  /** A fresh state for one timed run (not timed). */
  setup: () => S;
  /** N operations. */
  run: (s: S) => void;
  /** Checked once by the sanity pass: the state after one run. */
  check: (s: S) => boolean;
}

interface MutatorRow {
  lichen: Mutator<Crdt>;
  yjs?: Mutator<Y.Doc>;
}

/** A lichen mutator; the sanity pass also checks that a peer built from its delta equals it. */
function lichen<C extends Crdt>(op: string, setup: () => C, run: (c: C) => void, check: (c: C) => boolean): Mutator<Crdt> {
  return { op, setup, run, check } as unknown as Mutator<Crdt>;
}

function filled<C extends { add(k: string): void }>(make: () => C): () => C {
  return () => {
    const c = make();
    for (const k of KEYS) c.add(k);
    return c;
  };
}

function mapOf(n: number): LWWMap<number> {
  const m = new LWWMap<number>("n1");
  for (let i = 0; i < n; i++) m.set(KEYS[i], i);
  return m;
}

function ydoc(fill?: (d: Y.Doc) => void): () => Y.Doc {
  return () => {
    const d = new Y.Doc();
    fill?.(d);
    return d;
  };
}
const ymap = (d: Y.Doc): Y.Map<unknown> => d.getMap("m");
const yarr = (d: Y.Doc): Y.Array<unknown> => d.getArray("s");
const fillMap = (d: Y.Doc): void => {
  for (let i = 0; i < N; i++) ymap(d).set(KEYS[i], i);
};
const fillArr = (d: Y.Doc): void => {
  for (const k of KEYS) yarr(d).push([k]);
};

const yPush: Mutator<Y.Doc> = {
  op: "Y.Array.push([element])",
  setup: ydoc(),
  run: (d) => {
    for (const k of KEYS) yarr(d).push([k]);
  },
  check: (d) => yarr(d).length === N,
};
const yDelete: Mutator<Y.Doc> = {
  op: "Y.Array.delete(0, 1)",
  setup: ydoc(fillArr),
  run: (d) => {
    for (let i = 0; i < N; i++) yarr(d).delete(0, 1);
  },
  check: (d) => yarr(d).length === 0,
};

function mutators(): MutatorRow[] {
  return [
    {
      lichen: lichen("GCounter.increment()", () => new GCounter("n1"), (c) => {
        for (let i = 0; i < N; i++) c.increment();
      }, (c) => c.value() === N),
    },
    {
      lichen: lichen("PNCounter.increment()", () => new PNCounter("n1"), (c) => {
        for (let i = 0; i < N; i++) c.increment();
      }, (c) => c.value() === N),
    },
    {
      lichen: lichen("PNCounter.decrement()", () => new PNCounter("n1"), (c) => {
        for (let i = 0; i < N; i++) c.decrement();
      }, (c) => c.value() === -N),
    },
    {
      lichen: lichen("LWWRegister.set(number)", () => new LWWRegister<number>("n1"), (c) => {
        for (let i = 0; i < N; i++) c.set(i);
      }, (c) => c.value() === N - 1),
      yjs: {
        op: "Y.Map.set('v', number), one key",
        setup: ydoc(),
        run: (d) => {
          for (let i = 0; i < N; i++) ymap(d).set("v", i);
        },
        check: (d) => ymap(d).get("v") === N - 1,
      },
    },
    {
      lichen: lichen("MVRegister.set(number)", () => new MVRegister<number>("n1"), (c) => {
        for (let i = 0; i < N; i++) c.set(i);
      }, (c) => c.value().length === 1 && c.value()[0] === N - 1),
    },
    {
      lichen: lichen("GSet.add(new element)", () => new GSet<string>("n1"), (c) => {
        for (const k of KEYS) c.add(k);
      }, (c) => c.size === N),
      yjs: yPush,
    },
    {
      lichen: lichen("TwoPSet.add(new element)", () => new TwoPSet<string>("n1"), (c) => {
        for (const k of KEYS) c.add(k);
      }, (c) => c.size === N),
      yjs: yPush,
    },
    {
      lichen: lichen("TwoPSet.remove(element)", filled(() => new TwoPSet<string>("n1")), (c) => {
        for (const k of KEYS) c.remove(k);
      }, (c) => c.size === 0),
      yjs: yDelete,
    },
    {
      lichen: lichen("ORSet.add(new element)", () => new ORSet<string>("n1"), (c) => {
        for (const k of KEYS) c.add(k);
      }, (c) => c.size === N),
      yjs: yPush,
    },
    {
      lichen: lichen("ORSet.remove(element)", filled(() => new ORSet<string>("n1")), (c) => {
        for (const k of KEYS) c.remove(k);
      }, (c) => c.size === 0),
      yjs: yDelete,
    },
    {
      lichen: lichen("LWWSet.add(new element)", () => new LWWSet<string>("n1"), (c) => {
        for (const k of KEYS) c.add(k);
      }, (c) => c.size === N),
      yjs: yPush,
    },
    {
      lichen: lichen("LWWSet.remove(element)", filled(() => new LWWSet<string>("n1")), (c) => {
        for (const k of KEYS) c.remove(k);
      }, (c) => c.size === 0),
      yjs: yDelete,
    },
    {
      lichen: lichen("LWWMap.set(new key, number)", () => new LWWMap<number>("n1"), (c) => {
        for (let i = 0; i < N; i++) c.set(KEYS[i], i);
      }, (c) => c.size === N && c.get("k999") === 999),
      yjs: {
        op: "Y.Map.set(new key, number)",
        setup: ydoc(),
        run: fillMap,
        check: (d) => ymap(d).size === N && ymap(d).get("k999") === 999,
      },
    },
    {
      lichen: lichen("LWWMap.set(existing key, number)", () => mapOf(N), (c) => {
        for (let i = 0; i < N; i++) c.set(KEYS[i], -i);
      }, (c) => c.size === N && c.get("k999") === -999),
      yjs: {
        op: "Y.Map.set(existing key, number)",
        setup: ydoc(fillMap),
        run: (d) => {
          for (let i = 0; i < N; i++) ymap(d).set(KEYS[i], -i);
        },
        check: (d) => ymap(d).size === N && ymap(d).get("k999") === -999,
      },
    },
    {
      lichen: lichen("LWWMap.delete(key)", () => mapOf(N), (c) => {
        for (const k of KEYS) c.delete(k);
      }, (c) => c.size === 0),
      yjs: {
        op: "Y.Map.delete(key)",
        setup: ydoc(fillMap),
        run: (d) => {
          for (const k of KEYS) ymap(d).delete(k);
        },
        check: (d) => ymap(d).size === 0,
      },
    },
    {
      lichen: lichen("AWMap.update(new key, GCounter, +1)", () => new AWMap("n1"), (c) => {
        for (const k of KEYS) c.update(k, GCounter, (g) => g.increment());
      }, (c) => c.size === N && c.value()["k999"] === 1),
    },
    {
      lichen: lichen("AWMap.update(same key, GCounter, +1)", () => new AWMap("n1"), (c) => {
        for (let i = 0; i < N; i++) c.update("c", GCounter, (g) => g.increment());
      }, (c) => c.value()["c"] === N),
    },
  ];
}

// ---- sanity: every timed operation, run once and checked ----

function safely(what: string, f: () => boolean): Check {
  try {
    return { what, ok: f() };
  } catch (e) {
    return { what: `${what} (threw ${(e as Error).message})`, ok: false };
  }
}

/** Runs every timed operation once and checks what it produced; lichen states must also reach a
 * fresh peer through `delta()` + `applyDelta()` and compare equal there. */
export function nodeSanity(): Check[] {
  const out: Check[] = [];
  for (const r of references()) out.push(safely(`${r.name} returns ${JSON.stringify(r.expect)}`, () => r.op() === r.expect));
  for (const f of floors()) out.push(safely(`${f.of}, floor "${f.name}" returns ${JSON.stringify(f.expect)}`, () => f.op() === f.expect));
  for (const row of mutators()) {
    const m = row.lichen;
    out.push(
      safely(`${m.op} × ${N}: state as expected, and a peer applying its delta equals it`, () => {
        const s = m.setup();
        m.run(s);
        const Ctor = s.constructor as new (id: string) => Crdt;
        const peer = new Ctor("peer");
        peer.applyDelta(s.delta(peer.version()));
        return m.check(s) && s.equals(peer) && JSON.stringify(s.value()) === JSON.stringify(peer.value());
      }),
    );
    const y = row.yjs;
    if (y && !out.some((c) => c.what.startsWith(`${y.op} ×`))) {
      out.push(
        safely(`${y.op} × ${N}: state as expected, and a doc applying its update equals it`, () => {
          const d = y.setup();
          y.run(d);
          const peer = new Y.Doc();
          Y.applyUpdate(peer, Y.encodeStateAsUpdate(d));
          const json = (x: Y.Doc): string => JSON.stringify([ymap(x).toJSON(), yarr(x).toJSON()]);
          return y.check(d) && json(d) === json(peer);
        }),
      );
    }
  }
  return out;
}

// ---- the section ----

/** The timings run in rounds, one operation after the other, so that a burst of load on the
 * machine falls on different operations in different rounds; the median is over all samples. */
const ROUNDS = 5;
/** The target of each reference operation: this fraction of crdt-kit's published figure. */
const TARGET_FRACTION = 0.5;

export function nodeTimingSection(): Section {
  const refs = references();
  const refSamples = refs.map((): number[] => []);
  const fls = floors();
  const floorSamples = fls.map((): number[] => []);
  const rows = mutators();
  const lichenSamples = rows.map((): number[] => []);
  const yjsSamples = new Map<string, number[]>();
  for (let round = 0; round < ROUNDS; round++) {
    refs.forEach((r, i) => refSamples[i].push(...timePerCall(r.op)));
    fls.forEach((f, i) => floorSamples[i].push(...timePerCall(f.op)));
    rows.forEach((row, i) => {
      lichenSamples[i].push(...timeRun(row.lichen.setup, row.lichen.run));
      const y = row.yjs;
      if (y && rows.findIndex((x) => x.yjs?.op === y.op) === i) {
        const got = yjsSamples.get(y.op) ?? [];
        got.push(...timeRun(y.setup, y.run));
        yjsSamples.set(y.op, got);
      }
    });
  }

  const targets: Target[] = [];
  const ref: Table = {
    title: "crdt-kit's reference operations",
    how: `µs per whole operation, setup inside it as in crdt-kit's criterion benches (the \`new\`, or the \`clone()\` of the first state before merging). ${ROUNDS} rounds over all operations; in each, an operation is warmed up for 100 ms, then timed in 21 samples, each a batch of calls lasting about 4 ms. The figure is the median per-call time over the ${ROUNDS * 21} samples; the spread is their interquartile range relative to the median; the fastest sample shows what the machine gives when nothing else runs (the target is judged on the median). lichen: default options (the HLC reads Date.now()). Reference: crdt-kit's published figures for its Rust implementation (native code, criterion, another machine); the target is ${TARGET_FRACTION}× each, judged on the median.`,
    columns: ["operation", "what is measured", "lichen µs (median)", "spread", "fastest sample", "crdt-kit µs (Rust)", `target µs (${TARGET_FRACTION}×)`, "met?", "lichen ÷ crdt-kit"],
    rows: [],
  };
  refs.forEach((r, i) => {
    const us = median(refSamples[i]);
    const fastest = Math.min(...refSamples[i]);
    const target = r.crdtKitUs * TARGET_FRACTION;
    ref.rows.push([r.name, r.what, num(us, 1), `±${Math.round((spread(refSamples[i]) * 100) / 2)}%`, num(fastest, 1), r.crdtKitUs, num(target, 2), met(us <= target), `${num(us / r.crdtKitUs, 2)}×`]);
    targets.push({ figure: `Node: ${r.name}`, target: `≤ ${num(target, 2)} µs (${TARGET_FRACTION}× crdt-kit's ${r.crdtKitUs}, Rust)`, actual: `${num(us, 1)} µs`, ok: us <= target });
  });

  const floorTable: Table = {
    title: "Where the time of the missed reference operations goes",
    how: `parts of a reference operation, timed in the same rounds and in the same way as the table above (median per whole operation over the ${ROUNDS * 21} samples). With the reference figure beside it, each row says how much of the operation the part alone costs: the wall clock read by every HLC timestamp (one per ORSet add, since an add's event id is a timestamp), and what JavaScript's Map costs for the same keys with no CRDT work at all.`,
    columns: ["reference operation", "lichen µs (median)", "part", "what is measured", "part µs (median)", "part ÷ operation"],
    rows: [],
  };
  fls.forEach((f, i) => {
    const whole = median(refSamples[refs.findIndex((r) => r.name === f.of)]);
    const us = median(floorSamples[i]);
    floorTable.rows.push([f.of, num(whole, 1), f.name, f.what, num(us, 1), `${num(us / whole, 2)}×`]);
  });

  const ops: Table = {
    title: "Mutators: operations per second, lichen beside Yjs",
    how: `each run makes ${N} operations on a fresh state built outside the timed region (new keys/elements "k0".."k${N - 1}", pre-built strings; removals and overwrites on a state holding those ${N}). ${ROUNDS} rounds; in each, 100 ms of warm-up then 15 timed runs; ops/s = ${N} / the median run time over the ${ROUNDS * 15} runs. lichen: replica "n1", default clock (Date.now()). Yjs: one Y.Doc, every operation outside any explicit transaction (one transaction each, as a single edit would be). Yjs counterparts: Y.Map.set for LWWMap and LWWRegister, Y.Array.push / delete(0, 1) for the sets (a list, not a set: no lookup by value); n/a where Yjs has none.`,
    columns: ["lichen operation", "lichen ops/s", "lichen µs/op", "Yjs counterpart", "Yjs ops/s", "lichen ÷ Yjs"],
    rows: [],
  };
  rows.forEach((row, i) => {
    const lus = median(lichenSamples[i]) / N;
    const lops = 1e6 / lus;
    const ys = row.yjs ? yjsSamples.get(row.yjs.op) : undefined;
    const yops = ys ? (N * 1e6) / median(ys) : undefined;
    ops.rows.push([row.lichen.op, Math.round(lops), num(lus, 3), row.yjs?.op ?? "n/a", yops === undefined ? "n/a" : Math.round(yops), yops === undefined ? "—" : `${num(lops / yops, 1)}×`]);
  });
  return { title: "1a. Node: time (medians of repeated samples, warm)", tables: [ref, floorTable, ops], targets };
}
