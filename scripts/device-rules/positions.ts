// Original (TypeScript) positions of nodes of the transpiled JavaScript, through esbuild's source map.
import { SourceMap, type SourceMapPayload } from "node:module";

export class PositionMap {
  private readonly map: SourceMap | null;
  constructor(mapJson: string | undefined) {
    let map: SourceMap | null = null;
    if (mapJson) {
      try {
        map = new SourceMap(JSON.parse(mapJson) as SourceMapPayload);
      } catch {
        map = null;
      }
    }
    this.map = map;
  }
  /** Generated (1-based line, 0-based column) to original (1-based line, 1-based column). */
  original(line: number, column: number): { line: number; column: number } {
    // The nearest mapping at or before the node (on this line or an earlier one). esbuild maps the
    // start of every token and expression it prints, so that is the node's own mapping (or the
    // token's just before it, e.g. for a node printed after a /* @__PURE__ */ comment).
    const entry = this.map?.findEntry(line - 1, column) as { originalLine?: number; originalColumn?: number } | undefined;
    if (entry?.originalLine === undefined || entry.originalColumn === undefined) return { line, column: column + 1 };
    return { line: entry.originalLine + 1, column: entry.originalColumn + 1 };
  }
}
