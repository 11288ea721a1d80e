/**
 * The build: `npm run build` (= `tsx scripts/build.ts`).
 *
 *   tsx scripts/build.ts [--check-manifest]
 *
 * 1. Node: `dist/`, one ESM file per source file of src/ and targets/rpi/ (NODE_SOURCE_DIRS), at
 *    the same path under dist/ (src/index.ts → dist/src/index.js, targets/rpi/cli.ts →
 *    dist/targets/rpi/cli.js), by esbuild (platform node, target es2022, no bundling: imports
 *    stay as written, packages are resolved by Node at run time), plus `.d.ts` declarations from
 *    `tsc -p tsconfig.build.json`, plus the files the gateway reads at run time (NODE_ASSETS: the
 *    dashboard's page). package.json "exports" points at dist/src/index.js ("lichen", the device
 *    half) and dist/targets/rpi/node.js ("lichen/node"); its "bin", bin/lichen.js, runs
 *    dist/targets/rpi/cli.js. `import "lichen"` works from the repo too.
 *
 * 2. Moddable: `build/moddable/`, the device modules transpiled FILE BY FILE (esbuild transform:
 *    top-level `const` stays `const`, which a bundle would turn into `var`), with every import
 *    specifier rewritten into Moddable's module namespace:
 *
 *      src/core/codec.ts        → build/moddable/core/codec.js     specifier "lichen/core/codec"
 *      import "./errors.js"     → import "lichen/core/errors"
 *
 *    Specifiers are absolute (bare) module names, never relative: a bare name is looked up as it
 *    is among the modules the manifest lists, on every XS version. (Recent XS also resolves
 *    "./x" and "./x.js" against the importing module's name, see fxFindModule in
 *    xs/platforms/mc/xsHosts.c and xs/tools/xsl.c of the Moddable SDK; we do not depend on it.)
 *
 * 3. manifest.json (the library's Moddable manifest, at the repo root) is generated from the same
 *    module list: "modules" maps each specifier to its file under ./build/moddable (paths without
 *    extension, relative to the manifest), and "preload" lists every one of them. By default the
 *    build rewrites manifest.json when it differs; with --check-manifest it fails instead. When
 *    device modules import Moddable SDK modules ("mqtt", "preference", "flash"), "include" lists
 *    the SDK manifests that bring them in (SDK_MANIFESTS).
 *
 * Device modules (DEVICE_SOURCE_DIRS): every .ts file under src/core, src/store and src/transport
 * except the Node-only ones (`sqlite.ts`, `*-node.ts`; the rule of scripts/check-device-rules.ts),
 * plus whatever they import relatively. The list grows by itself as files are added.
 *
 * Device modules import nothing but each other and the Moddable SDK's modules: no npm package
 * ships to the device (the CBOR codec is lichen's own, src/core/cbor.ts).
 *
 * 4. The ESP32 firmware (`npm run build` only; `build()` with `esp32Dir`): `build/esp32/`, the
 *    modules of targets/esp32 transpiled the same way (Node-only files excepted: `sim-node.ts`). targets/esp32/main.ts → build/esp32/main.js, specifier "main";
 *    targets/esp32/x.ts → build/esp32/lichen/x.js, specifier "lichen/esp32/x"; imports of src/
 *    become the library's specifiers ("lichen/core/codec"), which must be among its modules.
 *    targets/esp32/manifest.json (hand-written) maps "main" and "lichen/esp32/*" onto these files
 *    and includes the library's manifest.json; mcconfig consumes the generated JavaScript.
 */
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as acorn from "acorn";
import { build as esbuild, transformSync } from "esbuild";
import { FIRMWARE_DIR, LIBRARY_DEVICE_DIRS, MODDABLE_MODULES, isNodeOnlyFile } from "./check-device-rules.js";
import { isMain } from "../targets/rpi/is-main.js";

// ---------------------------------------------------------------------------------------------
// Configuration

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** Directories compiled into dist/ for Node (the package), relative to the repo root. */
export const NODE_SOURCE_DIRS: readonly string[] = ["src", "targets/rpi"];

/** Single modules outside those directories that the Node build compiles too: the firmware's typed documents, which the gateway uses. */
export const NODE_SOURCE_FILES: readonly string[] = ["targets/esp32/documents.ts"];

/** Files besides the modules that the Node build copies into dist/ at the same path: read at run time. */
export const NODE_ASSETS: readonly string[] = ["targets/rpi/dashboard.html"];

/** Directories whose modules ship to the device (Node-only files excepted). Missing ones are skipped. */
export const DEVICE_SOURCE_DIRS: readonly string[] = LIBRARY_DEVICE_DIRS;

/** The namespace of lichen's modules on Moddable: src/core/codec.ts is "lichen/core/codec". */
export const MODDABLE_NAMESPACE = "lichen";

/** Where the Moddable build goes, relative to the repo root (and to manifest.json). */
export const MODDABLE_OUT = "build/moddable";

/**
 * Manifests of the Moddable SDK that bring in the SDK modules device code may import; the library
 * manifest includes those that its modules import. null: comes with
 * $(MODDABLE)/examples/manifest_base.json, which Moddable apps include. A device module that
 * imports an SDK module missing here fails the build (add the module's manifest here).
 */
export const SDK_MANIFESTS: Readonly<Record<string, string | null>> = {
  mqtt: "$(MODDABLE)/modules/network/mqtt/manifest.json",
  preference: "$(MODDABLE)/modules/files/preference/manifest.json",
  flash: "$(MODDABLE)/modules/files/flash/manifest.json",
  "embedded:storage/key-value": "$(MODDABLE)/modules/io/storage/manifest.json",
  timer: null,
  time: null,
};

const TRANSFORM_TARGET = "es2022";

/** Is `file` (repo-relative or absolute) a device module by the rule above? */
export function isDeviceSource(file: string, root = ROOT): boolean {
  const rel = toPosix(path.relative(root, path.resolve(root, file)));
  if (!/\.ts$/.test(rel) || /\.d\.ts$/.test(rel)) return false;
  if (isNodeOnlyFile(rel)) return false;
  return DEVICE_SOURCE_DIRS.some((dir) => rel.startsWith(`${dir}/`));
}

/** The device modules' sources (repo-relative, posix, sorted): DEVICE_SOURCE_DIRS' files and their relative imports. */
export function listDeviceSources(root = ROOT): string[] {
  const found = new Set<string>();
  for (const dir of DEVICE_SOURCE_DIRS) {
    const abs = path.join(root, dir);
    if (!existsSync(abs)) continue;
    for (const f of walk(abs)) {
      const rel = toPosix(path.relative(root, f));
      if (isDeviceSource(rel, root)) found.add(rel);
    }
  }
  return [...found].sort();
}

/** "src/core/codec.ts" → "lichen/core/codec". */
export function moddableSpecifier(source: string): string {
  const rel = toPosix(source).replace(/^src\//, "").replace(/\.ts$/, "");
  return `${MODDABLE_NAMESPACE}/${rel}`;
}

// ---------------------------------------------------------------------------------------------
// Small helpers

function toPosix(p: string): string {
  return p.split(path.sep).join("/");
}

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

export class BuildError extends Error {
  override name = "BuildError";
}

/** A string literal naming a module, with its position in the code (the quotes included). */
export interface SpecifierRef {
  value: string;
  start: number;
  end: number;
  /** The statement it belongs to (for import/export declarations), or the import() expression. */
  node: acorn.Node;
  dynamic: boolean;
}

/** Every module specifier in `code` (an ES module): static imports and re-exports, and import() calls. */
export function findSpecifiers(code: string, fileName = "module.js"): SpecifierRef[] {
  let ast: acorn.Program;
  try {
    ast = acorn.parse(code, { ecmaVersion: "latest", sourceType: "module" });
  } catch (e) {
    throw new BuildError(`${fileName}: does not parse: ${(e as Error).message}`);
  }
  const refs: SpecifierRef[] = [];
  const literal = (n: acorn.Node & { source?: acorn.Expression | acorn.Literal | null }, dynamic: boolean): void => {
    const s = n.source;
    if (!s) return;
    if (s.type !== "Literal" || typeof s.value !== "string") {
      if (dynamic) throw new BuildError(`${fileName}: import() with a computed specifier cannot be mapped for Moddable`);
      return;
    }
    refs.push({ value: s.value, start: s.start, end: s.end, node: n, dynamic });
  };
  const visit = (node: unknown): void => {
    if (!node || typeof node !== "object") return;
    if (Array.isArray(node)) {
      for (const n of node) visit(n);
      return;
    }
    const n = node as acorn.Node & Record<string, unknown>;
    if (typeof n.type !== "string") return;
    switch (n.type) {
      case "ImportDeclaration":
      case "ExportAllDeclaration":
      case "ExportNamedDeclaration":
        literal(n as never, false);
        break;
      case "ImportExpression":
        literal(n as never, true);
        break;
    }
    for (const key of Object.keys(n)) {
      if (key === "type" || key === "start" || key === "end" || key === "loc" || key === "range") continue;
      const v = n[key];
      if (v && typeof v === "object") visit(v);
    }
  };
  visit(ast.body);
  return refs.sort((a, b) => a.start - b.start);
}

/** Replaces ranges of `code` (non-overlapping). */
function splice(code: string, edits: Array<{ start: number; end: number; text: string }>): string {
  let out = "";
  let at = 0;
  for (const e of [...edits].sort((a, b) => a.start - b.start)) {
    out += code.slice(at, e.start) + e.text;
    at = e.end;
  }
  return out + code.slice(at);
}

function transform(code: string, fileName: string, loader: "ts" | "js"): string {
  try {
    return transformSync(code, {
      loader,
      format: "esm",
      target: TRANSFORM_TARGET,
      sourcefile: fileName,
      // As the typechecker sees it (tsconfig.json): imports stay as written.
      tsconfigRaw: { compilerOptions: { verbatimModuleSyntax: true, useDefineForClassFields: true } },
      logLevel: "silent",
    }).code;
  } catch (e) {
    const errors = (e as { errors?: Array<{ text: string; location?: { line: number; column: number } | null }> }).errors;
    const first = errors?.[0];
    const where = first?.location ? `:${first.location.line}:${first.location.column + 1}` : "";
    throw new BuildError(`${fileName}${where}: does not transpile: ${first?.text ?? (e as Error).message}`);
  }
}

// ---------------------------------------------------------------------------------------------
// The Moddable build

export interface ModdableModule {
  /** The module specifier on the device: "lichen/core/codec". */
  specifier: string;
  /** Where its source comes from (repo-relative, posix): "src/core/codec.ts". */
  source: string;
  /** Its file, relative to the Moddable output dir (posix): "core/codec.js". */
  file: string;
  /** The Moddable SDK modules it imports ("mqtt", "preference", ...), if any. */
  sdkImports?: string[];
}

export interface Manifest {
  /** SDK manifests that bring in the SDK modules lichen's modules import (absent when none). */
  include?: string[];
  modules: Record<string, string>;
  preload: string[];
}

/** Is a bare specifier one of the Moddable SDK's modules (which the app's manifest brings in)? */
export function isModdableSdkModule(specifier: string): boolean {
  return specifier.startsWith("embedded:") || MODDABLE_MODULES.includes(specifier);
}

/** Transpiles lichen's device modules into `outDir`; returns what it wrote, sorted by specifier. */
export function buildModdable(root: string, outDir: string): ModdableModule[] {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const written: ModdableModule[] = [];
  const write = (m: ModdableModule, code: string): void => {
    const dest = path.join(outDir, m.file);
    mkdirSync(path.dirname(dest), { recursive: true });
    writeFileSync(dest, code);
    written.push(m);
  };

  // --- lichen's modules: the device sources and everything they import relatively.
  const srcDir = path.join(root, "src");
  const queue = listDeviceSources(root);
  if (queue.length === 0) throw new BuildError(`no device modules under ${DEVICE_SOURCE_DIRS.join(", ")}`);
  const seen = new Set(queue);
  while (queue.length > 0) {
    const source = queue.shift() as string;
    const abs = path.join(root, source);
    const js = transform(readFileSync(abs, "utf8"), source, "ts");
    const sdkImports = new Set<string>();
    const edits = findSpecifiers(js, source).map((ref) => {
      const spec = ref.value;
      let target: string;
      if (spec.startsWith("./") || spec.startsWith("../")) {
        const resolved = path.resolve(path.dirname(abs), spec.replace(/\.js$/, ".ts"));
        const rel = toPosix(path.relative(root, resolved));
        if (!existsSync(resolved)) throw new BuildError(`${source}: cannot resolve "${spec}" (no ${rel})`);
        if (path.relative(srcDir, resolved).startsWith("..")) throw new BuildError(`${source}: "${spec}" is outside src/`);
        if (isNodeOnlyFile(rel)) throw new BuildError(`${source}: imports the Node-only module ${rel}`);
        if (!seen.has(rel)) {
          seen.add(rel);
          queue.push(rel);
        }
        target = moddableSpecifier(rel);
      } else if (isModdableSdkModule(spec)) {
        sdkImports.add(spec);
        target = spec;
      } else {
        throw new BuildError(`${source}: imports "${spec}", which is neither a device module nor a Moddable SDK module`);
      }
      return { start: ref.start, end: ref.end, text: JSON.stringify(target) };
    });
    const rel = toPosix(path.relative(srcDir, abs)).replace(/\.ts$/, ".js");
    const module: ModdableModule = { specifier: moddableSpecifier(source), source, file: rel };
    if (sdkImports.size > 0) module.sdkImports = [...sdkImports].sort();
    write(module, splice(js, edits));
  }


  return written.sort((a, b) => compareSpecifiers(a.specifier, b.specifier));
}

/** lichen's modules first, then the rest, each by name. */
function compareSpecifiers(a: string, b: string): number {
  const ka = a.startsWith(`${MODDABLE_NAMESPACE}/`) ? 0 : 1;
  const kb = b.startsWith(`${MODDABLE_NAMESPACE}/`) ? 0 : 1;
  return ka - kb || (a < b ? -1 : a > b ? 1 : 0);
}

/** The manifest for these modules: paths relative to the repo root, where manifest.json lives. */
export function manifestFor(modules: readonly ModdableModule[]): Manifest {
  const sorted = [...modules].sort((a, b) => compareSpecifiers(a.specifier, b.specifier));
  const entries: Record<string, string> = {};
  for (const m of sorted) entries[m.specifier] = `./${MODDABLE_OUT}/${m.file.replace(/\.js$/, "")}`;
  const include = new Set<string>();
  for (const m of sorted) {
    for (const sdk of m.sdkImports ?? []) {
      const manifest = SDK_MANIFESTS[sdk];
      if (manifest === undefined) {
        throw new BuildError(`${m.source}: imports the SDK module "${sdk}", whose manifest SDK_MANIFESTS does not name`);
      }
      if (manifest) include.add(manifest);
    }
  }
  const manifest: Manifest = { modules: entries, preload: sorted.map((m) => m.specifier) };
  return include.size > 0 ? { include: [...include].sort(), ...manifest } : manifest;
}

/** What differs between a manifest's text and the one expected, in a few words. */
export function describeManifestDiff(current: string | null, expected: Manifest): string {
  if (current === null) return "it does not exist";
  let have: Partial<Manifest>;
  try {
    have = JSON.parse(current) as Partial<Manifest>;
  } catch {
    return "it is not JSON";
  }
  const diffs: string[] = [];
  const compare = (what: string, got: Record<string, string>, want: Record<string, string>): void => {
    const missing = Object.keys(want).filter((k) => !(k in got));
    const extra = Object.keys(got).filter((k) => !(k in want));
    const changed = Object.keys(want).filter((k) => k in got && got[k] !== want[k]);
    if (missing.length) diffs.push(`${what} lacks ${missing.join(", ")}`);
    if (extra.length) diffs.push(`${what} has ${extra.join(", ")}, which the build does not make`);
    if (changed.length) diffs.push(`${what} maps ${changed.join(", ")} elsewhere`);
  };
  compare("modules", have.modules ?? {}, expected.modules);
  const asRecord = (xs: readonly string[] | undefined): Record<string, string> => Object.fromEntries((xs ?? []).map((x) => [x, x]));
  compare("preload", asRecord(have.preload), asRecord(expected.preload));
  return diffs.length ? diffs.join("; ") : "its text differs from the generated one (order or formatting)";
}

export function renderManifest(m: Manifest): string {
  return `${JSON.stringify(m, null, "\t")}\n`;
}

// ---------------------------------------------------------------------------------------------
// The ESP32 firmware (targets/esp32)

/** The firmware's sources, relative to the repo root. */
export const ESP32_SOURCE_DIR = FIRMWARE_DIR;

/** Where its JavaScript goes by default, relative to the repo root. */
export const ESP32_OUT = "build/esp32";

/** "targets/esp32/node-app.ts" → "lichen/esp32/node-app"; main.ts → "main". */
export function esp32Specifier(source: string): string {
  const name = path.posix.basename(toPosix(source)).replace(/\.ts$/, "");
  return name === "main" ? "main" : `${MODDABLE_NAMESPACE}/esp32/${name}`;
}

/**
 * Transpiles the firmware's modules (targets/esp32/*.ts but the Node-only ones) into `outDir`, file
 * by file, with Moddable specifiers. `library`: the library's modules (buildModdable), which its
 * imports of src/ must name. Returns what it wrote, sorted by specifier.
 */
export function buildEsp32App(root: string, outDir: string, library: readonly ModdableModule[]): ModdableModule[] {
  const srcDir = path.join(root, ESP32_SOURCE_DIR);
  if (!existsSync(srcDir)) return [];
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const known = new Set(library.map((m) => m.specifier));
  const written: ModdableModule[] = [];
  const sources = readdirSync(srcDir)
    .filter((f) => /\.ts$/.test(f) && !/\.d\.ts$/.test(f))
    .map((f) => path.join(srcDir, f))
    .filter((f) => !isNodeOnlyFile(f))
    .sort();
  for (const abs of sources) {
    const source = toPosix(path.relative(root, abs));
    const js = transform(readFileSync(abs, "utf8"), source, "ts");
    const sdkImports = new Set<string>();
    const edits = findSpecifiers(js, source).map((ref) => {
      const spec = ref.value;
      let target: string;
      if (spec.startsWith("./") || spec.startsWith("../")) {
        const resolved = path.resolve(path.dirname(abs), spec.replace(/\.js$/, ".ts"));
        const rel = toPosix(path.relative(root, resolved));
        if (!existsSync(resolved)) throw new BuildError(`${source}: cannot resolve "${spec}" (no ${rel})`);
        if (isNodeOnlyFile(resolved)) throw new BuildError(`${source}: imports the Node-only module ${rel}`);
        if (path.dirname(resolved) === srcDir) target = esp32Specifier(rel);
        else {
          target = moddableSpecifier(rel);
          if (!known.has(target)) throw new BuildError(`${source}: imports ${rel}, which is not among the library's device modules`);
        }
      } else if (isModdableSdkModule(spec)) {
        sdkImports.add(spec);
        target = spec;
      } else {
        throw new BuildError(`${source}: imports "${spec}", which is neither a firmware or library module nor a Moddable SDK module`);
      }
      return { start: ref.start, end: ref.end, text: JSON.stringify(target) };
    });
    const specifier = esp32Specifier(source);
    const file = specifier === "main" ? "main.js" : `lichen/${path.posix.basename(source).replace(/\.ts$/, ".js")}`;
    const m: ModdableModule = { specifier, source, file };
    if (sdkImports.size > 0) m.sdkImports = [...sdkImports].sort();
    const dest = path.join(outDir, file);
    mkdirSync(path.dirname(dest), { recursive: true });
    writeFileSync(dest, splice(js, edits));
    written.push(m);
  }
  return written.sort((a, b) => compareSpecifiers(a.specifier, b.specifier));
}

// ---------------------------------------------------------------------------------------------
// The Node build

function tscBin(root: string): string {
  const req = createRequire(path.join(root, "package.json"));
  const pkg = req.resolve("typescript/package.json");
  const bin = (JSON.parse(readFileSync(pkg, "utf8")) as { bin?: Record<string, string> }).bin?.tsc;
  if (!bin) throw new BuildError("typescript has no tsc binary");
  return path.join(path.dirname(pkg), bin);
}

/** dist/: JavaScript by esbuild, one file per source file, then declarations by tsc, then the assets. Returns the files written (relative to outDir). */
export async function buildNode(root: string, outDir: string): Promise<string[]> {
  rmSync(outDir, { recursive: true, force: true });
  const entryPoints = NODE_SOURCE_DIRS.flatMap((dir) => walk(path.join(root, dir)))
    .filter((f) => /\.ts$/.test(f) && !/\.d\.ts$/.test(f))
    .concat(NODE_SOURCE_FILES.map((f) => path.join(root, f)));
  const result = await esbuild({
    absWorkingDir: root,
    entryPoints,
    outbase: root,
    outdir: outDir,
    bundle: false,
    platform: "node",
    format: "esm",
    target: TRANSFORM_TARGET,
    sourcemap: true,
    tsconfig: path.join(root, "tsconfig.build.json"),
    logLevel: "silent",
    metafile: true,
  });
  if (result.errors.length > 0) throw new BuildError(result.errors.map((e) => e.text).join("\n"));

  const tsc = spawnSync(process.execPath, [tscBin(root), "-p", path.join(root, "tsconfig.build.json"), "--outDir", outDir], {
    cwd: root,
    encoding: "utf8",
  });
  if (tsc.status !== 0) throw new BuildError(`tsc (declarations) failed:\n${tsc.stdout}${tsc.stderr}`);
  for (const asset of NODE_ASSETS) cpSync(path.join(root, asset), path.join(outDir, asset));
  return walk(outDir)
    .map((f) => toPosix(path.relative(outDir, f)))
    .sort();
}

// ---------------------------------------------------------------------------------------------
// Everything

export interface BuildOptions {
  root?: string;
  /** Output of the Node build (default <root>/dist). */
  distDir?: string;
  /** Output of the Moddable build (default <root>/build/moddable). */
  moddableDir?: string;
  /** What to do with <root>/manifest.json: write it when it differs, fail when it differs, or leave it. */
  manifest?: "write" | "check" | "none";
  /** Skip the Node build (dist). */
  skipNode?: boolean;
  /** Also build the ESP32 firmware (targets/esp32) there (the CLI: <root>/build/esp32). */
  esp32Dir?: string;
}

export interface BuildResult {
  distFiles: string[];
  modules: ModdableModule[];
  manifest: Manifest;
  /** What happened to manifest.json. */
  manifestStatus: "written" | "unchanged" | "skipped";
  /** The firmware's modules, when esp32Dir was given. */
  esp32Modules: ModdableModule[];
}

export async function build(opts: BuildOptions = {}): Promise<BuildResult> {
  const root = opts.root ?? ROOT;
  const distDir = opts.distDir ?? path.join(root, "dist");
  const moddableDir = opts.moddableDir ?? path.join(root, MODDABLE_OUT);
  const modules = buildModdable(root, moddableDir);
  const manifest = manifestFor(modules);
  const text = renderManifest(manifest);
  const manifestPath = path.join(root, "manifest.json");
  let manifestStatus: BuildResult["manifestStatus"] = "skipped";
  const mode = opts.manifest ?? "write";
  if (mode !== "none") {
    const current = existsSync(manifestPath) ? readFileSync(manifestPath, "utf8") : null;
    if (current === text) manifestStatus = "unchanged";
    else if (mode === "write") {
      writeFileSync(manifestPath, text);
      manifestStatus = "written";
    } else {
      throw new BuildError(`manifest.json is out of date: ${describeManifestDiff(current, manifest)}; run \`npm run build\` and commit manifest.json`);
    }
  }
  const esp32Modules = opts.esp32Dir === undefined ? [] : buildEsp32App(root, opts.esp32Dir, modules);
  const distFiles = opts.skipNode ? [] : await buildNode(root, distDir);
  return { distFiles, modules, manifest, manifestStatus, esp32Modules };
}

// ---------------------------------------------------------------------------------------------
// CLI

async function main(argv: string[]): Promise<number> {
  let manifest: BuildOptions["manifest"] = "write";
  for (const arg of argv) {
    if (arg === "--check-manifest") manifest = "check";
    else {
      console.error(`usage: tsx scripts/build.ts [--check-manifest]  (unknown argument: ${arg})`);
      return 2;
    }
  }
  const t0 = performance.now();
  let r: BuildResult;
  try {
    r = await build({ manifest, esp32Dir: path.join(ROOT, ESP32_OUT) });
  } catch (e) {
    console.error(`build failed: ${e instanceof BuildError ? e.message : (e as Error).stack}`);
    return 1;
  }
  const js = r.distFiles.filter((f) => f.endsWith(".js")).length;
  const dts = r.distFiles.filter((f) => f.endsWith(".d.ts")).length;
  console.log(`node:     dist/ (${js} .js, ${dts} .d.ts; src/ and targets/rpi/)`);
  const lichen = r.modules.filter((m) => m.specifier.startsWith(`${MODDABLE_NAMESPACE}/`));
  const others = r.modules.filter((m) => !m.specifier.startsWith(`${MODDABLE_NAMESPACE}/`));
  console.log(`moddable: ${MODDABLE_OUT}/ (${lichen.length} lichen modules, ${others.length} cbor-x modules: ${others.map((m) => m.specifier).join(", ")})`);
  console.log(`manifest: manifest.json ${r.manifestStatus} (${r.modules.length} modules, all preloaded)`);
  if (r.esp32Modules.length > 0) console.log(`esp32:    ${ESP32_OUT}/ (${r.esp32Modules.map((m) => m.specifier).join(", ")}; targets/esp32/manifest.json)`);

  // The package resolves through its own "exports", as a user's `import "lichen"` would; the
  // Node half is only loaded (it would open nothing by itself).
  const probe = spawnSync(process.execPath, ["--input-type=module", "-e", `const m = await import("lichen"); const n = await import("lichen/node"); console.log(Object.keys(m).length, Object.keys(n).length)`], {
    cwd: ROOT,
    encoding: "utf8",
  });
  if (probe.status !== 0) {
    console.error(`build failed: import("lichen") or import("lichen/node") does not load from dist/:\n${probe.stderr}`);
    return 1;
  }
  const [device, node] = probe.stdout.trim().split(" ");
  console.log(`check:    import("lichen") → ${device} exports, import("lichen/node") → ${node} exports`);
  console.log(`built in ${Math.round(performance.now() - t0)} ms`);
  return 0;
}

if (isMain(import.meta.url)) process.exitCode = await main(process.argv.slice(2));
