// The first module of an XS bundle that talks to its host (the test runner's bundles import it
// first: host-tests/runner/xs-run.ts). It gives the bundle what xsnap-worker lacks:
// - `console` (log/info/warn/error/debug/trace/dir), forwarded to the host as {kind:"log"} so the
//   output stays in order with the test results (xsnap's own `print` goes to the worker's stdout);
// - `globalThis.handleCommand`, for the host's answers between cranks (host-channel.ts).
// It runs at import time on purpose: it must be in place before the test file's modules run.

import { hostSend, installHandleCommand } from "./host-channel.js";

function show(v: unknown, depth = 0): string {
  if (typeof v === "string") return depth ? JSON.stringify(v) : v;
  if (typeof v === "bigint") return `${v}n`;
  if (typeof v === "function") return `[Function ${v.name || "anonymous"}]`;
  if (typeof v === "symbol" || typeof v === "undefined" || v === null || typeof v !== "object") return String(v);
  if (v instanceof Error) return v.stack && v.stack.indexOf(v.message) >= 0 ? v.stack : `${v.name}: ${v.message}`;
  if (depth > 4) return "[…]";
  if (ArrayBuffer.isView(v)) {
    const bytes = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
    return `${v.constructor.name}(${bytes.length}) [${Array.from(bytes.subarray(0, 64), (b) => b.toString(16).padStart(2, "0")).join(" ")}${bytes.length > 64 ? " …" : ""}]`;
  }
  if (Array.isArray(v)) return `[${v.map((x) => show(x, depth + 1)).join(", ")}]`;
  if (v instanceof Map) return `Map(${v.size}) {${[...v].map(([k, x]) => `${show(k, depth + 1)} => ${show(x, depth + 1)}`).join(", ")}}`;
  if (v instanceof Set) return `Set(${v.size}) {${[...v].map((x) => show(x, depth + 1)).join(", ")}}`;
  return `{${Object.keys(v).map((k) => `${k}: ${show((v as Record<string, unknown>)[k], depth + 1)}`).join(", ")}}`;
}

function installConsole(): void {
  const g = globalThis as { console?: unknown };
  if (g.console) return;
  const emit =
    (level: string) =>
    (...args: unknown[]): void => {
      hostSend({ kind: "log", level, text: args.map((a) => show(a)).join(" ") });
    };
  g.console = {
    log: emit("log"),
    info: emit("info"),
    debug: emit("debug"),
    warn: emit("warn"),
    error: emit("error"),
    trace: emit("trace"),
    dir: emit("log"),
  };
}

installConsole();
installHandleCommand();
