// The test runner's XS bundles: one test file with the test prelude (console, host channel, the
// uvu stand-in that reports every result), in an XS made like the device's after preload, and the
// mapping of XS stack frames back to sources. The bundling itself is sim/xs/bundle.ts.

import { readFile } from "node:fs/promises";
import { SourceMap } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Plugin } from "esbuild";
import { DEVICE_ENTRY_DIRS, isNodeOnlyFile } from "../../scripts/check-device-rules.js";
import { moddableShimsPlugin } from "../../sim/moddable/shims.js";
import { bundleWithInputs, type XsBundle } from "../../sim/xs/bundle.js";
import { deviceCreation, PRELOAD_STACK_SLOTS } from "../../sim/xs/device-worker.js";
import { stackExceptionsOf } from "./stack-exceptions.js";

export type { XsBundle };

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const SHIM = fileURLToPath(new URL("./uvu-shim.ts", import.meta.url));
const XS_RUN = fileURLToPath(new URL("./xs-run.ts", import.meta.url));
const DEVICE_REALM = fileURLToPath(new URL("../../sim/xs/device-realm.ts", import.meta.url));

/** Sources of modules that ship to the device (repo-relative): these are preloaded there. */
const isDeviceModule = (rel: string): boolean => rel.endsWith(".ts") && DEVICE_ENTRY_DIRS.some((d) => rel.startsWith(`${d}/`)) && !isNodeOnlyFile(rel);

/** "uvu" (exactly: not uvu/assert, not uvu/diff) → the reporting shim. */
const uvuShimPlugin: Plugin = {
  name: "uvu-shim",
  setup(b) {
    b.onResolve({ filter: /^uvu$/ }, () => ({ path: SHIM }));
  },
};

/** The predicate's call, granted the test's stack; fast-check gets the preload's stack back after
 * it (returned or thrown), so its generators and shrinker never run under the predicate's limit. */
const grantAround = (call: string): string =>
  `let output;\n\t\t\ttry {\n\t\t\t\tif (typeof lichenDeviceStackHere === "function") lichenDeviceStackHere(__lichenGrantedStackSlots());\n\t\t\t\toutput = ${call};\n\t\t\t} finally {\n\t\t\t\tif (typeof lichenDeviceStack === "function") lichenDeviceStack(${PRELOAD_STACK_SLOTS});\n\t\t\t}`;

/** fast-check in the device worker (sim/xs/device-worker.ts), as test machinery under the code under test:
 * - it reads `setTimeout` and `clearTimeout` when its module loads (`const safeSetTimeout =
 *   setTimeout`), which is a ReferenceError in XS. It calls them only for its `timeout` /
 *   `interruptAfterTimeLimit` options. So its module gets local stand-ins that throw if called; the
 *   global scope stays as XS has it (no setTimeout), for the code under test;
 * - its runner is deeper than the device's stack: `check` (which fc.assert and host-tests/prop.ts
 *   call) gives it the preload's stack back, and each call of a property's predicate (the code under
 *   test) is granted the test's stack (the device's, or its stack-exceptions.ts entry) above fast-check's
 *   frames (lichenDeviceStackHere, from the frame that calls the predicate), and fast-check's own
 *   frames get the preload's stack back once it returned. */
const fastCheckPlugin: Plugin = {
  name: "fast-check-xs",
  setup(b) {
    b.onLoad({ filter: /[\\/]node_modules[\\/]fast-check[\\/]lib[\\/]fast-check\.js$/ }, async (args) => {
      const missing = (name: string): string =>
        `const ${name} = globalThis.${name} ?? function ${name}() { throw new Error("fast-check called ${name}, which XS lacks: do not use its timeout options in device tests"); };`;
      const source = await readFile(args.path, "utf8");
      const patches: [string, string, number][] = [
        ["function check(rawProperty, params) {", `$&\n\tif (typeof lichenDeviceStack === "function") lichenDeviceStack(${PRELOAD_STACK_SLOTS});`, 1],
        ["const output = this.predicate(v);", grantAround("this.predicate(v)"), 1],
        ["const output = await this.predicate(v);", grantAround("await this.predicate(v)"), 1],
      ];
      let patched = source;
      for (const [find, replace, count] of patches) {
        if (patched.split(find).length - 1 !== count) throw new Error(`fast-check changed: ${JSON.stringify(find)} is not in its module ${count} time(s)`);
        patched = patched.replace(find, replace);
      }
      const slots = `import { grantedStackSlots as __lichenGrantedStackSlots } from ${JSON.stringify(SHIM)};`;
      return { contents: `${slots}\n${missing("setTimeout")}\n${missing("clearTimeout")}\n${patched}`, loader: "js" };
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

/** The stack slots each test body (and fast-check predicate) is granted above the harness: the
 * device's (targets/esp32/manifest.json), or LICHEN_DEVICE_STACK's to measure what a test needs. */
export function grantedStackSlots(): number {
  const raw = process.env.LICHEN_DEVICE_STACK;
  if (raw === undefined || raw === "") return deviceCreation().stackSlots;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0 || n >= PRELOAD_STACK_SLOTS) throw new Error(`LICHEN_DEVICE_STACK must be an integer in 1..${PRELOAD_STACK_SLOTS - 1}, got ${JSON.stringify(raw)}`);
  return n;
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
      `import { runXsFile } from ${JSON.stringify(XS_RUN)};`,
      `import { settleAsPreloaded } from ${JSON.stringify(DEVICE_REALM)};`,
      ...deviceModules.map((m, i) => `import * as device${i} from ${JSON.stringify(join(ROOT, m))};`),
      `import ${JSON.stringify(join(ROOT, file))};`,
      `settleAsPreloaded([${deviceModules.map((_, i) => `device${i}`).join(", ")}]);`,
      `runXsFile(${JSON.stringify(file)});`,
    ].join("\n");
  const opts = { define: { __LICHEN_SEED__: seedDefine(), __LICHEN_DEVICE_STACK__: String(grantedStackSlots()), __LICHEN_STACK_EXCEPTIONS__: JSON.stringify(stackExceptionsOf(file)) }, plugins: [uvuShimPlugin, moddableShimsPlugin, fastCheckPlugin, uvuAssertionNamePlugin] };
  const first = await bundleWithInputs(entry([]), opts);
  return (await bundleWithInputs(entry(first.inputs.filter(isDeviceModule).sort()), opts)).bundle;
}

const MACHINERY = /node_modules|sim\/xs\/|host-tests\/runner\/|host-tests\/prop\./;

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
    const src = e.originalSource.replace(/^file:\/\//, "").replace(/^.*?\/(?=(?:host-tests|sim|src|bench|scripts|targets|examples|node_modules)\/)/, "");
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
