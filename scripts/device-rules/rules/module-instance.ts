// module-instance: an instance created at load time is preloaded into flash, read-only, and throws on write.
import type * as acorn from "acorn";
import { immediatelyInvoked, memberName } from "../ast.js";
import { INSTANCE_CLASSES } from "../builtins.js";
import type { DeviceRule, ModuleContext } from "../types.js";

const description =
  "a Map, Set, WeakMap, WeakSet, WeakRef, typed array, ArrayBuffer, SharedArrayBuffer, DataView or Date created at load time (module scope, class static initializers and static blocks, bodies of functions invoked immediately at load).";

function report(node: acorn.Node, className: string, how: string, m: ModuleContext): void {
  m.report(node, "module-instance", `${how} at module scope: a ${className} created at load time is preloaded into flash, read-only, and throws on write; create it inside a factory or function`);
}

export const moduleInstance: DeviceRule = {
  id: "module-instance",
  description,
  nodes: {
    CallExpression(node, st, m) {
      if (node.type !== "CallExpression" || !st.load || immediatelyInvoked(node)) return;
      const callee = node.callee;
      if (callee.type !== "MemberExpression" || m.globalName(callee, st.scope) === "RegExp") return;
      const cls = m.globalName(callee.object, st.scope);
      const method = memberName(callee);
      if (cls !== null && INSTANCE_CLASSES.has(cls) && (method === "from" || method === "of")) {
        report(node, cls, `\`${cls}.${method}(...)\``, m);
      }
    },
    NewExpression(node, st, m) {
      if (node.type !== "NewExpression" || !st.load) return;
      const cls = m.globalName(node.callee, st.scope);
      if (cls !== null && INSTANCE_CLASSES.has(cls)) report(node, cls, `\`new ${cls}(...)\``, m);
    },
  },
};
