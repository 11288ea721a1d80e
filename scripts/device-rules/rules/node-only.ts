// node-only: nothing that exists only under Node (or the web) may reach the device.
import { DEVICE_PACKAGES, MODDABLE_MODULES, type SpecifierKind } from "../device-code.js";
import { NODE_GLOBALS } from "../builtins.js";
import type { DeviceRule } from "../types.js";

export const nodeOnly: DeviceRule = {
  id: "node-only",
  description:
    "Node builtins (`node:*` and bare names), packages off the allow-list, Node-only modules of this repo (`sqlite.ts`, `*-node.ts`), and Node/web globals XS lacks.",
  global(name, node, shown, m) {
    if (NODE_GLOBALS.has(name)) {
      m.report(node, "node-only", `\`${shown}\` is a Node/web global that XS on the device lacks; take it as a parameter or keep this code in a Node-only file`);
    }
  },
};

/** The node-only violation of an import of a Node builtin or a package off the allow-list, if it is one. */
export function nodeOnlySpecifierMessage(spec: string, kind: SpecifierKind): string | null {
  if (kind === "node-builtin") return `import of Node builtin "${spec}" in device code`;
  if (kind !== "other-package") return null;
  const moddable = MODDABLE_MODULES.includes(spec) ? " (a Moddable module: import it only from a `*-moddable.ts` file or targets/esp32/)" : "";
  return `import of package "${spec}" in device code: not on the device allow-list (${DEVICE_PACKAGES.join(", ") || "empty"})${moddable}`;
}

/** The node-only violation of a relative import of a Node-only file of this repository. */
export function nodeOnlyImportMessage(spec: string, resolved?: string): string {
  const target = resolved ? ` (${resolved})` : "";
  return `import of Node-only module "${spec}"${target} from device code: Node-only files (sqlite.ts, *-node.ts) must never be reachable from device code`;
}
