// The same schema three ways: TOML, JSON and TypeScript.
import { crdt, defineEntity, plain } from "../../src/schema/index.js";

export const SENSOR_TOML = `# crdt-schema.toml
[[entity]]
name = "Sensor"
doc = "A sensor on a node."

[[entity.versions]]
version = 1
fields = [
  { name = "name", type = "string" },
  { name = "reading", type = "number", crdt = "LWWRegister" },
  { name = "samples", crdt = "GCounter" },
]

[[entity.versions]]
version = 2
fields = [
  { name = "unit", type = "string", default = "celsius" },
  { name = "tags", type = "string", crdt = "ORSet", default = ["indoor"] },
  { name = "calibration", type = "bytes", default = [1, 2, 3] },
]

[[entity.relations]]
name = "site"
to = "Site"
kind = "one"
doc = "where it is"

[[entity]]
name = "Site"

[[entity.versions]]
version = 1
fields = [
  { name = "title", type = "string", crdt = "LWWRegister" },
  { name = "notes", crdt = "Text" },
  { name = "meta", type = "json" },
]
`;

export const SENSOR_JSON = `{
  "entities": [
    {
      "name": "Site",
      "versions": [
        { "version": 1, "fields": [
          { "name": "title", "type": "string", "crdt": "LWWRegister" },
          { "name": "notes", "crdt": "Text" },
          { "name": "meta", "type": "json" }
        ] }
      ]
    },
    {
      "name": "Sensor",
      "doc": "A sensor on a node.",
      "versions": [
        { "version": 1, "fields": [
          { "name": "name", "type": "string" },
          { "name": "reading", "type": "number", "crdt": "LWWRegister" },
          { "name": "samples", "crdt": "GCounter" }
        ] },
        { "version": 2, "fields": [
          { "name": "unit", "type": "string", "default": "celsius" },
          { "name": "tags", "type": "string", "crdt": "ORSet", "default": ["indoor"] },
          { "name": "calibration", "type": "bytes", "default": [1, 2, 3] }
        ] }
      ],
      "relations": [{ "name": "site", "to": "Site", "kind": "one", "doc": "where it is" }]
    }
  ]
}
`;

export const Sensor = defineEntity({
  name: "Sensor",
  doc: "A sensor on a node.",
  versions: [
    { fields: { name: plain.string(), reading: crdt.lwwRegister(plain.number()), samples: crdt.gCounter() } },
    {
      add: {
        unit: { type: plain.string(), default: "celsius" },
        tags: { type: crdt.orSet(plain.string()), default: ["indoor"] },
        calibration: { type: plain.bytes(), default: Uint8Array.of(1, 2, 3) },
      },
    },
  ],
  relations: { site: { to: "Site", kind: "one", doc: "where it is" } },
});

export const Site = defineEntity({
  name: "Site",
  versions: [{ fields: { title: crdt.lwwRegister(plain.string()), notes: crdt.text(), meta: plain.json() } }],
});

/** Version 1 of Sensor alone: what a node ran before the over-the-air update. */
export const SensorV1 = defineEntity({
  name: "Sensor",
  versions: [{ fields: { name: plain.string(), reading: crdt.lwwRegister(plain.number()), samples: crdt.gCounter() } }],
});
