// Node module resolve hook, registered by node-child.ts in each test file's process:
// the bare specifier "uvu" resolves to our reporting stand-in (host-tests/xs/uvu-shim.ts).
// "uvu/assert" and the rest of uvu are untouched. Plain .mjs because hooks run in the loader thread.
let shimUrl = "";

export function initialize(data) {
  shimUrl = data.shimUrl;
}

export async function resolve(specifier, context, next) {
  if (specifier === "uvu") return { url: shimUrl, format: "module", shortCircuit: true };
  return next(specifier, context);
}
