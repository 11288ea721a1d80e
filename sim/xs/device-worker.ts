// An xsnap-worker made like the ESP32's XS (the `creation` of targets/esp32/manifest.json), built
// from the sources @agoric/xsnap already has in node_modules, without network, and cached.
//
// The stock xsnap-worker creates its machine with a hardcoded creation (a stack of 4,096 slots,
// 32 MiB of chunks, 256 Ki slots: xsnap-worker.c, no flag changes it). This build copies
// xsnap-native/xsnap/{sources,makefiles} to node_modules/.cache/lichen-xsnap-device/<key>/, patches
// the creation in xsnap-worker.c and adds one global, then builds it with xsnap's own makefile (the
// XS engine's sources are read where they are). <key> hashes everything the build depends on, so a
// change of the manifest's creation or of @agoric/xsnap builds anew; a build in progress never
// shows (it is renamed into place when done).
//
// On the device, module bodies run at preload, on the build machine (xsl), and their results are in
// flash: the 512 slots of stack are for the app's run time only. A test bundle here instead runs
// every module body in one script, whose declarations alone take more than 512 slots. So the
// machine runs the preload with xsnap's own stack (4,096 slots), and the global
// `lichenDeviceStack()` ends it: from then on the stack is the device's (`settleAsPreloaded` in
// device-realm.ts calls it, once the module bodies ran). `lichenDeviceStack(n)` sets n slots
// instead (bench/esp32-stack.ts looks for the fewest the firmware needs); it returns the slots set.
// `lichenDeviceStackHere(n)` grants n slots above its caller (a test harness), and
// `lichenDeviceStackLimit()` reads the limit in force, so that it can be put back.
// Overflowing the stack ends the worker with exit code 12, as XS aborts on the device.
//
// Chunks and slots start at the ESP32's (78,848 bytes, 4,928 slots) and grow by as much again: on
// the device preloaded modules live in flash, here they take the heap, so it cannot stay fixed (the
// device's budget is asserted as live slots instead: host-tests/device/esp32-memory.test.ts). Keys
// are Moddable's defaults for an app (manifest_base.json: 32, growing by 32; name and symbol tables
// of 53 and 3); the parser keeps xsnap's buffer: on the device xsc parses on the build machine.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const XSNAP = join(ROOT, "node_modules/@agoric/xsnap");
const CACHE = join(ROOT, "node_modules/.cache/lichen-xsnap-device");
const DEVICE_MANIFEST = join(ROOT, "targets/esp32/manifest.json");

/** The ESP32's creation, as targets/esp32/manifest.json gives it (platforms.esp32.creation). */
export interface DeviceCreation {
  chunkBytes: number;
  heapSlots: number;
  stackSlots: number;
}

export function deviceCreation(): DeviceCreation {
  const manifest = JSON.parse(readFileSync(DEVICE_MANIFEST, "utf8")) as {
    platforms?: { esp32?: { creation?: { chunk?: { initial?: number }; heap?: { initial?: number }; stack?: number } } };
  };
  const c = manifest.platforms?.esp32?.creation;
  const chunkBytes = c?.chunk?.initial;
  const heapSlots = c?.heap?.initial;
  const stackSlots = c?.stack;
  for (const [name, v] of Object.entries({ chunkBytes, heapSlots, stackSlots })) {
    if (!Number.isInteger(v) || (v as number) <= 0) throw new Error(`${DEVICE_MANIFEST}: platforms.esp32.creation has no valid ${name}`);
  }
  return { chunkBytes: chunkBytes!, heapSlots: heapSlots!, stackSlots: stackSlots! };
}

/** The stack the machine is created with: the preload's (xsnap's own), before lichenDeviceStack(). */
export const PRELOAD_STACK_SLOTS = 4096;

/** The creation block of xsnap-worker.c, as @agoric/xsnap 0.15 has it (checked before patching). */
const STOCK_CREATION = /xsCreation _creation = \{[^}]*4096,\s*\/\* stackCount \*\/[^}]*\};/;

function creationBlock(c: DeviceCreation): string {
  return [
    "xsCreation _creation = {",
    `\t\t${c.chunkBytes},\t/* initialChunkSize: the ESP32's (lichen) */`,
    `\t\t${c.chunkBytes},\t/* incrementalChunkSize: grows, preloaded modules are not in flash here */`,
    `\t\t${c.heapSlots},\t/* initialHeapCount: the ESP32's */`,
    `\t\t${c.heapSlots},\t/* incrementalHeapCount */`,
    `\t\t${PRELOAD_STACK_SLOTS},\t/* stackCount: the preload's; lichenDeviceStack() sets the device's */`,
    "\t\t32,\t\t/* initialKeyCount: Moddable's manifest_base.json */",
    "\t\t32,\t\t/* incrementalKeyCount */",
    "\t\t53,\t\t/* nameModulo */",
    "\t\t3,\t\t/* symbolModulo */",
    "\t\tparserBufferSize,\t/* parserBufferSize: xsnap's (xsc parses on the build machine) */",
    "\t\t1993,\t\t/* parserTableModulo */",
    "\t};",
  ].join("\n");
}

function deviceStackFunction(c: DeviceCreation): string {
  return `
/* lichen: lichenDeviceStack([slots]) ends the preload: from then on the stack has the device's
   ${c.stackSlots} slots (or \`slots\`), as the ESP32's creation gives them. Returns the slots set. */
static void xs_lichenDeviceStack(xsMachine* the)
{
	xsIntegerValue slots = ${c.stackSlots};
	xsSlot* bottom;
	if (xsToInteger(xsArgc) > 0)
		slots = xsToInteger(xsArg(0));
	bottom = the->stackTop - slots;
	if (slots <= 0 || slots > ${PRELOAD_STACK_SLOTS} || bottom >= the->stack)
		xsRangeError("lichenDeviceStack: cannot make the stack %d slots", (int)slots);
	the->stackBottom = bottom;
	xsResult = xsInteger(slots);
}

/* lichen: lichenDeviceStackHere([slots]) grants the code about to be called ${c.stackSlots} slots (or
   \`slots\`) above the caller's stack as it is now, whatever sits under it (a test harness): the
   limit is set from this call's frame, which is laid out as the frame of the next call the caller
   makes. Returns the slots in use at this call (the caller's depth, this frame included). */
static void xs_lichenDeviceStackHere(xsMachine* the)
{
	xsIntegerValue slots = ${c.stackSlots};
	xsSlot* bottom;
	if (xsToInteger(xsArgc) > 0)
		slots = xsToInteger(xsArg(0));
	bottom = the->stack - slots;
	if (slots <= 0 || bottom < the->stackTop - ${PRELOAD_STACK_SLOTS})
		xsRangeError("lichenDeviceStackHere: cannot grant %d slots above %d in use", (int)slots, (int)(the->stackTop - the->stack));
	the->stackBottom = bottom;
	xsResult = xsInteger((xsIntegerValue)(the->stackTop - the->stack));
}

/* lichen: lichenDeviceStackLimit() is the limit in force, in slots from the stack's top: what
   lichenDeviceStack(n) takes to put it back (after a turn of a simulated event loop, device-turn.ts). */
static void xs_lichenDeviceStackLimit(xsMachine* the)
{
	xsResult = xsInteger((xsIntegerValue)(the->stackTop - the->stackBottom));
}
`;
}

const AGENT = "void xsBuildAgent(xsMachine* machine)\n{\n\txsBeginHost(machine);\n\txsVars(1);\n";

/** Where the worker deletes its machine: XS frees the stack's block from stackBottom, which
 * lichenDeviceStack() moved into the block ("free(): invalid pointer" at exit): put it back first. */
const DELETE = "\txsDeleteMachine(machine);\n\tfxTerminateSharedCluster();\n";
const RESTORE_STACK = `\tmachine->stackBottom = machine->stackTop - ${PRELOAD_STACK_SLOTS}; /* lichen: the block's base, as allocated */\n`;

function patchWorkerSource(source: string, c: DeviceCreation): string {
  if (!STOCK_CREATION.test(source) || !source.includes(AGENT) || source.split(DELETE).length !== 2) {
    throw new Error("xsnap-worker.c is not the one this build patches (@agoric/xsnap changed): update sim/xs/device-worker.ts");
  }
  return source
    .replace(STOCK_CREATION, creationBlock(c))
    .replace(DELETE, `${RESTORE_STACK}${DELETE}`)
    .replace(
      AGENT,
      `${deviceStackFunction(c)}\n${AGENT}\txsResult = xsNewHostFunction(xs_lichenDeviceStack, 1);\n\txsDefine(xsGlobal, xsID("lichenDeviceStack"), xsResult, xsDontEnum);\n\txsResult = xsNewHostFunction(xs_lichenDeviceStackHere, 1);\n\txsDefine(xsGlobal, xsID("lichenDeviceStackHere"), xsResult, xsDontEnum);\n\txsResult = xsNewHostFunction(xs_lichenDeviceStackLimit, 0);\n\txsDefine(xsGlobal, xsID("lichenDeviceStackLimit"), xsResult, xsDontEnum);\n`,
    );
}

export type DeviceWorker = { ok: true; path: string; creation: DeviceCreation; built: boolean } | { ok: false; reason: string };

let cached: DeviceWorker | undefined;

/**
 * The device xsnap-worker's path, built on first use (about 30 s with a C compiler and make; then
 * cached). Where it cannot be built (no compiler, an unknown platform, sources changed), `ok` is
 * false and `reason` says why: the tests that need it report skipped.
 */
export function deviceXsnapWorker(): DeviceWorker {
  cached ??= buildDeviceXsnapWorker();
  return cached;
}

/** Builds the device xsnap-worker into `cacheDir` (unless it is there), with `env` for make. */
export function buildDeviceXsnapWorker(opts: { cacheDir?: string; env?: NodeJS.ProcessEnv } = {}): DeviceWorker {
  const cacheDir = opts.cacheDir ?? CACHE;
  const platform = process.platform === "linux" ? "lin" : process.platform === "darwin" ? "mac" : null;
  if (platform === null) return { ok: false, reason: `no xsnap makefile for ${process.platform}` };
  try {
    const creation = deviceCreation();
    const pkg = JSON.parse(readFileSync(join(XSNAP, "package.json"), "utf8")) as { version: string };
    const workerSource = readFileSync(join(XSNAP, "xsnap-native/xsnap/sources/xsnap-worker.c"), "utf8");
    const patched = patchWorkerSource(workerSource, creation);
    const key = createHash("sha256").update(`${pkg.version}\n${platform}\n${patched}`).digest("hex").slice(0, 16);
    const dir = join(cacheDir, key);
    const bin = join(dir, `xsnap/build/bin/${platform}/release/xsnap-worker`);
    if (existsSync(bin)) return { ok: true, path: bin, creation, built: false };

    const tmp = `${dir}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(join(tmp, "xsnap/makefiles"), { recursive: true });
    cpSync(join(XSNAP, "xsnap-native/xsnap/sources"), join(tmp, "xsnap/sources"), { recursive: true });
    cpSync(join(XSNAP, `xsnap-native/xsnap/makefiles/${platform}`), join(tmp, `xsnap/makefiles/${platform}`), { recursive: true });
    writeFileSync(join(tmp, "xsnap/sources/xsnap-worker.c"), patched);
    try {
      // As @agoric/xsnap's own build (src/build.js) runs it, release goal only.
      execFileSync(
        "make",
        [`MODDABLE=${join(XSNAP, "moddable")}`, "GOAL=release", `XSNAP_VERSION=${pkg.version}`, 'CC=cc "-D__has_builtin(x)=1"', "-f", "xsnap-worker.mk"],
        { cwd: join(tmp, `xsnap/makefiles/${platform}`), stdio: ["ignore", "pipe", "pipe"], encoding: "utf8", env: opts.env ?? process.env },
      );
    } catch (e) {
      const err = e as { stderr?: string; message: string };
      rmSync(tmp, { recursive: true, force: true });
      const tail = (err.stderr ?? "").trim().split("\n").slice(-5).join("\n");
      return { ok: false, reason: `building the device xsnap-worker failed: ${err.message.split("\n")[0]}${tail ? `\n${tail}` : ""}` };
    }
    try {
      renameSync(tmp, dir);
    } catch {
      rmSync(tmp, { recursive: true, force: true }); // another process put the same build in place first
    }
    if (!existsSync(bin)) return { ok: false, reason: `the device xsnap-worker build left no ${bin}` };
    return { ok: true, path: bin, creation, built: true };
  } catch (e) {
    return { ok: false, reason: `the device xsnap-worker cannot be built: ${(e as Error).message}` };
  }
}

function main(): void {
  const w = deviceXsnapWorker();
  if (!w.ok) {
    console.error(w.reason);
    process.exitCode = 1;
    return;
  }
  console.log(`${w.path} (${w.built ? "built" : "cached"}; stack ${w.creation.stackSlots} slots after preload, heap from ${w.creation.heapSlots} slots, chunks from ${w.creation.chunkBytes} bytes)`);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) main();

/** xsnap-worker's exit code when XS aborts on a stack overflow (E_STACK_OVERFLOW). */
export const STACK_OVERFLOW_EXIT = 12;
