// dynamic-code: the device compiles no code at run time (no eval, no Function, no WebAssembly in XS).
import type { DeviceRule } from "../types.js";

export const dynamicCode: DeviceRule = {
  id: "dynamic-code",
  description: "eval, Function(...), new Function(...), WebAssembly.",
  global(name, node, shown, m) {
    if (name === "eval") m.report(node, "dynamic-code", `\`${shown}\` is forbidden in device code (no eval on the device)`);
    else if (name === "WebAssembly") m.report(node, "dynamic-code", `\`${shown}\` is forbidden in device code (XS has no WebAssembly)`);
  },
  nodes: {
    CallExpression(node, st, m) {
      if (node.type !== "CallExpression" || node.callee.type === "Super") return;
      if (m.globalName(node.callee, st.scope) === "Function") {
        m.report(node, "dynamic-code", "`Function(...)` compiles code at run time: forbidden in device code");
      }
    },
    NewExpression(node, st, m) {
      if (node.type !== "NewExpression") return;
      if (m.globalName(node.callee, st.scope) === "Function") {
        m.report(node, "dynamic-code", "`new Function(...)` compiles code at run time: forbidden in device code");
      }
    },
  },
};
