// Deltas of any size, the other way: the first full sync of a large document to a node with
// 16 KiB of reassembly, cut into deltas that each fit. Simulated network, simulated time.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { LWWMap } from "../../src/index.js";
import { ENGINE } from "../engine.js";
import { Fleet, rng } from "../../sim/network/simulator.js";

test("deltas of any size: a node with 16 KiB of reassembly gets a 1 MB document in full (256 KB inside XS, slower)", () => {
  const items = ENGINE === "xs" ? 256 : 1000;
  const fleet = new Fleet(rng(6), { loss: 0, duplicate: 0, maxDelayMs: 50 });
  fleet.options.set("n1", { maxReassemblyBytes: 16384 });
  fleet.add("gw", "gateway");
  fleet.add("n1", "node");
  const gw = fleet.peers.get("gw")!.engine;
  const big = gw.open("fleet", "catalog", LWWMap);
  for (let i = 0; i < items; i++) big.set(`item-${i}`, `${i}:`.padEnd(1000, "x"));
  gw.changed("fleet", "catalog");
  assert.ok(big.delta().length > items * 1000);
  const n1 = fleet.peers.get("n1")!.engine;
  const mine = n1.open("fleet", "catalog", LWWMap);
  fleet.link("n1", "gw");
  fleet.run(600_000);
  assert.ok(mine.equals(big), `the node has it all (${mine.size} of ${items} items)`);
  assert.not.ok(fleet.logs.some((l) => l.event === "frame-error"));
});

test.run();
