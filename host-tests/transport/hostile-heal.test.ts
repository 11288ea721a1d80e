// Peers that lost their data (a gateway restored from an older backup or on an empty database,
// a node with wiped flash) are detected from the versions exchanged and brought up to date.
// All on simulated time.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { LWWMap, MemoryKv, PNCounter } from "../../src/index.js";
import { fleetOf } from "../../sim/network/simulator.js";

test("self-healing: a gateway restored from an older backup gets back what it lost, without a resend storm", () => {
  const fleet = fleetOf(["n1"]);
  const n1 = fleet.peers.get("n1")!.engine;
  const m = n1.open("readings", "n1", LWWMap);
  for (let i = 0; i < 5; i++) m.set(`k${i}`, i);
  n1.changed("readings", "n1");
  fleet.run(2000);
  const gwKv = fleet.peers.get("gw")!.kv;
  const backup = new Map(gwKv.keys("").map((k) => [k, gwKv.get(k)!]));
  for (let i = 5; i < 10; i++) m.set(`k${i}`, i);
  n1.changed("readings", "n1");
  fleet.run(2000);
  assert.ok(n1.inSync("gw"));
  fleet.crash("gw");
  for (const k of gwKv.keys("")) gwKv.delete(k);
  for (const [k, v] of backup) gwKv.put(k, v);
  fleet.restart("gw", []);
  fleet.link("gw", "n1");
  const sent = fleet.sentBy.get("n1") ?? 0;
  fleet.run(15_000);
  const gw = fleet.peers.get("gw")!.engine;
  assert.ok(gw.get("readings/n1")?.equals(m), "the gateway has every write again");
  assert.ok(n1.inSync("gw"));
  const frames = (fleet.sentBy.get("n1") ?? 0) - sent;
  assert.ok(frames < 40, `no resend storm: ${frames} frames from the node in 15 s`);
});

test("self-healing: a gateway on an empty database gets everything back", () => {
  const fleet = fleetOf(["n1"]);
  const n1 = fleet.peers.get("n1")!.engine;
  const m = n1.open("readings", "n1", LWWMap);
  m.set("a", 1);
  n1.changed("readings", "n1");
  fleet.run(2000);
  const gwKv = fleet.peers.get("gw")!.kv;
  fleet.crash("gw");
  for (const k of gwKv.keys("")) gwKv.delete(k);
  fleet.restart("gw", []);
  fleet.link("gw", "n1");
  const sent = fleet.sentBy.get("n1") ?? 0;
  fleet.run(15_000);
  assert.ok(fleet.peers.get("gw")!.engine.get("readings/n1")?.equals(m));
  assert.ok((fleet.sentBy.get("n1") ?? 0) - sent < 40);
});

test("self-healing: a node with wiped flash learns its own events back before it writes again", () => {
  const fleet = fleetOf(["n1"]);
  let n1 = fleet.peers.get("n1")!.engine;
  const c = n1.open("events", "n1", PNCounter); // the firmware's counter, as the simulator reopens it at boot
  c.incrementBy(50);
  n1.changed("events", "n1");
  fleet.run(2000);
  const gw = fleet.peers.get("gw")!.engine;
  assert.is((gw.get("events/n1") as PNCounter).value(), 50);
  fleet.crash("n1");
  const kv = fleet.peers.get("n1")!.kv as MemoryKv;
  for (const k of kv.keys("")) kv.delete(k);
  let recovered = 0;
  fleet.options.set("n1", { onRecovered: () => recovered++ });
  fleet.restart("n1", []);
  n1 = fleet.peers.get("n1")!.engine;
  assert.ok(n1.recovering, "an empty store: its own events may be elsewhere");
  const again = n1.open("events", "n1", PNCounter);
  fleet.link("n1", "gw");
  fleet.run(5000);
  assert.not.ok(n1.recovering);
  assert.is(recovered, 1);
  assert.is(again.value(), 50, "it learned its count back");
  again.increment();
  n1.changed("events", "n1");
  fleet.run(5000);
  assert.is((gw.get("events/n1") as PNCounter).value(), 51, "its new increment is not lost under the old count");
  assert.ok(n1.inSync("gw"));
});

test("self-healing: a node never hands a wiped gateway back the gateway's own events, and gets its later writes", () => {
  const fleet = fleetOf(["n1"]);
  const gw0 = fleet.peers.get("gw")!.engine;
  gw0.open("fleet", "limits", LWWMap).set("interval", 60);
  gw0.changed("fleet", "limits");
  const n1 = fleet.peers.get("n1")!.engine;
  const mode = n1.open("fleet", "limits", LWWMap);
  fleet.run(3000);
  assert.is(mode.get("interval"), 60);
  const gwKv = fleet.peers.get("gw")!.kv;
  fleet.crash("gw");
  for (const k of gwKv.keys("")) gwKv.delete(k);
  fleet.restart("gw", []);
  fleet.link("gw", "n1");
  fleet.run(10_000);
  const refused = fleet.logs.filter((l) => l.peer === "n1" && ["forged", "forbidden", "refused"].includes(l.event));
  assert.equal(refused, [], "the node sent nothing of the gateway's");
  const gw = fleet.peers.get("gw")!.engine;
  assert.not.ok((gw.get("fleet/limits") as LWWMap<number> | undefined)?.get("interval") !== undefined, "the gateway's lost write stays lost to it");
  gw.open("fleet", "limits", LWWMap).set("interval", 30);
  gw.changed("fleet", "limits");
  fleet.run(5000);
  assert.is(mode.get("interval"), 30, "the gateway's new write reaches the node");
});

test.run();
