// Loopback helpers for the tests and benchmarks that run brokers and gateways.
import { spawnSync } from "node:child_process";
import { createConnection, createServer } from "node:net";
import { connect as mqttConnect, type IClientOptions, type MqttClient } from "mqtt";

/** A free TCP port on loopback (mosquitto cannot take port 0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      const port = typeof a === "object" && a !== null ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** True if something accepts connections on the loopback port. */
export function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ port, host: "127.0.0.1" });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/** The mosquitto binary, if installed (CI installs it). */
export function mosquittoPath(): string | undefined {
  const r = spawnSync("sh", ["-c", "command -v mosquitto || ls /usr/sbin/mosquitto"], { encoding: "utf8" });
  const p = r.stdout.trim().split("\n")[0];
  return r.status === 0 && p ? p : undefined;
}

/** One MQTT 3.1.1 connection attempt, no reconnect: the client once connected, or why it was not. */
export function attempt(url: string, options: IClientOptions): Promise<MqttClient | Error> {
  const c = mqttConnect(url, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 3000, ...options });
  return new Promise((resolve) => {
    c.once("connect", () => resolve(c));
    c.once("error", (e) => {
      c.end(true);
      resolve(e);
    });
    c.once("close", () => resolve(new Error("closed")));
  });
}
