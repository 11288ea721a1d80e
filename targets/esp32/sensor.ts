// What the node samples: a Sensor gives named readings. The firmware takes any implementation:
// the simulated one below (the default, and the one the host simulation runs), or an I2C sensor
// (sensor-i2c.ts, an example for a TMP102 or an SHT3x). Device code.

/** One reading: a sensor's name ("temperature", "humidity") and its value. */
export interface Reading {
  readonly name: string;
  readonly value: number;
}

export interface Sensor {
  /** The current readings. Called once per sample interval; may throw (the node logs it and goes on). */
  read(): Reading[];
  /** Releases the hardware, if any. */
  close?(): void;
}

/**
 * A deterministic simulated sensor: the same seed gives the same readings on every run and every
 * engine. Temperature swings slowly between about 16 and 32 °C (a period of `period` samples,
 * its phase from the seed) with a little noise, so that a threshold of 30 raises and clears
 * alarms now and then; humidity wanders around 45 %.
 */
export class SimulatedSensor implements Sensor {
  private state: number;
  private n = 0;
  private readonly phase: number;

  constructor(
    seed: number,
    private readonly period = 60,
  ) {
    this.state = seed >>> 0 || 1;
    this.phase = (this.state % 1000) / 1000;
  }

  /** mulberry32: a small PRNG with 32 bits of state. */
  private next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  read(): Reading[] {
    const k = this.n++;
    const angle = 2 * Math.PI * (k / this.period + this.phase);
    const temperature = Math.round((24 + 8 * Math.sin(angle) + (this.next() - 0.5)) * 100) / 100;
    const humidity = Math.round((45 + 5 * Math.cos(angle) + 2 * (this.next() - 0.5)) * 10) / 10;
    return [
      { name: "temperature", value: temperature },
      { name: "humidity", value: humidity },
    ];
  }
}
