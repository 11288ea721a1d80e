// An EXAMPLE of a real sensor behind the Sensor interface: a TMP102 (temperature) or an SHT3x
// (temperature and humidity) on I2C, through ECMA-419's `embedded:io/i2c` as the Moddable SDK
// implements it (documentation/io/io.md, "I2C": `new I2C({ data, clock, hz, address })`,
// `write(buffer, stop?)`, `read(count, stop?)` → ArrayBuffer, synchronous, throws on a NACK).
// Device-only: the host simulation has no I2C (it runs SimulatedSensor). Select it with the
// config key sensor=tmp102 or sensor=sht3x; the pins default to the board's `device.I2C.default`
// (the ECMA-419 host provider, $(MODDABLE)/modules/io/manifest.json, which targets/esp32's
// manifest includes), else to GPIO 21 (SDA) and 22 (SCL), the usual ESP32 DevKit wiring.
// Moddable also ships full drivers (modules/drivers/sensors/tmp102, sht3x: ECMA-419 sensor
// classes): this file is a small, readable one to copy for another part.

// @ts-ignore: an ECMA-419 module of the Moddable SDK; its shape is declared by I2cIo below
import I2C from "embedded:io/i2c";
import type { Reading, Sensor } from "./sensor.js";

interface I2cIo {
  write(data: ArrayBuffer | ArrayBufferView, stop?: boolean): void;
  read(count: number, stop?: boolean): ArrayBuffer;
  close(): void;
}

type I2cConstructor = new (options: { data: number; clock: number; hz: number; address: number }) => I2cIo;

export interface I2cPins {
  /** SDA GPIO. */
  readonly data?: number;
  /** SCL GPIO. */
  readonly clock?: number;
  readonly hz?: number;
  /** 7-bit address (TMP102: 0x48; SHT3x: 0x44). */
  readonly address?: number;
}

function open(pins: I2cPins, address: number): I2cIo {
  const board = (globalThis as { device?: { I2C?: { default?: { data?: number; clock?: number } } } }).device?.I2C?.default;
  return new (I2C as I2cConstructor)({
    data: pins.data ?? board?.data ?? 21,
    clock: pins.clock ?? board?.clock ?? 22,
    hz: pins.hz ?? 100_000,
    address: pins.address ?? address,
  });
}

/** TI TMP102: the temperature register (0x00) holds 12 bits, two's complement, 0.0625 °C per bit. */
export class Tmp102Sensor implements Sensor {
  private readonly io: I2cIo;

  constructor(pins: I2cPins = {}) {
    this.io = open(pins, 0x48);
  }

  read(): Reading[] {
    this.io.write(Uint8Array.of(0x00), false); // pointer register: temperature
    const b = new Uint8Array(this.io.read(2));
    let raw = ((b[0]! << 8) | b[1]!) >> 4;
    if (raw & 0x800) raw -= 0x1000;
    return [{ name: "temperature", value: Math.round(raw * 6.25) / 100 }];
  }

  close(): void {
    this.io.close();
  }
}

/** Sensirion's CRC-8 (polynomial 0x31, initial value 0xff) over two bytes. */
function crc8(a: number, b: number): number {
  let crc = 0xff;
  for (const byte of [a, b]) {
    crc ^= byte;
    for (let i = 0; i < 8; i++) crc = crc & 0x80 ? ((crc << 1) ^ 0x31) & 0xff : (crc << 1) & 0xff;
  }
  return crc;
}

/**
 * Sensirion SHT3x in periodic mode (one measurement per second, high repeatability: command
 * 0x2130), read with "fetch data" (0xE000): 6 bytes, temperature and humidity, each with a CRC.
 * The first read after start may find no measurement yet: it throws, the node logs it and skips
 * that sample.
 */
export class Sht3xSensor implements Sensor {
  private readonly io: I2cIo;

  constructor(pins: I2cPins = {}) {
    this.io = open(pins, 0x44);
    this.io.write(Uint8Array.of(0x21, 0x30));
  }

  read(): Reading[] {
    this.io.write(Uint8Array.of(0xe0, 0x00), false);
    const b = new Uint8Array(this.io.read(6));
    if (crc8(b[0]!, b[1]!) !== b[2] || crc8(b[3]!, b[4]!) !== b[5]) throw new Error("SHT3x: CRC mismatch");
    const t = -45 + (175 * ((b[0]! << 8) | b[1]!)) / 65535;
    const rh = (100 * ((b[3]! << 8) | b[4]!)) / 65535;
    return [
      { name: "temperature", value: Math.round(t * 100) / 100 },
      { name: "humidity", value: Math.round(rh * 10) / 10 },
    ];
  }

  close(): void {
    try {
      this.io.write(Uint8Array.of(0x30, 0x93)); // stop periodic measurement
    } finally {
      this.io.close();
    }
  }
}

/** The I2C sensor the config names ("tmp102" or "sht3x"). */
export function createI2cSensor(kind: string, pins: I2cPins = {}): Sensor {
  if (kind === "tmp102") return new Tmp102Sensor(pins);
  if (kind === "sht3x") return new Sht3xSensor(pins);
  throw new Error(`unknown sensor ${JSON.stringify(kind)}: sim, tmp102 or sht3x`);
}
