// Regenerates core.json from the scenarios. Run only when the format changes
// on purpose (and bump FORMAT_VERSION then): `tsx host-tests/vectors/generate.ts`.
import { writeFileSync } from "node:fs";
import { toHex } from "../../src/core/hex.js";
import { SCENARIOS, fixedClock } from "./scenarios.js";

const vectors = SCENARIOS.map((s) => {
  const { n1, n2 } = s.build(fixedClock());
  return {
    type: s.name,
    value: n1.value(),
    version: n1.version().toJSON(),
    state: toHex(n1.toBytes()),
    deltaSince: n2.version().toJSON(),
    delta: toHex(n1.delta(n2.version())),
  };
});
writeFileSync(new URL("./core.json", import.meta.url), JSON.stringify(vectors, null, 2) + "\n");
console.log(`wrote ${vectors.length} vectors`);
