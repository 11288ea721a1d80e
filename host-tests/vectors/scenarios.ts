// Fixed scenarios behind the checked-in test vectors: the same operations,
// on the same simulated clock, must give the same bytes on every engine and
// in every future version of lichen that reads format 1.
import { AWMap, GCounter, GSet, Hlc, LWWMap, LWWRegister, LWWSet, MVRegister, ORSet, PNCounter, TwoPSet, type Crdt } from "../../src/index.js";

export interface Scenario {
  readonly name: string;
  /** Builds replica "n1" (and a peer "n2" whose version the delta is made for). */
  build(clock: () => Hlc): { n1: Crdt; n2: Crdt };
  fromBytes(bytes: Uint8Array): Crdt;
}

/** A clock that reads 2026-01-01T00:00:00Z and advances 1 ms per reading. */
export function fixedClock(): () => Hlc {
  let ms = Date.UTC(2026, 0, 1);
  return () => new Hlc({ wallClock: () => ms++ });
}

function synced<T extends Crdt>(a: T, b: T): void {
  b.applyDelta(a.delta(b.version()));
  a.applyDelta(b.delta(a.version()));
}

export const SCENARIOS: readonly Scenario[] = [
  {
    name: "GCounter",
    fromBytes: (b) => GCounter.fromBytes(b),
    build: (clock) => {
      const n1 = new GCounter("n1", { clock: clock() });
      const n2 = new GCounter("n2", { clock: clock() });
      n2.incrementBy(7);
      synced(n1, n2);
      n1.increment();
      n1.incrementBy(300);
      return { n1, n2 };
    },
  },
  {
    name: "PNCounter",
    fromBytes: (b) => PNCounter.fromBytes(b),
    build: (clock) => {
      const n1 = new PNCounter("n1", { clock: clock() });
      const n2 = new PNCounter("n2", { clock: clock() });
      n2.decrementBy(3);
      synced(n1, n2);
      n1.incrementBy(10);
      n1.decrement();
      return { n1, n2 };
    },
  },
  {
    name: "LWWRegister",
    fromBytes: (b) => LWWRegister.fromBytes(b),
    build: (clock) => {
      const c = clock();
      const n1 = new LWWRegister("n1", { clock: c });
      const n2 = new LWWRegister("n2", { clock: clock() });
      n2.set("old");
      synced(n1, n2);
      n1.set({ celsius: 21.5, ok: true, tags: ["a", "b"] });
      return { n1, n2 };
    },
  },
  {
    name: "MVRegister",
    fromBytes: (b) => MVRegister.fromBytes(b),
    build: (clock) => {
      const n1 = new MVRegister("n1", { clock: clock() });
      const n2 = new MVRegister("n2", { clock: clock() });
      n1.set("left");
      n2.set("right");
      synced(n1, n2);
      return { n1, n2 };
    },
  },
  {
    name: "GSet",
    fromBytes: (b) => GSet.fromBytes(b),
    build: (clock) => {
      const n1 = new GSet("n1", { clock: clock() });
      const n2 = new GSet("n2", { clock: clock() });
      n2.add(42);
      synced(n1, n2);
      n1.add("x");
      n1.add({ id: 1 });
      return { n1, n2 };
    },
  },
  {
    name: "TwoPSet",
    fromBytes: (b) => TwoPSet.fromBytes(b),
    build: (clock) => {
      const n1 = new TwoPSet("n1", { clock: clock() });
      const n2 = new TwoPSet("n2", { clock: clock() });
      n1.add("a");
      n1.add("b");
      synced(n1, n2);
      n1.remove("a");
      return { n1, n2 };
    },
  },
  {
    name: "ORSet",
    fromBytes: (b) => ORSet.fromBytes(b),
    build: (clock) => {
      const n1 = new ORSet("n1", { clock: clock() });
      const n2 = new ORSet("n2", { clock: clock() });
      n1.add("a");
      n1.add("b");
      n2.add("c");
      synced(n1, n2);
      n1.remove("c");
      n1.add("d");
      return { n1, n2 };
    },
  },
  {
    name: "LWWSet",
    fromBytes: (b) => LWWSet.fromBytes(b),
    build: (clock) => {
      const n1 = new LWWSet("n1", { clock: clock() });
      const n2 = new LWWSet("n2", { clock: clock() });
      n1.add("a");
      n2.add("b");
      synced(n1, n2);
      n1.remove("b");
      return { n1, n2 };
    },
  },
  {
    name: "LWWMap",
    fromBytes: (b) => LWWMap.fromBytes(b),
    build: (clock) => {
      const n1 = new LWWMap("n1", { clock: clock() });
      const n2 = new LWWMap("n2", { clock: clock() });
      n2.set("humidity", 40);
      n2.set("__proto__", "plain key");
      synced(n1, n2);
      n1.set("temp", 21.5);
      n1.delete("humidity");
      return { n1, n2 };
    },
  },
  {
    // one replica id: the compact body names no replica index
    name: "LWWMap, one writer",
    fromBytes: (b) => LWWMap.fromBytes(b),
    build: (clock) => {
      const c1 = clock();
      const n1 = new LWWMap("n1", { clock: c1 });
      const n2 = new LWWMap("n2", { clock: clock() });
      n1.set("temp", 20);
      synced(n1, n2);
      n1.set("temp", 21.5);
      n1.set("hum", 40);
      n1.set("rssi", -70);
      n1.delete("rssi");
      return { n1, n2 };
    },
  },
  {
    name: "AWMap",
    fromBytes: (b) => AWMap.fromBytes(b),
    build: (clock) => {
      const c1 = clock();
      const n1 = new AWMap("n1", { clock: c1 });
      const n2 = new AWMap("n2", { clock: clock() });
      n2.update("events", PNCounter, (p) => p.incrementBy(2));
      synced(n1, n2);
      n1.update("events", PNCounter, (p) => p.decrement());
      n1.update("alarms", ORSet, (s) => s.add("overheat"));
      n1.update("config", AWMap, (m) => m.update("mode", LWWRegister, (r) => r.set("eco")));
      return { n1, n2 };
    },
  },
];
