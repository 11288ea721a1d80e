// /metrics in Prometheus' text exposition format (version 0.0.4), and /healthz. The figures are
// the gateway monitor's (the same the dashboard shows) and the database file's size on disk.
// Node only; no I/O but stat() of the database files.

import { statSync } from "node:fs";
import type { NodeView, Totals } from "./gateway-monitor.js";

export interface MetricsInput {
  readonly fleet: string;
  readonly version: string;
  readonly connected: boolean;
  readonly uptimeMs: number;
  readonly totals: Totals;
  readonly nodes: readonly NodeView[];
  /** The SQLite file's path: its size and its WAL's are reported. */
  readonly dbPath: string;
  /** Clients connected to the embedded broker (undefined with an external broker). */
  readonly brokerClients: number | undefined;
  /** Deltas applied during the last full second (the dashboard's ingest figure). */
  readonly ingest: number;
}

/** The size of a file in bytes, 0 if it is missing. */
export function fileBytes(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

/** A label value escaped as the text format requires (backslash, double quote, newline). */
function label(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** The text of /metrics. */
export function metricsText(m: MetricsInput): string {
  const lines: string[] = [];
  const metric = (name: string, type: "gauge" | "counter", help: string, samples: Array<[Record<string, string>, number]>): void => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) {
      const l = Object.entries(labels).map(([k, v]) => `${k}="${label(v)}"`);
      lines.push(`${name}${l.length > 0 ? `{${l.join(",")}}` : ""} ${Number.isFinite(value) ? value : "NaN"}`);
    }
  };
  const nodes = m.nodes.filter((n) => n.role === "node");
  metric("lichen_info", "gauge", "This gateway: its fleet and version (always 1).", [[{ fleet: m.fleet, version: m.version }, 1]]);
  metric("lichen_mqtt_connected", "gauge", "1 while the gateway is connected to its MQTT broker.", [[{}, m.connected ? 1 : 0]]);
  metric("lichen_uptime_seconds", "gauge", "Seconds since the gateway started.", [[{}, m.uptimeMs / 1000]]);
  metric("lichen_nodes", "gauge", "Nodes known to the gateway.", [[{}, nodes.length]]);
  metric("lichen_nodes_online", "gauge", "Nodes online now (by their presence).", [[{}, nodes.filter((n) => n.online).length]]);
  metric("lichen_node_online", "gauge", "1 if the peer is online.", m.nodes.map((n) => [{ peer: n.id, role: n.role }, n.online ? 1 : 0]));
  metric(
    "lichen_node_lag_seconds",
    "gauge",
    "Age of the newest change the gateway holds from the peer (peers with a known lag).",
    m.nodes.filter((n) => n.lagMs !== null).map((n) => [{ peer: n.id, role: n.role }, n.lagMs! / 1000]),
  );
  metric("lichen_deltas_applied_total", "counter", "Deltas from peers applied and stored since the gateway started.", [[{}, m.totals.applied]]);
  metric("lichen_delta_bytes_applied_total", "counter", "Bytes of the deltas applied since the gateway started.", [[{}, m.totals.appliedBytes]]);
  metric("lichen_local_changes_total", "counter", "Changes made by the gateway itself (settings) since it started.", [[{}, m.totals.local]]);
  const reasons = Object.entries(m.totals.refusedBy).sort(([a], [b]) => (a < b ? -1 : 1));
  metric("lichen_deltas_refused_total", "counter", "Deltas and frames from peers refused since the gateway started, by reason.", reasons.map(([reason, n]) => [{ reason }, n]));
  metric("lichen_ingest_per_second", "gauge", "Deltas applied during the last full second.", [[{}, m.ingest]]);
  metric("lichen_sqlite_bytes", "gauge", "Size of the SQLite database on disk, by file.", [
    [{ file: "db" }, fileBytes(m.dbPath)],
    [{ file: "wal" }, fileBytes(`${m.dbPath}-wal`)],
  ]);
  if (m.brokerClients !== undefined) metric("lichen_broker_clients", "gauge", "Clients connected to the embedded MQTT broker (the gateway's own included).", [[{}, m.brokerClients]]);
  return `${lines.join("\n")}\n`;
}

export interface Health {
  ok: boolean;
  mqtt: boolean;
  db: boolean;
  /** Why it is not ok. */
  problems: string[];
}

/** /healthz: ok when the broker is connected and the database answers a query. */
export function health(connected: boolean, dbCheck: () => void): Health {
  const problems: string[] = [];
  let db = true;
  try {
    dbCheck();
  } catch (e) {
    db = false;
    problems.push(`database: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!connected) problems.push("not connected to the MQTT broker");
  return { ok: db && connected, mqtt: connected, db, problems };
}
