// Quotas on the documents a peer may create: a flood of ids and documents stops at the quota.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Hlc, LWWMap, TypeTag } from "../../src/index.js";
import { encodeFrame, FrameKind } from "../../src/transport/frames.js";
import { makePolicy } from "../../src/transport/policy.js";
import { ENGINE } from "../engine.js";
import { Fleet, rng, WALL_START } from "../../sim/network/simulator.js";

test("quotas: 100 ids cannot create 20,000 documents (25 ids, 5,000, inside XS: slower)", () => {
  const ids = ENGINE === "xs" ? 25 : 100;
  const fleet = new Fleet(rng(7), { loss: 0, duplicate: 0, maxDelayMs: 20 });
  fleet.policy = makePolicy(); // lichen's default: each id its own documents, 32 at most
  fleet.add("gw", "gateway");
  const clock = new Hlc({ wallClock: () => WALL_START + fleet.time.now() });
  const gw = fleet.peers.get("gw")!.engine;
  for (let i = 0; i < ids; i++) {
    const id = `x${i}`;
    gw.connect(id, "node");
    const m = new LWWMap(id, { clock });
    m.set("k", 1);
    const d = m.delta();
    for (let j = 0; j < 200; j++) gw.receive(id, encodeFrame({ kind: FrameKind.Delta, doc: `ns${j}/${id}`, type: TypeTag.LWWMap, delta: d }));
    gw.disconnect(id); // (gone: the gateway's digests to 100 idle ids would only cost time)
    fleet.run(2000); // the rate limiter lets a burst of 200 through
  }
  const held = gw.documents().length;
  assert.ok(held <= ids * 32, `at most 32 documents per id: ${held}`);
  assert.is(held, ids * 32);
  const quota = fleet.logs.filter((l) => l.event === "quota");
  assert.is(quota.length, ids, "one log line per id");
  assert.is(quota.reduce((n, l) => n + (l.count ?? 0), 0), ids, "counting the first refusal of each");
});

test.run();
