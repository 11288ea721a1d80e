// Which engine runs this test: Node (under tsx) or XS (inside xsnap-worker).
//
// The XS bundles are built with esbuild `define: { __LICHEN_ENGINE__: '"xs"' }` (see run.ts), so
// there the answer is a constant. Without the define (Node, tsx) the identifier does not exist and
// `typeof` is "undefined"; we then fall back to feature detection: only xsnap-worker has a global
// `issueCommand` function.

declare const __LICHEN_ENGINE__: "node" | "xs" | undefined;

export type Engine = "node" | "xs";

export const ENGINE: Engine =
  typeof __LICHEN_ENGINE__ !== "undefined"
    ? __LICHEN_ENGINE__
    : typeof (globalThis as { issueCommand?: unknown }).issueCommand === "function"
      ? "xs"
      : "node";
