// Deltas of any size, one way: 10,000 offline writes of a node cut into deltas that each fit
// the gateway's reassembly limit, each acknowledged before the next (hostile-big: the other way).
// Simulated lossy network, simulated time.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { LWWMap } from "../../src/index.js";
import { ENGINE } from "../engine.js";
import { Fleet, rng } from "../../sim/network/simulator.js";

test("deltas of any size: 10,000 offline writes reach a gateway with 16 KiB of reassembly (10% loss and duplicates; inside XS 3,000, no loss)", () => {
  // inside XS fewer: each delta applied is stored whole, and XS is many times slower
  const noisy = ENGINE === "node" ? 0.1 : 0;
  const writes = ENGINE === "node" ? 10_000 : 3000;
  const fleet = new Fleet(rng(5), { loss: noisy, duplicate: noisy, maxDelayMs: 100 });
  fleet.options.set("gw", { maxReassemblyBytes: 16384 });
  fleet.options.set("n1", { maxReassemblyBytes: 16384 });
  fleet.add("gw", "gateway");
  fleet.add("n1", "node");
  const n1 = fleet.peers.get("n1")!.engine;
  const m = n1.open("readings", "n1", LWWMap);
  for (let i = 0; i < writes; i++) m.set(`key-${i}`, i);
  n1.changed("readings", "n1");
  assert.ok(m.delta().length > 2 * 16384);
  fleet.link("n1", "gw");
  fleet.run(600_000);
  assert.ok(fleet.peers.get("gw")!.engine.get("readings/n1")?.equals(m), `the gateway has all ${writes}`);
  assert.ok(n1.inSync("gw"));
  assert.not.ok(fleet.logs.some((l) => l.event === "frame-error"), "nothing over the reassembly limit");
});

test.run();
