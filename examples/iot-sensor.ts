/**
 * `npm run example:iot-sensor`: a schema migration during an over-the-air update.
 *
 * Firmware v1 stores Sensor v1 entities in a CrdtDb over a MemoryKv (standing for the node's flash).
 * The node is updated over the air to v2 code, whose schema adds `unit` (default "celsius") and
 * `tags` (an ORSet, default ["indoor"]). v2 opens the same flash, reads the old data as v2 (CrdtDb
 * migrates it and writes it back), and keeps writing. Uses the schema helpers from src/schema.
 */
import { CrdtDb, Hlc, MemoryKv, crdt, createEntity, defineEntities, defineEntity, loadEntity, plain, saveEntity } from "../src/index.js";
import { runIfMain, SimClock, type Log } from "./_shared.js";

// Firmware v1's schema.
const SensorV1 = defineEntity({
  name: "Sensor",
  versions: [{ fields: { name: plain.string(), reading: crdt.lwwRegister(plain.number()), samples: crdt.gCounter() } }],
});

// Firmware v2's schema: the same entity with a second version.
const SensorV2 = defineEntity({
  name: "Sensor",
  versions: [
    { fields: { name: plain.string(), reading: crdt.lwwRegister(plain.number()), samples: crdt.gCounter() } },
    { add: { unit: { type: plain.string(), default: "celsius" }, tags: { type: crdt.orSet(plain.string()), default: ["indoor"] } } },
  ],
});

export interface IotSensorResult {
  ok: boolean;
  versionBefore: number | undefined;
  versionAfter: number | undefined;
  sensor: { name: string; reading: number | undefined; samples: number; unit: string; tags: string[] };
}

export function main(log: Log = () => {}): IotSensorResult {
  const clock = new SimClock();
  const options = { clock: new Hlc({ wallClock: clock.now }) };
  const flash = new MemoryKv(); // survives the update

  // --- firmware v1 ---
  {
    const db = defineEntities(new CrdtDb(flash), [SensorV1]);
    const s = createEntity(SensorV1, { name: "greenhouse-temp" }, "node-7", options);
    s.reading.set(21.5);
    s.samples.incrementBy(12);
    saveEntity(db, SensorV1, "s1", s);
    log(`v1: stored Sensor s1 (version ${db.storedVersion("Sensor", "s1")}): name, reading 21.5, samples 12`);
  }

  // --- OTA: the node reboots into v2 code, the flash is kept ---
  clock.advance(3600);
  const db = defineEntities(new CrdtDb(flash), [SensorV2]);
  const versionBefore = db.storedVersion("Sensor", "s1");
  const s = loadEntity(db, SensorV2, "s1", "node-7", options)!; // migrated to v2 and written back
  const versionAfter = db.storedVersion("Sensor", "s1");
  log(`v2: loaded s1 stored at version ${versionBefore} → now version ${versionAfter}: unit "${s.unit}", tags ${JSON.stringify(s.tags.value())}`);

  // v2 code uses the new fields and writes back.
  s.reading.set(22.25);
  s.samples.increment();
  s.tags.add("north-wall");
  s.unit = "celsius";
  saveEntity(db, SensorV2, "s1", s);

  // A fresh boot of v2 reads what it wrote.
  const again = loadEntity(defineEntities(new CrdtDb(flash), [SensorV2]), SensorV2, "s1", "node-7", options)!;
  const sensor = {
    name: again.name,
    reading: again.reading.get(),
    samples: again.samples.value(),
    unit: again.unit,
    tags: again.tags.value().slice().sort(),
  };
  log(`v2 after reboot: ${JSON.stringify(sensor)}`);

  const ok =
    versionBefore === 1 &&
    versionAfter === 2 &&
    sensor.name === "greenhouse-temp" &&
    sensor.reading === 22.25 &&
    sensor.samples === 13 &&
    sensor.unit === "celsius" &&
    JSON.stringify(sensor.tags) === JSON.stringify(["indoor", "north-wall"]);
  return { ok, versionBefore, versionAfter, sensor };
}

runIfMain(import.meta.url, main);
