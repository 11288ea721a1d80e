// module-regexp: a preloaded RegExp corrupts memory in XS's garbage collector (Moddable SDK 8.2.3).
import type * as acorn from "acorn";
import { immediatelyInvoked } from "../ast.js";
import type { DeviceRule, ModuleContext } from "../types.js";

function report(node: acorn.Node, shown: string, m: ModuleContext): void {
  m.report(node, "module-regexp", `${shown} at module scope: a RegExp created at load time is preloaded, and XS's garbage collector corrupts memory with preloaded regexps; create it inside the function that uses it`);
}

export const moduleRegexp: DeviceRule = {
  id: "module-regexp",
  description:
    "a RegExp created at load time (a literal or RegExp(...)): a preloaded RegExp corrupts memory in XS's garbage collector (Moddable SDK 8.2.3); create it inside the function that uses it.",
  nodes: {
    Literal(node, st, m) {
      if (node.type === "Literal" && node.regex !== undefined && st.load) report(node, `\`${m.text(node)}\``, m);
    },
    CallExpression(node, st, m) {
      if (node.type !== "CallExpression" || !st.load || node.callee.type === "Super" || immediatelyInvoked(node)) return;
      if (m.globalName(node.callee, st.scope) === "RegExp") report(node, "`RegExp(...)`", m);
    },
    NewExpression(node, st, m) {
      if (node.type === "NewExpression" && st.load && m.globalName(node.callee, st.scope) === "RegExp") report(node, "`new RegExp(...)`", m);
    },
  },
};
