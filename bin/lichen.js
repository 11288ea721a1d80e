#!/usr/bin/env node
// The `lichen` command (package.json "bin"): runs the compiled CLI, dist/targets/rpi/cli.js.
// dist/ is made by `npm run build`, which npm runs through "prepare" on `npm ci` in a clone, on
// `npm pack` and on an install from a git URL; the published package carries it.
let cli;
try {
  cli = await import("../dist/targets/rpi/cli.js");
} catch (e) {
  const missing = e?.code === "ERR_MODULE_NOT_FOUND" && String(e.message).includes("dist");
  process.stderr.write(`lichen: cannot start: ${missing ? "dist/ is missing: run `npm run build` in the lichen directory" : String(e?.message ?? e).split("\n")[0]}\n`);
  if (process.env.LICHEN_DEBUG === "1" && e instanceof Error) process.stderr.write(`${e.stack}\n`);
  process.exitCode = 1;
}
if (cli !== undefined) process.exitCode = await cli.main(process.argv);
