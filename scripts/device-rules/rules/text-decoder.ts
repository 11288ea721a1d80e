// text-decoder: XS's TextDecoder accepts only the label "utf-8".
import { staticString } from "../ast.js";
import type { DeviceRule } from "../types.js";

export const textDecoder: DeviceRule = {
  id: "text-decoder",
  description: "XS's TextDecoder accepts only the label \"utf-8\".",
  nodes: {
    NewExpression(node, st, m) {
      if (node.type !== "NewExpression" || m.globalName(node.callee, st.scope) !== "TextDecoder") return;
      const label = staticString(node.arguments[0]);
      if (label !== null && label !== "utf-8") {
        m.report(node, "text-decoder", `\`new TextDecoder(${JSON.stringify(label)})\`: XS's TextDecoder accepts only the label "utf-8"`);
      }
    },
  },
};
