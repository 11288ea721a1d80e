// The gateway's dashboard over HTTP (node:http, no framework): one static page (dashboard.html,
// inline CSS and JS, no build step, nothing from the internet), JSON endpoints, and live updates
// over server-sent events.
//
//   GET /                      the page
//   GET /api/status            the gateway, totals, ingest history, and report.ts's status (namespaces, logs)
//   GET /api/nodes             every peer: presence, last seen, lag, docs; and the charts' history
//   GET /api/entities[?namespace=ns]   every entity: type, value, version, updated_at
//   GET /api/entity?key=ns/id[&events=N]   one entity (report.ts's inspect): value, version, envelope, events, snapshot
//   GET /events                server-sent events: "hello" then one "tick" per second
//                              ({ t, ingest, totals, nodes, changed: [entity rows], more })
//   GET /api/settings?doc=fleet/config      a settings document and, per node, whether it applied the last change
//   POST /api/settings?doc=fleet/config     {"key": value, ...} (null removes a key): written by the gateway (gateway-settings.ts)
//   GET /api/history?doc=ns/id[&field=f][&since=ms][&limit=n]   a document's values over time (gateway-history.ts)
//   GET /metrics               Prometheus text format (gateway-metrics.ts)
//   GET /healthz               200 {"ok":true,...} when the broker is connected and the database answers, else 503
//
// Bound to loopback by default. While it is, requests must name a loopback host (Host header):
// a web page elsewhere cannot read it through DNS rebinding. There is no authentication, so
// writes (POST) are taken only from a loopback peer (whatever --http-host is), as JSON
// (Content-Type application/json: a cross-site form cannot send that without a preflight, which
// is never granted), and with an Origin, if any, of this server itself. To reach it from another
// machine, use an SSH tunnel rather than --http-host 0.0.0.0. Node only.

import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { typeName } from "../../src/core/codec.js";
import { LichenError } from "../../src/core/errors.js";
import { timestampToMs } from "../../src/core/hlc.js";
import { docParts } from "../../src/core/names.js";
import { envelopeKey } from "../../src/store/keys.js";
import type { SyncEngine } from "../../src/transport/sync-engine.js";
import type { GatewayDb } from "./gateway-db.js";
import { readHistory } from "./gateway-history.js";
import { health, metricsText, type MetricsInput } from "./gateway-metrics.js";
import type { GatewayMonitor, NodeView, Sample, Totals } from "./gateway-monitor.js";
import { checkSettingsDoc, DEFAULT_SETTINGS_DOC, SETTINGS_NAMESPACE, type SettingsChange, type SettingsView } from "./gateway-settings.js";
import { envelopeKeys, inspect, jsonText, readEnvelope, status } from "./report.js";

export interface GatewayInfo {
  id: string;
  fleet: string;
  version: string;
  /** The broker's URL, and whether it runs inside the gateway. */
  broker: string;
  brokerEmbedded: boolean;
  /** Connected to the broker now. */
  connected: boolean;
  db: string;
  /** Wall-clock ms. */
  startedAt: number;
  gateways: string[];
}

export interface DashboardContext {
  info(): GatewayInfo;
  readonly monitor: GatewayMonitor;
  readonly engine: SyncEngine;
  readonly db: GatewayDb;
  /** Reports a request that failed unexpectedly. */
  readonly onError?: (e: unknown, url: string) => void;
  /** The fleet's settings: read them, change them (through the gateway's engine). */
  readonly settings: { view(doc: string): SettingsView | undefined; set(doc: string, change: SettingsChange): SettingsView };
  /** What /metrics reports beyond the monitor's figures. */
  metrics(): MetricsInput;
}

export interface EntityRow {
  key: string;
  namespace: string;
  id: string;
  kind: "state" | "envelope";
  type: string;
  value: unknown;
  /** Replica → version counter (states). */
  version?: Record<string, number>;
  /** ISO time of the last write (from the SQL mirror), or of the change seen live. */
  updatedAt: string | null;
}

export interface TickEvent {
  t: number;
  /** Deltas applied during the last second. */
  ingest: number;
  /** Deltas applied per second, averaged over the last INGEST_WINDOW seconds (the Ingest card). */
  ingestRate: number;
  totals: Totals;
  connected: boolean;
  nodes: NodeView[];
  changed: EntityRow[];
  /** More documents changed than `changed` holds: fetch /api/entities. */
  more: boolean;
}

export interface Dashboard {
  readonly url: string;
  readonly port: number;
  readonly server: Server;
  /** Sends one tick to every open /events stream. */
  broadcast(tick: TickEvent): void;
  /** Open /events streams. */
  readonly clients: number;
  close(): Promise<void>;
}

const PAGE_FILE = new URL("./dashboard.html", import.meta.url);
const MAX_SSE_CLIENTS = 32;

/** Hosts a loopback-bound dashboard answers to. */
function loopbackHost(hostHeader: string | undefined): boolean {
  if (hostHeader === undefined) return false;
  const host = hostHeader.replace(/:\d+$/, "").replace(/^\[|\]$/g, "").toLowerCase();
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** A value ready for JSON.stringify, as the SQL mirror writes it (bytes as {"$bytes": hex}). */
function plain(value: unknown): unknown {
  return JSON.parse(jsonText(value));
}

/** The wall-clock ISO time of an HLC version counter, when it is one. */
function counterTime(counter: number): string | null {
  const ms = timestampToMs(counter);
  const now = Date.now();
  return ms > now - 366 * 86_400_000 && ms < now + 3_600_000 ? new Date(ms).toISOString() : null;
}

export function entityRow(engine: SyncEngine, key: string, updatedAt: string | null): EntityRow | undefined {
  const crdt = engine.get(key);
  if (crdt === undefined) return undefined;
  const [namespace, id] = docParts(key);
  return { key, namespace, id, kind: "state", type: typeName(crdt.typeTag), value: plain(crdt.value()), version: crdt.version().toJSON(), updatedAt };
}

/** Every entity: the engine's documents (live), then CrdtDb envelopes from the store. */
export function entityRows(ctx: DashboardContext, namespace?: string): EntityRow[] {
  const updated = new Map<string, string>();
  try {
    const rows = ctx.db.sql.prepare("SELECT namespace, id, updated_at FROM lichen_entities").all() as Array<{ namespace: string; id: string; updated_at: string }>;
    for (const r of rows) updated.set(`${r.namespace}/${r.id}`, r.updated_at);
  } catch {
    // the mirror is optional reading
  }
  const out: EntityRow[] = [];
  for (const key of ctx.engine.documents()) {
    if (namespace !== undefined && !key.startsWith(`${namespace}/`)) continue;
    const row = entityRow(ctx.engine, key, updated.get(key) ?? null);
    if (row !== undefined) out.push(row);
  }
  for (const [type, id] of envelopeKeys(ctx.db, namespace)) {
    const key = `${type}/${id}`;
    try {
      const stored = envelopeKey(type, id);
      const env = readEnvelope(stored, ctx.db.kv.get(stored)!);
      out.push({ key, namespace: type, id, kind: "envelope", type: `${env.type}@${env.schemaVersion}`, value: plain(env.value), updatedAt: updated.get(key) ?? null });
    } catch {
      out.push({ key, namespace: type, id, kind: "envelope", type: "unreadable", value: null, updatedAt: null });
    }
  }
  return out;
}

/** One entity in detail (report.ts's inspect), its last `events` events, and the times of its version. */
export function entityDetail(ctx: DashboardContext, key: string, events = 50): unknown {
  const info = inspect(ctx.db, key, { events: true });
  if (info === undefined) return undefined;
  if (info.log) info.log.entityEvents = info.log.entityEvents.slice(-events).reverse();
  const { valueJson: _text, ...rest } = info;
  const versionTimes: Record<string, string | null> = {};
  for (const [r, n] of Object.entries(info.version ?? {})) versionTimes[r] = info.type.endsWith("Counter") ? null : counterTime(n);
  // the last values, from the SQL mirror's change rows (only the recent rows are searched)
  // (value: the whole value, or with kind "fields" only the fields that change set)
  let history: Array<{ dbVersion: number; value: unknown; changedAt: string; kind: string }> = [];
  try {
    const [ns, id] = docParts(key);
    const rows = ctx.db.sql
      .prepare(
        "SELECT db_version, value, changed_at, kind FROM lichen_changes WHERE seq > (SELECT coalesce(max(seq), 0) - 5000 FROM lichen_changes) AND namespace = ? AND id = ? ORDER BY seq DESC LIMIT 10",
      )
      .all(ns, id) as Array<{ db_version: number; value: string | null; changed_at: string; kind: string }>;
    history = rows.map((r) => ({ dbVersion: r.db_version, value: r.value === null ? null : (JSON.parse(r.value) as unknown), changedAt: r.changed_at, kind: r.kind }));
  } catch {
    history = [];
  }
  return { ...rest, versionTimes, history };
}

/** A loopback peer address (IPv4, IPv6, or IPv4-mapped). */
function loopbackPeer(address: string | undefined): boolean {
  if (address === undefined) return false;
  const a = address.replace(/^::ffff:/, "");
  return a === "::1" || /^127\.\d+\.\d+\.\d+$/.test(a);
}

const MAX_BODY_BYTES = 16 * 1024;

/** The request's body as JSON (at most MAX_BODY_BYTES). */
function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(Object.assign(new Error(`the body is over ${MAX_BODY_BYTES} bytes`), { status: 413 }));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString("utf8")));
      } catch {
        reject(Object.assign(new Error("the body is not JSON"), { status: 400 }));
      }
    });
    req.on("error", reject);
  });
}

/** Why this request may not write (undefined: it may). */
function writeRefusal(req: IncomingMessage): string | undefined {
  if (!loopbackPeer(req.socket.remoteAddress)) return "settings are changed from this machine only (an SSH tunnel, or lichen set on the gateway)";
  const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  if (type !== "application/json") return "a write is Content-Type: application/json";
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== "null") {
    let host: string;
    try {
      host = new URL(origin).host;
    } catch {
      return "a bad Origin";
    }
    if (host !== req.headers.host) return `writes from ${origin} are not allowed`;
  } else if (origin === "null") return "writes from an opaque origin are not allowed";
  return undefined;
}

function sendText(res: ServerResponse, code: number, type: string, text: string): void {
  res.writeHead(code, { "Content-Type": type, "Cache-Control": "no-store", "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}

function send(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { "Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store", "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}

export async function startDashboard(ctx: DashboardContext, options: { host: string; port: number }): Promise<Dashboard> {
  const page = readFileSync(PAGE_FILE);
  const streams = new Set<ServerResponse>();
  const loopbackOnly = options.host === "localhost" || options.host === "::1" || options.host.startsWith("127.");

  const hello = (): unknown => ({
    gateway: ctx.info(),
    totals: ctx.monitor.totals,
    ingestRate: ctx.monitor.ingestRate(),
    nodes: ctx.monitor.nodes(),
    samples: ctx.monitor.samples(),
  });

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? "/", "http://dashboard");
    if (loopbackOnly && !loopbackHost(req.headers.host)) return send(res, 403, { error: "this dashboard answers to localhost only" });
    if (req.method === "POST" && url.pathname === "/api/settings") {
      void postSettings(req, res, url);
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.setHeader("Allow", url.pathname === "/api/settings" ? "GET, HEAD, POST" : "GET, HEAD");
      return send(res, 405, { error: `${req.method} not allowed` });
    }
    try {
      switch (url.pathname) {
        case "/":
        case "/index.html":
          res.writeHead(200, {
            "Content-Type": "text/html; charset=utf-8",
            "Cache-Control": "no-store",
            "Content-Length": page.length,
            "Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:",
            "X-Content-Type-Options": "nosniff",
          });
          res.end(req.method === "HEAD" ? undefined : page);
          return;
        case "/api/status":
          return send(res, 200, { gateway: ctx.info(), uptimeMs: Date.now() - ctx.info().startedAt, totals: ctx.monitor.totals, nodes: ctx.monitor.nodes(), samples: ctx.monitor.samples(), report: status(ctx.db) });
        case "/api/nodes":
          return send(res, 200, { nodes: ctx.monitor.nodes(), samples: ctx.monitor.samples() });
        case "/api/entities": {
          const ns = url.searchParams.get("namespace") ?? undefined;
          return send(res, 200, { entities: entityRows(ctx, ns) });
        }
        case "/api/entity": {
          const key = url.searchParams.get("key");
          if (key === null || key === "") return send(res, 400, { error: 'missing ?key=namespace/id' });
          const n = Number(url.searchParams.get("events") ?? 50);
          let detail: unknown;
          try {
            detail = entityDetail(ctx, key, Number.isSafeInteger(n) && n >= 0 ? Math.min(n, 1000) : 50);
          } catch (e) {
            if (e instanceof LichenError && e.code === "INVALID_ARGUMENT") return send(res, 400, { error: e.message });
            throw e;
          }
          if (detail === undefined) return send(res, 404, { error: `no entity ${key}` });
          return send(res, 200, detail);
        }
        case "/api/settings": {
          const doc = url.searchParams.get("doc") ?? DEFAULT_SETTINGS_DOC;
          try {
            checkSettingsDoc(doc);
            const view = ctx.settings.view(doc);
            if (view === undefined) return send(res, 404, { error: `no settings document ${doc} yet (lichen set ${doc} key=value makes it)` });
            return send(res, 200, view);
          } catch (e) {
            if (e instanceof LichenError) return send(res, 400, { error: e.message, code: e.code });
            throw e;
          }
        }
        case "/api/history": {
          const doc = url.searchParams.get("doc");
          if (doc === null || !doc.includes("/")) return send(res, 400, { error: "missing ?doc=namespace/id" });
          const num = (name: string): number | undefined | null => {
            const v = url.searchParams.get(name);
            if (v === null) return undefined;
            const n = Number(v);
            return v.trim() !== "" && Number.isSafeInteger(n) && n >= 0 ? n : null;
          };
          const since = num("since");
          const limit = num("limit");
          if (since === null || limit === null) return send(res, 400, { error: "since and limit are non-negative integers (since: wall-clock ms)" });
          const fields = url.searchParams.getAll("field").filter((f) => f !== "");
          const { rows, damaged } = readHistory(ctx.db.sql, doc, { since, fields, limit: Math.min(limit ?? 20_000, 20_000) });
          return send(res, 200, { doc, rows: rows.map((r) => ({ t: r.t, field: r.field, value: r.value })), damaged });
        }
        case "/metrics":
          return sendText(res, 200, "text/plain; version=0.0.4; charset=utf-8", metricsText(ctx.metrics()));
        case "/healthz": {
          const h = health(ctx.info().connected, () => ctx.db.sql.prepare("SELECT 1").get());
          return send(res, h.ok ? 200 : 503, h);
        }
        case "/events": {
          if (streams.size >= MAX_SSE_CLIENTS) return send(res, 503, { error: "too many dashboards open" });
          res.writeHead(200, { "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-store", Connection: "keep-alive", "X-Accel-Buffering": "no" });
          res.write(`retry: 2000\n\nevent: hello\ndata: ${JSON.stringify(hello())}\n\n`);
          streams.add(res);
          req.socket.setNoDelay(true);
          const drop = (): void => {
            streams.delete(res);
          };
          req.on("close", drop);
          res.on("error", drop);
          return;
        }
        default:
          return send(res, 404, { error: `no such page: ${url.pathname}` });
      }
    } catch (e) {
      ctx.onError?.(e, url.pathname);
      const message = e instanceof Error ? e.message : String(e);
      if (!res.headersSent) send(res, 500, { error: message });
      else res.end();
    }
  };

  const postSettings = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    try {
      const refusal = writeRefusal(req);
      if (refusal !== undefined) {
        req.resume();
        return send(res, 403, { error: refusal });
      }
      const doc = url.searchParams.get("doc") ?? DEFAULT_SETTINGS_DOC;
      let body: unknown;
      try {
        body = await readJson(req);
      } catch (e) {
        return send(res, (e as { status?: number }).status ?? 400, { error: (e as Error).message });
      }
      try {
        return send(res, 200, ctx.settings.set(doc, body as SettingsChange));
      } catch (e) {
        // outside fleet/*: a document the gateway may not write (403); else bad input (400)
        if (e instanceof LichenError) return send(res, doc.startsWith(`${SETTINGS_NAMESPACE}/`) ? 400 : 403, { error: e.message, code: e.code });
        throw e;
      }
    } catch (e) {
      ctx.onError?.(e, url.pathname);
      if (!res.headersSent) send(res, 500, { error: e instanceof Error ? e.message : String(e) });
      else res.end();
    }
  };

  const server = createServer(handle);
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  server.on("error", (e) => ctx.onError?.(e, "(server)"));
  const port = (server.address() as AddressInfo).port;
  const shown = options.host === "0.0.0.0" || options.host === "::" ? "localhost" : options.host.includes(":") ? `[${options.host}]` : options.host;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${shown}:${port}/`,
    port,
    server,
    get clients() {
      return streams.size;
    },
    broadcast(tick: TickEvent): void {
      if (streams.size === 0) return;
      const frame = `event: tick\ndata: ${JSON.stringify(tick)}\n\n`;
      for (const s of streams) {
        // a dashboard that does not read (a suspended laptop) is dropped, not buffered forever
        if (s.writableLength > 1_000_000) {
          streams.delete(s);
          s.destroy();
          continue;
        }
        s.write(frame);
      }
    },
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        for (const s of streams) s.end();
        streams.clear();
        server.close(() => resolve());
        server.closeAllConnections();
      })),
  };
}

/** The tick sent every second: the sample just closed, the peers, and the documents changed meanwhile. */
export function tickEvent(ctx: DashboardContext, sample: Sample, maxChanged = 100): TickEvent {
  const { docs, more } = ctx.monitor.takeChanged(maxChanged);
  const now = new Date(sample.t).toISOString();
  const changed: EntityRow[] = [];
  for (const key of docs) {
    const row = entityRow(ctx.engine, key, now);
    if (row !== undefined) changed.push(row);
  }
  return { t: sample.t, ingest: sample.ingest, ingestRate: ctx.monitor.ingestRate(), totals: { ...ctx.monitor.totals }, connected: ctx.info().connected, nodes: sample.nodes ?? ctx.monitor.nodes(), changed, more };
}
