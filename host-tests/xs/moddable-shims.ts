// Stand-ins for Moddable SDK modules, for the tests of device code that imports them. An import of
// one of these specifiers from a Moddable-specific file (`*-moddable.ts`) resolves to the stand-in:
// in the XS bundles (bundle.ts) and in the Node test processes (runner/node-child.ts, through
// runner/resolve-hook.mjs). Anywhere else the specifier means what it says (on Node, "mqtt" is MQTT.js).
import { fileURLToPath } from "node:url";

export const MODDABLE_SHIMS: Readonly<Record<string, string>> = Object.freeze({
  mqtt: fileURLToPath(new URL("./moddable-mqtt-shim.ts", import.meta.url)),
});

/** Is `importer` (a path or file URL) a Moddable-specific module? */
export function isModdableImporter(importer: string | undefined): boolean {
  return importer !== undefined && /-moddable\.[cm]?[jt]s$/.test(importer.replace(/[?#].*$/, ""));
}
