// lichen's MQTT binding for Node (gateways, tools, tests): a SyncEngine over MQTT.js and a Node
// Scheduler. Node only (the file name marks it so for the device-rules check). The embedded
// broker is broker-node.ts. The protocol logic is in mqtt-peer.ts,
// shared with the device binding (mqtt-moddable.ts).
import type { Duplex } from "node:stream";
import { connect, MqttClient, type IClientOptions } from "mqtt";
import { invalidArgument } from "../core/errors.js";
import { lastWill, MqttPeer, type MqttClientLike, type MqttPeerOptions, type PeerStatus } from "./mqtt-peer.js";
import { DEFAULT_MAX_PACKET_BYTES, limitPacketSize } from "./packet-limit-node.js";
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
  /** Largest MQTT packet accepted from the broker (default 65,536 bytes): a larger one closes the connection before it is buffered. */
  readonly maxPacketBytes?: number;
  /** Connect through this stream instead of `url` (an embedded broker's connectInProcess); called again at every reconnection. */
  readonly stream?: () => Duplex;
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
    const maxPacketBytes = options.maxPacketBytes ?? DEFAULT_MAX_PACKET_BYTES;
    if (!Number.isSafeInteger(maxPacketBytes) || maxPacketBytes < 64) throw invalidArgument("maxPacketBytes must be an integer of at least 64");
    const mqttOptions: IClientOptions = {
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
      manualConnect: true,
    };
    this.client = options.stream === undefined ? connect(options.url, mqttOptions) : new MqttClient(options.stream, mqttOptions);
    // MQTT.js has no packet size limit in MQTT 3.1.1: every stream it builds (one per connection) is watched
    const internal = this.client as unknown as { streamBuilder: (c: MqttClient) => Duplex };
    const build = internal.streamBuilder;
    internal.streamBuilder = (c) => {
      const stream = build(c);
      limitPacketSize(stream, maxPacketBytes, (bytes) => options.log?.({ level: "warn", event: "mqtt-error", message: `the broker sent a packet of ${bytes} bytes, over the limit of ${maxPacketBytes}: connection closed` }));
      return stream;
    };
    this.client.connect();
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
