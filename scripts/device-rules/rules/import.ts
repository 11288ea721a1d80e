// import: every module the device loads must be known, and found, at build time.
import { staticString } from "../ast.js";
import type { SpecifierKind } from "../device-code.js";
import type { DeviceRule } from "../types.js";

export const importRule: DeviceRule = {
  id: "import",
  description: "imports that cannot be resolved or checked.",
  nodes: {
    ImportExpression(node, _st, m) {
      if (node.type === "ImportExpression" && staticString(node.source) === null) {
        m.report(node, "import", "dynamic `import()` with a computed specifier: device modules must be known at build time");
      }
    },
  },
};

/** The import violation of a non-relative specifier that names a path or a URL, if it is one. */
export function importSpecifierMessage(spec: string, kind: SpecifierKind): string | null {
  return kind === "path-or-url" ? `import of "${spec}": device code imports only relative modules and allowed packages` : null;
}

export function unresolvedImportMessage(spec: string): string {
  return `cannot resolve "${spec}"`;
}
