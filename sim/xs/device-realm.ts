// Makes xsnap's XS behave like the device's XS after Moddable's preload (what the real SDK showed):
// - Moddable's base manifest strips built-in functions' names ("strip": "*"), at preload and at
//   run time: this module deletes them when it loads, before the modules under test load;
// - preloading runs the module bodies, then freezes everything they made and the intrinsics:
//   `settleAsPreloaded` freezes the intrinsics and the modules' exports, once the bundle's module
//   bodies have run and before any test does.
// What cannot be emulated here has a device rule instead (scripts/check-device-rules.ts).

/** Every built-in function of the global object, its prototypes' methods and static methods. */
function builtinFunctions(): Set<Function> {
  const seen = new Set<object>();
  const functions = new Set<Function>();
  const visit = (o: unknown, depth: number): void => {
    if ((typeof o !== "object" && typeof o !== "function") || o === null || seen.has(o) || depth > 4) return;
    seen.add(o);
    if (typeof o === "function") functions.add(o);
    for (const key of Reflect.ownKeys(o)) {
      const d = Object.getOwnPropertyDescriptor(o, key)!;
      for (const v of [d.value, d.get, d.set]) visit(v, depth + 1);
    }
    visit(Object.getPrototypeOf(o), depth + 1);
  };
  for (const key of Reflect.ownKeys(globalThis)) {
    const d = Object.getOwnPropertyDescriptor(globalThis, key)!;
    if (d.value !== globalThis) visit(d.value, 0);
  }
  return functions;
}

/** Intrinsics the host channel and the test runner write to: left as they are. */
const HOST_GLOBALS: ReadonlySet<PropertyKey> = new Set(["console", "handleCommand", "issueCommand", "print", "gc", "performance", "setImmediate", "currentMeterLimit", "resetMeter"]);

function stripBuiltinNames(): void {
  for (const f of builtinFunctions()) {
    const d = Object.getOwnPropertyDescriptor(f, "name");
    if (d?.configurable) delete (f as { name?: string }).name;
  }
}

/** Freezes `root` and everything reachable from it through properties and prototypes. */
function deepFreeze(root: unknown, seen: Set<object>): void {
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const o = stack.pop();
    if ((typeof o !== "object" && typeof o !== "function") || o === null || seen.has(o)) continue;
    seen.add(o);
    if (ArrayBuffer.isView(o) && !(o instanceof DataView)) {
      // a typed array with elements cannot be frozen in JS; on the device it is read-only flash
      stack.push(Object.getPrototypeOf(o));
      continue;
    }
    Object.freeze(o);
    for (const key of Reflect.ownKeys(o)) {
      const d = Object.getOwnPropertyDescriptor(o, key)!;
      stack.push(d.value, d.get, d.set);
    }
    stack.push(Object.getPrototypeOf(o));
  }
}

/**
 * After the module bodies ran, as preload leaves them: the intrinsics frozen (so assigning a
 * property that a frozen prototype holds throws, as `this.name = ...` in an Error subclass does on
 * the device), and the device modules' exports frozen with everything they reach (functions,
 * classes, their prototypes, constant tables).
 */
export function settleAsPreloaded(moduleNamespaces: readonly object[]): void {
  const seen = new Set<object>();
  for (const key of Reflect.ownKeys(globalThis)) {
    if (HOST_GLOBALS.has(key)) continue;
    const d = Object.getOwnPropertyDescriptor(globalThis, key)!;
    if (d.value !== globalThis) deepFreeze(d.value, seen);
  }
  for (const ns of moduleNamespaces) for (const key of Reflect.ownKeys(ns)) deepFreeze((ns as Record<PropertyKey, unknown>)[key], seen);
}

stripBuiltinNames();
