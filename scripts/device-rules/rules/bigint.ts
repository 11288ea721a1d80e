// bigint: BigInt allocates on every operation in XS; timestamps and counters are numbers.
import { memberName } from "../ast.js";
import { BIGINT_GLOBALS } from "../builtins.js";
import type { DeviceRule } from "../types.js";

const BIGINT_ACCESSORS: ReadonlySet<string> = new Set(["getBigInt64", "getBigUint64", "setBigInt64", "setBigUint64"]);
const WHY = "BigInt allocates on every operation in XS; timestamps and counters must be numbers";

export const bigint: DeviceRule = {
  id: "bigint",
  description: "BigInt(...), bigint literals, BigInt64 arrays and accessors.",
  global(name, node, shown, m) {
    if (BIGINT_GLOBALS.has(name)) m.report(node, "bigint", `\`${shown}\` in device code: ${WHY}`);
  },
  nodes: {
    Literal(node, _st, m) {
      if (node.type === "Literal" && node.bigint !== undefined) {
        m.report(node, "bigint", `bigint literal \`${node.raw ?? node.bigint + "n"}\` in device code: ${WHY}`);
      }
    },
    MemberExpression(node, _st, m) {
      if (node.type !== "MemberExpression") return;
      const name = memberName(node);
      if (name !== null && BIGINT_ACCESSORS.has(name)) m.report(node, "bigint", `\`${name}\` in device code: ${WHY}`);
    },
  },
};
