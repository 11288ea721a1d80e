// The systemd unit (targets/rpi/lichen-gateway.service) and the package it runs: its ExecStart is
// the installed package's bin, and /etc/lichen/gateway.env takes effect. The unit's environment is
// put together as systemd does (Environment= lines, then the EnvironmentFile, whose settings win),
// and `lichen gateway <ExecStart's arguments> --print-config` runs with it (from the sources):
// what it prints is what the service would run with. A flag on ExecStart would beat gateway.env.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { OPTIONS } from "../../targets/rpi/gateway-config.js";
import { lichen, ROOT } from "./helpers.js";

const UNIT = readFileSync(join(ROOT, "targets/rpi/lichen-gateway.service"), "utf8");
const DIR = mkdtempSync(join(tmpdir(), "lichen-unit-"));
test.after(() => rmSync(DIR, { recursive: true, force: true }));

/** The values of a directive of the [Service] section, in order. */
function directive(name: string): string[] {
  const service = UNIT.slice(UNIT.indexOf("[Service]"), UNIT.indexOf("[Install]"));
  return service
    .split("\n")
    .filter((l) => l.startsWith(`${name}=`))
    .map((l) => l.slice(name.length + 1).trim());
}

/** KEY=VALUE lines (a file of EnvironmentFile=, or an Environment= value without quotes). */
function parseEnv(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const l = line.trim();
    if (l === "" || l.startsWith("#")) continue;
    const eq = l.indexOf("=");
    env[l.slice(0, eq)] = l.slice(eq + 1);
  }
  return env;
}

/** The service's environment: its Environment= lines, then the env file's, which override them. */
function serviceEnv(envFile: string | undefined): Record<string, string> {
  const env = parseEnv(directive("Environment").join("\n"));
  return envFile === undefined ? env : { ...env, ...parseEnv(envFile) };
}

/** ExecStart's arguments after `gateway`, checked to be the package's bin. */
function execArgs(): string[] {
  const [exec] = directive("ExecStart");
  const words = exec!.split(/\s+/);
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { name: string; bin: Record<string, string> };
  assert.is(words[0], "/usr/bin/node");
  assert.is(words[1], `/opt/lichen/node_modules/${pkg.name}/${pkg.bin.lichen!.replace(/^\.\//, "")}`, "ExecStart runs the bin of the package installed in /opt/lichen");
  assert.is(words[2], "gateway");
  return words.slice(3);
}

/** What the service would run with, given gateway.env's text (undefined: no such file). */
async function resolvedFor(envFile: string | undefined): Promise<Record<string, { value: unknown; source: string }>> {
  const known = new Set(OPTIONS.map((o) => o.env).concat("LICHEN_CONFIG"));
  // only the unit's variables: none of the test process's LICHEN_* may leak in
  const clear = Object.fromEntries(Object.keys(process.env).filter((k) => known.has(k)).map((k) => [k, undefined]));
  const r = await lichen(["gateway", ...execArgs(), "--print-config"], { env: { ...clear, ...serviceEnv(envFile) }, cwd: DIR, timeoutMs: 120_000 });
  assert.is(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { options: Record<string, { value: unknown; source: string }> }).options;
}

test("EnvironmentFile comes after Environment (systemd: its settings win), and ExecStart sets no option by flag", () => {
  const lines = UNIT.split("\n");
  const lastEnv = lines.map((l, i) => (l.startsWith("Environment=") ? i : -1)).reduce((a, b) => Math.max(a, b));
  const envFile = lines.findIndex((l) => l.startsWith("EnvironmentFile="));
  assert.ok(envFile > lastEnv, "EnvironmentFile= follows the Environment= lines");
  assert.is(directive("EnvironmentFile")[0], "-/etc/lichen/gateway.env");
  assert.equal(execArgs(), [], "no flag: a flag would beat gateway.env");
});

test("without gateway.env: the Pi's mosquitto and the database in the state directory", async () => {
  const o = await resolvedFor(undefined);
  assert.equal(o.broker, { value: "mqtt://127.0.0.1:1883", source: "env" });
  assert.equal(o.db, { value: "/var/lib/lichen/lichen.db", source: "env" });
  assert.is(o.fleet!.source, "default");
});

test("LICHEN_BROKER and the rest of gateway.env take effect: a TLS broker, a fleet, credentials", async () => {
  const o = await resolvedFor(["# the documented TLS setup", "LICHEN_BROKER=mqtts://broker.example:8883", "LICHEN_FLEET=greenhouse", "LICHEN_USERNAME=gw-greenhouse", "LICHEN_PASSWORD=secret", ""].join("\n"));
  assert.equal(o.broker, { value: "mqtts://broker.example:8883", source: "env" });
  assert.equal(o.fleet, { value: "greenhouse", source: "env" });
  assert.equal(o.username, { value: "gw-greenhouse", source: "env" });
  assert.equal(o.password, { value: "(hidden)", source: "env" });
  assert.equal(o.db, { value: "/var/lib/lichen/lichen.db", source: "env" }, "the unit's default stays where gateway.env says nothing");
});

test.run();
