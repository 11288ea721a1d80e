// The runnable examples (examples/*.ts, `npm run example:NAME`): each main() runs quietly and returns what it ended with.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { main as counter } from "../../examples/counter.js";
import { main as todo } from "../../examples/todo.js";
import { main as chat } from "../../examples/chat.js";
import { main as iotSensor } from "../../examples/iot-sensor.js";
import { main as notes } from "../../examples/notes.js";
import { main as tasks } from "../../examples/tasks.js";

test("counter: three PNCounter replicas agree on 9 after delta sync", () => {
  const r = counter();
  assert.equal(r.values, [9, 9, 9]);
  assert.ok(r.bytes > 0);
  assert.ok(r.ok);
});

test("todo: a concurrent add wins over a remove; the later rename wins", () => {
  const r = todo();
  assert.equal(r.items, ["t1", "t2", "t4"]);
  assert.equal(r.titles, { t1: "buy 2 l oat milk", t2: "fix bike", t4: "water plants" });
  assert.ok(r.ok);
});

test("chat: concurrent edits conflict, a write that saw both resolves them", () => {
  const r = chat();
  assert.equal(r.conflict, ["Meet at 6 at the station?", "Meet at 6:30?"]);
  assert.equal(r.resolved, ["Meet at 6:30 at the station?"]);
  assert.ok(r.ok);
});

test("iot-sensor: v1 data is read as v2 after the OTA update, with the defaults", () => {
  const r = iotSensor();
  assert.is(r.versionBefore, 1);
  assert.is(r.versionAfter, 2);
  assert.equal(r.sensor, { name: "greenhouse-temp", reading: 22.25, samples: 13, unit: "celsius", tags: ["indoor", "north-wall"] });
  assert.ok(r.ok);
});

test("notes: two nodes type concurrently through the gateway and converge without interleaving", () => {
  const r = notes();
  assert.is(r.texts.laptop, r.texts.phone);
  assert.is(r.texts.phone, r.texts.gateway);
  assert.ok(r.texts.laptop === "Groceries: milk eggs" || r.texts.laptop === "Groceries: eggs milk", r.texts.laptop);
  assert.ok(r.messages > 0);
  assert.ok(r.ok);
});

test("tasks: schema → generated code → v1 → v2 migration → event log with compaction", async () => {
  const r = await tasks();
  assert.equal(r.generated, ["Task.ts", "index.ts"]);
  assert.is(r.storedVersion, 2);
  assert.equal(r.migrated.t1, { title: "write and test the examples", done: true, tags: ["docs", "examples"], priority: 1 });
  assert.equal(r.events, { appended: 6, droppedByCompaction: 5, afterCompaction: 1, snapshotSeq: 5 });
  assert.ok(r.replayMatches);
  assert.ok(r.ok);
});

test("examples are deterministic: two runs give the same results", async () => {
  assert.equal(notes(), notes());
  assert.equal(counter(), counter());
  assert.equal(await tasks(), await tasks());
});

test.run();
