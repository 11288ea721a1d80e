// lichen's version, from its package.json. The module runs from targets/rpi/ in the repository and
// from dist/targets/rpi/ in the installed package, so it looks in the nearest parent that has one.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const CANDIDATES = ["../../package.json", "../../../package.json"];

export function packageVersion(): string {
  for (const rel of CANDIDATES) {
    try {
      const pkg = JSON.parse(readFileSync(fileURLToPath(new URL(rel, import.meta.url)), "utf8")) as { name?: unknown; version?: unknown };
      if (pkg.name === "lichen" && typeof pkg.version === "string") return pkg.version;
    } catch {
      // not there: try the next
    }
  }
  return "unknown";
}
