// Globals that more than one rule knows of.

/** Globals that Node (or the web) has and XS on the device lacks, or that mark host-only code. */
export const NODE_GLOBALS: ReadonlySet<string> = new Set([
  "Buffer", "process", "require", "module", "exports", "global", "__dirname", "__filename",
  "structuredClone", "queueMicrotask",
  "setTimeout", "setInterval", "setImmediate", "clearTimeout", "clearInterval", "clearImmediate",
  "crypto", "URL", "URLSearchParams", "Intl", "performance",
  "fetch", "atob", "btoa", "AbortController", "EventTarget", "Blob", "MessageChannel",
]);

/** Objects through which a global can be reached: `globalThis.process`. */
export const GLOBAL_OBJECTS: ReadonlySet<string> = new Set(["globalThis", "self", "window"]);

export const BIGINT_GLOBALS: ReadonlySet<string> = new Set(["BigInt", "BigInt64Array", "BigUint64Array"]);

/** Globals that compile code at run time. */
export const DYNAMIC_CODE_GLOBALS: ReadonlySet<string> = new Set(["eval", "Function", "WebAssembly"]);

/** Classes whose instances must not be created at load time (they become read-only in flash). */
export const INSTANCE_CLASSES: ReadonlySet<string> = new Set([
  "Map", "Set", "WeakMap", "WeakSet", "WeakRef", "Date",
  "ArrayBuffer", "SharedArrayBuffer", "DataView",
  "Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array",
  "Int32Array", "Uint32Array", "Float16Array", "Float32Array", "Float64Array",
  "BigInt64Array", "BigUint64Array",
]);
