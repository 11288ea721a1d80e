// The CRDT types under test, each with a generator of random operations.
// Shared by the property, convergence and vector tests.
import { fc } from "../prop.js";
import {
  AWMap,
  GCounter,
  GSet,
  Hlc,
  LWWMap,
  LWWRegister,
  LWWSet,
  MVRegister,
  ORSet,
  PNCounter,
  Rga,
  Text,
  TwoPSet,
  type Crdt,
  type Value,
} from "../../src/index.js";

export type Op = (c: Crdt) => void;

export interface Model {
  readonly name: string;
  make(replica: string, clock: Hlc): Crdt;
  readonly op: fc.Arbitrary<Op>;
  fromBytes(bytes: Uint8Array, replica?: string): Crdt;
}

// Small domains, so that replicas touch the same elements and keys and conflict.
const element = fc.oneof(
  fc.constantFrom<Value>("a", "b", "c", "__proto__", "\u0000x", 1, 2.5, true, null),
  fc.constantFrom<Value>({ k: [1, 2] }, [0, "z"], new Uint8Array([1, 2])),
);
const key = fc.constantFrom("a", "b", "c", "__proto__", "constructor", "");
const scalar = fc.oneof(fc.integer({ min: -1000, max: 1000 }), fc.string({ maxLength: 4 }), fc.constant(null), fc.double({ noNaN: true, noDefaultInfinity: true }));

// defineProperty: Function.prototype is frozen in the device's XS, so assigning toString throws
const named = (label: string, f: Op): Op => Object.defineProperty(f, "toString", { value: () => label });

// Sequences: positions are drawn as fractions of the length (ops are made before the state is
// known); Text positions inside an astral character move back to its start.
const frac = fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true });
const textUnit = fc.constantFrom("a", "b", "c", " ", "é", "😀");
const boundary = (t: Text, pos: number): number => (pos > 0 && pos < t.length && /[\udc00-\udfff]/.test(t.charAt(pos)) ? pos - 1 : pos);

export const MODELS: readonly Model[] = [
  {
    name: "GCounter",
    make: (r, clock) => new GCounter(r, { clock }),
    fromBytes: (b, r) => GCounter.fromBytes(b, r),
    op: fc.oneof(
      fc.constant(named("increment()", (c) => (c as GCounter).increment())),
      fc.nat(50).map((n) => named(`incrementBy(${n})`, (c) => (c as GCounter).incrementBy(n))),
    ),
  },
  {
    name: "PNCounter",
    make: (r, clock) => new PNCounter(r, { clock }),
    fromBytes: (b, r) => PNCounter.fromBytes(b, r),
    op: fc.oneof(
      fc.constant(named("increment()", (c) => (c as PNCounter).increment())),
      fc.constant(named("decrement()", (c) => (c as PNCounter).decrement())),
      fc.nat(50).map((n) => named(`incrementBy(${n})`, (c) => (c as PNCounter).incrementBy(n))),
      fc.nat(50).map((n) => named(`decrementBy(${n})`, (c) => (c as PNCounter).decrementBy(n))),
    ),
  },
  {
    name: "LWWRegister",
    make: (r, clock) => new LWWRegister(r, { clock }),
    fromBytes: (b, r) => LWWRegister.fromBytes(b, r),
    op: scalar.map((v) => named(`set(${JSON.stringify(v)})`, (c) => (c as LWWRegister).set(v))),
  },
  {
    name: "MVRegister",
    make: (r, clock) => new MVRegister(r, { clock }),
    fromBytes: (b, r) => MVRegister.fromBytes(b, r),
    op: scalar.map((v) => named(`set(${JSON.stringify(v)})`, (c) => (c as MVRegister).set(v))),
  },
  {
    name: "GSet",
    make: (r, clock) => new GSet(r, { clock }),
    fromBytes: (b, r) => GSet.fromBytes(b, r),
    op: element.map((v) => named(`add(${String(v)})`, (c) => (c as GSet).add(v))),
  },
  {
    name: "TwoPSet",
    make: (r, clock) => new TwoPSet(r, { clock }),
    fromBytes: (b, r) => TwoPSet.fromBytes(b, r),
    op: fc.oneof(
      element.map((v) => named(`add(${String(v)})`, (c) => (c as TwoPSet).add(v))),
      element.map((v) => named(`remove(${String(v)})`, (c) => void (c as TwoPSet).remove(v))),
    ),
  },
  {
    name: "ORSet",
    make: (r, clock) => new ORSet(r, { clock }),
    fromBytes: (b, r) => ORSet.fromBytes(b, r),
    op: fc.oneof(
      { weight: 3, arbitrary: element.map((v) => named(`add(${String(v)})`, (c) => (c as ORSet).add(v))) },
      { weight: 2, arbitrary: element.map((v) => named(`remove(${String(v)})`, (c) => void (c as ORSet).remove(v))) },
      { weight: 1, arbitrary: fc.constant(named("clear()", (c) => (c as ORSet).clear())) },
    ),
  },
  {
    name: "LWWSet",
    make: (r, clock) => new LWWSet(r, { clock }),
    fromBytes: (b, r) => LWWSet.fromBytes(b, r),
    op: fc.oneof(
      element.map((v) => named(`add(${String(v)})`, (c) => (c as LWWSet).add(v))),
      element.map((v) => named(`remove(${String(v)})`, (c) => (c as LWWSet).remove(v))),
    ),
  },
  {
    name: "LWWMap",
    make: (r, clock) => new LWWMap(r, { clock }),
    fromBytes: (b, r) => LWWMap.fromBytes(b, r),
    op: fc.oneof(
      fc.tuple(key, scalar).map(([k, v]) => named(`set(${k}, ${JSON.stringify(v)})`, (c) => (c as LWWMap).set(k, v))),
      key.map((k) => named(`delete(${k})`, (c) => void (c as LWWMap).delete(k))),
    ),
  },
  {
    name: "AWMap",
    make: (r, clock) => new AWMap(r, { clock }),
    fromBytes: (b, r) => AWMap.fromBytes(b, r),
    op: fc.oneof(
      key.map((k) => named(`update(${k}, GCounter +1)`, (c) => void (c as AWMap).update(k, GCounter, (g) => g.increment()))),
      fc.tuple(key, element).map(([k, v]) => named(`update(${k}, ORSet add ${String(v)})`, (c) => void (c as AWMap).update(`s${k}`, ORSet, (s) => s.add(v)))),
      fc.tuple(key, element).map(([k, v]) => named(`update(${k}, ORSet remove ${String(v)})`, (c) => void (c as AWMap).update(`s${k}`, ORSet, (s) => s.remove(v)))),
      fc.tuple(key, scalar).map(([k, v]) => named(`update(${k}, nested LWWRegister)`, (c) => void (c as AWMap).update("m", AWMap, (m) => m.update(k, LWWRegister, (r) => r.set(v))))),
      key.map((k) => named(`delete(${k})`, (c) => void (c as AWMap).delete(k))),
      key.map((k) => named(`delete(s${k})`, (c) => void (c as AWMap).delete(`s${k}`))),
    ),
  },
  {
    name: "Rga",
    make: (r, clock) => new Rga(r, { clock }),
    fromBytes: (b, r) => Rga.fromBytes(b, r),
    op: fc.oneof(
      { weight: 3, arbitrary: fc.tuple(frac, element).map(([f, v]) => named(`insert(${f.toFixed(2)}·length, ${String(v)})`, (c) => (c as Rga).insert(Math.floor(f * ((c as Rga).length + 1)), v))) },
      {
        weight: 1,
        arbitrary: fc.tuple(frac, fc.integer({ min: 1, max: 3 })).map(([f, n]) =>
          named(`delete(${f.toFixed(2)}·length, ${n})`, (c) => {
            const r = c as Rga;
            const at = Math.floor(f * r.length);
            r.delete(at, Math.min(n, r.length - at));
          }),
        ),
      },
    ),
  },
  {
    name: "Text",
    make: (r, clock) => new Text(r, { clock }),
    fromBytes: (b, r) => Text.fromBytes(b, r),
    op: fc.oneof(
      {
        weight: 3,
        arbitrary: fc.tuple(frac, fc.string({ unit: textUnit, minLength: 1, maxLength: 4 })).map(([f, s]) =>
          named(`insert(${f.toFixed(2)}·length, ${JSON.stringify(s)})`, (c) => {
            const t = c as Text;
            t.insert(boundary(t, Math.floor(f * (t.length + 1))), s);
          }),
        ),
      },
      {
        weight: 1,
        arbitrary: fc.tuple(frac, fc.integer({ min: 1, max: 4 })).map(([f, n]) =>
          named(`delete(${f.toFixed(2)}·length, ${n})`, (c) => {
            const t = c as Text;
            const at = boundary(t, Math.floor(f * t.length));
            t.delete(at, boundary(t, Math.min(at + n, t.length)) - at);
          }),
        ),
      },
    ),
  },
];

/** A world clock the test moves; each replica reads it with its own skew. */
export class World {
  now = 1_780_000_000_000;
  clock(skewMs: number): Hlc {
    return new Hlc({ wallClock: () => this.now + skewMs, maxDriftMs: 365 * 86_400_000 });
  }
}
