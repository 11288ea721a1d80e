// lichen's MQTT binding for Node (gateways, tools, tests): a SyncEngine over MQTT.js, a Node
// Scheduler, and, for a gateway that embeds its broker, aedes with lichen's ACL. Node only (the
// file name marks it so for the device-rules check). The protocol logic is in mqtt-peer.ts,
// shared with the device binding (mqtt-moddable.ts).
import { createServer, type Socket } from "node:net";
import { connect, type IClientOptions, type MqttClient } from "mqtt";
import type { Aedes, AedesOptions } from "aedes";
import { invalidArgument } from "../core/errors.js";
import { lastWill, MqttPeer, type MqttClientLike, type MqttPeerOptions, type PeerStatus } from "./mqtt-peer.js";
import { decodePresence, mayPublish, maySubscribe, parseTopic } from "./mqtt-topics.js";
import type { Scheduler, SyncEngine } from "./sync-engine.js";

/** Time from performance.now() (monotonic), timers from setTimeout, unref'd: they never keep the process alive. */
export function nodeScheduler(): Scheduler {
  return {
    now: () => performance.now(),
    setTimer(ms, fn) {
      const t = setTimeout(fn, Math.max(0, ms));
      t.unref();
      return () => clearTimeout(t);
    },
  };
}

export interface MqttSyncOptions extends Omit<MqttPeerOptions, "client" | "scheduler" | "qos"> {
  /** The broker: mqtt://host:1883, mqtts://host:8883, ws://..., wss://... */
  readonly url: string;
  /** The MQTT client id. Default: the replica id, which the broker's ACL binds to the topics (keep it so). */
  readonly clientId?: string;
  readonly username?: string;
  readonly password?: string | Buffer;
  /** TLS (mqtts:// and wss://), passed to MQTT.js as they are. */
  readonly ca?: string | Buffer | string[] | Buffer[];
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
  readonly rejectUnauthorized?: boolean;
  /** QoS of every publish: 1 by default on Node (a device speaks 0; both interoperate). */
  readonly qos?: 0 | 1;
  /** Default: nodeScheduler(). */
  readonly scheduler?: Scheduler;
  /** Delay between reconnection attempts (MQTT.js's reconnectPeriod), default 1000 ms. */
  readonly reconnectMs?: number;
  /** MQTT keepalive, seconds (default 30): the broker publishes the will when a client goes silent this long (×1.5). */
  readonly keepaliveSec?: number;
  /** Connection timeout, default 10 s. */
  readonly connectTimeoutMs?: number;
  /** Anything else for MQTT.js (not the options above, not the will). */
  readonly mqttOptions?: Partial<IClientOptions>;
}

/**
 * A SyncEngine over MQTT.js. Connects at once and keeps reconnecting (MQTT.js does); on every
 * connection it subscribes to its inbox and to presence and announces itself online; its last
 * will announces it offline. See mqtt-peer.ts for who syncs with whom.
 *
 *   const sync = new MqttSync({ url, replica: "gw1", role: "gateway", fleet: "greenhouse", kv });
 *   const doc = sync.engine.open("readings", "n1", LWWMap);
 *   ...
 *   await sync.close();
 */
export class MqttSync {
  readonly client: MqttClient;
  readonly peer: MqttPeer;
  private closing: Promise<void> | undefined;

  constructor(options: MqttSyncOptions) {
    if (typeof options.url !== "string" || options.url === "") throw invalidArgument("url is the broker's URL");
    const scheduler = options.scheduler ?? nodeScheduler();
    const qos = options.qos ?? 1;
    const heartbeatMs = options.heartbeatMs ?? 30_000;
    const will = lastWill(options.fleet, options.replica, options.role, heartbeatMs, Date.now());
    const like: MqttClientLike = {
      publish: (topic, payload, o) => {
        if (!this.client.connected) return; // dropped: the protocol repairs loss, stale frames are not queued
        this.client.publish(topic, Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength), { qos: o.qos, retain: o.retain }, () => {});
      },
      subscribe: (topic, q) => {
        this.client.subscribe(topic, { qos: q }, (err, granted) => {
          if (err !== null && err !== undefined) options.log?.({ level: "warn", event: "mqtt-error", message: `subscribe ${topic}: ${err.message}` });
          else if (granted?.some((g) => g.qos === 128)) options.log?.({ level: "warn", event: "mqtt-error", message: `subscribe ${topic}: refused by the broker` });
        });
      },
    };
    this.client = connect(options.url, {
      ...options.mqttOptions,
      ...defined({ username: options.username, password: options.password, ca: options.ca, cert: options.cert, key: options.key, rejectUnauthorized: options.rejectUnauthorized }),
      clientId: options.clientId ?? options.replica,
      protocolVersion: 4,
      clean: true,
      keepalive: options.keepaliveSec ?? 30,
      reconnectPeriod: options.reconnectMs ?? 1000,
      connectTimeout: options.connectTimeoutMs ?? 10_000,
      resubscribe: false, // MqttPeer subscribes on every connection
      queueQoSZero: false,
      will: { topic: will.topic, payload: Buffer.from(will.payload), qos: qos, retain: true },
    });
    this.peer = new MqttPeer({ ...options, scheduler, qos, heartbeatMs, client: like });
    this.client.on("connect", () => {
      // small frames must not wait for Nagle's algorithm and the peer's delayed ACK (~40 ms)
      const stream = (this.client as unknown as { stream?: { setNoDelay?: (on: boolean) => void } }).stream;
      stream?.setNoDelay?.(true);
      like.onConnect?.();
    });
    this.client.on("close", () => like.onDisconnect?.());
    // a copy: never a Buffer (docs/design.md), never a view of MQTT.js's pooled memory
    this.client.on("message", (topic, payload) => like.onMessage?.(topic, new Uint8Array(payload)));
    this.client.on("error", (err) => options.log?.({ level: "warn", event: "mqtt-error", message: err.message }));
  }

  get engine(): SyncEngine {
    return this.peer.engine;
  }

  get connected(): boolean {
    return this.peer.isConnected;
  }

  peers(): PeerStatus[] {
    return this.peer.peers();
  }

  /** Resolves at the first connection (or at once if connected); rejects after timeoutMs. */
  ready(timeoutMs = 10_000): Promise<void> {
    if (this.client.connected) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.client.off("connect", done);
        reject(new Error(`no connection to the broker within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.client.once("connect", done);
    });
  }

  /** Clean shutdown: offline presence (retained), the engine closed (pending writes flushed), the client ended. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.peer.close();
      // a graceful end sends DISCONNECT after what is queued (the offline presence); if the
      // broker is unreachable that never completes: then the socket is dropped after 2 s
      let timer: NodeJS.Timeout | undefined;
      const forced = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          this.client.end(true);
          resolve();
        }, 2000);
        timer.unref();
      });
      await Promise.race([this.client.endAsync(false).catch(() => {}), forced]);
      clearTimeout(timer);
    })();
    return this.closing;
  }
}

/** The entries whose value is not undefined (an undefined TLS option must not override a default). */
function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

// ---- the embedded broker (a gateway without mosquitto) ----

export interface AclOptions {
  /** Confine clients to this fleet. */
  readonly fleet?: string;
  /** Called for every publish or subscribe refused. */
  readonly onRefused?: (refusal: { clientId: string | undefined; action: "publish" | "subscribe"; topic: string }) => void;
}

type AuthorizePublish = NonNullable<AedesOptions["authorizePublish"]>;
type AuthorizeSubscribe = NonNullable<AedesOptions["authorizeSubscribe"]>;

/**
 * aedes's authorizePublish with lichen's ACL (mqtt-topics.ts mayPublish): a client publishes
 * frames only as itself (`lichen/F/+/in/<client id>`) and only its own presence. A refused
 * publish makes aedes close the client's connection (MQTT 3.1.1 has no negative PUBACK).
 * Wills are checked too; a will aedes publishes for a client no longer known (client null)
 * passes only if it is an offline presence.
 */
export function authorizePublish(options: AclOptions = {}): AuthorizePublish {
  return (client, packet, callback) => {
    const topic = packet.topic;
    let ok: boolean;
    if (client === null) {
      const t = parseTopic(topic);
      ok = t !== undefined && t.kind === "presence" && (options.fleet === undefined || t.fleet === options.fleet) && isOfflinePresence(packet.payload);
    } else ok = mayPublish(client.id, topic, options.fleet);
    if (ok) return callback(null);
    options.onRefused?.({ clientId: client?.id, action: "publish", topic });
    callback(new Error(`lichen ACL: ${client?.id ?? "(no client)"} may not publish to ${topic}`));
  };
}

function isOfflinePresence(payload: unknown): boolean {
  try {
    const bytes = typeof payload === "string" ? new TextEncoder().encode(payload) : new Uint8Array(payload as Uint8Array);
    return decodePresence(bytes).state === "offline";
  } catch {
    return false;
  }
}

/**
 * aedes's authorizeSubscribe with lichen's ACL (maySubscribe): a client subscribes only to its
 * own inbox and to presence. A refused subscription is answered with a failure code (0x80);
 * the connection stays up.
 */
export function authorizeSubscribe(options: AclOptions = {}): AuthorizeSubscribe {
  return (client, sub, callback) => {
    if (maySubscribe(client.id, sub.topic, options.fleet)) return callback(null, sub);
    options.onRefused?.({ clientId: client.id, action: "subscribe", topic: sub.topic });
    callback(null, null);
  };
}

export interface EmbeddedBrokerOptions extends AclOptions {
  /** Default 1883; 0 picks a free port. */
  readonly port?: number;
  /** Default 127.0.0.1: loopback only. */
  readonly host?: string;
  /** Credentials check (aedes's authenticate); default: anyone may connect, the ACL still applies. */
  readonly authenticate?: AedesOptions["authenticate"];
}

export interface EmbeddedBroker {
  readonly port: number;
  readonly host: string;
  /** mqtt://host:port */
  readonly url: string;
  /** The aedes instance (its events: "publish", "clientError", ...). */
  readonly aedes: Aedes;
  /** Stops listening and drops every client (their wills are published first). */
  close(): Promise<void>;
}

/** An aedes broker (MQTT 3.1.1, in process) with lichen's ACL, listening on TCP. */
export async function startEmbeddedBroker(options: EmbeddedBrokerOptions = {}): Promise<EmbeddedBroker> {
  const { Aedes } = await import("aedes");
  const broker = await Aedes.createBroker({
    authorizePublish: authorizePublish(options),
    authorizeSubscribe: authorizeSubscribe(options),
    ...(options.authenticate === undefined ? {} : { authenticate: options.authenticate }),
  });
  const sockets = new Set<Socket>();
  const server = createServer((socket: Socket) => {
    socket.setNoDelay(true); // see MqttSync: no Nagle delay on small frames
    broker.handle(socket);
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  const host = options.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 1883, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : (options.port ?? 1883);
  let closing: Promise<void> | undefined;
  return {
    port,
    host,
    url: `mqtt://${host}:${port}`,
    aedes: broker,
    close: () =>
      (closing ??= (async () => {
        await new Promise<void>((resolve) => broker.close(() => resolve()));
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          for (const s of sockets) s.destroy();
        });
      })()),
  };
}
