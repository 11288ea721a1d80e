// The package as a user gets it. The repository's package files are copied to a staging directory
// (the build must not touch the working tree while other tests run), `npm pack` there (its
// "prepare" builds dist/), then the tarball is installed with production dependencies only into an
// empty project, as `npm install --omit=dev ./lichen-*.tgz` would for a user. better-sqlite3 gets
// its native binary as a user's install does, from a prebuilt archive (prebuild-install), here one
// made from the repository's own build of it (its release downloads are out of reach, and compiling
// it takes minutes on a busy machine); without one it compiles. Then, from that install only:
//   - a TypeScript consumer of both entry points compiles (strict, module/moduleResolution nodenext)
//     and runs;
//   - `lichen gateway` (the compiled CLI, no tsx) runs on free loopback ports, the consumer syncs a
//     replica through it, SIGINT stops it cleanly;
//   - `lichen status`, `lichen export` read what it stored, `lichen generate` writes a module.
// Nothing here reaches a registry but npm's, through its local cache (--prefer-offline).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn } from "node:child_process";
import { cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../../sim/network/ports.js";
import { spawnChild, waitFor, within, type Child } from "../gateway/helpers.js";

const ROOT = realpathSync(new URL("../..", import.meta.url));

/**
 * Each command waits for real work (npm, node, maybe a C++ compiler) on a machine that other work
 * may keep busy: its deadline is a guard against a hang, not a measure, below the runner's per-test
 * deadline (10 minutes) so that a hang names its command. Should better-sqlite3 compile (no
 * prebuilt binary), that alone takes 1.5 min on an idle 2-core machine, several times that under load.
 */
const COMMAND_TIMEOUT_MS = 480_000;

/** What `npm pack` needs from the repository; host-tests, bench, data and examples are not packed. */
const PACKAGE_SOURCES = ["package.json", "package-lock.json", "README.md", "manifest.json", "tsconfig.json", "tsconfig.build.json", "bin", "docs", "scripts", "src", "targets"];
/** Dependencies that must not reach a production install. */
const DEV_ONLY = ["@agoric/xsnap", "@automerge/automerge", "yjs", "y-protocols", "lib0", "playwright-core", "tsx", "typescript", "esbuild", "fast-check", "uvu", "acorn"];

const WORK = mkdtempSync(join(tmpdir(), "lichen-pack-"));
const STAGE = join(WORK, "stage");
const APP = join(WORK, "app");
const BIN = join(APP, "node_modules", ".bin", "lichen");
/** The repository's TypeScript compiler (the consumer's own, in a real project). */
const TSC = join(ROOT, "node_modules", "typescript", "bin", "tsc");
let tarball = "";
const children: Child[] = [];

test.after(() => {
  for (const c of children) c.kill("SIGKILL");
  rmSync(WORK, { recursive: true, force: true });
});

/** The process groups of the commands running: killed with the test file (a compiler npm started must not outlive it). */
const groups = new Set<number>();
const killGroup = (pid: number): void => {
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // already gone
  }
};
process.on("exit", () => groups.forEach(killGroup));

/** Runs a command to its end, in its own process group; fails the test with its output if it fails. */
function run(cmd: string, args: string[], cwd: string, timeoutMs = COMMAND_TIMEOUT_MS, env: NodeJS.ProcessEnv = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"], detached: true });
    const pid = child.pid;
    if (pid !== undefined) groups.add(pid);
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (s: string) => (out += s));
    child.stderr.setEncoding("utf8").on("data", (s: string) => (out += s));
    const timer = setTimeout(() => pid !== undefined && killGroup(pid), timeoutMs);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (pid !== undefined) {
        groups.delete(pid);
        killGroup(pid); // whatever it left running
      }
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args.join(" ")} (in ${cwd}): ${signal ? `killed (${signal}) after ${timeoutMs} ms` : `exit code ${code}`}\n${out.trim().split("\n").slice(-40).join("\n")}`));
    });
  });
}

const npm = (args: string[], cwd: string, timeoutMs?: number, env?: NodeJS.ProcessEnv): Promise<string> => run("npm", [...args, "--no-audit", "--no-fund", "--no-update-notifier"], cwd, timeoutMs, env);

/**
 * better-sqlite3's prebuilt binary where its install script (prebuild-install) looks before it
 * downloads: a `<name>-v<version>-node-v<abi>-<platform>-<arch>.tar.gz` of build/Release/*.node in
 * the directory named by npm_config_better_sqlite3_local_prebuilds. Made from the repository's
 * build (same version, same Node). Returns the environment that points the install at it.
 */
async function localPrebuild(dir: string): Promise<NodeJS.ProcessEnv> {
  const pkgDir = realpathSync(join(ROOT, "node_modules", "better-sqlite3"));
  const { version } = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8")) as { version: string };
  const binary = "build/Release/better_sqlite3.node";
  if (!existsSync(join(pkgDir, binary))) return {};
  mkdirSync(dir, { recursive: true });
  const archive = join(dir, `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`);
  await run("tar", ["-czf", archive, "-C", pkgDir, binary], pkgDir);
  return { npm_config_better_sqlite3_local_prebuilds: dir };
}

/** Bytes of the files under dir (symlinks not followed): the installed size. */
function bytesUnder(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) n += bytesUnder(p);
    else n += lstatSync(p).size;
  }
  return n;
}

test("npm pack: the tarball carries the compiled entry points, the CLI, the dashboard and the systemd unit, and no sources or tests", async () => {
  mkdirSync(STAGE);
  for (const f of PACKAGE_SOURCES) if (existsSync(join(ROOT, f))) cpSync(join(ROOT, f), join(STAGE, f), { recursive: true });
  symlinkSync(realpathSync(join(ROOT, "node_modules")), join(STAGE, "node_modules"), "dir");
  const out = await npm(["pack", "--json", "--pack-destination", WORK], STAGE);
  const [info] = JSON.parse(out.slice(out.indexOf("[\n"))) as Array<{ filename: string; files: Array<{ path: string }> }>;
  tarball = join(WORK, info!.filename);
  assert.ok(existsSync(tarball), tarball);
  const files = info!.files.map((f) => f.path);
  for (const f of ["bin/lichen.js", "dist/src/index.js", "dist/src/index.d.ts", "dist/targets/rpi/node.js", "dist/targets/rpi/node.d.ts", "dist/targets/rpi/cli.js", "dist/targets/rpi/dashboard.html", "targets/rpi/lichen-gateway.service", "manifest.json", "docs/gateway.md"]) {
    assert.ok(files.includes(f), `the tarball has ${f}`);
  }
  for (const f of files) assert.not.match(f, /^(src|host-tests|bench|data|scripts)\/|\.ts$(?<!\.d\.ts$)/, `the tarball leaves out ${f}`);
});

test("npm install --omit=dev of the tarball into an empty project: no development dependency comes along", async () => {
  assert.ok(tarball !== "", "packed");
  mkdirSync(APP);
  writeFileSync(join(APP, "package.json"), JSON.stringify({ name: "lichen-consumer", private: true, type: "module" }, null, 2));
  await npm(["install", "--omit=dev", "--prefer-offline", tarball], APP, COMMAND_TIMEOUT_MS, await localPrebuild(join(WORK, "prebuilds")));
  const modules = join(APP, "node_modules");
  assert.ok(existsSync(BIN), "node_modules/.bin/lichen");
  for (const dev of DEV_ONLY) assert.not.ok(existsSync(join(modules, dev)), `${dev} is not installed`);
  console.log(`installed: ${(bytesUnder(modules) / 1e6).toFixed(1)} MB in node_modules (${readdirSync(modules).length} entries)`);
});

const CONSUMER = `// Both entry points, as a program written against the package would use them.
import { LWWMap, GCounter, LichenError, MemoryKv } from "lichen";
import { MqttSync, SqliteKv, gatewayConfig, type GatewayConfig } from "lichen/node";

const [url, gateway, replica, dbFile] = process.argv.slice(2);
if (dbFile === undefined) {
  // no broker given: check the device half and the Node half in process
  const a = new GCounter("a");
  const b = new GCounter("b");
  a.incrementBy(2);
  b.applyDelta(a.delta(b.version()));
  const config: GatewayConfig = gatewayConfig({ fleet: "greenhouse", httpPort: 0, port: 0 });
  let refused = "";
  try {
    gatewayConfig({ port: "not a port" });
  } catch (e) {
    refused = (e as Error).message;
  }
  const kv = new SqliteKv(":memory:");
  kv.put("k", new Uint8Array([1]));
  const bad = (() => { try { new LWWMap("").value(); return ""; } catch (e) { return e instanceof LichenError ? e.code : "?"; } })();
  console.log(JSON.stringify({ counter: b.value(), fleet: config.fleet, refused, kv: kv.get("k")?.length, memory: new MemoryKv().keys("").length, bad }));
  kv.close();
} else {
  // a node: one reading, synced through the gateway, acknowledged
  const kv = new SqliteKv(dbFile);
  const sync = new MqttSync({ url, fleet: "pkgtest", replica, role: "node", gateways: [gateway], kv, reconnectMs: 200 });
  await sync.ready(300_000);
  const readings = sync.engine.open("readings", replica, LWWMap);
  readings.set("temp", 21.5);
  readings.set("unit", "C");
  sync.engine.changed("readings", replica);
  const deadline = Date.now() + 300_000;
  while (!sync.engine.inSync(gateway)) {
    if (Date.now() > deadline) throw new Error("the gateway did not acknowledge within 300 s");
    await new Promise((r) => setTimeout(r, 50));
  }
  console.log(JSON.stringify({ synced: readings.value() }));
  await sync.close();
  kv.close();
}
`;

test("a TypeScript consumer of both entry points compiles (strict, nodenext) against the install, and runs", async () => {
  assert.ok(existsSync(BIN), "installed");
  // @types/node: a TypeScript project for Node has its own (here it may have come with the install)
  if (!existsSync(join(APP, "node_modules", "@types", "node"))) {
    mkdirSync(join(APP, "node_modules", "@types"), { recursive: true });
    symlinkSync(realpathSync(join(ROOT, "node_modules", "@types", "node")), join(APP, "node_modules", "@types", "node"), "dir");
  }
  writeFileSync(join(APP, "consumer.ts"), CONSUMER);
  const tsconfig = { compilerOptions: { strict: true, module: "nodenext", moduleResolution: "nodenext", target: "es2022", types: ["node"], outDir: "out", rootDir: ".", skipLibCheck: false }, files: ["consumer.ts"] };
  writeFileSync(join(APP, "tsconfig.json"), JSON.stringify(tsconfig, null, 2));
  await run(process.execPath, [TSC, "-p", "tsconfig.json"], APP);
  const out = await run(process.execPath, ["out/consumer.js"], APP);
  const r = JSON.parse(out.trim().split("\n").pop()!) as Record<string, unknown>;
  assert.equal(r, { counter: 2, fleet: "greenhouse", refused: r.refused, kv: 1, memory: 0, bad: "INVALID_ARGUMENT" });
  assert.match(String(r.refused), /port/i, "a bad option is refused as the CLI would");
  // and plain JavaScript loads the Node half (npm's documented check)
  await run(process.execPath, ["-e", 'import("lichen/node").then((m) => { if (typeof m.startGateway !== "function") process.exit(1); })'], APP);
});

test("lichen gateway from the install: a replica syncs through it, SIGINT stops it; status, export and generate read and write", async () => {
  assert.ok(existsSync(join(APP, "out", "consumer.js")), "the consumer is compiled");
  const [port, httpPort] = [await freePort(), await freePort()];
  const db = join(APP, "gw.db");
  const version = (await run(process.execPath, [BIN, "--version"], APP)).trim();
  assert.is(version, (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version);
  const gw = spawnChild([BIN, "gateway", "--id", "gw1", "--fleet", "pkgtest", "--db", db, "--port", String(port), "--http-port", String(httpPort)], {
    cwd: APP,
    env: { LICHEN_CONFIG: undefined, LICHEN_BROKER: undefined },
    timeoutMs: COMMAND_TIMEOUT_MS,
  });
  children.push(gw);
  await waitFor("the gateway's ready line", () => gw.lines().some((l) => l.event === "ready") || gw.proc.exitCode !== null, COMMAND_TIMEOUT_MS, () => `stdout: ${gw.stdout} stderr: ${gw.stderr}`);
  assert.is(gw.proc.exitCode, null, `the gateway runs (stderr: ${gw.stderr})`);
  const page = await fetch(`http://127.0.0.1:${httpPort}/`, { signal: AbortSignal.timeout(COMMAND_TIMEOUT_MS) });
  assert.is(page.status, 200, "the dashboard's page ships");

  const out = await run(process.execPath, ["out/consumer.js", `mqtt://127.0.0.1:${port}`, "gw1", "n1", join(APP, "n1.db")], APP);
  assert.equal(JSON.parse(out.trim().split("\n").pop()!), { synced: { temp: 21.5, unit: "C" } });

  gw.kill("SIGINT");
  const exit = await within("the gateway to exit after SIGINT", COMMAND_TIMEOUT_MS, gw.exited);
  assert.is(exit.code, 0, `SIGINT: a clean exit (stderr: ${exit.stderr})`);
  assert.ok(gw.lines().some((l) => l.event === "stopped"), "it logged its stop");

  const status = await run(process.execPath, [BIN, "status", db, "--json"], APP);
  assert.ok((JSON.parse(status) as { namespaces: Array<{ namespace: string }> }).namespaces.some((n) => n.namespace === "readings"), status);
  const exported = await run(process.execPath, [BIN, "export", db, "--namespace", "readings"], APP);
  const rows = JSON.parse(exported) as Array<{ id: string; value: unknown }>;
  assert.equal(rows.find((r) => r.id === "n1")?.value, { temp: 21.5, unit: "C" }, exported);

  writeFileSync(join(APP, "crdt-schema.toml"), '[[entity]]\nname = "Sensor"\n\n[[entity.versions]]\nversion = 1\nfields = [{ name = "name", type = "string" }]\n');
  const generated = await run(process.execPath, [BIN, "generate", "--schema", "crdt-schema.toml", "--out", "generated"], APP);
  assert.ok(existsSync(join(APP, "generated", "Sensor.ts")), generated);
  // the generated code imports "lichen": it compiles against the install too
  const tsconfig = JSON.parse(readFileSync(join(APP, "tsconfig.json"), "utf8")) as { compilerOptions: object; files: string[] };
  writeFileSync(join(APP, "tsconfig.generated.json"), JSON.stringify({ compilerOptions: { ...tsconfig.compilerOptions, rootDir: ".", outDir: "out-generated" }, files: ["generated/index.ts"] }, null, 2));
  await run(process.execPath, [TSC, "-p", "tsconfig.generated.json"], APP);
});

test.run();
