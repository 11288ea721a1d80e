// Stand-ins for Moddable SDK modules, for the tests of device code that imports them. An import of
// one of these specifiers from a Moddable-specific file (`*-moddable.ts`) resolves to the stand-in:
// in the XS bundles (moddableShimsPlugin, given to ../xs/bundle.ts) and in the Node test processes
// (host-tests/runner/node-child.ts, through its resolve hook). Anywhere else the specifier means
// what it says (on Node, "mqtt" is MQTT.js).
import { fileURLToPath } from "node:url";
import type { Plugin } from "esbuild";

export const MODDABLE_SHIMS: Readonly<Record<string, string>> = Object.freeze({
  mqtt: fileURLToPath(new URL("./mqtt.ts", import.meta.url)),
});

/** Is `importer` (a path or file URL) a Moddable-specific module? */
export function isModdableImporter(importer: string | undefined): boolean {
  return importer !== undefined && /-moddable\.[cm]?[jt]s$/.test(importer.replace(/[?#].*$/, ""));
}

/** esbuild: a Moddable SDK module imported by a `*-moddable.ts` file → its stand-in. */
export const moddableShimsPlugin: Plugin = {
  name: "moddable-shims",
  setup(b) {
    const names = Object.keys(MODDABLE_SHIMS).map((n) => n.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&"));
    if (names.length === 0) return;
    b.onResolve({ filter: new RegExp(`^(${names.join("|")})$`) }, (args) => (isModdableImporter(args.importer) ? { path: MODDABLE_SHIMS[args.path]! } : undefined));
  },
};
