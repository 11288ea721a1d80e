// The gateway daemon's configuration: every option, where it comes from, and its validation.
//
// Precedence, per option: a command-line flag, then an environment variable (LICHEN_*), then the
// config file (`--config file.json`, or LICHEN_CONFIG), then the default. Every value is
// validated whatever its source, and a bad one is a one-line ConfigError that names its source
// (`--port`, `LICHEN_PORT`, `gateway.json: "port"`), so the CLI prints it without a stack trace.
// Paths in a config file (db, ca, cert, key, users) are relative to the file's directory.
//
// Node only. No side effects besides reading the config file and checking that TLS files exist.

import { existsSync, readFileSync, statSync } from "node:fs";
import { hostname } from "node:os";
import { isIP } from "node:net";
import { dirname, resolve } from "node:path";
import { MAX_REPLICA_ID_LENGTH } from "../../src/core/replica.js";
import { isTopicId } from "../../src/transport/mqtt-topics.js";

export type LogLevel = "debug" | "info" | "warn" | "error";
export const LOG_LEVELS: readonly LogLevel[] = Object.freeze(["debug", "info", "warn", "error"]);

export interface GatewayConfig {
  /** The gateway's replica id (also its MQTT client id). */
  id: string;
  fleet: string;
  /** The SQLite file (absolute). */
  db: string;
  /** An external broker's URL; undefined: the embedded broker (aedes) on host:port. */
  broker: string | undefined;
  host: string;
  port: number;
  httpHost: string;
  httpPort: number;
  /** Other gateways trusted as such (this gateway's own id is always trusted). */
  gateways: string[];
  username: string | undefined;
  password: string | undefined;
  /** TLS files (absolute paths). cert and key: this gateway's client certificate with --broker, else the embedded broker's server certificate; ca: an external broker's CA. */
  ca: string | undefined;
  cert: string | undefined;
  key: string | undefined;
  /** The embedded broker's users file (`lichen passwd`): every network client logs in as its own client id. */
  users: string | undefined;
  /** Largest MQTT packet, in bytes, the embedded broker accepts and this gateway's client reads. */
  maxPacketBytes: number;
  /** The embedded broker's most network connections at once. */
  maxConnections: number;
  /** The embedded broker's publish rate per client (per second; 0: no limit) and burst. */
  publishRate: number;
  publishBurst: number;
  /** Skip the broker certificate's verification (mqtts://, wss://). */
  insecure: boolean;
  logLevel: LogLevel;
  heartbeatMs: number;
  antiEntropyMs: number;
  /** Compact a namespace's event log once it holds more events than this (0: never). */
  compactThreshold: number;
  /** Keep the SQL mirror's change rows of the last N db_versions (0: keep all). */
  keepChanges: number;
  /** Keep the history (lichen_history) of the last N days (0: keep all). */
  historyDays: number;
  /** Publish Home Assistant MQTT discovery messages (external broker only). */
  haDiscovery: boolean;
  /** Home Assistant's discovery prefix. */
  haPrefix: string;
}

export type ConfigKey = keyof GatewayConfig;
export type Source = "flag" | "env" | "file" | "default";

/** A configuration problem, in one line. `usage`: it came from the command line (exit code 2). */
export class ConfigError extends Error {
  constructor(
    message: string,
    readonly usage = false,
  ) {
    super(message);
    this.name = "ConfigError";
  }
}

type Kind = "id" | "string" | "path" | "file" | "url" | "host" | "port" | "list" | "bool" | "level" | "ms" | "count" | "positive";

interface Spec {
  readonly key: ConfigKey;
  /** The flag as commander declares it, e.g. "--http-port <port>". */
  readonly flag: string;
  readonly env: string;
  readonly kind: Kind;
  readonly help: string;
}

/** Every option of `lichen gateway`, in the order of `--help`. */
export const OPTIONS: readonly Spec[] = Object.freeze([
  { key: "id", flag: "--id <id>", env: "LICHEN_ID", kind: "id", help: "the gateway's replica id and MQTT client id (default: the host name, sanitised)" },
  { key: "fleet", flag: "--fleet <fleet>", env: "LICHEN_FLEET", kind: "id", help: 'the fleet: the second level of every topic (default "default")' },
  { key: "db", flag: "--db <path>", env: "LICHEN_DB", kind: "path", help: "the SQLite file, created if missing (default ./lichen.db)" },
  { key: "broker", flag: "--broker <url>", env: "LICHEN_BROKER", kind: "url", help: "use this MQTT broker (mqtt://, mqtts://, ws://, wss://) instead of the embedded one" },
  { key: "host", flag: "--host <addr>", env: "LICHEN_HOST", kind: "host", help: "the embedded broker's address (default 127.0.0.1)" },
  { key: "port", flag: "--port <port>", env: "LICHEN_PORT", kind: "port", help: "the embedded broker's port (default 1883; 0: any free port)" },
  { key: "httpHost", flag: "--http-host <addr>", env: "LICHEN_HTTP_HOST", kind: "host", help: "the dashboard's address (default 127.0.0.1: this machine only)" },
  { key: "httpPort", flag: "--http-port <port>", env: "LICHEN_HTTP_PORT", kind: "port", help: "the dashboard's port (default 8080; 0: any free port)" },
  { key: "gateways", flag: "--gateways <ids>", env: "LICHEN_GATEWAYS", kind: "list", help: "other gateways trusted as such, comma-separated (others are held to the origin rule)" },
  { key: "username", flag: "--username <name>", env: "LICHEN_USERNAME", kind: "string", help: "external broker: user name" },
  { key: "password", flag: "--password <secret>", env: "LICHEN_PASSWORD", kind: "string", help: "external broker: password (prefer LICHEN_PASSWORD: flags show in ps)" },
  { key: "ca", flag: "--ca <file>", env: "LICHEN_CA", kind: "file", help: "external broker: CA certificate (PEM) to verify it" },
  { key: "cert", flag: "--cert <file>", env: "LICHEN_CERT", kind: "file", help: "certificate (PEM): the embedded broker's, which then speaks TLS (mqtts); with --broker, this gateway's client certificate" },
  { key: "key", flag: "--key <file>", env: "LICHEN_KEY", kind: "file", help: "the private key (PEM) of --cert" },
  { key: "users", flag: "--users <file>", env: "LICHEN_USERS", kind: "file", help: "embedded broker: users file (lichen passwd): every client logs in, as its own client id" },
  { key: "maxPacketBytes", flag: "--max-packet-bytes <n>", env: "LICHEN_MAX_PACKET_BYTES", kind: "positive", help: "largest MQTT packet the embedded broker accepts and the gateway reads (default 65536)" },
  { key: "maxConnections", flag: "--max-connections <n>", env: "LICHEN_MAX_CONNECTIONS", kind: "positive", help: "embedded broker: most connections at once (default 1000)" },
  { key: "publishRate", flag: "--publish-rate <n>", env: "LICHEN_PUBLISH_RATE", kind: "count", help: "embedded broker: publishes per second per client, beyond which it is slowed down (default 100; 0: no limit)" },
  { key: "publishBurst", flag: "--publish-burst <n>", env: "LICHEN_PUBLISH_BURST", kind: "positive", help: "embedded broker: publishes a client may send at once above the rate (default 1000)" },
  { key: "insecure", flag: "--insecure", env: "LICHEN_INSECURE", kind: "bool", help: "external broker: do not verify its TLS certificate" },
  { key: "logLevel", flag: "--log-level <level>", env: "LICHEN_LOG_LEVEL", kind: "level", help: "debug, info, warn or error (default info)" },
  { key: "heartbeatMs", flag: "--heartbeat-ms <ms>", env: "LICHEN_HEARTBEAT_MS", kind: "ms", help: "presence heartbeat period (default 30000)" },
  { key: "antiEntropyMs", flag: "--anti-entropy-ms <ms>", env: "LICHEN_ANTI_ENTROPY_MS", kind: "ms", help: "digest exchange period (default 30000)" },
  { key: "compactThreshold", flag: "--compact-threshold <n>", env: "LICHEN_COMPACT_THRESHOLD", kind: "count", help: "compact an event log over n events, checked every minute (default 10000; 0: never)" },
  { key: "keepChanges", flag: "--keep-changes <n>", env: "LICHEN_KEEP_CHANGES", kind: "count", help: "keep the SQL change rows of the last n db_versions (default 100000; 0: all)" },
  { key: "historyDays", flag: "--history-days <n>", env: "LICHEN_HISTORY_DAYS", kind: "count", help: "keep the values' history (lichen history) of the last n days, pruned every minute (default 30; 0: all)" },
  { key: "haDiscovery", flag: "--ha-discovery", env: "LICHEN_HA_DISCOVERY", kind: "bool", help: "publish Home Assistant MQTT discovery messages for the nodes' numeric readings (needs --broker)" },
  { key: "haPrefix", flag: "--ha-prefix <prefix>", env: "LICHEN_HA_PREFIX", kind: "string", help: 'Home Assistant\'s discovery prefix (default "homeassistant")' },
] satisfies Spec[]);

export const CONFIG_FLAG = "--config <file>";
export const CONFIG_ENV = "LICHEN_CONFIG";

/** The camelCase option name commander gives a flag: "--http-port <port>" → "httpPort". */
export function flagName(flag: string): string {
  return flag
    .split(" ")[0]!
    .replace(/^--/, "")
    .replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** "--http-port <port>" → "--http-port". */
const bareFlag = (flag: string): string => flag.split(" ")[0]!;

/** The host name as a replica id: characters outside A-Z a-z 0-9 _ . - become "-", at most 64. */
export function defaultGatewayId(host = hostname()): string {
  const id = host
    .replace(/[^A-Za-z0-9_.-]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, MAX_REPLICA_ID_LENGTH);
  return id.length > 0 ? id : "gateway";
}

export function defaults(): GatewayConfig {
  return {
    id: defaultGatewayId(),
    fleet: "default",
    db: resolve("lichen.db"),
    broker: undefined,
    host: "127.0.0.1",
    port: 1883,
    httpHost: "127.0.0.1",
    httpPort: 8080,
    gateways: [],
    username: undefined,
    password: undefined,
    ca: undefined,
    cert: undefined,
    key: undefined,
    users: undefined,
    maxPacketBytes: 65_536,
    maxConnections: 1000,
    publishRate: 100,
    publishBurst: 1000,
    insecure: false,
    logLevel: "info",
    heartbeatMs: 30_000,
    antiEntropyMs: 30_000,
    compactThreshold: 10_000,
    keepChanges: 100_000,
    historyDays: 30,
    haDiscovery: false,
    haPrefix: "homeassistant",
  };
}

const show = (v: unknown): string => (typeof v === "string" ? JSON.stringify(v) : JSON.stringify(v) ?? String(v));

/** A value's problem, without its source (resolveConfig adds it). */
class Invalid {
  constructor(readonly message: string) {}
}

/** Converts and checks one value; throws Invalid. */
function convert(kind: Kind, raw: unknown, baseDir: string): unknown {
  const str = (): string => {
    if (typeof raw !== "string") throw new Invalid(`expected a string, got ${show(raw)}`);
    return raw;
  };
  const int = (min: number, max: number, what: string): number => {
    const n = typeof raw === "number" ? raw : typeof raw === "string" && raw.trim() !== "" ? Number(raw.trim()) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) throw new Invalid(`expected ${what}, got ${show(raw)}`);
    return n;
  };
  switch (kind) {
    case "id": {
      const s = str();
      if (!isTopicId(s)) throw new Invalid(`expected an id of 1 to 64 printable characters without "/", "+" or "#", got ${show(s)}`);
      return s;
    }
    case "string": {
      const s = str();
      if (s === "") throw new Invalid("expected a non-empty string");
      return s;
    }
    case "path": {
      const s = str();
      if (s === "") throw new Invalid("expected a path");
      return resolve(baseDir, s);
    }
    case "file": {
      const s = str();
      if (s === "") throw new Invalid("expected a file");
      const p = resolve(baseDir, s);
      if (!existsSync(p)) throw new Invalid(`no such file: ${p}`);
      if (!statSync(p).isFile()) throw new Invalid(`not a file: ${p}`);
      return p;
    }
    case "url": {
      const s = str();
      let u: URL;
      try {
        u = new URL(s);
      } catch {
        throw new Invalid(`expected a broker URL such as mqtt://127.0.0.1:1883, got ${show(s)}`);
      }
      if (!["mqtt:", "mqtts:", "ws:", "wss:"].includes(u.protocol)) throw new Invalid(`expected an mqtt://, mqtts://, ws:// or wss:// URL, got ${show(s)}`);
      if (u.hostname === "") throw new Invalid(`the URL names no host: ${show(s)}`);
      return s;
    }
    case "host": {
      const s = str();
      if (isIP(s.replace(/^\[|\]$/g, "")) === 0 && !/^[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*$/.test(s)) {
        throw new Invalid(`expected an IP address or a host name, got ${show(s)}`);
      }
      return s.replace(/^\[|\]$/g, "");
    }
    case "port":
      return int(0, 65535, "a TCP port (0 to 65535)");
    case "ms":
      return int(10, 86_400_000, "a duration in ms (10 to 86400000)");
    case "count":
      return int(0, Number.MAX_SAFE_INTEGER, "a non-negative integer");
    case "positive":
      return int(1, Number.MAX_SAFE_INTEGER, "a positive integer");
    case "list": {
      const items = Array.isArray(raw) ? raw : typeof raw === "string" ? raw.split(",").map((s) => s.trim()).filter((s) => s !== "") : undefined;
      if (items === undefined) throw new Invalid(`expected a list of ids, got ${show(raw)}`);
      for (const g of items) if (!isTopicId(g)) throw new Invalid(`expected ids of 1 to 64 printable characters without "/", "+" or "#", got ${show(g)}`);
      return [...new Set(items as string[])];
    }
    case "bool": {
      if (typeof raw === "boolean") return raw;
      if (typeof raw === "string") {
        const s = raw.trim().toLowerCase();
        if (["1", "true", "yes", "on"].includes(s)) return true;
        if (["0", "false", "no", "off", ""].includes(s)) return false;
      }
      throw new Invalid(`expected true or false, got ${show(raw)}`);
    }
    case "level": {
      const s = str().toLowerCase();
      if (!(LOG_LEVELS as readonly string[]).includes(s)) throw new Invalid(`expected one of ${LOG_LEVELS.join(", ")}, got ${show(raw)}`);
      return s;
    }
  }
}

/** Converts and checks one option's value (a flag's argument); throws ConfigError with the problem. */
export function parseOption(key: ConfigKey, raw: unknown, baseDir = process.cwd()): unknown {
  const o = OPTIONS.find((x) => x.key === key);
  if (o === undefined) throw new ConfigError(`unknown option ${key}`);
  try {
    return convert(o.kind, raw, baseDir);
  } catch (e) {
    if (e instanceof Invalid) throw new ConfigError(`${e.message[0]!.toUpperCase()}${e.message.slice(1)}.`, true);
    throw e;
  }
}

export interface ResolvedConfig {
  config: GatewayConfig;
  /** Where each value came from. */
  sources: Record<ConfigKey, Source>;
  /** The config file read, if any. */
  file: string | undefined;
}

/** Reads a config file: a JSON object whose keys are the option names (camelCase). */
export function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    if (statSync(path).isDirectory()) throw new ConfigError(`config file ${path} is a directory`);
    text = readFileSync(path, "utf8");
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConfigError(`cannot read config file ${path}: ${code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : (e as Error).message}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`config file ${path} is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof data !== "object" || data === null || Array.isArray(data)) throw new ConfigError(`config file ${path} must hold a JSON object of options, e.g. {"fleet": "greenhouse"}`);
  const known = OPTIONS.map((o) => o.key as string);
  for (const k of Object.keys(data)) {
    if (!known.includes(k)) {
      const near = known.find((n) => n.toLowerCase() === k.toLowerCase().replace(/[-_]/g, ""));
      throw new ConfigError(`config file ${path}: unknown option ${JSON.stringify(k)}${near ? ` (did you mean ${JSON.stringify(near)}?)` : ""}; known: ${known.join(", ")}`);
    }
  }
  return data as Record<string, unknown>;
}

/**
 * Resolves the configuration from commander's parsed flags (only those given), the
 * environment and the config file. Throws ConfigError.
 */
export function resolveConfig(flags: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): ResolvedConfig {
  const configFlag = flags[flagName(CONFIG_FLAG)];
  let file: string | undefined;
  if (configFlag !== undefined) {
    if (typeof configFlag !== "string" || configFlag === "") throw new ConfigError("--config: expected a file", true);
    file = resolve(cwd, configFlag);
  } else if (env[CONFIG_ENV] !== undefined && env[CONFIG_ENV] !== "") file = resolve(cwd, env[CONFIG_ENV]!);
  const fromFile = file === undefined ? {} : readConfigFile(file);
  const fileDir = file === undefined ? cwd : dirname(file);

  const config = defaults() as unknown as Record<string, unknown>;
  const sources = {} as Record<ConfigKey, Source>;
  for (const o of OPTIONS) {
    const name = flagName(o.flag);
    let raw: unknown;
    let source: Source = "default";
    let where = "";
    let base = cwd;
    if (flags[name] !== undefined) {
      raw = flags[name];
      source = "flag";
      where = bareFlag(o.flag);
    } else if (env[o.env] !== undefined) {
      raw = env[o.env];
      source = "env";
      where = o.env;
    } else if (Object.hasOwn(fromFile, o.key)) {
      raw = fromFile[o.key];
      source = "file";
      where = `${file}: "${o.key}"`;
      base = fileDir;
    }
    sources[o.key] = source;
    if (source === "default") continue;
    try {
      config[o.key] = convert(o.kind, raw, base);
    } catch (e) {
      if (!(e instanceof Invalid)) throw e;
      throw new ConfigError(`${where}: ${e.message}`, source === "flag");
    }
  }
  const c = config as unknown as GatewayConfig;
  const label = (key: ConfigKey): string => {
    const o = OPTIONS.find((x) => x.key === key)!;
    const s = sources[key];
    return s === "flag" ? bareFlag(o.flag) : s === "env" ? o.env : s === "file" ? `"${key}" in ${file}` : `${bareFlag(o.flag)} (default)`;
  };
  const given = (keys: ConfigKey[]): ConfigKey[] => keys.filter((k) => sources[k] !== "default");
  const usage = (keys: ConfigKey[]): boolean => keys.some((k) => sources[k] === "flag");

  if (c.broker !== undefined) {
    const clash = given(["host", "port"]);
    if (clash.length > 0) throw new ConfigError(`${clash.map(label).join(" and ")} set the embedded broker's address, which is not started with ${label("broker")}: drop one or the other`, usage([...clash, "broker"]));
    const embeddedOnly = given(["users", "maxConnections", "publishRate", "publishBurst"]);
    if (embeddedOnly.length > 0) throw new ConfigError(`${embeddedOnly.map(label).join(", ")}: ${embeddedOnly.length > 1 ? "these set" : "this sets"} the embedded broker, which is not started with ${label("broker")} (configure your broker instead, docs/mqtt.md)`, usage([...embeddedOnly, "broker"]));
  } else {
    // the gateway reaches its embedded broker in process: it needs no credentials and verifies no certificate
    const clash = given(["username", "password", "ca", "insecure"]).filter((k) => k !== "insecure" || c.insecure);
    if (clash.length > 0) throw new ConfigError(`${clash.map(label).join(", ")}: ${clash.length > 1 ? "these apply" : "this applies"} to an external broker only: add --broker <url> (the embedded broker's own users are in --users FILE, its certificate is --cert/--key)`, usage(clash));
    if (c.port !== 0 && c.port === c.httpPort && (c.host === c.httpHost || isAny(c.host) || isAny(c.httpHost))) {
      throw new ConfigError(`the embedded broker and the dashboard cannot both listen on port ${c.port}: change ${label("port")} or ${label("httpPort")}`, usage(["port", "httpPort"]));
    }
  }
  if (c.haDiscovery && c.broker === undefined) {
    throw new ConfigError(`${label("haDiscovery")} needs an external broker (--broker): Home Assistant cannot subscribe to the embedded broker's topics (docs/gateway.md)`, usage(["haDiscovery"]));
  }
  if ((c.cert === undefined) !== (c.key === undefined)) throw new ConfigError(`${label(c.cert === undefined ? "key" : "cert")} needs ${c.cert === undefined ? "--cert" : "--key"} too: a client certificate and its key go together`, usage(["cert", "key"]));
  if (c.maxPacketBytes < 256) throw new ConfigError(`${label("maxPacketBytes")}: expected at least 256 bytes, got ${c.maxPacketBytes}`, usage(["maxPacketBytes"]));
  if (c.gateways.includes(c.id)) c.gateways = c.gateways.filter((g) => g !== c.id);
  return { config: c, sources, file };
}

/** `lichen gateway`'s options as a program passes them: the keys of GatewayConfig, and `config` (a JSON file). */
export type GatewayOptions = { readonly [K in ConfigKey]?: GatewayConfig[K] | string } & { readonly config?: string };

/**
 * The configuration `lichen gateway` would run with, for a program that starts the gateway itself:
 * the options given (flags' names in camelCase: fleet, db, httpPort, ...), then `env` (LICHEN_*;
 * none by default: a library does not read the process's environment unless told to), then the
 * config file, then the defaults. Validated as the CLI does; throws ConfigError.
 */
export function gatewayConfig(options: GatewayOptions = {}, env: NodeJS.ProcessEnv = {}, cwd = process.cwd()): GatewayConfig {
  return resolveConfig({ ...options }, env, cwd).config;
}

function isAny(host: string): boolean {
  return host === "0.0.0.0" || host === "::";
}

/** True for loopback addresses (the dashboard and the broker are private there). */
export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\./.test(host);
}

/** The configuration as printed by `--print-config`: the password hidden, each value with its source. */
export function describeConfig(r: ResolvedConfig): Record<string, { value: unknown; source: Source }> {
  const out: Record<string, { value: unknown; source: Source }> = {};
  for (const o of OPTIONS) {
    let value: unknown = r.config[o.key];
    if (o.key === "password" && value !== undefined) value = "(hidden)";
    out[o.key] = { value: value === undefined ? null : value, source: r.sources[o.key] };
  }
  return out;
}
