// The store tests every KvStore backend passes (suite.ts), over FlashKv on the NVS simulation.
// Runs under Node and inside XS.
import { test } from "uvu";
import { FlashKv } from "../../src/store/flash-kv.js";
import { FlashSim } from "../../src/store/flash-sim.js";
import { storeSuite } from "./suite.js";

function flashBackend() {
  const sim = new FlashSim();
  return {
    name: "FlashKv",
    open: () => FlashKv.open(sim),
    // bad bytes under a logical key: a store that writes them as the value, as a fault would leave them
    corrupt: (key: string, bytes: Uint8Array) => FlashKv.open(sim).put(key, bytes),
  };
}

storeSuite(flashBackend());

test.run();
