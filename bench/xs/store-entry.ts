// The code the store section runs inside xsnap-worker (bundled by bench/store.ts with bundleForXs).
// It defines `globalThis.storeBench`: each function is one step, run as its own crank so that the
// host can meter it (measureXs). Everything a step keeps lives in this module's closure, reachable
// from the global, so its live slots are counted; what a step drops is garbage by the next gc().
//
// The simulated flash (FlashSim) holds its values in a Map: on a device those bytes are in NVS, not
// in the VM, so the host measures the FlashSim once, on its own, and the open store separately.

import { GCounter, Hlc, LWWMap } from "../../src/core/index.js";
import type { Crdt } from "../../src/core/index.js";
import { FlashKv } from "../../src/store/flash-kv.js";
import { FlashSim } from "../../src/store/flash-sim.js";
import { statePrefix, stateKey } from "../../src/store/keys.js";
import { DEVICE_COALESCING, StateStore } from "../../src/store/state-store.js";
import { loadCrdt } from "../../src/core/registry.js";

const ID = "a4cf12b3c4d5";
const WALL_MS = Date.UTC(2025, 0, 1);
const NS = "sensors";

let sim: FlashSim | undefined;
let kv: FlashKv | undefined;
let store: StateStore | undefined;
let loaded: Crdt[] = [];
let ids: string[] = [];

function clock(): Hlc {
  return new Hlc({ wallClock: () => WALL_MS });
}

/** The state of entity i: even ones a GCounter (value i + 1), odd ones an LWWMap {temp, hum}. */
function entity(i: number, c: Hlc): Crdt {
  if (i % 2 === 0) {
    const g = new GCounter(ID, { clock: c });
    g.incrementBy(i + 1);
    return g;
  }
  const m = new LWWMap<number>(ID, { clock: c });
  m.set("temp", 20 + i / 10);
  m.set("hum", 40 + (i % 30));
  return m;
}

function load(id: string): Crdt {
  const c = store!.load(NS, id, (b) => loadCrdt(b, ID, { clock: clock() }));
  if (c === undefined) throw new Error(`entity ${id} is not stored`);
  return c;
}

function buffer(text: string): ArrayBuffer {
  const b = new TextEncoder().encode(text);
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

(globalThis as { storeBench?: unknown }).storeBench = {
  /** The ids "e0".."e<n-1>", made beforehand so that building strings is not counted later. */
  ids(n: number): void {
    ids = [];
    for (let i = 0; i < n; i++) ids.push(`e${i}`);
  },
  /** A fresh simulated flash holding n entities (put through a FlashKv that is then dropped). */
  fill(n: number): void {
    sim = new FlashSim();
    const c = clock();
    const k = new FlashKv(sim);
    for (let i = 0; i < n; i++) k.put(stateKey(NS, ids[i]), entity(i, c).toBytes());
  },
  /** Drops the simulated flash (and any store over it). */
  drop(): void {
    sim = undefined;
    kv = undefined;
    store = undefined;
    loaded = [];
  },
  /** Opens a FlashKv and reads one key, then drops it: warms up what a first open initialises. */
  warm(): void {
    const k = FlashKv.open(sim!);
    k.get(stateKey(NS, ids[0]));
    k.keys(statePrefix());
  },
  /** Opens the store (its recovery scan reads every head) and keeps it. */
  open(): void {
    kv = FlashKv.open(sim!);
  },
  /** One get of an existing key; the bytes are dropped. */
  get(i: number): void {
    kv!.get(stateKey(NS, ids[i]));
  },
  /** A StateStore over the open FlashKv, with the device's coalescing; kept. */
  states(): void {
    store = new StateStore(kv!, { coalesce: DEVICE_COALESCING, now: () => WALL_MS });
  },
  /** Loads n entities through the StateStore and keeps them (as the firmware keeps its open documents). */
  load(n: number): void {
    loaded = [];
    for (let i = 0; i < n; i++) loaded.push(load(ids[i]));
  },
  /** One save() of each loaded entity: they stay pending (n < 100, time frozen). */
  save(): void {
    for (let i = 0; i < loaded.length; i++) store!.save(NS, ids[i], loaded[i]);
  },
  /** Writes what is pending: one batch over several buckets (journal, heads). */
  flush(): void {
    store!.flush();
  },
  /** What the host checks, as JSON bytes. */
  check(last: number): ArrayBuffer {
    const even = load(ids[last - 2]) as GCounter;
    const odd = load(ids[last - 1]) as LWWMap<number>;
    return buffer(
      JSON.stringify({
        keys: kv!.keys(statePrefix()).length,
        listed: store!.list(NS).length,
        evenValue: even.value(),
        oddTemp: odd.get("temp"),
        pending: store!.pendingOps,
        flashCheck: kv!.check(),
      }),
    );
  },
};
