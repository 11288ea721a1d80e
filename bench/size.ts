// Section 3: the size of the core, minified by esbuild as a device or web build would ship it.

import { gzipSync } from "node:zlib";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { met, type Section } from "./report.js";

const ENTRY = fileURLToPath(new URL("../src/core/index.ts", import.meta.url));
const TARGET_BYTES = 40 * 1024;

async function minified(external: string[]): Promise<Uint8Array> {
  const out = await build({
    entryPoints: [ENTRY],
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
  const gz = (b: Uint8Array): number => gzipSync(b).length;
  return {
    title: "3. Size of the core",
    targets: [{ figure: "core minified, cbor-x external", target: "≤ 40 KB", actual: `${alone.length.toLocaleString("en-US")} bytes`, ok: alone.length <= TARGET_BYTES }],
    tables: [
      {
        title: "src/core/index.ts minified",
        how: "esbuild: bundle, format esm, minify, platform neutral (main fields module, main), target es2022, no source map; gzip by node:zlib at its default level. KB = 1,024 bytes.",
        columns: ["build", "bytes", "gzip bytes", "target", "met?"],
        rows: [
          ["core alone (cbor-x external)", alone.length, gz(alone), `≤ 40 KB (${TARGET_BYTES.toLocaleString("en-US")} bytes)`, met(alone.length <= TARGET_BYTES)],
          ["core with cbor-x bundled", withCbor.length, gz(withCbor), "—", "—"],
        ],
      },
    ],
  };
}
