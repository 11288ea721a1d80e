/**
 * The firmware through the Moddable SDK's own toolchain: `npm run firmware`.
 *
 *   npm run firmware -- --platform esp32|lin [--flash] [--run] [--minutes N] [key=value ...]
 *
 * 1. Checks the Moddable SDK: $MODDABLE set, its host tools built (mcconfig). Without it, says
 *    what to install and exits 2.
 * 2. Builds the library and the firmware's JavaScript (scripts/build.ts, as `npm run build`).
 * 3. Runs mcconfig in targets/esp32 with the key=value settings (mc/config; see docs/esp32.md),
 *    into build/firmware/. `fleet` and `gateway` default to what `lichen gateway` uses on this
 *    machine (targets/rpi/gateway-config.ts), so a node built here meets the gateway run here.
 *    - esp32 with ESP-IDF ($IDF_PATH): the firmware image; with --flash, flashed to the board.
 *    - esp32 without ESP-IDF: compiled and linked by xsc and xsl only (the generated makefile's
 *      mc.xs.c target), which is where preloading happens; the C build needs ESP-IDF.
 *    - lin: the app for Moddable's simulator, mcsim (build/firmware/bin/lin/.../mc.so).
 * 4. Prints xsl's figures: instances, keys, preloaded slots, aliases, and the preload warnings by
 *    module. Exits 1 if the build failed or if any of lichen's modules has a warning.
 * 5. --run (lin): starts `lichen gateway` on a free loopback port (unless broker= is given),
 *    runs the node in mcsim against it (under xvfb-run when there is no display), shows the
 *    node's log, and after --minutes (default: until Ctrl-C) stops both and prints what the
 *    gateway holds.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
/** The `lichen` command (package.json "bin"), which --run starts as the gateway and asks for the export. */
export const LICHEN_BIN = path.join(ROOT, "bin", "lichen.js");
const APP_DIR = path.join(ROOT, "targets", "esp32");
const OUT = path.join(ROOT, "build", "firmware");

export const INSTALL_HELP = [
  "The Moddable SDK is needed: $MODDABLE must name it, with its host tools built.",
  "  git clone https://github.com/Moddable-OpenSource/moddable   (lichen is checked with 8.2.3)",
  "  export MODDABLE=$PWD/moddable",
  "  export PATH=$MODDABLE/build/bin/lin/release:$PATH             (mac: build/bin/mac/release)",
  "  cd $MODDABLE/build/makefiles/lin && make                       (Debian: apt-get install libgtk-3-dev first)",
  "For --platform esp32, also ESP-IDF as Moddable's documentation/devices/esp32.md says ($IDF_PATH);",
  "without it the firmware is only compiled and linked (xsc, xsl).",
].join("\n");

export type SdkCheck = { ok: true; moddable: string; bin: string } | { ok: false; message: string };

/** Is the Moddable SDK there, as Moddable's setup leaves it ($MODDABLE, built host tools)? */
export function findModdableSdk(env: NodeJS.ProcessEnv = process.env): SdkCheck {
  const moddable = env.MODDABLE;
  if (!moddable) return { ok: false, message: `$MODDABLE is not set.\n${INSTALL_HELP}` };
  const bin = path.join(moddable, "build", "bin", process.platform === "darwin" ? "mac" : "lin", "release");
  if (!existsSync(path.join(bin, "mcconfig"))) return { ok: false, message: `$MODDABLE is ${moddable}, but ${path.join(bin, "mcconfig")} is missing: build the host tools.\n${INSTALL_HELP}` };
  return { ok: true, moddable, bin };
}

export interface XslReport {
  instances: number;
  keys: number;
  /** Slots of the preloaded heap (mc.xs.c's mxHeapCount): in flash on the device. */
  heapSlots: number;
  /** Objects preloaded read-only that get a RAM copy when written (mxAliasCount). */
  aliases: number;
  /** Preload warnings, each with the module that has it. */
  warnings: Array<{ module: string; text: string }>;
}

/** xsl's figures from the build's output and the mc.xs.c it wrote. */
export function parseXslOutput(log: string, mcXsC: string): XslReport {
  const counts = /### (\d+) instances, (\d+) keys/.exec(log);
  const define = (name: string): number => Number(new RegExp(`#define ${name} (\\d+)`).exec(mcXsC)?.[1] ?? NaN);
  const warnings: XslReport["warnings"] = [];
  for (const line of log.split("\n")) {
    const m = /^### warning: ([^:]+): (.*)$/.exec(line.trim());
    if (m) warnings.push({ module: m[1]!, text: m[2]! });
  }
  return { instances: Number(counts?.[1] ?? NaN), keys: Number(counts?.[2] ?? NaN), heapSlots: define("mxHeapCount"), aliases: define("mxAliasCount"), warnings };
}

/** Modules of lichen in an xsl warning: the library's and the firmware's. */
export const isLichenModule = (module: string): boolean => module === "main" || module.startsWith("lichen/");

export interface Args {
  platform: "esp32" | "lin";
  flash: boolean;
  run: boolean;
  minutes: number | undefined;
  settings: Map<string, string>;
}

export function parseArgs(argv: string[]): Args {
  const settings = new Map<string, string>();
  let platform: string | undefined;
  let flash = false;
  let run = false;
  let minutes: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--platform" || a === "-p") platform = argv[++i];
    else if (a === "--flash") flash = true;
    else if (a === "--run") run = true;
    else if (a === "--minutes") minutes = Number(argv[++i]);
    else if (/^[A-Za-z][A-Za-z0-9_]*=/.test(a)) settings.set(a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1));
    else throw new Error(`unknown argument ${JSON.stringify(a)}`);
  }
  if (platform !== "esp32" && platform !== "lin") throw new Error("--platform esp32 or --platform lin is required");
  if (flash && platform !== "esp32") throw new Error("--flash is for --platform esp32");
  if (run && platform !== "lin") throw new Error("--run is for --platform lin (Moddable's simulator)");
  if (minutes !== undefined && !(minutes > 0)) throw new Error("--minutes takes a positive number");
  return { platform, flash, run, minutes, settings };
}

/** Runs a command, echoing its output, and returns the output with its exit code. */
function runEcho(cmd: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv }): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    const take = (chunk: Buffer): void => {
      const s = chunk.toString("utf8");
      output += s;
      process.stdout.write(s);
    };
    child.stdout.on("data", take);
    child.stderr.on("data", take);
    child.on("error", (e) => {
      output += String(e);
      resolve({ code: 127, output });
    });
    child.on("close", (code) => resolve({ code: code ?? 1, output }));
  });
}

function findFile(dir: string, name: string): string | undefined {
  if (!existsSync(dir)) return undefined;
  for (const entry of readdirSync(dir)) {
    const p = path.join(dir, entry);
    if (entry === name) return p;
    if (statSync(p).isDirectory()) {
      const found = findFile(p, name);
      if (found) return found;
    }
  }
  return undefined;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function stop(child: ChildProcess | undefined): void {
  if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
    try {
      process.kill(-child.pid, "SIGTERM"); // its process group: xvfb-run's children too
    } catch {
      child.kill("SIGTERM");
    }
  }
}

async function main(argv: string[]): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(argv);
  } catch (e) {
    console.error(`firmware: ${(e as Error).message}\nusage: npm run firmware -- --platform esp32|lin [--flash] [--run [--minutes N]] [key=value ...]`);
    return 2;
  }
  const sdk = findModdableSdk();
  if (!sdk.ok) {
    console.error(`firmware: ${sdk.message}`);
    return 2;
  }
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${sdk.bin}${path.delimiter}${process.env.PATH ?? ""}` };
  const idf = args.platform === "esp32" && !!env.IDF_PATH;
  if (args.flash && !idf) {
    console.error(`firmware: --flash needs ESP-IDF ($IDF_PATH is not set).\n${INSTALL_HELP}`);
    return 2;
  }

  // Defaults that meet: the gateway run on this machine (lichen gateway) and its fleet.
  const { defaultGatewayId, defaults: gatewayDefaults } = await import("../targets/rpi/gateway-config.js");
  const settings = new Map(args.settings);
  if (!settings.has("fleet")) settings.set("fleet", gatewayDefaults().fleet);
  if (!settings.has("gateway")) settings.set("gateway", defaultGatewayId());
  let gatewayPort: number | undefined;
  if (args.run && !settings.has("broker")) {
    gatewayPort = await freePort();
    settings.set("broker", "127.0.0.1");
    settings.set("brokerPort", String(gatewayPort));
  }

  console.log("firmware: npm run build");
  const b = spawnSync(process.execPath, ["--import", "tsx", path.join(ROOT, "scripts", "build.ts")], { cwd: ROOT, stdio: "inherit" });
  if (b.status !== 0) return 1;

  mkdirSync(OUT, { recursive: true });
  const kv = [...settings].map(([k, v]) => `${k}=${v}`);
  let result: { code: number; output: string };
  if (args.platform === "lin") {
    result = await runEcho("mcconfig", ["-m", "-p", "lin", "-t", "build", "-o", OUT, ...kv], { cwd: APP_DIR, env });
  } else if (idf) {
    result = await runEcho("mcconfig", ["-m", "-p", "esp32", ...(args.flash ? [] : ["-t", "build"]), "-o", OUT, ...kv], { cwd: APP_DIR, env });
  } else {
    console.log("firmware: no ESP-IDF ($IDF_PATH unset): compiling and linking with xsc and xsl only");
    const gen = await runEcho("mcconfig", ["-p", "esp32", "-o", OUT, ...kv], { cwd: APP_DIR, env });
    const makefile = path.join(OUT, "tmp", "esp32", "release", "esp32", "makefile");
    if (gen.code !== 0 || !existsSync(makefile)) return 1;
    // The makefile asks ESP-IDF its version and makes sdkconfig.h with it: neither is needed for xsl.
    const target = path.join(path.dirname(makefile), "mc.xs.c");
    result = await runEcho("make", ["-f", makefile, "IDF_PATH=none", "IDF_VERSION=none", "SDKCONFIG_H=", target], { cwd: path.dirname(makefile), env });
  }
  const mcXsC = findFile(path.join(OUT, "tmp", args.platform), "mc.xs.c");
  if (mcXsC === undefined || !result.output.includes("instances,")) {
    console.error(`firmware: the build failed before xsl (exit ${result.code})`);
    return 1;
  }
  const report = parseXslOutput(result.output, readFileSync(mcXsC, "utf8"));
  const ours = report.warnings.filter((w) => isLichenModule(w.module));
  const sdkOwn = report.warnings.length - ours.length;
  console.log(`\nfirmware (${args.platform}): xsl: ${report.instances} instances, ${report.keys} keys; ${report.heapSlots} preloaded slots, ${report.aliases} aliases`);
  console.log(`firmware: preload warnings: ${ours.length} in lichen's modules${sdkOwn ? `, ${sdkOwn} in the SDK's own modules (${[...new Set(report.warnings.filter((w) => !isLichenModule(w.module)).map((w) => w.module))].join(", ")})` : ""}`);
  if (result.code !== 0) {
    console.error(`firmware: the build failed (exit ${result.code})`);
    return 1;
  }
  if (ours.length > 0) return 1;
  if (!args.run) return 0;
  return runInSimulator(args, settings, gatewayPort, env);
}

/** --run: the node in mcsim against a gateway (ours on a free port, or broker=). */
async function runInSimulator(args: Args, settings: Map<string, string>, gatewayPort: number | undefined, env: NodeJS.ProcessEnv): Promise<number> {
  const so = findFile(path.join(OUT, "bin", "lin"), "mc.so");
  if (so === undefined) {
    console.error("firmware: no mc.so was built");
    return 1;
  }
  const db = path.join(OUT, "gateway.db");
  let gateway: ChildProcess | undefined;
  if (gatewayPort !== undefined) {
    const gwArgs = [LICHEN_BIN, "gateway", "--id", settings.get("gateway")!.split(",")[0]!, "--fleet", settings.get("fleet")!, "--port", String(gatewayPort), "--db", db, "--http-port", "0"];
    gateway = spawn(process.execPath, gwArgs, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], detached: true });
    await new Promise<void>((resolve, reject) => {
      let seen = "";
      const timer = setTimeout(() => reject(new Error(`lichen gateway did not get ready: ${seen}`)), 30_000);
      gateway!.stdout!.on("data", (c: Buffer) => {
        seen += c.toString();
        if (seen.includes('"event":"ready"')) {
          clearTimeout(timer);
          resolve();
        }
      });
      gateway!.on("exit", (code) => reject(new Error(`lichen gateway exited (${code}): ${seen}`)));
    });
    console.log(`firmware: lichen gateway ${settings.get("gateway")} on 127.0.0.1:${gatewayPort}, fleet ${settings.get("fleet")}, database ${db}`);
  }
  // mcsim opens a window: without a display, give it a virtual one. stdbuf: the node's trace
  // goes to mcsim's stdout, which is block-buffered in a pipe.
  const mcsim = path.join(env.MODDABLE!, "build", "bin", "lin", "release", "mcsim");
  const cmd = [...(has("stdbuf") ? ["stdbuf", "-oL"] : []), ...(!env.DISPLAY && has("xvfb-run") ? ["xvfb-run", "-a"] : []), mcsim, so];
  console.log(`firmware: ${cmd.join(" ")}${args.minutes ? ` for ${args.minutes} min` : " (Ctrl-C stops it)"}`);
  const started = Date.now();
  const sim = spawn(cmd[0]!, cmd.slice(1), { env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  const show = (c: Buffer): void => {
    for (const line of c.toString().split("\n")) if (line.trim()) console.log(`node │ ${line}`);
  };
  sim.stdout!.on("data", show);
  sim.stderr!.on("data", show);
  const ended = new Promise<number | null>((resolve) => sim.on("close", (code) => resolve(code)));
  const interrupted = new Promise<"stop">((resolve) => {
    process.once("SIGINT", () => resolve("stop"));
    if (args.minutes) setTimeout(() => resolve("stop"), args.minutes * 60_000);
  });
  const outcome = await Promise.race([ended, interrupted]);
  const seconds = Math.round((Date.now() - started) / 1000);
  let ok = true;
  if (outcome === "stop") {
    stop(sim);
    await ended;
    console.log(`firmware: mcsim ran ${seconds} s and was stopped`);
  } else {
    ok = false;
    console.error(`firmware: mcsim exited by itself after ${seconds} s (code ${outcome})`);
  }
  if (gateway) {
    stop(gateway);
    await new Promise((r) => gateway!.once("close", r));
    const exp = spawnSync(process.execPath, [LICHEN_BIN, "export", db], { cwd: ROOT, encoding: "utf8" });
    console.log(`firmware: what the gateway holds (lichen export ${db}):\n${exp.stdout}${exp.stderr}`);
  }
  return ok ? 0 : 1;
}

function has(cmd: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      console.error(`firmware: ${(e as Error).stack ?? String(e)}`);
      process.exit(1);
    },
  );
}
