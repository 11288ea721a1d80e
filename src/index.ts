// The package's main entry: `import { GCounter } from "lichen"`.
export * from "./core/index.js";
