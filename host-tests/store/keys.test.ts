// The KvStore key layout (src/store/keys.ts) is part of the stored format: these are the exact keys
// that stores written before keys.ts existed hold, and they must read back. This file pins them,
// so it is the one test that writes the layout out (host-tests/tooling/one-place.node.test.ts).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { GCounter } from "../../src/core/counters.js";
import { LichenError } from "../../src/core/errors.js";
import { CrdtDb } from "../../src/store/crdt-db.js";
import { EventStore } from "../../src/store/event-store.js";
import {
  CLOCK_KEY,
  envelopeKey,
  envelopePrefix,
  eventKey,
  eventPrefix,
  parseEnvelopeKey,
  parseEventSeq,
  parseLogName,
  parseStateKey,
  parseTailKey,
  snapshotKey,
  stateKey,
  statePrefix,
  storedEnvelopes,
  storedLogs,
  storedStates,
  storedTails,
  tailKey,
  tailPrefix,
  MAX_TAIL_SEQ,
} from "../../src/store/keys.js";
import { MemoryKv } from "../../src/store/kv.js";
import { StateStore } from "../../src/store/state-store.js";

test("the keys are the stored format's, byte for byte", () => {
  assert.is(stateKey("readings", "n1"), "s/readings/n1");
  assert.is(stateKey("readings", "a/b"), "s/readings/a/b");
  assert.is(statePrefix(), "s/");
  assert.is(statePrefix("readings"), "s/readings/");
  assert.is(envelopeKey("Sensor", "s1"), "d/Sensor/s1");
  assert.is(envelopePrefix(), "d/");
  assert.is(envelopePrefix("Sensor"), "d/Sensor/");
  assert.is(eventPrefix("readings"), "e/readings/");
  assert.is(eventKey("readings", 1), "e/readings/00000000001");
  assert.is(eventKey("readings", 36), "e/readings/00000000010");
  assert.is(eventKey("readings", Number.MAX_SAFE_INTEGER), "e/readings/" + Number.MAX_SAFE_INTEGER.toString(36).padStart(11, "0"));
  assert.is(snapshotKey("readings"), "e/readings~snapshot");
  assert.is(CLOCK_KEY, "c/clock");
});

test("keys parse back; keys of another layout or a bad name do not", () => {
  assert.equal(parseStateKey("s/readings/a/b"), ["readings", "a/b"]);
  assert.equal(parseEnvelopeKey("d/Sensor/s1"), ["Sensor", "s1"]);
  for (const k of ["s/", "s/readings", "s/readings/", "s/a b/x", "d/Sensor/s1", "x/readings/n1"]) assert.is(parseStateKey(k), undefined, k);
  assert.is(parseEventSeq("readings", eventKey("readings", 12345)), 12345);
  assert.is(parseEventSeq("readings", "e/readings/"), undefined);
  assert.is(parseEventSeq("readings", "e/other/00000000001"), undefined);
  assert.is(parseLogName(eventKey("a.b", 3)), "a.b");
  assert.is(parseLogName(snapshotKey("a.b")), "a.b");
  assert.is(parseLogName("s/readings/n1"), undefined);
  assert.ok(eventKey("l", 35) < eventKey("l", 36) && eventKey("l", 36) < eventKey("l", 1296), "key order is sequence order");
});

test("the builders check names and ids (INVALID_ARGUMENT)", () => {
  const invalid = (fn: () => unknown): void => {
    try {
      fn();
      assert.unreachable("accepted");
    } catch (e) {
      assert.ok(e instanceof LichenError && e.code === "INVALID_ARGUMENT", String(e));
    }
  };
  invalid(() => stateKey("a b", "n1"));
  invalid(() => stateKey("readings", ""));
  invalid(() => stateKey("readings", "a\u0000"));
  invalid(() => envelopeKey("Sensor", "x".repeat(161)));
  invalid(() => eventPrefix("a/b"));
  invalid(() => snapshotKey(""));
});

test("the stores write exactly these keys, and a store holding them reads back", () => {
  const written = new MemoryKv();
  const c = new GCounter("n1");
  c.incrementBy(5);
  new StateStore(written).save("counters", "n1", c);
  new CrdtDb(written).define({ type: "Sensor", version: 1 }).save("Sensor", "s1", { v: 1 });
  const log = new EventStore(written, "counters");
  log.append(1000, "n1", new Uint8Array([1]));
  log.append(1001, "n1", new Uint8Array([2]));
  new EventStore(written, "other").append(1002, "n1", new Uint8Array([3]));
  new EventStore(written, "other").compact(1, new Uint8Array([9]));
  const layout = ["d/Sensor/s1", "e/counters/00000000001", "e/counters/00000000002", "e/other~snapshot", "s/counters/n1"];
  assert.equal(written.keys(), layout);

  // the same bytes under the same keys, put one by one as an older lichen left them
  const kv = new MemoryKv();
  for (const k of layout) kv.put(k, written.get(k)!);
  assert.is(new StateStore(kv).load("counters", "n1", GCounter.fromBytes)!.value(), 5);
  assert.equal(new CrdtDb(kv).define({ type: "Sensor", version: 1 }).load("Sensor", "s1"), { v: 1 });
  const back = new EventStore(kv, "counters");
  assert.equal([back.firstSeq, back.lastSeq, back.count(), back.count(1)], [1, 2, 2, 1]);
  assert.equal(back.range().map((e) => e.ts), [1000, 1001]);
  assert.is(new EventStore(kv, "other").snapshot()!.seq, 1);

  assert.equal(storedStates(kv), [["counters", "n1"]]);
  assert.equal(storedEnvelopes(kv), [["Sensor", "s1"]]);
  assert.equal(storedLogs(kv), ["counters", "other"]);
  assert.equal(EventStore.logs(kv), ["counters", "other"]);
  assert.equal(new StateStore(kv).storedBytes("counters", "n1"), c.toBytes());
});

test("a state's tail: t/<ns>/<id>#<seq in 6 base-36 digits>, parsed from the end", () => {
  assert.is(tailKey("readings", "n1", 1), "t/readings/n1#000001");
  assert.is(tailKey("readings", "a#b/c", 36), "t/readings/a#b/c#000010");
  assert.is(tailKey("readings", "n1", MAX_TAIL_SEQ), "t/readings/n1#zzzzzz");
  assert.is(tailPrefix(), "t/");
  assert.is(tailPrefix("readings"), "t/readings/");
  assert.is(tailPrefix("readings", "n1"), "t/readings/n1#");
  assert.equal(parseTailKey("t/readings/a#b/c#000010"), ["readings", "a#b/c", 36]);
  assert.equal(parseTailKey("t/readings/n1#000001"), ["readings", "n1", 1]);
  for (const k of ["t/readings/n1#000000", "t/readings/n1#00000A", "t/readings/n1-000001", "t/readings/#000001", "t/a b/n1#000001", "s/readings/n1#000001", "t/readings#000001"]) {
    assert.is(parseTailKey(k), undefined, k);
  }
  const kv = new MemoryKv();
  for (const [id, seq] of [["n1", 2], ["n1", 1], ["n1#000001", 1], ["n2", 1]] as const) kv.put(tailKey("r", id, seq), new Uint8Array([seq]));
  kv.put("t/r/junk", new Uint8Array([0]));
  // the prefix of n1's tail also lists n1#000001's: the parse tells them apart
  assert.equal([...storedTails(kv).entries()].map(([k, list]) => [k, list.map(([seq]) => seq)]), [
    [stateKey("r", "n1"), [1, 2]],
    [stateKey("r", "n1#000001"), [1]],
    [stateKey("r", "n2"), [1]],
  ]);
});

test.run();
