// esbuild bundling of code for xsnap-worker: an IIFE script (xsnap evaluates scripts, not
// modules), engine-neutral resolution (cbor-x resolves to its plain build, without Node's Buffer;
// Node built-ins are unavailable, so device code that imports one fails to bundle), target es2022,
// `__LICHEN_ENGINE__` defined as "xs". Code that imports Moddable SDK modules is bundled with the
// stand-ins' plugin (../moddable/shims.ts). The simulated ESP32, the benchmarks and the test runner
// (host-tests/runner/xs-bundle.ts) all bundle through `bundleWithInputs`.

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build, type Plugin } from "esbuild";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export interface XsBundle {
  /** The script to evaluate in xsnap-worker. */
  code: string;
  /** Its source map (JSON), for xsStackMapper. */
  map: string;
}

/** Bundle TypeScript/JavaScript module source `entry` (imports resolve from the repo root unless
 * `resolveDir` says otherwise) into a script for xsnap-worker. */
export async function bundleForXs(entry: string, opts: XsBundleOptions = {}): Promise<XsBundle> {
  return (await bundleWithInputs(entry, opts)).bundle;
}

export interface XsBundleOptions {
  resolveDir?: string;
  define?: Record<string, string>;
  /** esbuild plugins: the Moddable stand-ins (../moddable/shims.ts), the test runner's own. */
  plugins?: Plugin[];
}

/** bundleForXs, and the repo-relative paths of the sources that went into the bundle. */
export async function bundleWithInputs(entry: string, opts: XsBundleOptions): Promise<{ bundle: XsBundle; inputs: string[] }> {
  const out = await build({
    stdin: { contents: entry, resolveDir: opts.resolveDir ?? ROOT, sourcefile: "xs-entry.ts", loader: "ts" },
    absWorkingDir: ROOT,
    outfile: join(ROOT, "xs-bundle.js"), // never written (write: false); names the source map's paths
    bundle: true,
    write: false,
    format: "iife",
    platform: "neutral",
    target: "es2022",
    mainFields: ["module", "main"],
    define: { __LICHEN_ENGINE__: '"xs"', ...opts.define },
    plugins: opts.plugins ?? [],
    sourcemap: "external",
    sourcesContent: false,
    logLevel: "silent",
    charset: "utf8",
    metafile: true,
  });
  const map = out.outputFiles.find((f) => f.path.endsWith(".map"));
  const js = out.outputFiles.find((f) => f.path.endsWith(".js"));
  return { bundle: { code: js!.text, map: map?.text ?? "{}" }, inputs: Object.keys(out.metafile.inputs) };
}

