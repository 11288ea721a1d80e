// module-state: mutable module state. A preloaded module is read-only, and a module-level variable costs RAM.
import type * as acorn from "acorn";
import { assignmentRoots } from "../ast.js";
import { patternNames } from "../scope.js";
import type { DeviceRule, ModuleContext, WalkState } from "../types.js";

const description =
  "module-scope `let`/`var`; module-scope assignments, updates and deletes that mutate module state at load time.";

function enumHint(node: acorn.Node, m: ModuleContext): string {
  const line = m.sourceLines[m.where(node).line - 1] ?? "";
  return /\b(enum|namespace)\s+[A-Za-z_$]/.test(line)
    ? " (a TypeScript enum or namespace compiles to a module-scope `var` and a mutable object: use a frozen const object instead)"
    : "";
}

function checkMutationAtLoad(node: acorn.Node, target: acorn.AnyNode, st: WalkState, m: ModuleContext): void {
  if (!st.load) return;
  for (const root of assignmentRoots(target)) {
    if (root.type === "Identifier") {
      const binding = st.scope.lookup(root.name);
      // A local of a block, a loop, or a function running at load time (an IIFE,
      // a static block) is not module state; module bindings and globals are.
      if (binding && binding.scope !== m.moduleScope) continue;
    } else if (st.scope.fnScope !== m.moduleScope) {
      continue;
    }
    m.report(node, "module-state", `module-scope mutation \`${m.text(node)}\`: mutates module state at load time (preloaded modules are read-only); build the value in an expression and freeze it, or move the state into a factory`);
    return;
  }
}

export const moduleState: DeviceRule = {
  id: "module-state",
  description,
  nodes: {
    VariableDeclaration(node, st, m) {
      if (node.type !== "VariableDeclaration") return;
      const atModule =
        (node.kind === "let" && st.scope === m.moduleScope) || (node.kind === "var" && st.scope.fnScope === m.moduleScope);
      if (!atModule) return;
      for (const d of node.declarations) {
        const names = patternNames(d.id).map((id) => id.name).join(", ");
        m.report(d, "module-state", `module-scope \`${node.kind}\` declaration of ${names}: mutable module state (a preloaded module is read-only and a module-level variable costs RAM); use a frozen \`const\` or move the state into a factory${enumHint(d, m)}`);
      }
    },
    UnaryExpression(node, st, m) {
      if (node.type === "UnaryExpression" && node.operator === "delete") checkMutationAtLoad(node, node.argument, st, m);
    },
    UpdateExpression(node, st, m) {
      if (node.type === "UpdateExpression") checkMutationAtLoad(node, node.argument, st, m);
    },
    AssignmentExpression(node, st, m) {
      if (node.type === "AssignmentExpression") checkMutationAtLoad(node, node.left, st, m);
    },
  },
};
