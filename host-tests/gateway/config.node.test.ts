// The gateway daemon's configuration (targets/rpi/gateway-config.ts, gateway.ts): flags beat
// LICHEN_* variables, which beat the config file, which beats the defaults; every value is
// validated whatever its source; `lichen gateway` reports a bad flag, a bad config file or an
// unknown option in one clear line with a non-zero exit and no stack trace. The rules are checked
// in process (fast); a representative case of each kind through the CLI (from its sources: helpers.ts LICHEN_CLI).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, defaultGatewayId, resolveConfig } from "../../targets/rpi/gateway-config.js";
import { assertCleanError, lichen } from "./helpers.js";

const DIR = mkdtempSync(join(tmpdir(), "lichen-config-"));
test.after(() => rmSync(DIR, { recursive: true, force: true }));

const file = (name: string, text: string): string => {
  const p = join(DIR, name);
  writeFileSync(p, text);
  return p;
};

/** The ConfigError resolveConfig throws for these flags (already parsed), environment and cwd. */
function problem(flags: Record<string, unknown>, env: NodeJS.ProcessEnv = {}): ConfigError {
  try {
    resolveConfig(flags, env, DIR);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error(`no error for ${JSON.stringify(flags)} ${JSON.stringify(env)}`);
}

test("precedence: flag > environment > config file > default (in process)", () => {
  const cfg = file("p.json", JSON.stringify({ fleet: "from-file", id: "file-id", httpPort: 1111, logLevel: "warn", gateways: ["gw-b"], db: "sub/file.db", heartbeatMs: 700 }));
  const r = resolveConfig({ config: cfg, fleet: "from-flag" }, { LICHEN_FLEET: "from-env", LICHEN_HTTP_PORT: "2222", LICHEN_GATEWAYS: " gw-c, gw-d ,", LICHEN_HEARTBEAT_MS: "900" }, "/elsewhere");
  assert.is(r.file, cfg);
  assert.is(r.config.fleet, "from-flag");
  assert.is(r.sources.fleet, "flag");
  assert.is(r.config.httpPort, 2222);
  assert.is(r.sources.httpPort, "env");
  assert.equal(r.config.gateways, ["gw-c", "gw-d"]);
  assert.is(r.config.heartbeatMs, 900);
  assert.is(r.config.id, "file-id");
  assert.is(r.sources.id, "file");
  assert.is(r.config.logLevel, "warn");
  assert.is(r.config.db, join(DIR, "sub/file.db"), "a path in the file is relative to the file");
  assert.is(r.config.port, 1883);
  assert.is(r.sources.port, "default");
  assert.is(r.config.httpHost, "127.0.0.1", "the dashboard on localhost by default");
  assert.is(r.config.broker, undefined, "the embedded broker by default");
  // LICHEN_CONFIG names the file too; a flag path is relative to the cwd
  assert.is(resolveConfig({}, { LICHEN_CONFIG: cfg }, DIR).config.fleet, "from-file");
  assert.is(resolveConfig({ db: "x.db" }, {}, DIR).config.db, join(DIR, "x.db"));
  // the gateway's own id is not listed among the others
  assert.equal(resolveConfig({ id: "g1", gateways: ["g1", "g2"] }, {}, DIR).config.gateways, ["g2"]);
  // defaults: the id from the host name, sanitised
  assert.is(defaultGatewayId("raspberrypi"), "raspberrypi");
  assert.is(defaultGatewayId("my pi (kitchen)#2"), "my-pi-kitchen-2");
  assert.is(defaultGatewayId("###"), "gateway");
  assert.is(defaultGatewayId("x".repeat(80)).length, 64);
  const ext = resolveConfig({ broker: "mqtts://broker.local:8883" }, { LICHEN_USERNAME: "gw1", LICHEN_PASSWORD: "s3cret", LICHEN_INSECURE: "yes" }, DIR);
  assert.is(ext.config.broker, "mqtts://broker.local:8883");
  assert.is(ext.config.password, "s3cret");
  assert.is(ext.config.insecure, true);
});

test("validation (in process): every source, every kind of value, the conflicts", () => {
  const cases: Array<[Record<string, unknown>, NodeJS.ProcessEnv, RegExp, boolean]> = [
    [{}, { LICHEN_PORT: "70000" }, /^LICHEN_PORT: expected a TCP port \(0 to 65535\), got "70000"$/, false],
    [{}, { LICHEN_ID: "" }, /^LICHEN_ID: expected an id of 1 to 64 printable characters/, false],
    [{}, { LICHEN_GATEWAYS: "a,b/c" }, /^LICHEN_GATEWAYS: expected ids .* got "b\/c"$/, false],
    [{}, { LICHEN_INSECURE: "maybe" }, /^LICHEN_INSECURE: expected true or false/, false],
    [{}, { LICHEN_BROKER: "localhost:1883" }, /^LICHEN_BROKER: expected an mqtt:\/\/, mqtts:\/\/, ws:\/\/ or wss:\/\/ URL/, false],
    [{}, { LICHEN_HTTP_HOST: "not a host" }, /^LICHEN_HTTP_HOST: expected an IP address or a host name/, false],
    [{ config: file("v1.json", '{"gateways": "gw1, gw2", "compactThreshold": -1}') }, {}, /"compactThreshold": expected a non-negative integer, got -1$/, false],
    [{ config: file("v2.json", '{"fleet": 42}') }, {}, /"fleet": expected a string, got 42$/, false],
    [{ config: file("v3.json", '{"ca": "nope.pem", "broker": "mqtts://b:8883"}') }, {}, /"ca": no such file: .*nope\.pem$/, false],
    [{ config: file("v4.json", '{"broker": "mqtt://b:1883", "port": 1884}') }, {}, /^"port" in .*v4\.json set the embedded broker's address, which is not started with "broker" in/, false],
    [{ broker: "mqtt://b:1883" }, { LICHEN_HOST: "0.0.0.0" }, /^LICHEN_HOST set the embedded broker's address, which is not started with --broker: drop one or the other$/, true],
    [{ username: "u", password: "p" }, {}, /^--username, --password: these apply to an external broker only: add --broker <url> \(the embedded broker's own users are in --users FILE, its certificate is --cert\/--key\)$/, true],
    [{ broker: "mqtt://b:1883" }, { LICHEN_USERS: join(DIR, "v1.json"), LICHEN_PUBLISH_RATE: "5" }, /^LICHEN_USERS, LICHEN_PUBLISH_RATE: these set the embedded broker, which is not started with --broker/, true],
    [{}, { LICHEN_MAX_PACKET_BYTES: "100" }, /^LICHEN_MAX_PACKET_BYTES: expected at least 256 bytes, got 100$/, false],
    [{}, { LICHEN_MAX_CONNECTIONS: "0" }, /^LICHEN_MAX_CONNECTIONS: expected a positive integer, got "0"$/, false],
    [{}, { LICHEN_USERS: join(DIR, "nope") }, /^LICHEN_USERS: no such file: /, false],
    [{ broker: "mqtts://b:8883", cert: join(DIR, "v1.json") }, {}, /^--cert needs --key too/, true],
    [{ port: 9000 }, { LICHEN_HTTP_PORT: "9000" }, /cannot both listen on port 9000: change --port or LICHEN_HTTP_PORT$/, true],
    [{ config: join(DIR, "none.json") }, {}, /^cannot read config file .*none\.json: no such file$/, false],
    [{ config: DIR }, {}, /is a directory$/, false],
    [{ config: file("v5.json", '{"fleet": "a",}') }, {}, /is not valid JSON: /, false],
    [{ config: file("v6.json", '"fleet"') }, {}, /must hold a JSON object of options/, false],
    [{ config: file("v7.json", '{"LogLevel": "info"}') }, {}, /unknown option "LogLevel" \(did you mean "logLevel"\?\); known: id, fleet, db, /, false],
  ];
  for (const [flags, env, pattern, usage] of cases) {
    const e = problem(flags, env);
    assert.match(e.message, pattern, JSON.stringify([flags, env]));
    assert.not.match(e.message, /\n/, "one line");
    assert.is(e.usage, usage, `usage error (exit 2) only when a flag is involved: ${e.message}`);
  }
  // the same port is fine on different hosts, or as 0 (any free port)
  resolveConfig({ port: 0, httpPort: 0 }, {}, DIR);
  resolveConfig({ port: 9000, httpPort: 9000, httpHost: "127.0.0.2" }, {}, DIR);
  // the embedded broker takes a users file, a certificate and its key, and limits
  const embedded = resolveConfig({ users: "v1.json", cert: "v1.json", key: "v2.json" }, { LICHEN_PUBLISH_RATE: "0", LICHEN_MAX_PACKET_BYTES: "8192" }, DIR).config;
  assert.equal([embedded.users, embedded.cert, embedded.key, embedded.publishRate, embedded.maxPacketBytes, embedded.maxConnections], [join(DIR, "v1.json"), join(DIR, "v1.json"), join(DIR, "v2.json"), 0, 8192, 1000]);
});

test("the CLI: --print-config shows each value's source; bad input is one line, non-zero, no stack trace", async () => {
  const cfg = file("cli.json", JSON.stringify({ fleet: "from-file", id: "file-id", httpPort: 1111 }));
  const noEnv = { LICHEN_CONFIG: undefined, LICHEN_ID: undefined, LICHEN_PORT: undefined, LICHEN_FLEET: undefined, LICHEN_HTTP_PORT: undefined };
  const cases: Array<[string[], NodeJS.ProcessEnv, RegExp, string, number]> = [
    [["gateway", "--port", "abc"], noEnv, /^error: option '--port <port>' argument 'abc' is invalid\. Expected a TCP port \(0 to 65535\), got "abc"\.$/m, "a bad flag value", 2],
    [["gateway", "--bogus"], noEnv, /unknown option '--bogus'/, "an unknown option", 2],
    [["gateway", "--broker", "mqtt://127.0.0.1:1883", "--port", "1884"], noEnv, /^lichen: --port set the embedded broker's address, which is not started with --broker: drop one or the other$/m, "conflicting flags", 2],
    [["gateway", "--config", join(DIR, "missing.json")], noEnv, /^lichen: cannot read config file .*missing\.json: no such file$/m, "a missing config file", 1],
    [["gateway", "--config", file("bad.json", "{ fleet: ")], noEnv, /^lichen: config file .*bad\.json is not valid JSON: /m, "a config file that is not JSON", 1],
    [["gateway", "--config", file("typo.json", '{"prot": 1883}')], noEnv, /^lichen: config file .*typo\.json: unknown option "prot"/m, "an unknown option in the config file", 1],
    [["gateway"], { ...noEnv, LICHEN_LOG_LEVEL: "loud" }, /^lichen: LICHEN_LOG_LEVEL: expected one of debug, info, warn, error, got "loud"$/m, "a bad environment variable", 1],
  ];
  const [print, ...results] = await Promise.all([
    lichen(["gateway", "--config", cfg, "--fleet", "from-flag", "--broker", "mqtt://127.0.0.1:1883", "--print-config"], { env: { ...noEnv, LICHEN_FLEET: "from-env", LICHEN_HTTP_PORT: "2222", LICHEN_PASSWORD: "s3cret" } }),
    ...cases.map(([args, env]) => lichen(args, { env })),
  ]);
  assert.is(print!.code, 0, print!.stderr);
  const { file: f, options } = JSON.parse(print!.stdout) as { file: string; options: Record<string, { value: unknown; source: string }> };
  assert.is(f, cfg);
  assert.equal(options.fleet, { value: "from-flag", source: "flag" }, "a flag beats the environment and the file");
  assert.equal(options.httpPort, { value: 2222, source: "env" }, "the environment beats the file");
  assert.equal(options.id, { value: "file-id", source: "file" }, "the file beats the default");
  assert.equal(options.port, { value: 1883, source: "default" });
  assert.equal(options.password, { value: "(hidden)", source: "env" }, "the password is not printed");
  cases.forEach(([, , pattern, what, code], i) => {
    assertCleanError(results[i]!, pattern, what, code);
    assert.is(results[i]!.stdout, "", `${what}: nothing on stdout`);
  });
});

test.run();
