// The layout's import rules, checked on the sources: which top-level folder may import which
// (MAY_IMPORT, the one place they are written; README.md's "Layout" describes the same), and no
// cycle between folders (every directory that holds code, e.g. src/core, sim/xs, host-tests/runner).
// An import is any relative specifier of `import`/`export ... from`, `import(...)` and
// `new URL(..., import.meta.url)` naming a file (how the simulators point esbuild at the firmware).
// Runs under Node only (host-tests/tooling).
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { test } from "uvu";
import * as assert from "uvu/assert";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** Top-level folder → the top-level folders its files may import (itself included). Layers, from
 * the bottom: src (the library), targets (the firmware and the gateway), sim (the simulation wing:
 * the XS host platform, the Moddable stand-ins, the network simulator, simulated nodes), then the
 * tools on top of them, and the tests on top of everything. */
const MAY_IMPORT: Readonly<Record<string, readonly string[]>> = Object.freeze({
  src: ["src"],
  targets: ["src", "targets"],
  sim: ["src", "targets", "sim"],
  scripts: ["src", "targets", "sim", "scripts"],
  bench: ["src", "targets", "sim", "bench"],
  examples: ["src", "sim", "examples"],
  bin: ["bin", "dist"],
  "host-tests": ["src", "targets", "sim", "scripts", "bench", "examples", "bin", "host-tests"],
});

const CODE = /\.(?:ts|mts|js|mjs)$/;
const SKIP_DIRS = new Set(["node_modules", "dist", "build", ".git"]);

interface Edge {
  from: string;
  to: string;
  spec: string;
}

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (SKIP_DIRS.has(name) || name.startsWith(".")) continue;
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) sourceFiles(p, out);
    else if (CODE.test(name) && !name.endsWith(".d.ts")) out.push(path.relative(ROOT, p).split(path.sep).join("/"));
  }
  return out;
}

/** The source without its comments (strings are left alone: `//` inside one is kept). */
function stripComments(src: string): string {
  return src.replace(/\/\*[^]*?\*\//g, "").replace(/(^|[^:"'`\\])\/\/[^\n]*/g, "$1");
}

const SPECIFIERS = [
  /\b(?:import|export)\s+(?:type\s+)?[^;'"`]*?\bfrom\s*(['"])([^'"\n]+)\1/g,
  /\bimport\s*(['"])([^'"\n]+)\1/g,
  /\bimport\(\s*(['"])([^'"\n]+)\1\s*\)/g,
  /\bnew URL\(\s*(['"])([^'"\n]+)\1\s*,\s*import\.meta\.url\s*\)/g,
];

/** The repo-relative file a relative specifier of `from` names, or undefined (a directory, a
 * package, a file that does not exist). `.js` names the `.ts` source beside it. */
function resolveSpec(from: string, spec: string): string | undefined {
  if (!spec.startsWith("./") && !spec.startsWith("../")) return undefined;
  const abs = path.resolve(ROOT, path.dirname(from), spec);
  const rel = path.relative(ROOT, abs).split(path.sep).join("/");
  if (rel.startsWith("..")) return undefined;
  if (rel.startsWith("dist/")) return rel; // bin/ runs the compiled CLI
  for (const candidate of [rel, rel.replace(/\.js$/, ".ts"), rel.replace(/\.mjs$/, ".mts")]) {
    if (existsSync(path.join(ROOT, candidate)) && statSync(path.join(ROOT, candidate)).isFile() && CODE.test(candidate)) return candidate;
  }
  return undefined;
}

function edges(): Edge[] {
  const out: Edge[] = [];
  for (const from of sourceFiles(ROOT)) {
    const src = stripComments(readFileSync(path.join(ROOT, from), "utf8"));
    for (const re of SPECIFIERS) {
      for (const m of src.matchAll(re)) {
        const to = resolveSpec(from, m[2]!);
        if (to !== undefined && to !== from) out.push({ from, to, spec: m[2]! });
      }
    }
  }
  return out;
}

const topOf = (file: string): string => (file.includes("/") ? file.slice(0, file.indexOf("/")) : ".");
const dirOf = (file: string): string => path.posix.dirname(file);

/** Imports that MAY_IMPORT forbids, as "from → to". */
export function forbiddenImports(all: readonly Edge[]): string[] {
  const bad: string[] = [];
  for (const e of all) {
    const allowed = MAY_IMPORT[topOf(e.from)];
    if (allowed === undefined) bad.push(`${e.from} → ${e.to} (${topOf(e.from)}/ is not in the table)`);
    else if (!allowed.includes(topOf(e.to))) bad.push(`${e.from} → ${e.to}`);
  }
  return bad;
}

/** Cycles between directories: each as "a → b → ... → a", with one import for each step. */
export function folderCycles(all: readonly Edge[]): string[] {
  const graph = new Map<string, Map<string, Edge>>();
  for (const e of all) {
    const a = dirOf(e.from);
    const b = dirOf(e.to);
    if (a === b) continue;
    if (!graph.has(a)) graph.set(a, new Map());
    if (!graph.get(a)!.has(b)) graph.get(a)!.set(b, e);
  }
  // Tarjan's strongly connected components: a component of more than one directory is a cycle
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v)?.keys() ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1) {
        const members = new Set(comp);
        const steps = comp
          .sort()
          .flatMap((a) => [...(graph.get(a) ?? new Map<string, Edge>())].filter(([b]) => members.has(b)).map(([b, e]) => `${a} → ${b} (${e.from} imports ${e.spec})`));
        cycles.push(`{${comp.join(", ")}}: ${steps.join("; ")}`);
      }
    }
  };
  for (const v of [...graph.keys()].sort()) if (!idx.has(v)) visit(v);
  return cycles;
}

const ALL = edges();

test("the scan sees the imports it checks (a scanner that finds nothing would pass anything)", () => {
  const has = (from: string, to: string): boolean => ALL.some((e) => e.from === from && e.to === to);
  assert.ok(ALL.length > 500, `only ${ALL.length} imports found`);
  assert.ok(has("src/store/state-store.ts", "src/core/errors.ts"), "a static import");
  assert.ok(has("sim/esp32/sim-node.ts", "targets/esp32/main.ts"), "a new URL(..., import.meta.url) reference");
  assert.ok(has("host-tests/runner/node-child.ts", "host-tests/runner/uvu-shim.ts"), "new URL of a test stand-in");
  assert.ok(has("bin/lichen.js", "dist/targets/rpi/cli.js") || !existsSync(path.join(ROOT, "dist")), "bin → dist once built");
});

test("the rules catch what they forbid (made-up imports)", () => {
  const made = (from: string, to: string): Edge => ({ from, to, spec: to });
  assert.equal(forbiddenImports([made("scripts/x.ts", "host-tests/y.ts"), made("src/core/a.ts", "targets/esp32/b.ts"), made("sim/a.ts", "src/b.ts")]), ["scripts/x.ts → host-tests/y.ts", "src/core/a.ts → targets/esp32/b.ts"]);
  const cycles = folderCycles([made("targets/esp32/a.ts", "sim/esp32/b.ts"), made("sim/esp32/b.ts", "targets/esp32/c.ts"), made("sim/xs/a.ts", "src/core/b.ts")]);
  assert.is(cycles.length, 1);
  assert.ok(cycles[0]!.startsWith("{sim/esp32, targets/esp32}") || cycles[0]!.startsWith("{targets/esp32, sim/esp32}"), cycles[0]);
});

test("nothing outside host-tests/ imports host-tests/, and each folder imports only the layers below it", () => {
  assert.equal(forbiddenImports(ALL), []);
});

test("no cycles between folders, nor between top-level folders", () => {
  assert.equal(folderCycles(ALL), []);
  const top = (file: string): string => `${topOf(file)}/-`;
  assert.equal(folderCycles(ALL.map((e) => ({ ...e, from: top(e.from), to: top(e.to) }))), []);
});

test("the tools run without the test library: scripts/fuzz.ts and sim/ reach no uvu", async () => {
  for (const entry of ["scripts/fuzz.ts", "sim/esp32/sim-node.ts", "sim/network/schedules.ts"]) {
    const out = await build({ entryPoints: [path.join(ROOT, entry)], absWorkingDir: ROOT, bundle: true, write: false, platform: "node", format: "esm", packages: "external", metafile: true, logLevel: "silent" });
    const reached = Object.values(out.metafile.inputs).flatMap((i) => i.imports.map((x) => x.path));
    assert.ok(reached.length > 3, `${entry}: the bundle saw its imports`);
    assert.equal(reached.filter((p) => p === "uvu" || p.startsWith("uvu/")), [], `${entry} imports the test library`);
  }
});

test.run();
