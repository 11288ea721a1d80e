// Section 3: the size of the core, minified by esbuild as a device or web build would ship it.

import { gzipSync } from "node:zlib";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { met, type Section } from "./report.js";

const CORE = fileURLToPath(new URL("../src/core/index.ts", import.meta.url));
const TARGET_BYTES = 40 * 1024;

// The core of the core issue: the types, the clock and the codec, without the sequences (Text,
// Rga) and the registry that names every type; a build that does not import those does not carry them.
const WITHOUT_SEQUENCES = `export { GCounter, PNCounter, LWWRegister, MVRegister, GSet, TwoPSet, ORSet, LWWSet, LWWMap, AWMap,
  Hlc, VersionVector, CausalContext, LichenError, encodeCbor, decodeCbor, TypeTag } from ${JSON.stringify(CORE)};`;

async function minified(external: string[], withSequences = false): Promise<Uint8Array> {
  const out = await build({
    ...(withSequences ? { entryPoints: [CORE] } : { stdin: { contents: WITHOUT_SEQUENCES, resolveDir: fileURLToPath(new URL(".", import.meta.url)), loader: "ts" as const } }),
    bundle: true,
    format: "esm",
    minify: true,
    platform: "neutral",
    mainFields: ["module", "main"], // as the XS bundles: cbor-x resolves to its plain build
    target: "es2022",
    external,
    write: false,
    logLevel: "silent",
  });
  return out.outputFiles[0].contents;
}

export async function sizeSection(): Promise<Section> {
  const alone = await minified(["cbor-x"]);
  const withCbor = await minified([]);
  const all = await minified(["cbor-x"], true);
  const gz = (b: Uint8Array): number => gzipSync(b).length;
  return {
    title: "3. Size of the core",
    targets: [{ figure: "core minified (types, clock, codec; no sequences), cbor-x external", target: "≤ 40 KB", actual: `${alone.length.toLocaleString("en-US")} bytes`, ok: alone.length <= TARGET_BYTES }],
    tables: [
      {
        title: "src/core minified",
        how: "esbuild: bundle, format esm, minify, platform neutral (main fields module, main), target es2022, no source map; gzip by node:zlib at its default level. KB = 1,024 bytes. 'The core' is the counters, registers, sets and maps with the clock, versions and codec (an entry exporting just those, so esbuild leaves the rest out); the last row is all of src/core/index.ts, with Text and Rga and the type registry.",
        columns: ["build", "bytes", "gzip bytes", "target", "met?"],
        rows: [
          ["core (types, clock, codec; no sequences), cbor-x external", alone.length, gz(alone), `≤ 40 KB (${TARGET_BYTES.toLocaleString("en-US")} bytes)`, met(alone.length <= TARGET_BYTES)],
          ["core with cbor-x bundled", withCbor.length, gz(withCbor), "—", "—"],
          ["all of src/core (with Text and Rga), cbor-x external", all.length, gz(all), "—", "—"],
        ],
      },
    ],
  };
}
