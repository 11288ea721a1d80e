// Home Assistant's MQTT discovery (optional: lichen gateway --ha-discovery, off by default).
//
// For every document a node owns ("<ns>/<node>", e.g. readings/n1) whose value is an object, each
// numeric field becomes a Home Assistant sensor without configuration:
//
//   <prefix>/sensor/lichen_<fleet>_<node>_<ns>_<field>/config   retained: name, unique_id,
//       state_topic, value_template, availability_topic, device (one per node), unit if known
//   lichen-ha/<fleet>/<node>/<ns>                                retained: the document's numeric fields as JSON
//   lichen-ha/<fleet>/<node>/availability                        retained: "online" / "offline" (presence)
//
// The messages are plain JSON on topics outside lichen's own (lichen/...), published by the
// gateway's MQTT client. They need a broker that Home Assistant reads too: an external one
// (--broker, mosquitto; its ACL must let the gateway write <prefix>/# and lichen-ha/#, see
// docs/gateway.md). The embedded broker lets no client subscribe outside lichen's topics, so
// the option requires --broker. Node only; no I/O but the publish function given.

import { docParts } from "../../src/core/names.js";

export const HA_STATE_ROOT = "lichen-ha";

/** Units of the readings the firmware writes (targets/esp32/sensor.ts). */
const UNITS: Readonly<Record<string, { unit: string; deviceClass?: string }>> = Object.freeze({
  temperature: { unit: "°C", deviceClass: "temperature" },
  humidity: { unit: "%", deviceClass: "humidity" },
});

export type Publish = (topic: string, payload: string, retain: boolean) => void;

/** A topic segment from an id: MQTT wildcards and separators never reach a topic. */
function segment(s: string): string {
  return s.replace(/[^A-Za-z0-9_-]/g, "_");
}

export interface HaOptions {
  readonly fleet: string;
  /** Home Assistant's discovery prefix (default "homeassistant"). */
  readonly prefix?: string;
  readonly publish: Publish;
}

export class HaDiscovery {
  private readonly announced = new Set<string>();
  private readonly prefix: string;

  constructor(private readonly o: HaOptions) {
    this.prefix = o.prefix ?? "homeassistant";
  }

  private base(node: string): string {
    return `${HA_STATE_ROOT}/${segment(this.o.fleet)}/${segment(node)}`;
  }

  /** A node's document changed: announce its new numeric fields, publish their values. */
  changed(node: string, doc: string, value: unknown): void {
    const [ns, id] = docParts(doc);
    if (id !== node) return; // only documents the node owns
    if (value === null || typeof value !== "object" || Array.isArray(value)) return;
    const numeric: Record<string, number> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) if (typeof v === "number" && Number.isFinite(v)) numeric[k] = v;
    if (Object.keys(numeric).length === 0) return;
    const stateTopic = `${this.base(node)}/${segment(ns)}`;
    for (const field of Object.keys(numeric)) {
      const id = `lichen_${segment(this.o.fleet)}_${segment(node)}_${segment(ns)}_${segment(field)}`;
      if (this.announced.has(id)) continue;
      this.announced.add(id);
      const unit = UNITS[field];
      const config: Record<string, unknown> = {
        name: `${ns} ${field}`,
        unique_id: id,
        object_id: id,
        state_topic: stateTopic,
        value_template: `{{ value_json[${JSON.stringify(field)}] }}`,
        availability_topic: `${this.base(node)}/availability`,
        state_class: "measurement",
        device: { identifiers: [`lichen_${segment(this.o.fleet)}_${segment(node)}`], name: `lichen ${node}`, manufacturer: "lichen", model: "sensor node" },
      };
      if (unit !== undefined) {
        config.unit_of_measurement = unit.unit;
        if (unit.deviceClass !== undefined) config.device_class = unit.deviceClass;
      }
      this.o.publish(`${this.prefix}/sensor/${id}/config`, JSON.stringify(config), true);
    }
    this.o.publish(stateTopic, JSON.stringify(numeric), true);
  }

  /** A node came or went. */
  presence(node: string, online: boolean): void {
    this.o.publish(`${this.base(node)}/availability`, online ? "online" : "offline", true);
  }
}
