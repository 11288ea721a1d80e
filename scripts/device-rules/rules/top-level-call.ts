// top-level-call: what runs at load time runs at preload, on the build machine: it must not touch
// devices (flash, MQTT, timers) nor make host objects; only pure builtins and this module's functions.
import type * as acorn from "acorn";
import { immediatelyInvoked, memberName } from "../ast.js";
import { BIGINT_GLOBALS, DYNAMIC_CODE_GLOBALS, GLOBAL_OBJECTS, INSTANCE_CLASSES, NODE_GLOBALS } from "../builtins.js";
import type { Scope } from "../scope.js";
import type { DeviceRule, ModuleContext } from "../types.js";

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

const OPT_OUT = /\/\/\s*device-rules:\s*allow-top-level-call\b(.*)$/;

/** Is there an opt-out comment on the line before `line` (1-based, original source)? */
function optOutBefore(line: number, m: ModuleContext): { found: boolean; reason: string } {
  const prev = m.sourceLines[line - 2];
  const found = prev === undefined ? null : OPT_OUT.exec(prev);
  return found ? { found: true, reason: (found[1] ?? "").trim() } : { found: false, reason: "" };
}

function reportTopLevelCall(node: acorn.Node, message: string, m: ModuleContext): void {
  const pos = m.where(node);
  let opt = optOutBefore(pos.line, m);
  if (!opt.found && m.topStatement) opt = optOutBefore(m.where(m.topStatement).line, m);
  if (opt.found && opt.reason.length > 0) return;
  const suffix = opt.found
    ? " (the `// device-rules: allow-top-level-call <why>` opt-out needs a reason)"
    : " (opt out with `// device-rules: allow-top-level-call <why>` on the line before)";
  m.report(node, "top-level-call", message + suffix);
}

type CalleeInfo = { kind: "global" | "import"; name: string } | { kind: "local" };

function describeCallee(callee: acorn.AnyNode, scope: Scope): CalleeInfo {
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
}

/** Globals another rule forbids everywhere: reported there, not here again. */
function alreadyForbidden(name: string): boolean {
  const root = name.split(".")[0] ?? name;
  return NODE_GLOBALS.has(root) || BIGINT_GLOBALS.has(root) || DYNAMIC_CODE_GLOBALS.has(root);
}

function checkCallAtLoad(node: acorn.Node, callee: acorn.AnyNode, args: ReadonlyArray<acorn.AnyNode>, scope: Scope, m: ModuleContext): void {
  const info = describeCallee(callee, scope);
  if (info.kind === "local") return;
  if (info.kind === "import") {
    reportTopLevelCall(node, `module-scope call to imported ${info.name}: must not touch devices (flash, MQTT, timers) at load time; export a factory`, m);
    return;
  }
  const name = info.name;
  if (alreadyForbidden(name)) return;
  const [root, method] = name.split(".");
  // `Map.from(...)` and the like: the module-instance rule's.
  if (root !== undefined && INSTANCE_CLASSES.has(root) && (method === "from" || method === "of") && name.split(".").length === 2) return;
  if (PURE_GLOBAL_CALLS.has(name)) return;
  if (name.startsWith("Math.") && name !== "Math.random") return;
  if (name === "Object.assign" && args[0]?.type === "ObjectExpression") return;
  reportTopLevelCall(node, `module-scope call to ${name}: only pure builtins and functions of this module may run at load time`, m);
}

export const topLevelCall: DeviceRule = {
  id: "top-level-call",
  description:
    "calls at load time to anything but pure builtins and locally defined functions. Opt out for one call with `// device-rules: allow-top-level-call <why>` on the line before.",
  nodes: {
    CallExpression(node, st, m) {
      if (node.type !== "CallExpression" || !st.load || node.callee.type === "Super" || immediatelyInvoked(node)) return;
      // `RegExp(...)`: the module-regexp rule's.
      if (m.globalName(node.callee, st.scope) === "RegExp") return;
      checkCallAtLoad(node, node.callee, node.arguments, st.scope, m);
    },
    NewExpression(node, st, m) {
      if (node.type !== "NewExpression" || !st.load) return;
      const cls = m.globalName(node.callee, st.scope);
      // Instances and regexps: the module-instance and module-regexp rules'.
      if (cls !== null && (INSTANCE_CLASSES.has(cls) || cls === "RegExp")) return;
      if (cls !== null) {
        if (!alreadyForbidden(cls) && !PURE_GLOBAL_CONSTRUCTORS.has(cls)) {
          reportTopLevelCall(node, `module-scope construction of ${cls}: host objects must not be created at load time; export a factory`, m);
        }
        return;
      }
      const info = describeCallee(node.callee, st.scope);
      if (info.kind === "import") {
        reportTopLevelCall(node, `module-scope construction of imported ${info.name}: must not touch devices (flash, MQTT, timers) at load time; export a factory`, m);
      } else if (info.kind === "global" && !alreadyForbidden(info.name)) {
        reportTopLevelCall(node, `module-scope construction of ${info.name}: only pure builtins and classes of this module may be constructed at load time`, m);
      }
    },
    TaggedTemplateExpression(node, st, m) {
      if (node.type === "TaggedTemplateExpression" && st.load) checkCallAtLoad(node, node.tag, [], st.scope, m);
    },
  },
};
