// Plain-text descriptions of thrown values, the same on Node and XS (used by the uvu shim and prop.ts).

// Color codes (uvu's diff colors with kleur): stripped, reports are plain text.
// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/g;

// Frames of the test machinery and of dependencies: not where a failure is.
const MACHINERY = /node_modules|node:|sim\/xs\/|host-tests\/runner\/|host-tests\/prop\./;

/** Where the error was thrown, as "at ..." line(s).
 * Node: the first frame in the project's own files, as a path from the repo root.
 * XS: stacks of an eval'd bundle name no files, only bundle lines (`at f (#0:123)`): every such
 * frame is kept, and run.ts maps them to source lines with the bundle's source map, then keeps the
 * first frame outside the machinery. */
export function where(stack: string | undefined, message = ""): string {
  // The frames follow the message (which may have several lines, even "at ..." lines of its own).
  let text = stack ?? "";
  const m = message ? text.indexOf(message) : -1;
  text = m >= 0 ? text.slice(m + message.length) : text.slice(text.indexOf("\n") + 1);
  const frames = text.split("\n").map((l) => l.trim());
  const xs = frames.filter((f) => /\(#\d+:\d+\)$/.test(f));
  if (xs.length) return xs.slice(0, 16).map((f) => (f.startsWith("at ") ? f : `at ${f}`)).join("\n");
  for (const f of frames) {
    if (MACHINERY.test(f) || !/\.[cm]?[jt]sx?:\d+/.test(f)) continue;
    const rel = f.replace(/(?:file:\/\/)?\/[^\s()]*?\/(?=(?:host-tests|sim|src|bench|scripts|targets|examples)\/)/, "");
    return rel.startsWith("at ") ? rel : `at ${rel}`;
  }
  return "";
}

/** A readable description of a thrown value: "Name: message", uvu's Assertion diff if any, and
 * where it was thrown. */
export function describeError(e: unknown): string {
  if (e === null || typeof e !== "object") return `thrown non-error: ${String(e)}`;
  const err = e as Error & { details?: unknown };
  let s = typeof err.message === "string" ? err.message : String(e);
  const name = typeof err.name === "string" ? err.name : "";
  if (name && name !== "Error" && name !== "Assertion") s = `${name}: ${s}`;
  if (typeof err.details === "string" && err.details) {
    s += "\n" + err.details.replace(ANSI, "").replace(/^\n+|\s+$/g, "");
  }
  const at = where(err.stack, typeof err.message === "string" ? err.message : "");
  if (at) s += `\n${at}`;
  return s;
}
