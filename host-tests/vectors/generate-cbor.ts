// Regenerates cbor.json: what cbor-x 1.6 (the codec lichen's wire format was first written with,
// with lichen's options) gives for the edge cases of every item lichen writes. The vectors pin
// lichen's own codec (src/core/cbor.ts) to those bytes on both engines: `tsx host-tests/vectors/generate-cbor.ts`.
import { writeFileSync } from "node:fs";
import { toHex } from "../../src/core/hex.js";
import { Encoder } from "cbor-x";
import { CBOR_CASES, fromDescription, joinRuns, toRuns } from "./cbor-cases.js";

const encoder = new Encoder({ useRecords: false, tagUint8Array: false, variableMapSize: true, mapsAsObjects: false, pack: false, structuredClone: false, bundleStrings: false, useFloat32: 0 } as ConstructorParameters<typeof Encoder>[0]);

const vectors = CBOR_CASES.map(([name, value]) => {
  const cbor = toHex(encoder.encode(fromDescription(value)));
  const runs = toRuns(cbor);
  if (joinRuns(runs) !== cbor) throw new Error(`runs of ${name} do not give its bytes back`);
  return { name, value, cbor: runs };
});
writeFileSync(new URL("./cbor.json", import.meta.url), `[\n${vectors.map((v) => `  ${JSON.stringify(v)}`).join(",\n")}\n]\n`);
console.log(`wrote ${vectors.length} vectors`);
