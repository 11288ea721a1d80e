// The code the XS section runs inside xsnap-worker (bundled by core-xs.ts with bundleForXs).
// It defines `globalThis.bench`: `prepare(name)` builds a case's state, `run(name, n)` makes n of its
// operations. The state lives in this module's closure, reachable from the global, so the live
// slots it keeps are counted. Every case uses its own clock reading a fixed wall time, so compute
// does not depend on when it runs (the HLC then counts up by its logical part).

import "./crypto-shim.js";
import * as Y from "yjs";
import { GCounter, Hlc, LWWMap, LWWRegister, ORSet } from "../../src/core/index.js";

const ID = "a4cf12b3c4d5";
const WALL_MS = Date.UTC(2025, 0, 1);
/** Keys/elements are made in `prepare`, so that building strings is not counted in `run`. */
const KEY_COUNT = 2000;

interface Case {
  prepare(): void;
  run(n: number): void;
  /** The whole state, encoded (lichen: delta(); Yjs: encodeStateAsUpdate), for the host's sanity check. */
  bytes?(): Uint8Array;
}

function keys(): string[] {
  const out: string[] = [];
  for (let i = 0; i < KEY_COUNT; i++) out.push(`k${i}`);
  return out;
}

function clock(): Hlc {
  return new Hlc({ wallClock: () => WALL_MS });
}

function makeCases(): Record<string, Case> {
  let gc: GCounter | undefined;
  let reg: LWWRegister<number> | undefined;
  let map: LWWMap<number> | undefined;
  let set: ORSet<string> | undefined;
  let doc: Y.Doc | undefined;
  let ks: string[] = [];
  let next = 0;
  /** Existing keys for overwrites: the first 200. */
  const EXISTING = 200;
  return {
    empty: { prepare: () => {}, run: (n) => { for (let i = 0; i < n; i++); } },
    "GCounter.increment()": {
      prepare: () => {
        gc = new GCounter(ID, { clock: clock() });
        gc.increment();
      },
      run: (n) => {
        for (let i = 0; i < n; i++) gc!.increment();
      },
      bytes: () => gc!.delta(),
    },
    "LWWRegister.set(42)": {
      prepare: () => {
        reg = new LWWRegister<number>(ID, { clock: clock() });
        reg.set(42);
      },
      run: (n) => {
        for (let i = 0; i < n; i++) reg!.set(42);
      },
      bytes: () => reg!.delta(),
    },
    "LWWMap.set(new key, number)": {
      prepare: () => {
        map = new LWWMap<number>(ID, { clock: clock() });
        ks = keys();
        next = 0;
      },
      run: (n) => {
        for (let i = 0; i < n; i++) map!.set(ks[next++], i);
      },
      bytes: () => map!.delta(),
    },
    "LWWMap.set(existing key, number)": {
      prepare: () => {
        map = new LWWMap<number>(ID, { clock: clock() });
        ks = keys();
        for (let i = 0; i < EXISTING; i++) map.set(ks[i], i);
      },
      run: (n) => {
        for (let i = 0; i < n; i++) map!.set(ks[i % EXISTING], i);
      },
      bytes: () => map!.delta(),
    },
    "ORSet.add(new element)": {
      prepare: () => {
        set = new ORSet<string>(ID, { clock: clock() });
        ks = keys();
        next = 0;
      },
      run: (n) => {
        for (let i = 0; i < n; i++) set!.add(ks[next++]);
      },
      bytes: () => set!.delta(),
    },
    "Y.Map.set(new key, number)": {
      prepare: () => {
        doc = new Y.Doc();
        ks = keys();
        next = 0;
      },
      run: (n) => {
        const m = doc!.getMap("m");
        for (let i = 0; i < n; i++) m.set(ks[next++], i);
      },
      bytes: () => Y.encodeStateAsUpdate(doc!),
    },
    "Y.Map.set(existing key, number)": {
      prepare: () => {
        doc = new Y.Doc();
        ks = keys();
        const m = doc.getMap("m");
        for (let i = 0; i < EXISTING; i++) m.set(ks[i], i);
      },
      run: (n) => {
        const m = doc!.getMap("m");
        for (let i = 0; i < n; i++) m.set(ks[i % EXISTING], i);
      },
      bytes: () => Y.encodeStateAsUpdate(doc!),
    },
  };
}

const cases = makeCases();

function get(name: string): Case {
  const c = cases[name];
  if (c === undefined) throw new Error(`no XS bench case ${JSON.stringify(name)}`);
  return c;
}

(globalThis as { bench?: unknown }).bench = {
  names: Object.keys(cases),
  prepare: (name: string) => get(name).prepare(),
  run: (name: string, n: number) => get(name).run(n),
  /** The case's state as an ArrayBuffer: the completion value of a crank comes back to the host. */
  bytes: (name: string): ArrayBuffer => {
    const b = get(name).bytes!();
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
  },
};
