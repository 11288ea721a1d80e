// esbuild bundling of code for xsnap-worker: an IIFE script (xsnap evaluates scripts, not
// modules), engine-neutral resolution (cbor-x resolves to its plain build, without Node's Buffer;
// Node built-ins are unavailable, so device code that imports one fails to bundle), target es2022,
// `__LICHEN_ENGINE__` defined as "xs" (engine.ts), Moddable SDK modules imported by `*-moddable.ts`
// files replaced by their stand-ins (moddable-shims.ts). Benchmarks reuse `bundleForXs`.

import { readFile } from "node:fs/promises";
import { SourceMap } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build, type Plugin } from "esbuild";
import { isModdableImporter, MODDABLE_SHIMS } from "./moddable-shims.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const SHIM = fileURLToPath(new URL("./uvu-shim.ts", import.meta.url));
const PRELUDE = fileURLToPath(new URL("./prelude.ts", import.meta.url));
const DEVICE_REALM = fileURLToPath(new URL("./device-realm.ts", import.meta.url));

/** Sources of modules that ship to the device (repo-relative): these are preloaded there. */
const DEVICE_MODULE = /^(src\/(core|store|transport)|targets\/esp32)\/[^]*\.ts$/;
const isDeviceModule = (rel: string): boolean => DEVICE_MODULE.test(rel) && !/(^|\/)(sqlite|sim-node)\.ts$|-node\.ts$/.test(rel);

/** "uvu" (exactly: not uvu/assert, not uvu/diff) → the reporting shim. */
const uvuShimPlugin: Plugin = {
  name: "uvu-shim",
  setup(b) {
    b.onResolve({ filter: /^uvu$/ }, () => ({ path: SHIM }));
  },
};

/** A Moddable SDK module imported by a `*-moddable.ts` file → its stand-in (moddable-shims.ts). */
const moddableShimsPlugin: Plugin = {
  name: "moddable-shims",
  setup(b) {
    const names = Object.keys(MODDABLE_SHIMS).map((n) => n.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&"));
    if (names.length === 0) return;
    b.onResolve({ filter: new RegExp(`^(${names.join("|")})$`) }, (args) => (isModdableImporter(args.importer) ? { path: MODDABLE_SHIMS[args.path]! } : undefined));
  },
};

/** fast-check reads `setTimeout` and `clearTimeout` when its module loads (`const safeSetTimeout =
 * setTimeout`), which is a ReferenceError in XS. It calls them only for its `timeout` /
 * `interruptAfterTimeLimit` options. So fast-check's own module gets local stand-ins that throw if
 * called; the global scope stays as XS has it (no setTimeout), for the code under test. */
const fastCheckTimersPlugin: Plugin = {
  name: "fast-check-timers",
  setup(b) {
    b.onLoad({ filter: /[\\/]node_modules[\\/]fast-check[\\/]lib[\\/]fast-check\.js$/ }, async (args) => {
      const missing = (name: string): string =>
        `const ${name} = globalThis.${name} ?? function ${name}() { throw new Error("fast-check called ${name}, which XS lacks: do not use its timeout options in device tests"); };`;
      const source = await readFile(args.path, "utf8");
      return { contents: `${missing("setTimeout")}\n${missing("clearTimeout")}\n${source}`, loader: "js" };
    });
  },
};

/** uvu/assert's Assertion sets `this.name`, which throws once Error.prototype is frozen (as on the
 * device, device-realm.ts): its module gets the name by defineProperty instead, the fix lichen's
 * own LichenError uses. */
const uvuAssertionNamePlugin: Plugin = {
  name: "uvu-assertion-name",
  setup(b) {
    b.onLoad({ filter: /[\\/]node_modules[\\/]uvu[\\/]assert[\\/]index\.mjs$/ }, async (args) => {
      const source = await readFile(args.path, "utf8");
      const patched = source.replace("this.name = 'Assertion';", "Object.defineProperty(this, 'name', { value: 'Assertion', writable: true, configurable: true });");
      if (patched === source) throw new Error("uvu/assert changed: its Assertion no longer sets this.name as expected");
      return { contents: patched, loader: "js" };
    });
  },
};

function seedDefine(): string {
  const raw = process.env.LICHEN_SEED;
  if (raw === undefined || raw === "") return "undefined";
  if (!/^-?\d+$/.test(raw)) throw new Error(`LICHEN_SEED must be an integer, got ${JSON.stringify(raw)}`);
  return raw;
}

export interface XsBundle {
  /** The script to evaluate in xsnap-worker. */
  code: string;
  /** Its source map (JSON), for xsStackMapper. */
  map: string;
}

/** Bundle TypeScript/JavaScript module source `entry` (imports resolve from the repo root unless
 * `resolveDir` says otherwise) into a script for xsnap-worker. `plugins` run before the built-in
 * ones (the ESP32 simulation maps Moddable's modules onto its own stand-ins: esp32-sim.ts). */
export async function bundleForXs(entry: string, opts: { resolveDir?: string; define?: Record<string, string>; plugins?: Plugin[] } = {}): Promise<XsBundle> {
  return (await bundle(entry, opts)).bundle;
}

/** bundleForXs, and the repo-relative paths of the sources that went into the bundle. */
async function bundle(entry: string, opts: { resolveDir?: string; define?: Record<string, string>; plugins?: Plugin[] }): Promise<{ bundle: XsBundle; inputs: string[] }> {
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
    define: { __LICHEN_ENGINE__: '"xs"', __LICHEN_SEED__: seedDefine(), ...opts.define },
    plugins: [...(opts.plugins ?? []), uvuShimPlugin, moddableShimsPlugin, fastCheckTimersPlugin, uvuAssertionNamePlugin],
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

/** Bundle one test file (path from the repo root) with the XS prelude (console, host channel) and
 * the call that runs its suites, in an XS made like the device's after preload (device-realm.ts):
 * built-in names stripped before any module loads; once the module bodies ran, the intrinsics and
 * the exports of every device module in the bundle frozen, then the tests run. "uvu" becomes the
 * shim; the real uvu/assert is bundled as it is (it and its dependencies dequal, diff and kleur
 * work in XS). Two passes: the first finds the device modules the test file reaches. */
export async function bundleTestFileForXs(file: string): Promise<XsBundle> {
  const entry = (deviceModules: readonly string[]): string =>
    [
      `import { runXsFile } from ${JSON.stringify(PRELUDE)};`,
      `import { settleAsPreloaded } from ${JSON.stringify(DEVICE_REALM)};`,
      ...deviceModules.map((m, i) => `import * as device${i} from ${JSON.stringify(join(ROOT, m))};`),
      `import ${JSON.stringify(join(ROOT, file))};`,
      `settleAsPreloaded([${deviceModules.map((_, i) => `device${i}`).join(", ")}]);`,
      `runXsFile(${JSON.stringify(file)});`,
    ].join("\n");
  const first = await bundle(entry([]), {});
  return (await bundle(entry(first.inputs.filter(isDeviceModule).sort()), {})).bundle;
}

const MACHINERY = /node_modules|host-tests\/xs\/|host-tests\/runner\/|host-tests\/prop\./;

/** Returns a function that rewrites XS stack frames of the bundle (`at f (#0:123)`: XS gives the
 * bundle's line, no column) into source locations, and keeps, of each run of such frames, the first
 * one outside the test machinery and dependencies (or the first one, if all are inside). */
export function xsStackMapper(bundle: XsBundle): (text: string) => string {
  let sm: SourceMap | undefined;
  let lines: string[] | undefined;
  const locate = (line: number): string | undefined => {
    sm ??= new SourceMap(JSON.parse(bundle.map));
    lines ??= bundle.code.split("\n");
    const text = lines[line - 1] ?? "";
    const col = text.length - text.trimStart().length; // first token of the line
    const e = sm.findEntry(line - 1, col) as { originalSource?: string; originalLine?: number };
    if (!e.originalSource || e.originalLine === undefined) return undefined;
    const src = e.originalSource.replace(/^file:\/\//, "").replace(/^.*?\/(?=(?:host-tests|src|bench|scripts|targets|node_modules)\/)/, "");
    return `${src}:${e.originalLine + 1}`;
  };
  return (text) => {
    const out: string[] = [];
    let run: string[] = [];
    const flush = (): void => {
      if (run.length) out.push(run.find((f) => !MACHINERY.test(f)) ?? run[0]!);
      run = [];
    };
    for (const l of text.split("\n")) {
      if (/^\s*at \(\)$/.test(l)) continue; // a native frame: no name, no place
      const m = /^(\s*)at (.*?)\s*\(#\d+:(\d+)\)$/.exec(l);
      if (!m) {
        flush();
        out.push(l);
        continue;
      }
      const loc = locate(Number(m[3]));
      run.push(`${m[1]}at ${m[2] ? `${m[2]} ` : ""}(${loc ?? `bundle line ${m[3]}`})`);
    }
    flush();
    return out.join("\n");
  };
}
