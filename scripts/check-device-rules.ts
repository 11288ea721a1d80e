/**
 * The device-rules check (part of `npm test`).
 *
 *   tsx scripts/check-device-rules.ts [--root DIR]
 *
 * Everything reachable from the device entry points ships to an ESP32 and is
 * preloaded by Moddable's XS (see "The device rules" in docs/design.md). Each module
 * is transpiled on its own with esbuild (no bundling, so `const` stays `const`),
 * parsed with acorn, and walked once (scripts/device-rules/rules/analyze.ts) while each
 * rule checks what it forbids: one module per rule under scripts/device-rules/rules/,
 * with its id (the `rule` field of a violation) and its description (`--rules` lists them).
 * This file is the driver: it finds the device code of a tree, follows its imports,
 * and prints the violations.
 */
import { readdirSync, readFileSync, statSync, existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { isMain } from "../targets/rpi/is-main.js";
import { analyzeModule } from "./device-rules/rules/analyze.js";
import { DEVICE_ENTRY_DIRS, isNodeOnlyFile, isRelative, specifierKind } from "./device-rules/device-code.js";
import { RULES } from "./device-rules/rules/index.js";
import { importSpecifierMessage, unresolvedImportMessage } from "./device-rules/rules/import.js";
import { nodeOnlyImportMessage, nodeOnlySpecifierMessage } from "./device-rules/rules/node-only.js";
import { formatViolation, type DeviceRulesResult, type ImportRef, type Violation } from "./device-rules/types.js";

export { DEVICE_ENTRY_DIRS, DEVICE_PACKAGES, FIRMWARE_DIR, LIBRARY_DEVICE_DIRS, MODDABLE_MODULES, isNodeOnlyFile } from "./device-rules/device-code.js";
export { RULES } from "./device-rules/rules/index.js";
export { formatViolation, type DeviceRule, type DeviceRulesResult, type ImportRef, type RuleId, type Violation } from "./device-rules/types.js";

/** The violations of a module's non-relative imports (judged without the file system). */
function specifierViolations(imports: readonly ImportRef[], fileName: string): Violation[] {
  const out: Violation[] = [];
  for (const imp of imports) {
    const kind = specifierKind(imp.specifier, fileName);
    const nodeOnly = nodeOnlySpecifierMessage(imp.specifier, kind);
    const other = importSpecifierMessage(imp.specifier, kind);
    if (nodeOnly !== null) out.push({ file: fileName, line: imp.line, column: imp.column, rule: "node-only", message: nodeOnly });
    else if (other !== null) out.push({ file: fileName, line: imp.line, column: imp.column, rule: "import", message: other });
  }
  return out;
}

/** One module's violations and imports. */
function checkModule(code: string, fileName: string): { violations: Violation[]; imports: ImportRef[] } {
  const { violations, imports } = analyzeModule(code, fileName);
  return { violations: [...violations, ...specifierViolations(imports, fileName)], imports };
}

function dedupe(violations: Violation[]): Violation[] {
  const seen = new Set<string>();
  const out: Violation[] = [];
  for (const v of violations) {
    const key = `${v.file}\u0000${v.line}\u0000${v.column}\u0000${v.rule}\u0000${v.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(v);
  }
  return out.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line || a.column - b.column));
}

/**
 * Checks one module's source against the device rules. Relative imports are
 * judged by name only (a specifier naming `sqlite` or `*-node` is Node-only);
 * `checkDeviceRules` resolves them on disk instead.
 */
export function checkSource(code: string, fileName: string): Violation[] {
  const { violations, imports } = checkModule(code, fileName);
  for (const imp of imports) {
    if (isRelative(imp.specifier) && isNodeOnlyFile(imp.specifier)) {
      violations.push({ file: fileName, line: imp.line, column: imp.column, rule: "node-only", message: nodeOnlyImportMessage(imp.specifier) });
    }
  }
  return dedupe(violations);
}

// ---------------------------------------------------------------------------
// The device code of a tree
// ---------------------------------------------------------------------------

function listSourceFiles(dir: string): string[] {
  const out: string[] = [];
  const visit = (d: string): void => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      if (entry.name.startsWith(".") || entry.name === "node_modules") continue;
      const full = path.join(d, entry.name);
      if (entry.isDirectory()) visit(full);
      else if (entry.isFile() && /\.m?ts$/.test(entry.name) && !/\.d\.m?ts$/.test(entry.name)) out.push(full);
    }
  };
  visit(dir);
  return out;
}

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

/** Resolves a relative specifier the way the TypeScript build does (`./x.js` → `./x.ts`). */
function resolveRelative(fromFile: string, spec: string): string | null {
  const target = path.resolve(path.dirname(fromFile), spec);
  const candidates: string[] = [];
  const ext = /\.([cm]?)js$/.exec(target);
  if (ext) {
    const stem = target.slice(0, -ext[0].length);
    candidates.push(`${stem}.${ext[1] ?? ""}ts`, target);
  } else if (/\.[cm]?ts$/.test(target)) {
    candidates.push(target);
  } else {
    candidates.push(`${target}.ts`, `${target}.mts`, `${target}.js`, target, path.join(target, "index.ts"), path.join(target, "index.js"));
  }
  for (const c of candidates) if (isFile(c)) return c;
  return null;
}

/** Checks all device code under `root`: the entry points and every module reachable from them. */
export function runDeviceRules(root: string): DeviceRulesResult {
  const absRoot = path.resolve(root);
  const rel = (p: string): string => path.relative(absRoot, p).split(path.sep).join("/");
  const violations: Violation[] = [];

  const entries: string[] = [];
  for (const dir of DEVICE_ENTRY_DIRS) {
    const abs = path.join(absRoot, dir);
    if (!existsSync(abs)) continue;
    for (const f of listSourceFiles(abs)) if (!isNodeOnlyFile(f)) entries.push(f);
  }
  entries.sort();

  const seen = new Set<string>();
  const queue: string[] = [];
  const enqueue = (f: string): void => {
    const key = path.resolve(f);
    if (seen.has(key)) return;
    seen.add(key);
    queue.push(key);
  };
  for (const e of entries) enqueue(e);

  const modules: string[] = [];
  while (queue.length > 0) {
    const file = queue.shift() as string;
    const name = rel(file);
    modules.push(name);
    const { violations: found, imports } = checkModule(readFileSync(file, "utf8"), name);
    violations.push(...found);
    for (const imp of imports) {
      if (!isRelative(imp.specifier)) continue;
      const resolved = resolveRelative(file, imp.specifier);
      if (resolved === null) {
        violations.push({ file: name, line: imp.line, column: imp.column, rule: "import", message: unresolvedImportMessage(imp.specifier) });
        continue;
      }
      if (isNodeOnlyFile(resolved)) {
        violations.push({ file: name, line: imp.line, column: imp.column, rule: "node-only", message: nodeOnlyImportMessage(imp.specifier, rel(resolved)) });
        continue;
      }
      if (/\.[cm]?[tj]sx?$/.test(resolved)) enqueue(resolved);
    }
  }
  modules.sort();
  return { modules, violations: dedupe(violations) };
}

/** The violations of all device code under `root`. */
export function checkDeviceRules(root: string): Violation[] {
  return runDeviceRules(root).violations;
}

// ---------------------------------------------------------------------------
// CLI
// ---------------------------------------------------------------------------

const USAGE = "usage: tsx scripts/check-device-rules.ts [--root DIR] [--rules]";

function main(argv: string[]): number {
  let root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "--root" && argv[i + 1] !== undefined) {
      root = path.resolve(argv[++i] as string);
    } else if (arg.startsWith("--root=")) {
      root = path.resolve(arg.slice("--root=".length));
    } else if (arg === "--rules") {
      for (const rule of RULES) console.log(`${rule.id}: ${rule.description}`);
      return 0;
    } else {
      console.error(`${USAGE}  (unknown argument: ${arg})`);
      return 2;
    }
  }
  const { modules, violations } = runDeviceRules(root);
  if (modules.length === 0) {
    // A check that checks nothing must not pass: the root is probably wrong.
    console.error(`device-rules: no device modules under ${root} (looked in ${DEVICE_ENTRY_DIRS.join(", ")})`);
    return 2;
  }
  for (const v of violations) console.log(formatViolation(v));
  const n = violations.length;
  console.log(`device-rules: ${modules.length} module${modules.length === 1 ? "" : "s"} checked, ${n} violation${n === 1 ? "" : "s"}`);
  return n === 0 ? 0 : 1;
}

if (isMain(import.meta.url)) process.exitCode = main(process.argv.slice(2));
