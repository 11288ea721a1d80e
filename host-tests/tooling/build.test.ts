// The build (scripts/build.ts): the Node output in dist/, the Moddable output in build/moddable/
// and the library's manifest.json. Runs under Node only (host-tests/tooling).
//
// The build runs once, into a fresh directory under build/ (so the dist it makes resolves its
// packages from the repo's node_modules), leaving manifest.json alone. One test checks that the committed
// manifest.json is the one the build generates; the others check the generated one.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import * as acorn from "acorn";
import {
  build,
  describeManifestDiff,
  findSpecifiers,
  isModdableSdkModule,
  listDeviceSources,
  MODDABLE_NAMESPACE,
  MODDABLE_OUT,
  renderManifest,
  ROOT,
  type BuildResult,
} from "../../scripts/build.js";

const OUT = (() => {
  mkdirSync(path.join(ROOT, "build"), { recursive: true });
  return mkdtempSync(path.join(ROOT, "build", ".test-"));
})();
const DIST = path.join(OUT, "dist");
const MODDABLE = path.join(OUT, "moddable");

let result: Promise<BuildResult> | undefined;
/** The build, run once for all the tests of this file. */
function built(): Promise<BuildResult> {
  result ??= build({ distDir: DIST, moddableDir: MODDABLE, manifest: "none" });
  return result;
}

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else out.push(p);
  }
  return out;
}

/** The Moddable build's JavaScript files, relative to its directory (posix). */
function moddableFiles(): string[] {
  return walk(MODDABLE)
    .filter((f) => f.endsWith(".js"))
    .map((f) => path.relative(MODDABLE, f).split(path.sep).join("/"))
    .sort();
}

const read = (rel: string): string => readFileSync(path.join(MODDABLE, rel), "utf8");
const committedManifestText = (): string => readFileSync(path.join(ROOT, "manifest.json"), "utf8");

/** `var` anywhere in module scope (it hoists out of blocks), `let` at the top level. */
function mutableModuleBindings(code: string): string[] {
  const ast = acorn.parse(code, { ecmaVersion: "latest", sourceType: "module" });
  const found: string[] = [];
  const names = (d: acorn.VariableDeclaration): string =>
    d.declarations.map((x) => (x.id.type === "Identifier" ? x.id.name : "(pattern)")).join(", ");
  const visit = (node: acorn.Node | null | undefined, top: boolean): void => {
    if (!node) return;
    const n = node as acorn.AnyNode;
    switch (n.type) {
      case "FunctionDeclaration":
      case "FunctionExpression":
      case "ArrowFunctionExpression":
      case "ClassDeclaration":
      case "ClassExpression":
        return; // their own scopes
      case "VariableDeclaration":
        if (n.kind === "var" || (n.kind === "let" && top)) found.push(`${n.kind} ${names(n)}`);
        return;
    }
    for (const key of Object.keys(n) as Array<keyof typeof n>) {
      const v = n[key] as unknown;
      if (key === "type" || !v || typeof v !== "object") continue;
      const children = Array.isArray(v) ? v : [v];
      for (const c of children) if (c && typeof c === "object" && typeof (c as acorn.Node).type === "string") visit(c as acorn.Node, false);
    }
  };
  for (const stmt of ast.body) {
    if (stmt.type === "ExportNamedDeclaration" && stmt.declaration) visit(stmt.declaration, true);
    else visit(stmt, true);
  }
  return found;
}

test.after(() => {
  rmSync(OUT, { recursive: true, force: true });
});

test("the committed manifest.json is the one the build generates", async () => {
  const r = await built();
  assert.ok(r.modules.length > 0);
  const text = committedManifestText();
  const same = text === renderManifest(r.manifest);
  assert.ok(same, `manifest.json is out of date: ${describeManifestDiff(text, r.manifest)}; run \`npm run build\` and commit it`);
});

test("dist/src/index.js loads under Node, exports the public API, and works", async () => {
  await built();
  const dist = (await import(pathToFileURL(path.join(DIST, "src", "index.js")).href)) as typeof import("../../src/index.js");
  const src = await import("../../src/index.js");
  assert.equal(Object.keys(dist).sort(), Object.keys(src).sort());
  for (const name of ["GCounter", "PNCounter", "LWWMap", "ORSet", "Hlc", "VersionVector"]) {
    assert.type((dist as Record<string, unknown>)[name], "function", name);
  }
  const a = new dist.GCounter("node-a");
  const b = new dist.GCounter("gateway-1");
  a.incrementBy(3);
  b.increment();
  b.applyDelta(a.delta(b.version()));
  assert.is(b.value(), 4);
  // The bytes are the same as the sources make.
  const s = new src.GCounter("node-a");
  s.incrementBy(3);
  assert.equal(Array.from(s.delta()), Array.from(a.delta()));
});

test("dist has the JavaScript and .d.ts of both entry points and of the CLI, where package.json points", async () => {
  await built();
  const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
    exports: Record<string, { types: string; import: string }>;
    bin: Record<string, string>;
  };
  assert.equal(Object.keys(pkg.exports).sort(), [".", "./node", "./package.json"]);
  for (const entry of [".", "./node"]) {
    for (const file of [pkg.exports[entry]!.import, pkg.exports[entry]!.types]) {
      assert.ok(file.startsWith("./dist/"), file);
      assert.ok(existsSync(path.join(DIST, file.slice("./dist/".length))), `${entry}: ${file} is built`);
    }
  }
  // the bin runs the compiled CLI, whose gateway serves the dashboard's page from beside it
  assert.match(readFileSync(path.join(ROOT, pkg.bin.lichen!), "utf8"), /"\.\.\/dist\/targets\/rpi\/cli\.js"/);
  for (const f of ["targets/rpi/cli.js", "targets/rpi/gateway.js", "targets/rpi/generate.js", "targets/rpi/dashboard.html"]) assert.ok(existsSync(path.join(DIST, f)), f);
  const node = (await import(pathToFileURL(path.join(DIST, "targets", "rpi", "node.js")).href)) as Record<string, unknown>;
  for (const name of ["SqliteKv", "MqttSync", "startEmbeddedBroker", "startGateway", "gatewayConfig"]) assert.type(node[name], "function", name);
  const counters = readFileSync(path.join(DIST, "src", "core", "counters.d.ts"), "utf8");
  assert.match(counters, /export declare class GCounter\b/);
});

test("lichen's Moddable modules keep module scope const: no top-level var or let", async () => {
  await built();
  const lichen = moddableFiles();
  assert.ok(lichen.length > 0);
  for (const f of lichen) assert.equal(mutableModuleBindings(read(f)), [], f);
});

test("only lichen's own modules ship to the device: no npm package", async () => {
  const r = await built();
  assert.equal(
    r.modules.filter((m) => !m.specifier.startsWith(`${MODDABLE_NAMESPACE}/`)).map((m) => m.specifier),
    [],
  );
});

test("build/moddable has no relative specifier and none ending in .js", async () => {
  await built();
  for (const f of moddableFiles()) {
    for (const ref of findSpecifiers(read(f), f)) {
      assert.not.ok(ref.value.startsWith("."), `${f}: relative specifier "${ref.value}"`);
      assert.not.ok(ref.value.endsWith(".js"), `${f}: specifier "${ref.value}" ends in .js`);
    }
  }
});

test("every specifier in build/moddable names a module that the manifest lists", async () => {
  const { manifest } = await built();
  let count = 0;
  for (const f of moddableFiles()) {
    for (const ref of findSpecifiers(read(f), f)) {
      count++;
      if (isModdableSdkModule(ref.value)) continue; // brought in by the app's manifest
      const target = manifest.modules[ref.value];
      assert.ok(target, `${f}: "${ref.value}" is not in manifest.json's modules`);
      const file = path.join(MODDABLE, `${path.relative(`./${MODDABLE_OUT}`, target)}.js`);
      assert.ok(existsSync(file), `${f}: "${ref.value}" → ${target}, which the build did not make`);
    }
  }
  assert.ok(count > 0);
});

test("the manifest lists exactly the files built, every device source among them, and preloads every module", async () => {
  const r = await built();
  const { manifest } = r;
  const listed = Object.values(manifest.modules).sort();
  // sorted once the ".js" is gone, as `listed` is ("a-b.js" sorts before "a.js", "a" before "a-b")
  const files = moddableFiles()
    .map((f) => `./${MODDABLE_OUT}/${f.replace(/\.js$/, "")}`)
    .sort();
  assert.equal(listed, files);
  assert.equal(new Set(listed).size, listed.length, "two specifiers for one file");
  assert.equal([...manifest.preload].sort(), Object.keys(manifest.modules).sort());
  const specifiers = new Set(r.modules.map((m) => m.specifier));
  for (const source of listDeviceSources()) {
    const spec = `${MODDABLE_NAMESPACE}/${source.replace(/^src\//, "").replace(/\.ts$/, "")}`;
    assert.ok(specifiers.has(spec), `${source} is not built as ${spec}`);
  }
  assert.ok(specifiers.has(`${MODDABLE_NAMESPACE}/core/cbor`));
});

test.run();
