/**
 * The device-rules check (part of `npm test`).
 *
 *   tsx scripts/check-device-rules.ts [--root DIR]
 *
 * Everything reachable from the device entry points ships to an ESP32 and is
 * preloaded by Moddable's XS (see "The device rules" in docs/design.md). Each module
 * is transpiled on its own with esbuild (no bundling, so `const` stays `const`),
 * parsed with acorn, and walked with acorn-walk plus our own scope tracking.
 *
 * Rules (the `rule` field of a violation):
 * - module-state     module-scope `let`/`var`; module-scope assignments, updates
 *                    and deletes that mutate module state at load time.
 * - module-instance  a Map, Set, WeakMap, WeakSet, WeakRef, typed array,
 *                    ArrayBuffer, SharedArrayBuffer, DataView or Date created at
 *                    load time (module scope, class static initializers and static
 *                    blocks, bodies of functions invoked immediately at load).
 * - dynamic-code     eval, Function(...), new Function(...), WebAssembly.
 * - node-only        Node builtins (`node:*` and bare names), packages off the
 *                    allow-list, Node-only modules of this repo (`sqlite.ts`,
 *                    `*-node.ts`), and Node/web globals XS lacks.
 * - bigint           BigInt(...), bigint literals, BigInt64 arrays and accessors.
 * - top-level-call   calls at load time to anything but pure builtins and locally
 *                    defined functions. Opt out for one call with
 *                    `// device-rules: allow-top-level-call <why>` on the line before.
 * - text-decoder     XS's TextDecoder accepts only the label "utf-8".
 * - module-regexp    a RegExp created at load time (a literal or RegExp(...)): a
 *                    preloaded RegExp corrupts memory in XS's garbage collector
 *                    (Moddable SDK 8.2.3); create it inside the function that uses it.
 * - builtin-name     `.name` of a built-in function (`Uint8Array.name`,
 *                    `x.constructor.name`): Moddable's base manifest strips built-in
 *                    functions' names, so it is undefined on the device.
 * - frozen-override  assigning `this.name`, `this.message`, `this.constructor` or
 *                    `this.toString` in a class that extends another: preloading
 *                    freezes the intrinsics, and assigning a property that a frozen
 *                    prototype holds throws; use Object.defineProperty.
 * - import           imports that cannot be resolved or checked.
 * - syntax           the module does not transpile or parse.
 */
import { builtinModules } from "node:module";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as acorn from "acorn";
import * as walk from "acorn-walk";
import { transformSync, type Message } from "esbuild";
import { isMain } from "../targets/rpi/is-main.js";

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------

/** The library's device code: what lichen's Moddable manifest ships (scripts/build.ts). */
export const LIBRARY_DEVICE_DIRS: readonly string[] = Object.freeze(["src/core", "src/store", "src/transport"]);

/** The sensor node's firmware (the Moddable app). */
export const FIRMWARE_DIR = "targets/esp32";

/**
 * Device entry points, relative to the repository root. Every `.ts` file under
 * these directories (recursively; `.d.ts` excluded) ships to the ESP32, except
 * the files whose names mark them as Node-only (see `isNodeOnlyFile`). Every
 * module reachable from them through relative static imports/re-exports is
 * device code too and is checked with the same rules. Directories that do not
 * exist are skipped (`targets/esp32` may not exist yet).
 */
export const DEVICE_ENTRY_DIRS: readonly string[] = Object.freeze([...LIBRARY_DEVICE_DIRS, FIRMWARE_DIR]);

/** npm packages that device code may import (they are known to build clean with Moddable's
 * toolchain: preloaded without warnings, no built-in's `.name`). None today. */
export const DEVICE_PACKAGES: readonly string[] = [];

/**
 * Moddable SDK modules. They may be imported only by Moddable-specific files:
 * files named `*-moddable.ts` and everything under `targets/esp32/`.
 * (`embedded:` specifiers are ECMA-419 modules.)
 */
export const MODDABLE_MODULES: readonly string[] = ["mqtt", "preference", "flash", "timer", "time", "net", "mc/config"];

/** Node-only files of this repository: `sqlite.ts`, `*-node.ts` (`.js`/`.mts` too). */
export function isNodeOnlyFile(file: string): boolean {
  const name = path.basename(file).replace(/\.(d\.)?[cm]?[tj]sx?$/, "");
  return name === "sqlite" || name.endsWith("-node");
}

function isModdableFile(file: string): boolean {
  const norm = file.split(path.sep).join("/");
  const name = path.basename(norm).replace(/\.[cm]?[tj]sx?$/, "");
  return name.endsWith("-moddable") || /(^|\/)targets\/esp32\//.test(norm);
}

/** Globals that Node (or the web) has and XS on the device lacks, or that mark host-only code. */
const NODE_GLOBALS: ReadonlySet<string> = new Set([
  "Buffer", "process", "require", "module", "exports", "global", "__dirname", "__filename",
  "structuredClone", "queueMicrotask",
  "setTimeout", "setInterval", "setImmediate", "clearTimeout", "clearInterval", "clearImmediate",
  "crypto", "URL", "URLSearchParams", "Intl", "performance",
  "fetch", "atob", "btoa", "AbortController", "EventTarget", "Blob", "MessageChannel",
]);

/** Objects through which a global can be reached: `globalThis.process`. */
const GLOBAL_OBJECTS: ReadonlySet<string> = new Set(["globalThis", "self", "window"]);

const BIGINT_GLOBALS: ReadonlySet<string> = new Set(["BigInt", "BigInt64Array", "BigUint64Array"]);
const BIGINT_ACCESSORS: ReadonlySet<string> = new Set(["getBigInt64", "getBigUint64", "setBigInt64", "setBigUint64"]);

/** Classes whose instances must not be created at load time (they become read-only in flash). */
const INSTANCE_CLASSES: ReadonlySet<string> = new Set([
  "Map", "Set", "WeakMap", "WeakSet", "WeakRef", "Date",
  "ArrayBuffer", "SharedArrayBuffer", "DataView",
  "Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array",
  "Int32Array", "Uint32Array", "Float16Array", "Float32Array", "Float64Array",
  "BigInt64Array", "BigUint64Array",
]);

/** Builtin functions that are pure and may run at load time. */
const PURE_GLOBAL_CALLS: ReadonlySet<string> = new Set([
  "Object.freeze", "Object.create", "Object.fromEntries", "Object.entries", "Object.keys",
  "Object.values", "Object.getOwnPropertyNames", "Object.getOwnPropertyDescriptor",
  "Object.getOwnPropertyDescriptors", "Object.getPrototypeOf", "Object.isFrozen",
  "Symbol", "Symbol.for",
  "Array.isArray", "Array.from", "Array.of",
  "Number", "String", "Boolean", "parseInt", "parseFloat", "isNaN", "isFinite",
  "Number.isInteger", "Number.isSafeInteger", "Number.isFinite", "Number.isNaN",
  "Number.parseInt", "Number.parseFloat",
  "String.fromCharCode", "String.fromCodePoint", "String.raw",
  "JSON.parse", "JSON.stringify", "Reflect.ownKeys",
  "Error", "TypeError", "RangeError",
]);

/** Builtin classes that may be constructed at load time. */
const PURE_GLOBAL_CONSTRUCTORS: ReadonlySet<string> = new Set([
  "Object", "Array", "Error", "TypeError", "RangeError", "SyntaxError",
]);

/** Built-in functions whose `.name` the device strips (Moddable's `"strip": "*"`). */
const BUILTIN_FUNCTIONS: ReadonlySet<string> = new Set([
  "Object", "Function", "Array", "String", "Number", "Boolean", "Symbol", "BigInt", "Math", "JSON", "Reflect",
  "Error", "TypeError", "RangeError", "SyntaxError", "ReferenceError", "EvalError", "URIError", "AggregateError",
  "Promise", "Proxy", "RegExp", "Map", "Set", "WeakMap", "WeakSet", "WeakRef", "FinalizationRegistry", "Date",
  "ArrayBuffer", "SharedArrayBuffer", "DataView", "Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array",
  "Uint16Array", "Int32Array", "Uint32Array", "Float16Array", "Float32Array", "Float64Array", "BigInt64Array",
  "BigUint64Array", "TextEncoder", "TextDecoder", "parseInt", "parseFloat", "isNaN", "isFinite",
]);

/** Properties that Error.prototype or Object.prototype hold, which an instance cannot assign once they are frozen. */
const FROZEN_PROTOTYPE_PROPERTIES: ReadonlySet<string> = new Set(["name", "message", "constructor", "toString"]);

const NODE_BUILTINS: ReadonlySet<string> = new Set(builtinModules);

const OPT_OUT = /\/\/\s*device-rules:\s*allow-top-level-call\b(.*)$/;

// ---------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------

export type RuleId =
  | "module-state"
  | "module-instance"
  | "dynamic-code"
  | "node-only"
  | "bigint"
  | "top-level-call"
  | "text-decoder"
  | "module-regexp"
  | "builtin-name"
  | "frozen-override"
  | "import"
  | "syntax";

export interface Violation {
  /** The file as given to checkSource, or relative to the root (with `/`) for checkDeviceRules. */
  file: string;
  /** 1-based line in the original TypeScript source. */
  line: number;
  /** 1-based column in the original TypeScript source. */
  column: number;
  rule: RuleId;
  message: string;
}

export interface ImportRef {
  specifier: string;
  line: number;
  column: number;
}

export interface DeviceRulesResult {
  /** The device modules checked, relative to the root, sorted. */
  modules: string[];
  violations: Violation[];
}

export function formatViolation(v: Violation): string {
  return `${v.file}:${v.line}:${v.column}: ${v.rule}: ${v.message}`;
}

// ---------------------------------------------------------------------------
// Source maps: original positions for generated ones
// ---------------------------------------------------------------------------

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** Per generated line: segments [generatedColumn, originalLine, originalColumn] (0-based). */
type Segments = Array<[number, number, number]>;

function decodeMappings(mappings: string): Segments[] {
  const lines: Segments[] = [];
  let current: Segments = [];
  let srcLine = 0;
  let srcCol = 0;
  let srcIdx = 0;
  let nameIdx = 0;
  let genCol = 0;
  let i = 0;
  const readVlq = (): number => {
    let result = 0;
    let shift = 0;
    for (;;) {
      const digit = B64.indexOf(mappings.charAt(i++));
      if (digit < 0) throw new Error("bad source map");
      result += (digit & 31) * 2 ** shift;
      shift += 5;
      if ((digit & 32) === 0) break;
    }
    return result % 2 === 1 ? -(result - 1) / 2 : result / 2;
  };
  while (i <= mappings.length) {
    const ch = mappings.charAt(i);
    if (i === mappings.length || ch === ";") {
      lines.push(current);
      current = [];
      genCol = 0;
      i++;
      continue;
    }
    if (ch === ",") {
      i++;
      continue;
    }
    genCol += readVlq();
    const next = mappings.charAt(i);
    if (i < mappings.length && next !== "," && next !== ";") {
      srcIdx += readVlq();
      srcLine += readVlq();
      srcCol += readVlq();
      const after = mappings.charAt(i);
      if (i < mappings.length && after !== "," && after !== ";") nameIdx += readVlq();
      current.push([genCol, srcLine, srcCol]);
    }
  }
  void srcIdx;
  void nameIdx;
  return lines;
}

class PositionMap {
  private readonly lines: Segments[];
  constructor(mapJson: string | undefined) {
    let lines: Segments[] = [];
    if (mapJson) {
      try {
        const parsed = JSON.parse(mapJson) as { mappings?: unknown };
        if (typeof parsed.mappings === "string") lines = decodeMappings(parsed.mappings);
      } catch {
        lines = [];
      }
    }
    this.lines = lines;
  }
  /** Generated (1-based line, 0-based column) to original (1-based line, 1-based column). */
  original(line: number, column: number): { line: number; column: number } {
    for (let l = line - 1; l >= 0; l--) {
      const segs = this.lines[l];
      if (!segs || segs.length === 0) continue;
      let best: [number, number, number] | undefined;
      for (const seg of segs) {
        if (l === line - 1 && seg[0] > column) break;
        best = seg;
      }
      // esbuild maps the start of every token and expression it prints, so the
      // nearest segment at or before the node is the node's own (or the token
      // just before it, e.g. for a node printed after a /* @__PURE__ */ comment).
      if (best) return { line: best[1] + 1, column: best[2] + 1 };
    }
    return { line, column: column + 1 };
  }
}

// ---------------------------------------------------------------------------
// Scopes
// ---------------------------------------------------------------------------

type BindingKind = "import" | "function" | "class" | "const" | "let" | "var" | "param" | "catch";

class Scope {
  readonly names = new Map<string, BindingKind>();
  /** The nearest function-like scope (the module scope at top level): where `var` lives. */
  readonly fnScope: Scope;
  constructor(readonly parent: Scope | null, isFunction: boolean) {
    this.fnScope = isFunction || parent === null ? this : parent.fnScope;
  }
  declare(name: string, kind: BindingKind): void {
    this.names.set(name, kind);
  }
  lookup(name: string): { kind: BindingKind; scope: Scope } | null {
    for (let s: Scope | null = this; s; s = s.parent) {
      const kind = s.names.get(name);
      if (kind !== undefined) return { kind, scope: s };
    }
    return null;
  }
}

function patternNames(p: acorn.Pattern | null | undefined, out: acorn.Identifier[] = []): acorn.Identifier[] {
  if (!p) return out;
  switch (p.type) {
    case "Identifier":
      out.push(p);
      break;
    case "ObjectPattern":
      for (const prop of p.properties) {
        if (prop.type === "RestElement") patternNames(prop.argument, out);
        else patternNames(prop.value, out);
      }
      break;
    case "ArrayPattern":
      for (const el of p.elements) patternNames(el, out);
      break;
    case "RestElement":
      patternNames(p.argument, out);
      break;
    case "AssignmentPattern":
      patternNames(p.left, out);
      break;
    case "MemberExpression":
      break;
  }
  return out;
}

/** Declares the block-scoped declarations of a statement list (and imports at module level). */
function hoistLexical(scope: Scope, statements: ReadonlyArray<acorn.AnyNode>): void {
  for (const stmt of statements) {
    let decl: acorn.AnyNode = stmt;
    if (stmt.type === "ExportNamedDeclaration" && stmt.declaration) decl = stmt.declaration;
    if (stmt.type === "ExportDefaultDeclaration") decl = stmt.declaration;
    switch (decl.type) {
      case "VariableDeclaration":
        if (decl.kind !== "var") {
          const kind: BindingKind = decl.kind === "let" ? "let" : "const";
          for (const d of decl.declarations) for (const id of patternNames(d.id)) scope.declare(id.name, kind);
        }
        break;
      case "FunctionDeclaration":
        if (decl.id) scope.declare(decl.id.name, "function");
        break;
      case "ClassDeclaration":
        if (decl.id) scope.declare(decl.id.name, "class");
        break;
      case "ImportDeclaration":
        for (const spec of decl.specifiers) scope.declare(spec.local.name, "import");
        break;
      default:
        break;
    }
  }
}

/** Declares the `var`s of a function body (not descending into nested functions). */
function hoistVars(scope: Scope, node: acorn.AnyNode | null | undefined): void {
  if (!node) return;
  switch (node.type) {
    case "VariableDeclaration":
      if (node.kind === "var") {
        for (const d of node.declarations) for (const id of patternNames(d.id)) scope.declare(id.name, "var");
      }
      break;
    case "Program":
    case "BlockStatement":
    case "StaticBlock":
      for (const s of node.body) hoistVars(scope, s);
      break;
    case "ExportNamedDeclaration":
      hoistVars(scope, node.declaration);
      break;
    case "IfStatement":
      hoistVars(scope, node.consequent);
      hoistVars(scope, node.alternate);
      break;
    case "ForStatement":
      if (node.init && node.init.type === "VariableDeclaration") hoistVars(scope, node.init);
      hoistVars(scope, node.body);
      break;
    case "ForInStatement":
    case "ForOfStatement":
      if (node.left.type === "VariableDeclaration") hoistVars(scope, node.left);
      hoistVars(scope, node.body);
      break;
    case "WhileStatement":
    case "DoWhileStatement":
    case "LabeledStatement":
      hoistVars(scope, node.body);
      break;
    case "TryStatement":
      hoistVars(scope, node.block);
      if (node.handler) hoistVars(scope, node.handler.body);
      hoistVars(scope, node.finalizer);
      break;
    case "SwitchStatement":
      for (const cs of node.cases) for (const s of cs.consequent) hoistVars(scope, s);
      break;
    default:
      break;
  }
}

// ---------------------------------------------------------------------------
// Checking one module
// ---------------------------------------------------------------------------

interface St {
  scope: Scope;
  /** True where the code runs when the module is loaded (i.e. at preload, on the device). */
  load: boolean;
  /** True where `this` is an instance of a class that extends another (its methods and their arrow functions). */
  inSubclass?: boolean;
}

type Walk = (node: acorn.AnyNode, st: St, override?: string) => void;
type Visitor = (node: acorn.AnyNode, st: St, c: Walk) => void;
const base = walk.base as unknown as Record<string, Visitor>;

interface Analysis {
  violations: Violation[];
  imports: ImportRef[];
}

function loaderFor(fileName: string): "ts" | "tsx" | "js" | "jsx" {
  if (/\.[cm]?tsx$/.test(fileName)) return "tsx";
  if (/\.[cm]?jsx$/.test(fileName)) return "jsx";
  if (/\.[cm]?js$/.test(fileName)) return "js";
  return "ts";
}

function staticString(node: acorn.AnyNode | null | undefined): string | null {
  if (!node) return null;
  if (node.type === "Literal" && typeof node.value === "string") return node.value;
  if (node.type === "TemplateLiteral" && node.expressions.length === 0) {
    return node.quasis[0]?.value.cooked ?? null;
  }
  return null;
}

function memberName(node: acorn.MemberExpression): string | null {
  if (!node.computed) return node.property.type === "Identifier" ? node.property.name : null;
  return staticString(node.property);
}

/** Transpiles, parses and checks one module; returns its violations and import specifiers. */
function analyzeModule(code: string, fileName: string): Analysis {
  const violations: Violation[] = [];
  const imports: ImportRef[] = [];
  const sourceLines = code.split(/\r\n|\r|\n/);

  let js: string;
  let map: string | undefined;
  try {
    const out = transformSync(code, {
      loader: loaderFor(fileName),
      format: "esm",
      target: "es2022",
      sourcemap: "external",
      sourcefile: fileName,
      // Keep every value import as written (as `verbatimModuleSyntax` does in our
      // tsconfig), so an import kept only for its side effects is still seen.
      tsconfigRaw: { compilerOptions: { verbatimModuleSyntax: true, useDefineForClassFields: true } },
      logLevel: "silent",
    });
    js = out.code;
    map = out.map;
  } catch (err) {
    const errors = (err as { errors?: Message[] }).errors;
    if (errors && errors.length > 0) {
      for (const e of errors) {
        violations.push({
          file: fileName,
          line: e.location?.line ?? 1,
          column: (e.location?.column ?? 0) + 1,
          rule: "syntax",
          message: `does not transpile: ${e.text}`,
        });
      }
    } else {
      violations.push({ file: fileName, line: 1, column: 1, rule: "syntax", message: `does not transpile: ${String(err)}` });
    }
    return { violations, imports };
  }

  let program: acorn.Program;
  try {
    program = acorn.parse(js, { ecmaVersion: "latest", sourceType: "module", locations: true });
  } catch (err) {
    violations.push({ file: fileName, line: 1, column: 1, rule: "syntax", message: `does not parse after transpiling: ${String(err)}` });
    return { violations, imports };
  }

  const positions = new PositionMap(map);
  const where = (node: acorn.Node): { line: number; column: number } => {
    const start = node.loc?.start;
    return start ? positions.original(start.line, start.column) : { line: 1, column: 1 };
  };
  const report = (node: acorn.Node, rule: RuleId, message: string): void => {
    violations.push({ file: fileName, ...where(node), rule, message });
  };
  const text = (node: acorn.Node, max = 48): string => {
    const s = js.slice(node.start, node.end).replace(/\s+/g, " ");
    return s.length > max ? `${s.slice(0, max - 3)}...` : s;
  };

  const moduleScope = new Scope(null, true);
  hoistLexical(moduleScope, program.body);
  hoistVars(moduleScope, program);

  /** Function nodes that are called right where they are defined, while the module loads. */
  const immediatelyInvoked = new WeakSet<acorn.Node>();
  /** Top-level statement currently walked (for the opt-out comment on a multi-line statement). */
  let currentTopStatement: acorn.Node | null = null;

  const isGlobal = (name: string, scope: Scope): boolean => scope.lookup(name) === null;

  /** `X` or `globalThis.X` where X is not shadowed: the global's name. */
  const globalName = (expr: acorn.AnyNode, scope: Scope): string | null => {
    if (expr.type === "Identifier") return isGlobal(expr.name, scope) ? expr.name : null;
    if (expr.type === "MemberExpression" && expr.object.type === "Identifier") {
      if (GLOBAL_OBJECTS.has(expr.object.name) && isGlobal(expr.object.name, scope)) return memberName(expr);
    }
    return null;
  };

  const checkGlobalName = (name: string, node: acorn.Node, shown: string): void => {
    if (NODE_GLOBALS.has(name)) {
      report(node, "node-only", `\`${shown}\` is a Node/web global that XS on the device lacks; take it as a parameter or keep this code in a Node-only file`);
    } else if (name === "eval") {
      report(node, "dynamic-code", `\`${shown}\` is forbidden in device code (no eval on the device)`);
    } else if (name === "WebAssembly") {
      report(node, "dynamic-code", `\`${shown}\` is forbidden in device code (XS has no WebAssembly)`);
    } else if (BIGINT_GLOBALS.has(name)) {
      report(node, "bigint", `\`${shown}\` in device code: BigInt allocates on every operation in XS; timestamps and counters must be numbers`);
    }
  };

  /** Is there an opt-out comment on the line before `line` (1-based, original source)? */
  const optOutBefore = (line: number): { found: boolean; reason: string } => {
    const prev = sourceLines[line - 2];
    const m = prev === undefined ? null : OPT_OUT.exec(prev);
    return m ? { found: true, reason: (m[1] ?? "").trim() } : { found: false, reason: "" };
  };

  const reportTopLevelCall = (node: acorn.Node, message: string): void => {
    const pos = where(node);
    let opt = optOutBefore(pos.line);
    if (!opt.found && currentTopStatement) opt = optOutBefore(where(currentTopStatement).line);
    if (opt.found && opt.reason.length > 0) return;
    const suffix = opt.found
      ? " (the `// device-rules: allow-top-level-call <why>` opt-out needs a reason)"
      : " (opt out with `// device-rules: allow-top-level-call <why>` on the line before)";
    violations.push({ file: fileName, ...pos, rule: "top-level-call", message: message + suffix });
  };

  /** Describes a callee for the top-level-call rule. */
  type CalleeInfo = { kind: "global" | "import"; name: string } | { kind: "local" };
  const describeCallee = (callee: acorn.AnyNode, scope: Scope): CalleeInfo => {
    const parts: string[] = [];
    let node: acorn.AnyNode = callee;
    while (node.type === "MemberExpression") {
      const name = memberName(node);
      if (name === null) return { kind: "local" };
      parts.unshift(name);
      node = node.object;
    }
    if (node.type !== "Identifier") return { kind: "local" };
    const binding = scope.lookup(node.name);
    if (binding === null) {
      if (GLOBAL_OBJECTS.has(node.name) && parts.length > 0) return { kind: "global", name: parts.join(".") };
      return { kind: "global", name: [node.name, ...parts].join(".") };
    }
    if (binding.kind === "import") return { kind: "import", name: [node.name, ...parts].join(".") };
    return { kind: "local" };
  };

  const alreadyForbidden = (name: string): boolean => {
    const root = name.split(".")[0] ?? name;
    return NODE_GLOBALS.has(root) || BIGINT_GLOBALS.has(root) || root === "eval" || root === "Function" || root === "WebAssembly";
  };

  const checkCallAtLoad = (node: acorn.Node, callee: acorn.AnyNode, args: ReadonlyArray<acorn.AnyNode>, scope: Scope): void => {
    const info = describeCallee(callee, scope);
    if (info.kind === "local") return;
    if (info.kind === "import") {
      reportTopLevelCall(node, `module-scope call to imported ${info.name}: must not touch devices (flash, MQTT, timers) at load time; export a factory`);
      return;
    }
    const name = info.name;
    if (alreadyForbidden(name)) return;
    const [root, method] = name.split(".");
    if (root !== undefined && INSTANCE_CLASSES.has(root) && (method === "from" || method === "of") && name.split(".").length === 2) return;
    if (PURE_GLOBAL_CALLS.has(name)) return;
    if (name.startsWith("Math.") && name !== "Math.random") return;
    if (name === "Object.assign" && args[0]?.type === "ObjectExpression") return;
    reportTopLevelCall(node, `module-scope call to ${name}: only pure builtins and functions of this module may run at load time`);
  };

  const reportRegExpAtLoad = (node: acorn.Node, shown: string): void => {
    report(node, "module-regexp", `${shown} at module scope: a RegExp created at load time is preloaded, and XS's garbage collector corrupts memory with preloaded regexps; create it inside the function that uses it`);
  };

  const checkInstanceAtLoad = (node: acorn.Node, className: string, how: string): void => {
    report(node, "module-instance", `${how} at module scope: a ${className} created at load time is preloaded into flash, read-only, and throws on write; create it inside a factory or function`);
  };

  /** Roots of an assignment target: the identifiers (or other base expressions) written through. */
  const assignmentRoots = (target: acorn.AnyNode, out: acorn.AnyNode[] = []): acorn.AnyNode[] => {
    switch (target.type) {
      case "MemberExpression": {
        let obj: acorn.AnyNode = target.object;
        while (obj.type === "MemberExpression") obj = obj.object;
        out.push(obj);
        break;
      }
      case "Identifier":
        out.push(target);
        break;
      case "ObjectPattern":
        for (const p of target.properties) assignmentRoots(p.type === "RestElement" ? p.argument : p.value, out);
        break;
      case "ArrayPattern":
        for (const el of target.elements) if (el) assignmentRoots(el, out);
        break;
      case "RestElement":
        assignmentRoots(target.argument, out);
        break;
      case "AssignmentPattern":
        assignmentRoots(target.left, out);
        break;
      case "ChainExpression":
        assignmentRoots(target.expression, out);
        break;
      default:
        out.push(target);
    }
    return out;
  };

  const checkMutationAtLoad = (node: acorn.Node, target: acorn.AnyNode, st: St): void => {
    for (const root of assignmentRoots(target)) {
      if (root.type === "Identifier") {
        const binding = st.scope.lookup(root.name);
        // A local of a block, a loop, or a function running at load time (an IIFE,
        // a static block) is not module state; module bindings and globals are.
        if (binding && binding.scope !== moduleScope) continue;
      } else if (st.scope.fnScope !== moduleScope) {
        continue;
      }
      report(node, "module-state", `module-scope mutation \`${text(node)}\`: mutates module state at load time (preloaded modules are read-only); build the value in an expression and freeze it, or move the state into a factory`);
      return;
    }
  };

  const enumHint = (node: acorn.Node): string => {
    const line = sourceLines[where(node).line - 1] ?? "";
    return /\b(enum|namespace)\s+[A-Za-z_$]/.test(line)
      ? " (a TypeScript enum or namespace compiles to a module-scope `var` and a mutable object: use a frozen const object instead)"
      : "";
  };

  const walkFunction = (fn: acorn.AnyNode, st: St, c: Walk): void => {
    if (fn.type !== "FunctionDeclaration" && fn.type !== "FunctionExpression" && fn.type !== "ArrowFunctionExpression") return;
    const scope = new Scope(st.scope, true);
    if (fn.type === "FunctionExpression" && fn.id) scope.declare(fn.id.name, "function");
    for (const p of fn.params) for (const id of patternNames(p)) scope.declare(id.name, "param");
    const inner: St = { scope, load: st.load && immediatelyInvoked.has(fn), inSubclass: fn.type === "ArrowFunctionExpression" ? st.inSubclass : false };
    for (const p of fn.params) c(p, inner, "Pattern");
    if (fn.body.type === "BlockStatement") {
      hoistVars(scope, fn.body);
      hoistLexical(scope, fn.body.body);
      for (const s of fn.body.body) c(s, inner, "Statement");
    } else {
      c(fn.body, inner, "Expression");
    }
  };

  /** A class method: its body sees `this` as the class's instance. */
  const walkMethod = (fn: acorn.AnyNode, st: St, c: Walk): void => {
    if (fn.type !== "FunctionExpression") return;
    const scope = new Scope(st.scope, true);
    for (const p of fn.params) for (const id of patternNames(p)) scope.declare(id.name, "param");
    const inner: St = { scope, load: false, inSubclass: st.inSubclass };
    for (const p of fn.params) c(p, inner, "Pattern");
    hoistVars(scope, fn.body);
    hoistLexical(scope, fn.body.body);
    for (const s of fn.body.body) c(s, inner, "Statement");
  };

  const visitors: Record<string, Visitor> = {
    Program(node, st, c) {
      if (node.type !== "Program") return;
      for (const stmt of node.body) {
        currentTopStatement = stmt;
        c(stmt, st, "Statement");
      }
      currentTopStatement = null;
    },

    BlockStatement(node, st, c) {
      if (node.type !== "BlockStatement") return;
      const scope = new Scope(st.scope, false);
      hoistLexical(scope, node.body);
      for (const s of node.body) c(s, { ...st, scope }, "Statement");
    },

    StaticBlock(node, st, c) {
      if (node.type !== "StaticBlock") return;
      // Runs when the class is defined: at load time if the class is defined at load time.
      const scope = new Scope(st.scope, true);
      hoistVars(scope, node);
      hoistLexical(scope, node.body);
      for (const s of node.body) c(s, { ...st, scope }, "Statement");
    },

    Function(node, st, c) {
      walkFunction(node, st, c);
    },

    ForStatement(node, st, c) {
      if (node.type !== "ForStatement") return;
      const scope = new Scope(st.scope, false);
      if (node.init) hoistLexical(scope, [node.init]);
      base["ForStatement"](node, { ...st, scope }, c);
    },

    ForInStatement(node, st, c) {
      if (node.type !== "ForInStatement" && node.type !== "ForOfStatement") return;
      const scope = new Scope(st.scope, false);
      hoistLexical(scope, [node.left]);
      base["ForInStatement"](node, { ...st, scope }, c);
    },

    ForOfStatement(node, st, c) {
      if (node.type !== "ForOfStatement") return;
      const scope = new Scope(st.scope, false);
      hoistLexical(scope, [node.left]);
      base["ForOfStatement"](node, { ...st, scope }, c);
    },

    SwitchStatement(node, st, c) {
      if (node.type !== "SwitchStatement") return;
      c(node.discriminant, st, "Expression");
      const scope = new Scope(st.scope, false);
      for (const cs of node.cases) hoistLexical(scope, cs.consequent);
      for (const cs of node.cases) c(cs, { ...st, scope });
    },

    CatchClause(node, st, c) {
      if (node.type !== "CatchClause") return;
      const scope = new Scope(st.scope, false);
      for (const id of patternNames(node.param)) scope.declare(id.name, "catch");
      const inner: St = { ...st, scope };
      if (node.param) c(node.param, inner, "Pattern");
      c(node.body, inner, "Statement");
    },

    Class(node, st, c) {
      if (node.type !== "ClassDeclaration" && node.type !== "ClassExpression") return;
      let scope = st.scope;
      if (node.type === "ClassExpression" && node.id) {
        scope = new Scope(st.scope, false);
        scope.declare(node.id.name, "class");
      }
      const outer: St = { ...st, scope };
      if (node.superClass) c(node.superClass, outer, "Expression");
      for (const el of node.body.body) {
        if (el.type === "StaticBlock") {
          c(el, outer);
          continue;
        }
        if (el.computed) c(el.key, outer, "Expression"); // evaluated when the class is defined
        if (el.type === "MethodDefinition") {
          // a method is walked as a function: walkFunction keeps inSubclass for arrows only, so it is set on the method's own St
          walkMethod(el.value, { scope, load: false, inSubclass: node.superClass != null }, c);
        } else if (el.value) {
          // Static field initializers run when the class is defined; instance ones on `new`.
          const init: St = { scope: new Scope(scope, true), load: el.static ? st.load : false, inSubclass: !el.static && node.superClass != null };
          c(el.value, init, "Expression");
        }
      }
    },

    VariableDeclaration(node, st, c) {
      if (node.type !== "VariableDeclaration") return;
      const atModule =
        (node.kind === "let" && st.scope === moduleScope) || (node.kind === "var" && st.scope.fnScope === moduleScope);
      if (atModule) {
        for (const d of node.declarations) {
          const names = patternNames(d.id).map((id) => id.name).join(", ");
          report(d, "module-state", `module-scope \`${node.kind}\` declaration of ${names}: mutable module state (a preloaded module is read-only and a module-level variable costs RAM); use a frozen \`const\` or move the state into a factory${enumHint(d)}`);
        }
      }
      base["VariableDeclaration"](node, st, c);
    },

    Identifier(node, st) {
      if (node.type !== "Identifier") return;
      if (isGlobal(node.name, st.scope)) checkGlobalName(node.name, node, node.name);
    },

    Literal(node, st) {
      if (node.type !== "Literal") return;
      if (node.regex !== undefined && st.load) reportRegExpAtLoad(node, `\`${text(node)}\``);
      if (node.bigint !== undefined) {
        report(node, "bigint", `bigint literal \`${node.raw ?? node.bigint + "n"}\` in device code: BigInt allocates on every operation in XS; timestamps and counters must be numbers`);
      }
    },

    MemberExpression(node, st, c) {
      if (node.type !== "MemberExpression") return;
      const name = memberName(node);
      if (name !== null && node.object.type === "Identifier" && GLOBAL_OBJECTS.has(node.object.name) && isGlobal(node.object.name, st.scope)) {
        checkGlobalName(name, node, text(node));
      }
      if (name !== null && BIGINT_ACCESSORS.has(name)) {
        report(node, "bigint", `\`${name}\` in device code: BigInt allocates on every operation in XS; timestamps and counters must be numbers`);
      }
      if (name === "name") {
        const owner = globalName(node.object, st.scope);
        const ofConstructor = node.object.type === "MemberExpression" && memberName(node.object) === "constructor";
        if ((owner !== null && BUILTIN_FUNCTIONS.has(owner)) || ofConstructor) {
          report(node, "builtin-name", `\`${text(node)}\`: Moddable strips the names of built-in functions, so this is undefined on the device; name the type yourself (a table, a string constant)`);
        }
      }
      base["MemberExpression"](node, st, c);
    },

    UnaryExpression(node, st, c) {
      if (node.type !== "UnaryExpression") return;
      // `typeof X` never throws and never uses X: a feature test is not a use.
      if (node.operator === "typeof" && node.argument.type === "Identifier") return;
      if (node.operator === "delete" && st.load) checkMutationAtLoad(node, node.argument, st);
      base["UnaryExpression"](node, st, c);
    },

    UpdateExpression(node, st, c) {
      if (node.type !== "UpdateExpression") return;
      if (st.load) checkMutationAtLoad(node, node.argument, st);
      base["UpdateExpression"](node, st, c);
    },

    AssignmentExpression(node, st, c) {
      if (node.type !== "AssignmentExpression") return;
      if (st.load) checkMutationAtLoad(node, node.left, st);
      if (st.inSubclass && node.left.type === "MemberExpression" && node.left.object.type === "ThisExpression") {
        const prop = memberName(node.left);
        if (prop !== null && FROZEN_PROTOTYPE_PROPERTIES.has(prop)) {
          report(node, "frozen-override", `\`${text(node)}\`: on the device the intrinsics are frozen, and assigning a property that a frozen prototype holds throws; use Object.defineProperty(this, ${JSON.stringify(prop)}, { value, writable: true, configurable: true })`);
        }
      }
      for (const root of assignmentRoots(node.left)) {
        if (root.type === "Identifier" && isGlobal(root.name, st.scope)) checkGlobalName(root.name, root, root.name);
      }
      base["AssignmentExpression"](node, st, c);
    },

    CallExpression(node, st, c) {
      if (node.type !== "CallExpression") return;
      const callee = node.callee;
      let iife: acorn.AnyNode | null = null;
      if (callee.type === "FunctionExpression" || callee.type === "ArrowFunctionExpression") iife = callee;
      else if (
        callee.type === "MemberExpression" &&
        (callee.object.type === "FunctionExpression" || callee.object.type === "ArrowFunctionExpression") &&
        (memberName(callee) === "call" || memberName(callee) === "apply")
      ) iife = callee.object;
      if (iife) immediatelyInvoked.add(iife);

      if (callee.type !== "Super") {
        if (globalName(callee, st.scope) === "Function") {
          report(node, "dynamic-code", "`Function(...)` compiles code at run time: forbidden in device code");
        }
        if (st.load && !iife && globalName(callee, st.scope) === "RegExp") {
          reportRegExpAtLoad(node, "`RegExp(...)`");
        } else if (st.load && !iife) {
          if (callee.type === "MemberExpression") {
            const cls = globalName(callee.object, st.scope);
            const method = memberName(callee);
            if (cls !== null && INSTANCE_CLASSES.has(cls) && (method === "from" || method === "of")) {
              checkInstanceAtLoad(node, cls, `\`${cls}.${method}(...)\``);
            }
          }
          checkCallAtLoad(node, callee, node.arguments, st.scope);
        }
      }
      base["CallExpression"](node, st, c);
    },

    NewExpression(node, st, c) {
      if (node.type !== "NewExpression") return;
      const cls = globalName(node.callee, st.scope);
      if (cls === "Function") {
        report(node, "dynamic-code", "`new Function(...)` compiles code at run time: forbidden in device code");
      }
      if (cls === "TextDecoder") {
        const label = staticString(node.arguments[0]);
        if (label !== null && label !== "utf-8") {
          report(node, "text-decoder", `\`new TextDecoder(${JSON.stringify(label)})\`: XS's TextDecoder accepts only the label "utf-8"`);
        }
      }
      if (st.load) {
        if (cls !== null && INSTANCE_CLASSES.has(cls)) {
          checkInstanceAtLoad(node, cls, `\`new ${cls}(...)\``);
        } else if (cls === "RegExp") {
          reportRegExpAtLoad(node, "`new RegExp(...)`");
        } else if (cls !== null) {
          if (!alreadyForbidden(cls) && !PURE_GLOBAL_CONSTRUCTORS.has(cls)) {
            reportTopLevelCall(node, `module-scope construction of ${cls}: host objects must not be created at load time; export a factory`);
          }
        } else {
          const info = describeCallee(node.callee, st.scope);
          if (info.kind === "import") {
            reportTopLevelCall(node, `module-scope construction of imported ${info.name}: must not touch devices (flash, MQTT, timers) at load time; export a factory`);
          } else if (info.kind === "global" && !alreadyForbidden(info.name)) {
            reportTopLevelCall(node, `module-scope construction of ${info.name}: only pure builtins and classes of this module may be constructed at load time`);
          }
        }
      }
      base["NewExpression"](node, st, c);
    },

    TaggedTemplateExpression(node, st, c) {
      if (node.type !== "TaggedTemplateExpression") return;
      if (st.load) checkCallAtLoad(node, node.tag, [], st.scope);
      base["TaggedTemplateExpression"](node, st, c);
    },

    ImportExpression(node, st, c) {
      if (node.type !== "ImportExpression") return;
      const spec = staticString(node.source);
      if (spec === null) {
        report(node, "import", "dynamic `import()` with a computed specifier: device modules must be known at build time");
      } else {
        imports.push({ specifier: spec, ...where(node.source) });
      }
      base["ImportExpression"](node, st, c);
    },

    ImportDeclaration(node) {
      if (node.type !== "ImportDeclaration") return;
      const spec = staticString(node.source);
      if (spec !== null) imports.push({ specifier: spec, ...where(node.source) });
    },

    ExportNamedDeclaration(node, st, c) {
      if (node.type !== "ExportNamedDeclaration") return;
      if (node.source) {
        const spec = staticString(node.source);
        if (spec !== null) imports.push({ specifier: spec, ...where(node.source) });
      }
      if (node.declaration) c(node.declaration, st, "Statement");
    },

    ExportAllDeclaration(node) {
      if (node.type !== "ExportAllDeclaration") return;
      const spec = staticString(node.source);
      if (spec !== null) imports.push({ specifier: spec, ...where(node.source) });
    },
  };

  walk.recursive(program, { scope: moduleScope, load: true } as St, visitors as unknown as walk.RecursiveVisitors<St>);

  // Bare and builtin specifiers can be judged without the file system.
  for (const imp of imports) {
    const problem = checkSpecifier(imp.specifier, fileName);
    if (problem) violations.push({ file: fileName, line: imp.line, column: imp.column, rule: problem.rule, message: problem.message });
  }
  return { violations, imports };
}

function isRelative(spec: string): boolean {
  return spec === "." || spec === ".." || spec.startsWith("./") || spec.startsWith("../");
}

function packageName(spec: string): string {
  const parts = spec.split("/");
  return spec.startsWith("@") ? parts.slice(0, 2).join("/") : (parts[0] ?? spec);
}

/** Checks a non-relative import specifier of a device module. */
function checkSpecifier(spec: string, fileName: string): { rule: RuleId; message: string } | null {
  if (isRelative(spec)) return null;
  if (spec.startsWith("node:")) {
    return { rule: "node-only", message: `import of Node builtin "${spec}" in device code` };
  }
  if (isModdableFile(fileName) && (MODDABLE_MODULES.includes(spec) || spec.startsWith("embedded:"))) return null;
  if (NODE_BUILTINS.has(spec) || NODE_BUILTINS.has(packageName(spec))) {
    return { rule: "node-only", message: `import of Node builtin "${spec}" in device code` };
  }
  if (spec.startsWith("/") || /^[A-Za-z][A-Za-z0-9+.-]*:/.test(spec)) {
    return { rule: "import", message: `import of "${spec}": device code imports only relative modules and allowed packages` };
  }
  const pkg = packageName(spec);
  if (!DEVICE_PACKAGES.includes(pkg)) {
    const moddable = MODDABLE_MODULES.includes(spec) ? " (a Moddable module: import it only from a `*-moddable.ts` file or targets/esp32/)" : "";
    return { rule: "node-only", message: `import of package "${spec}" in device code: not on the device allow-list (${DEVICE_PACKAGES.join(", ") || "empty"})${moddable}` };
  }
  return null;
}

function nodeOnlyImportMessage(spec: string, resolved?: string): string {
  const target = resolved ? ` (${resolved})` : "";
  return `import of Node-only module "${spec}"${target} from device code: Node-only files (sqlite.ts, *-node.ts) must never be reachable from device code`;
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
  const { violations, imports } = analyzeModule(code, fileName);
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
    const code = readFileSync(file, "utf8");
    const { violations: found, imports } = analyzeModule(code, name);
    violations.push(...found);
    for (const imp of imports) {
      if (!isRelative(imp.specifier)) continue;
      const resolved = resolveRelative(file, imp.specifier);
      if (resolved === null) {
        violations.push({ file: name, line: imp.line, column: imp.column, rule: "import", message: `cannot resolve "${imp.specifier}"` });
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

function main(argv: string[]): number {
  let root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "--root" && argv[i + 1] !== undefined) {
      root = path.resolve(argv[++i] as string);
    } else if (arg.startsWith("--root=")) {
      root = path.resolve(arg.slice("--root=".length));
    } else {
      console.error(`usage: tsx scripts/check-device-rules.ts [--root DIR]  (unknown argument: ${arg})`);
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
