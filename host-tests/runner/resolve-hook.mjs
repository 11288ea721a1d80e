// Node module resolve hook, registered by node-child.ts in each test file's process:
// - the bare specifier "uvu" resolves to our reporting stand-in (host-tests/runner/uvu-shim.ts);
//   "uvu/assert" and the rest of uvu are untouched;
// - a Moddable SDK module (e.g. "mqtt") imported by a `*-moddable.ts` file resolves to its
//   stand-in (sim/moddable/shims.ts), as in the XS bundles; imported by anything else,
//   it is what Node finds (MQTT.js for "mqtt").
// Plain .mjs because hooks run in the loader thread.
let shimUrl = "";
let moddableShims = {};

export function initialize(data) {
  shimUrl = data.shimUrl;
  moddableShims = data.moddableShims ?? {};
}

export async function resolve(specifier, context, next) {
  if (specifier === "uvu") return { url: shimUrl, format: "module", shortCircuit: true };
  const shim = moddableShims[specifier];
  if (shim !== undefined && /-moddable\.[cm]?[jt]s$/.test((context.parentURL ?? "").replace(/[?#].*$/, ""))) {
    return { url: shim, format: "module", shortCircuit: true };
  }
  return next(specifier, context);
}
