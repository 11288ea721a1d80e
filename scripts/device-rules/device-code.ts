// What is device code: the entry points, the packages and Moddable modules it may import, the
// files that are Node-only by name, and what an import specifier names.
import { builtinModules } from "node:module";
import path from "node:path";

/** The library's device code: what lichen's Moddable manifest ships (scripts/build.ts). */
export const LIBRARY_DEVICE_DIRS: readonly string[] = Object.freeze(["src/core", "src/store", "src/transport"]);

/** The sensor node's firmware (the Moddable app). */
export const FIRMWARE_DIR = "targets/esp32";

/**
 * Device entry points, relative to the repository root. Every `.ts` file under
 * these directories (recursively; `.d.ts` excluded) ships to the ESP32, except
 * the files whose names mark them as Node-only (see `isNodeOnlyFile`). Every
 * module reachable from them through relative static imports/re-exports is
 * device code too and is checked with the same rules. Directories that do not
 * exist are skipped.
 */
export const DEVICE_ENTRY_DIRS: readonly string[] = Object.freeze([...LIBRARY_DEVICE_DIRS, FIRMWARE_DIR]);

/** npm packages that device code may import (they are known to build clean with Moddable's
 * toolchain: preloaded without warnings, no built-in's `.name`). None today. */
export const DEVICE_PACKAGES: readonly string[] = [];

/**
 * Moddable SDK modules. They may be imported only by Moddable-specific files:
 * files named `*-moddable.ts` and everything under `targets/esp32/`.
 * (`embedded:` specifiers are ECMA-419 modules.)
 */
export const MODDABLE_MODULES: readonly string[] = ["mqtt", "preference", "flash", "timer", "time", "net", "mc/config"];

const NODE_BUILTINS: ReadonlySet<string> = new Set(builtinModules);

/** Node-only files of this repository: `sqlite.ts`, `*-node.ts` (`.js`/`.mts` too). */
export function isNodeOnlyFile(file: string): boolean {
  const name = path.basename(file).replace(/\.(d\.)?[cm]?[tj]sx?$/, "");
  return name === "sqlite" || name.endsWith("-node");
}

function isModdableFile(file: string): boolean {
  const norm = file.split(path.sep).join("/");
  const name = path.basename(norm).replace(/\.[cm]?[tj]sx?$/, "");
  return name.endsWith("-moddable") || /(^|\/)targets\/esp32\//.test(norm);
}

export function isRelative(spec: string): boolean {
  return spec === "." || spec === ".." || spec.startsWith("./") || spec.startsWith("../");
}

export function packageName(spec: string): string {
  const parts = spec.split("/");
  return spec.startsWith("@") ? parts.slice(0, 2).join("/") : (parts[0] ?? spec);
}

/** What an import specifier of the device module `fileName` names. */
export type SpecifierKind =
  | "relative" // a module of this repository, resolved on disk
  | "moddable" // a Moddable module, imported from a Moddable-specific file
  | "node-builtin"
  | "path-or-url" // an absolute path or a URL
  | "allowed-package"
  | "other-package";

export function specifierKind(spec: string, fileName: string): SpecifierKind {
  if (isRelative(spec)) return "relative";
  if (spec.startsWith("node:")) return "node-builtin";
  if (isModdableFile(fileName) && (MODDABLE_MODULES.includes(spec) || spec.startsWith("embedded:"))) return "moddable";
  if (NODE_BUILTINS.has(spec) || NODE_BUILTINS.has(packageName(spec))) return "node-builtin";
  if (spec.startsWith("/") || /^[A-Za-z][A-Za-z0-9+.-]*:/.test(spec)) return "path-or-url";
  return DEVICE_PACKAGES.includes(packageName(spec)) ? "allowed-package" : "other-package";
}
