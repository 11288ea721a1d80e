// Store tests shared by every KvStore backend: memory and simulated flash
// (run under Node and inside XS) and SQLite (Node only).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { GCounter, LichenError, LWWMap, type Value } from "../../src/index.js";
import { CrdtDb } from "../../src/store/crdt-db.js";
import { EventStore } from "../../src/store/event-store.js";
import { envelopeKey, stateKey } from "../../src/store/keys.js";
import type { KvStore } from "../../src/store/kv.js";
import { StateStore } from "../../src/store/state-store.js";

/** A backend under test: `open` returns the store over the same storage each time (a reopen). */
export interface Backend {
  readonly name: string;
  open(): KvStore;
  /** Overwrites the stored bytes of a logical key behind the store's back (bad bytes in storage). */
  corrupt(key: string, bytes: Uint8Array): void;
}

const code = (c: string) => (e: unknown) => e instanceof LichenError && e.code === c;

const sensorV3 = {
  type: "Sensor",
  version: 3,
  migrations: {
    // v1 {name, reading} → v2 adds unit with a default
    1: (v: Value) => ({ ...(v as object), unit: "celsius" }),
    // v2 → v3 renames reading to value and adds history
    2: (v: Value) => {
      const { reading, ...rest } = v as { reading: number; [k: string]: Value };
      return { ...rest, value: reading, history: [] };
    },
  },
} as const;

export function storeSuite(backend: Backend): void {
  const name = backend.name;

  test(`${name}: CrdtDb saves and loads entities in versioned envelopes`, () => {
    const kv = backend.open();
    const db = new CrdtDb(kv).define(sensorV3);
    db.save("Sensor", "s1", { name: "porch", value: 21.5, unit: "celsius", history: [1, 2] });
    assert.equal(db.load("Sensor", "s1"), { history: [1, 2], name: "porch", unit: "celsius", value: 21.5 });
    assert.is(db.storedVersion("Sensor", "s1"), 3);
    assert.equal(db.list("Sensor"), ["s1"]);
    assert.is(db.load("Sensor", "nope"), undefined);
    db.delete("Sensor", "s1");
    assert.equal(db.list("Sensor"), []);
    assert.throws(() => db.save("Unknown", "x", 1), code("INVALID_ARGUMENT"));
    assert.throws(() => new CrdtDb(kv).define({ type: "Gap", version: 3, migrations: { 1: (v) => v } }), /no migration from version 2/);
    kv.close();
  });

  test(`${name}: CrdtDb migrates lazily, step by step, writes back, and is deterministic`, () => {
    const kv = backend.open();
    // data written by firmware that knew only version 1
    new CrdtDb(kv).define({ type: "Sensor", version: 1 }).save("Sensor", "old", { name: "shed", reading: 7 });
    const steps: number[] = [];
    const db = new CrdtDb(kv).define({
      ...sensorV3,
      migrations: {
        1: (v) => (steps.push(1), sensorV3.migrations[1](v)),
        2: (v) => (steps.push(2), sensorV3.migrations[2](v)),
      },
    });
    assert.is(db.storedVersion("Sensor", "old"), 1);
    const v = db.load("Sensor", "old");
    assert.equal(v, { history: [], name: "shed", unit: "celsius", value: 7 });
    assert.equal(steps, [1, 2], "v1 → v2 → v3, never skipping a step");
    assert.is(db.storedVersion("Sensor", "old"), 3, "the migrated value was written back");
    db.load("Sensor", "old");
    assert.equal(steps, [1, 2], "a written-back entity is not migrated again");
    const after = kv.get(envelopeKey("Sensor", "old"))!;
    kv.close();
    // another replica migrating the same stored bytes gets the same bytes
    const kv2 = backend.open();
    new CrdtDb(kv2).define({ type: "Sensor", version: 1 }).save("Sensor", "twin", { name: "shed", reading: 7 });
    new CrdtDb(kv2).define(sensorV3).load("Sensor", "twin");
    assert.equal(kv2.get(envelopeKey("Sensor", "twin")), after);
    kv2.close();
  });

  test(`${name}: CrdtDb refuses a newer schema and leaves its bytes untouched`, () => {
    const kv = backend.open();
    new CrdtDb(kv).define({ ...sensorV3, version: 4, migrations: { ...sensorV3.migrations, 3: (v: Value) => v } }).save("Sensor", "new", { name: "x" });
    const before = kv.get(envelopeKey("Sensor", "new"));
    assert.throws(() => new CrdtDb(kv).define(sensorV3).load("Sensor", "new"), code("UNSUPPORTED_VERSION"));
    assert.equal(kv.get(envelopeKey("Sensor", "new")), before);
    kv.close();
  });

  test(`${name}: bad bytes in storage give a clear error, and the other keys stay readable`, () => {
    const kv = backend.open();
    const db = new CrdtDb(kv).define(sensorV3);
    db.save("Sensor", "good", { name: "ok", value: 1, unit: "c", history: [] });
    db.save("Sensor", "bad", { name: "doomed", value: 1, unit: "c", history: [] });
    const states = new StateStore(kv);
    const c = new GCounter("n1");
    c.incrementBy(3);
    states.save("counters", "c1", c);
    states.save("counters", "c2", c);
    kv.close();
    backend.corrupt(envelopeKey("Sensor", "bad"), new Uint8Array([0xff, 0x00, 0x13]));
    backend.corrupt(stateKey("counters", "c2"), new Uint8Array([0x83, 0x01]));
    const kv2 = backend.open();
    const db2 = new CrdtDb(kv2).define(sensorV3);
    assert.throws(() => db2.load("Sensor", "bad"), code("CORRUPT"));
    assert.equal(db2.load("Sensor", "good"), { history: [], name: "ok", unit: "c", value: 1 });
    const states2 = new StateStore(kv2);
    assert.throws(() => states2.load("counters", "c2", (b) => GCounter.fromBytes(b)), code("CORRUPT"));
    assert.is(states2.load("counters", "c1", (b) => GCounter.fromBytes(b))?.value(), 3);
    kv2.close();
  });

  test(`${name}: StateStore keeps namespaced CRDT states across a reopen`, () => {
    const kv = backend.open();
    const states = new StateStore(kv);
    const m = new LWWMap<number>("n1");
    m.set("temp", 20);
    states.save("readings", "n1", m);
    states.save("other", "n1", new GCounter("n1"));
    kv.close();
    const kv2 = backend.open();
    const again = new StateStore(kv2);
    assert.equal(again.list("readings"), ["n1"]);
    assert.equal(again.load("readings", "n1", (b) => LWWMap.fromBytes(b))?.value(), { temp: 20 });
    again.delete("readings", "n1");
    assert.equal(again.list("readings"), []);
    assert.equal(again.list("other"), ["n1"]);
    assert.throws(() => again.save("bad/ns", "x", m), code("INVALID_ARGUMENT"));
    kv2.close();
  });

  test(`${name}: EventStore appends, reads ranges, snapshots and compacts`, () => {
    const kv = backend.open();
    const log = new EventStore(kv, "ops");
    for (let i = 1; i <= 12; i++) assert.is(log.append(1000 + i, "n1", new Uint8Array([i])), i);
    assert.equal(log.range(3, 5).map((e) => [e.seq, e.ts, e.node, e.data[0]]), [[3, 1003, "n1", 3], [4, 1004, "n1", 4], [5, 1005, "n1", 5]]);
    const dropped = log.compact(8, new Uint8Array([8, 8]));
    assert.is(dropped, 8);
    assert.equal(log.snapshot(), { seq: 8, state: new Uint8Array([8, 8]) });
    assert.equal(log.range().map((e) => e.seq), [9, 10, 11, 12]);
    kv.close();
    const reopened = new EventStore(backend.open(), "ops");
    assert.is(reopened.lastSeq, 12);
    assert.is(reopened.firstSeq, 9);
    assert.is(reopened.append(2000, "n2", new Uint8Array(0)), 13);
    assert.is(reopened.truncate(12), 3);
    assert.equal(reopened.range().map((e) => e.seq), [12, 13]);
    assert.throws(() => reopened.saveSnapshot(99, new Uint8Array(0)), code("INVALID_ARGUMENT"));
    assert.throws(() => reopened.append(-1, "n1", new Uint8Array(0)), code("INVALID_ARGUMENT"));
  });
}
