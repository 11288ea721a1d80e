// The sensor node's configuration: the "config" of targets/esp32/manifest.json, which mcconfig
// turns into the "mc/config" module, overridden by `key=value` arguments on the mcconfig command
// line (those arrive as strings, manifest values as numbers: both are accepted). Device code.
//
// | key            | default            | meaning                                                      |
// |----------------|--------------------|--------------------------------------------------------------|
// | id             | "" → from the MAC  | the replica id and MQTT client id: "a4cf12b3c4d5"; "mcsim"   |
// |                |                    | in Moddable's simulator, which has no MAC address            |
// | broker         | "" (required)      | the MQTT broker's host name or IP address (the gateway's)    |
// | brokerPort     | 1883               |                                                              |
// | brokerUser     | ""                 | MQTT user name, if the broker asks for one                   |
// | brokerPassword | ""                 | (not `password`: that key is the Wi-Fi password)             |
// | brokerTls      | 0                  | 1: TLS to the broker (SecureSocket; a TLS build, docs/esp32.md) |
// | brokerCa       | "broker-ca.der"    | the resource holding the CA certificate (DER) of the broker  |
// | fleet          | "default"          | the fleet: the second level of lichen's topics               |
// | gateway        | "" (required with a broker) | the trusted gateway ids, comma-separated: what      |
// |                |                    | `lichen gateway` prints as its id (its host name by default) |
// | interval       | 10000              | ms between two samples                                       |
// | sensor         | "sim"              | "sim" (simulated), "tmp102" or "sht3x" (I2C, sensor-i2c.ts) |
// | thresholds     | "temperature:30"   | alarm thresholds: "name:limit,name:limit"                    |
// | seed           | 0 → from the id    | the simulated sensor's seed                                  |
// | heartbeat      | 30000              | ms between presence heartbeats (3 missed: offline)           |
// | antiEntropy    | 30000              | ms between digest exchanges with the gateway                 |
// | resend         | 1000               | first resend delay of an unacknowledged delta (doubles)      |
// | reconnect      | 1000               | first reconnection delay after a lost connection (doubles)   |
// | maxReconnect   | 60000              | longest reconnection delay                                   |
// | keepalive      | 60000              | MQTT keepalive, ms                                           |
// Moddable's own keys live beside them: ssid and password (Wi-Fi), sntp.
import { invalidArgument } from "../../src/core/errors.js";
import { fnv1aString } from "../../src/core/hash.js";
import { checkReplicaId } from "../../src/core/replica.js";

/** Sync timings (ms); the defaults suit a device on a LAN. The host tests shorten them. */
export interface NodeSyncTuning {
  readonly heartbeatMs: number;
  readonly antiEntropyMs: number;
  readonly resendMs: number;
  readonly maxResendMs: number;
  readonly reconnectMs: number;
  readonly maxReconnectMs: number;
  readonly keepaliveMs: number;
}

export interface NodeConfig {
  /** The replica id, which is also the MQTT client id (the broker's ACL binds the two). */
  readonly id: string;
  /** The broker's host; "" when none is configured (the node then samples and stores, offline). */
  readonly broker: string;
  readonly brokerPort: number;
  readonly brokerUser: string;
  readonly brokerPassword: string;
  /** TLS to the broker: never falls back to clear text. */
  readonly brokerTls: boolean;
  /** The resource name of the CA certificate (DER) that verifies the broker. */
  readonly brokerCa: string;
  readonly fleet: string;
  readonly gateways: readonly string[];
  /** ms between samples. */
  readonly intervalMs: number;
  readonly sensor: string;
  /** Alarm thresholds by sensor name: a reading above its threshold raises an alarm. */
  readonly thresholds: Readonly<Record<string, number>>;
  readonly seed: number;
  readonly sync: NodeSyncTuning;
}

/** The mc/config keys the firmware reads (targets/esp32/manifest.json gives each a default). */
export const CONFIG_KEYS: readonly string[] = Object.freeze([
  "id",
  "broker",
  "brokerPort",
  "brokerUser",
  "brokerPassword",
  "brokerTls",
  "brokerCa",
  "fleet",
  "gateway",
  "interval",
  "sensor",
  "thresholds",
  "seed",
  "heartbeat",
  "antiEntropy",
  "resend",
  "reconnect",
  "maxReconnect",
  "keepalive",
]);

/** The id of a node without a MAC address: Moddable's simulator (Net.get("MAC") gives none on lin). */
export const SIMULATOR_ID = "mcsim";

/** The fleet when none is configured: the same as `lichen gateway`'s (targets/rpi/gateway-config.ts). */
export const DEFAULT_FLEET = "default";

/** The replica id of a MAC address: "A4:CF:12:B3:C4:D5" → "a4cf12b3c4d5". */
export function idFromMac(mac: string): string {
  const hex = String(mac).toLowerCase().replace(/[^0-9a-f]/g, "");
  if (hex.length !== 12) throw invalidArgument(`cannot derive a node id from the MAC address ${JSON.stringify(mac)}: set the id config key`);
  return hex;
}

function text(raw: Readonly<Record<string, unknown>>, key: string, fallback: string): string {
  const v = raw[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== "string" && typeof v !== "number") throw invalidArgument(`config ${key} must be a string`);
  return String(v).trim();
}

function integer(raw: Readonly<Record<string, unknown>>, key: string, fallback: number, min: number, max: number): number {
  const v = raw[key];
  if (v === undefined || v === null || v === "") return fallback;
  const n = typeof v === "number" ? v : Number(v);
  if (!Number.isSafeInteger(n) || n < min || n > max) throw invalidArgument(`config ${key} must be an integer from ${min} to ${max}, not ${JSON.stringify(v)}`);
  return n;
}

/** "temperature:30,humidity:80" → { temperature: 30, humidity: 80 }. */
export function parseThresholds(spec: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of spec.split(",")) {
    const item = part.trim();
    if (item === "") continue;
    const colon = item.lastIndexOf(":");
    const name = colon > 0 ? item.slice(0, colon).trim() : "";
    const limit = colon > 0 ? Number(item.slice(colon + 1)) : NaN;
    if (name === "" || !Number.isFinite(limit)) throw invalidArgument(`config thresholds: ${JSON.stringify(item)} is not name:number`);
    out[name] = limit;
  }
  return out;
}

/** A small non-zero seed from a string (FNV-1a). */
export function seedOf(s: string): number {
  const h = fnv1aString(s);
  return h === 0 ? 1 : h;
}

/**
 * The node's configuration from mc/config's object. `mac` (Net.get("MAC")) names the node when
 * the id key is empty; no MAC (the simulator) gives SIMULATOR_ID. Throws INVALID_ARGUMENT,
 * naming the key, for a value it cannot use.
 */
export function parseNodeConfig(raw: Readonly<Record<string, unknown>>, mac?: string): NodeConfig {
  const given = text(raw, "id", "");
  const id = checkReplicaId(given !== "" ? given : mac === undefined || mac === "" ? SIMULATOR_ID : idFromMac(mac));
  const broker = text(raw, "broker", "");
  const gateways = text(raw, "gateway", "")
    .split(",")
    .map((g) => g.trim())
    .filter((g) => g !== "");
  for (const g of gateways) checkReplicaId(g);
  if (broker !== "" && gateways.length === 0) throw invalidArgument("config gateway is empty: name the gateway's id, as `lichen gateway` prints it (its host name by default)");
  const thresholds = parseThresholds(text(raw, "thresholds", "temperature:30"));
  const seed = integer(raw, "seed", 0, 0, 0xffffffff);
  return Object.freeze({
    id,
    broker,
    brokerPort: integer(raw, "brokerPort", 1883, 1, 65535),
    brokerUser: text(raw, "brokerUser", ""),
    brokerPassword: text(raw, "brokerPassword", ""),
    brokerTls: integer(raw, "brokerTls", 0, 0, 1) === 1,
    brokerCa: text(raw, "brokerCa", "broker-ca.der"),
    fleet: text(raw, "fleet", DEFAULT_FLEET),
    gateways: Object.freeze(gateways),
    intervalMs: integer(raw, "interval", 10_000, 10, 86_400_000),
    sensor: text(raw, "sensor", "sim"),
    thresholds: Object.freeze(thresholds),
    seed: seed === 0 ? seedOf(id) : seed,
    sync: Object.freeze({
      heartbeatMs: integer(raw, "heartbeat", 30_000, 10, 86_400_000),
      antiEntropyMs: integer(raw, "antiEntropy", 30_000, 10, 86_400_000),
      resendMs: integer(raw, "resend", 1000, 10, 3_600_000),
      maxResendMs: 60_000,
      reconnectMs: integer(raw, "reconnect", 1000, 10, 3_600_000),
      maxReconnectMs: integer(raw, "maxReconnect", 60_000, 10, 86_400_000),
      keepaliveMs: integer(raw, "keepalive", 60_000, 0, 86_400_000),
    }),
  });
}
