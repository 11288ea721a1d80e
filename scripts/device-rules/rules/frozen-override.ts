// frozen-override: preloading freezes the intrinsics, and assigning a property that a frozen
// prototype holds throws (the override mistake).
import { memberName } from "../ast.js";
import type { DeviceRule } from "../types.js";

/** Properties that Error.prototype or Object.prototype hold, which an instance cannot assign once they are frozen. */
const FROZEN_PROTOTYPE_PROPERTIES: ReadonlySet<string> = new Set(["name", "message", "constructor", "toString"]);

export const frozenOverride: DeviceRule = {
  id: "frozen-override",
  description:
    "assigning `this.name`, `this.message`, `this.constructor` or `this.toString` in a class that extends another: preloading freezes the intrinsics, and assigning a property that a frozen prototype holds throws; use Object.defineProperty.",
  nodes: {
    AssignmentExpression(node, st, m) {
      if (node.type !== "AssignmentExpression" || !st.inSubclass) return;
      if (node.left.type !== "MemberExpression" || node.left.object.type !== "ThisExpression") return;
      const prop = memberName(node.left);
      if (prop !== null && FROZEN_PROTOTYPE_PROPERTIES.has(prop)) {
        m.report(node, "frozen-override", `\`${m.text(node)}\`: on the device the intrinsics are frozen, and assigning a property that a frozen prototype holds throws; use Object.defineProperty(this, ${JSON.stringify(prop)}, { value, writable: true, configurable: true })`);
      }
    },
  },
};
