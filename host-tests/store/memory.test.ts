// The store layer over MemoryKv, on both engines; coalescing and the clock reservation.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { GCounter, HLC_EPOCH_MS, HLC_LOGICAL_SPAN, LWWMap } from "../../src/index.js";
import { openClock } from "../../src/store/clock-store.js";
import { CLOCK_KEY } from "../../src/store/keys.js";
import { MemoryKv, type EntityView, type KvOp, type KvStore } from "../../src/store/kv.js";
import { StateStore } from "../../src/store/state-store.js";
import { storeSuite } from "./suite.js";

// one MemoryKv stands for one device's storage across "reopens": closing wraps it, not it
function memoryBackend() {
  const data = new MemoryKv();
  const open = (): KvStore => {
    let closed = false;
    const guard = () => {
      if (closed) throw new Error("used after close");
    };
    return {
      get: (k) => (guard(), data.get(k)),
      put: (k, v) => (guard(), data.put(k, v)),
      delete: (k) => (guard(), data.delete(k)),
      keys: (p) => (guard(), data.keys(p)),
      batch: (ops, views) => (guard(), data.batch(ops, views)),
      close: () => void (closed = true),
    };
  };
  return { name: "MemoryKv", open, corrupt: (key: string, bytes: Uint8Array) => data.put(key, bytes) };
}

storeSuite(memoryBackend());

/** Counts the writes that reach a store. */
class CountingKv extends MemoryKv {
  writes = 0;
  override put(key: string, value: Uint8Array): void {
    this.writes++;
    super.put(key, value);
  }
  override batch(ops: readonly KvOp[]): void {
    this.writes++;
    super.batch(ops);
  }
}

test("coalescing: 100 increments cost one write under the device policy, 100 write-through", () => {
  const now = { ms: 0 };
  const kv = new CountingKv();
  const states = new StateStore(kv, { coalesce: { maxOps: 100, maxDelayMs: 5000 }, now: () => now.ms });
  const c = new GCounter("n1");
  for (let i = 0; i < 100; i++) {
    c.increment();
    states.save("counters", "events", c);
  }
  assert.is(kv.writes, 1);
  assert.is(states.pendingOps, 0);
  const through = new CountingKv();
  const direct = new StateStore(through);
  for (let i = 0; i < 100; i++) {
    c.increment();
    direct.save("counters", "events", c);
  }
  assert.is(through.writes, 100);
});

test("views: built only for a store that keeps them, with the keys changed where the caller says", () => {
  const seen: Array<readonly EntityView[] | undefined> = [];
  class ViewsKv extends MemoryKv {
    constructor(readonly keepsViews: boolean) {
      super();
    }
    override batch(ops: readonly KvOp[], views?: readonly EntityView[]): void {
      seen.push(views);
      super.batch(ops, views);
    }
  }
  let values = 0;
  class CountedMap extends LWWMap<number> {
    override value(): { [key: string]: number } {
      values++;
      return super.value();
    }
  }
  const m = new CountedMap("n1");
  m.set("temp", 20);
  m.set("hum", 40);
  new StateStore(new ViewsKv(false)).save("readings", "n1", m);
  assert.equal(seen, [undefined], "a node's flash gets no views");
  assert.is(values, 0, "and no value() is computed for them");
  const states = new StateStore(new ViewsKv(true));
  states.save("readings", "n1", m);
  assert.equal(seen[1], [{ namespace: "readings", id: "n1", type: "LWWMap", value: { hum: 40, temp: 20 } }]);
  states.stage("readings", "n1", m, ["temp"]);
  states.stage("readings", "n1", m, ["hum"]);
  values = 0;
  states.flush();
  const v = seen[2]![0]!;
  assert.equal(v.fields, [["hum", 40], ["temp", 20]], "the keys of every staged change, once each");
  assert.is(values, 0, "no whole value for a change of keys");
  states.stage("readings", "n1", m, ["temp"]);
  states.stage("readings", "n1", m);
  states.flush();
  assert.equal(seen[3]![0]!.value, { hum: 40, temp: 20 }, "a change without keys makes the view whole");
});

test("coalescing: what a power cut loses is bounded by maxOps and maxDelayMs", () => {
  const now = { ms: 0 };
  const kv = new CountingKv();
  const states = new StateStore(kv, { coalesce: { maxOps: 10, maxDelayMs: 1000 }, now: () => now.ms });
  const c = new GCounter("n1");
  for (let i = 0; i < 9; i++) {
    c.increment();
    states.save("counters", "events", c);
  }
  assert.is(kv.writes, 0);
  assert.is(states.pendingOps, 9, "at most maxOps - 1 operations wait");
  // a power cut now loses those 9: the stored state has none of them
  assert.is(new StateStore(kv).load("counters", "events", (b) => GCounter.fromBytes(b)), undefined);
  now.ms += 999;
  states.tick();
  assert.is(kv.writes, 0);
  now.ms += 1;
  states.tick(); // the oldest pending operation is maxDelayMs old
  assert.is(kv.writes, 1);
  assert.is(new StateStore(kv).load("counters", "events", (b) => GCounter.fromBytes(b))?.value(), 9);
  c.increment();
  states.save("counters", "events", c);
  states.flush();
  assert.is(kv.writes, 2);
});

test("clock reservation: after a power cut no timestamp is issued twice, even without a wall clock", () => {
  const kv = new CountingKv();
  const clock = openClock(kv, { wallClock: () => 0, reserveSpan: 100 });
  const issued: number[] = [];
  for (let i = 0; i < 250; i++) issued.push(clock.now());
  assert.is(kv.writes, 3, "one write per 100 timestamps");
  // power cut: everything issued is lost except what was persisted; the device restarts
  const again = openClock(kv, { wallClock: () => 0, reserveSpan: 100 });
  const next = again.now();
  assert.ok(next > Math.max(...issued), `restarted at ${next}, after ${Math.max(...issued)}`);
  kv.put(CLOCK_KEY, new Uint8Array([1, 2, 3]));
  assert.throws(() => openClock(kv), (e: unknown) => (e as { code?: string }).code === "CORRUPT");
  // with a wall clock, the reservation runs ahead by one span at most
  const wall = Date.UTC(2026, 0, 1);
  const kv2 = new MemoryKv();
  const c2 = openClock(kv2, { wallClock: () => wall });
  const t = c2.now();
  assert.is(t, (wall - HLC_EPOCH_MS) * HLC_LOGICAL_SPAN);
});

test.run();
