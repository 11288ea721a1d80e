// builtin-name: Moddable's base manifest (`"strip": "*"`) strips built-in functions' names.
import { memberName } from "../ast.js";
import type { DeviceRule } from "../types.js";

/** Built-in functions whose `.name` the device strips. */
const BUILTIN_FUNCTIONS: ReadonlySet<string> = new Set([
  "Object", "Function", "Array", "String", "Number", "Boolean", "Symbol", "BigInt", "Math", "JSON", "Reflect",
  "Error", "TypeError", "RangeError", "SyntaxError", "ReferenceError", "EvalError", "URIError", "AggregateError",
  "Promise", "Proxy", "RegExp", "Map", "Set", "WeakMap", "WeakSet", "WeakRef", "FinalizationRegistry", "Date",
  "ArrayBuffer", "SharedArrayBuffer", "DataView", "Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array",
  "Uint16Array", "Int32Array", "Uint32Array", "Float16Array", "Float32Array", "Float64Array", "BigInt64Array",
  "BigUint64Array", "TextEncoder", "TextDecoder", "parseInt", "parseFloat", "isNaN", "isFinite",
]);

export const builtinName: DeviceRule = {
  id: "builtin-name",
  description:
    "`.name` of a built-in function (`Uint8Array.name`, `x.constructor.name`): Moddable's base manifest strips built-in functions' names, so it is undefined on the device.",
  nodes: {
    MemberExpression(node, st, m) {
      if (node.type !== "MemberExpression" || memberName(node) !== "name") return;
      const owner = m.globalName(node.object, st.scope);
      const ofConstructor = node.object.type === "MemberExpression" && memberName(node.object) === "constructor";
      if ((owner !== null && BUILTIN_FUNCTIONS.has(owner)) || ofConstructor) {
        m.report(node, "builtin-name", `\`${m.text(node)}\`: Moddable strips the names of built-in functions, so this is undefined on the device; name the type yourself (a table, a string constant)`);
      }
    },
  },
};
