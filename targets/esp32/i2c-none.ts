// "embedded:io/i2c" for Moddable's simulator, which has no I2C bus: targets/esp32/manifest.json
// maps the specifier onto this module on lin only, so the firmware links there, and a node
// configured with an I2C sensor says why it cannot start.

export default class I2C {
  constructor() {
    throw new Error("no I2C bus on this platform: use sensor=sim");
  }
}
