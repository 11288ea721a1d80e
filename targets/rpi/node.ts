// The package's Node entry: `import { SqliteKv, MqttSync, startGateway } from "lichen/node"`.
// What runs only under Node: SQLite storage, the MQTT.js binding, the embedded broker, and the
// gateway as a library (the daemon that `lichen gateway` runs, with the same options). The device
// half (CRDTs, stores, the sync engine, schemas) is the main entry, "lichen".
export { SqliteKv, SQLITE_SCHEMA_VERSION, type SqliteKvOptions, type SqliteChange, type SqliteSynchronous } from "../../src/store/sqlite.js";
export { MqttSync, nodeScheduler, type MqttSyncOptions } from "../../src/transport/mqtt-node.js";
export {
  startEmbeddedBroker,
  authorizePublish,
  authorizeSubscribe,
  type AclOptions,
  type EmbeddedBroker,
  type EmbeddedBrokerOptions,
} from "../../src/transport/broker-node.js";
export { readUsersFile, setPassword, type Users } from "../../src/transport/users-file-node.js";
export type { PeerStatus } from "../../src/transport/mqtt-peer.js";
export { gatewayConfig, defaults as gatewayDefaults, ConfigError, OPTIONS as GATEWAY_OPTIONS, type GatewayConfig, type GatewayOptions, type LogLevel } from "./gateway-config.js";
export { startGateway, runDaemon, jsonLogger, GatewayStartError, type Gateway, type StartOptions, type Logger, type LogFields } from "./gateway-daemon.js";
export { openGatewayDb, type GatewayDb } from "./gateway-db.js";
