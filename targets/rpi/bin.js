#!/usr/bin/env node
// The `lichen` command (package.json "bin"). Plain JavaScript so that `npx lichen ...` works in a
// fresh clone after `npm ci`, without a build: it registers tsx's loader (a devDependency), then
// runs cli.ts, which reports its own errors and returns the exit code.
const fail = (message, e) => {
  process.stderr.write(`lichen: cannot start: ${message}\n`);
  if (process.env.LICHEN_DEBUG === "1" && e instanceof Error) process.stderr.write(`${e.stack}\n`);
  process.exitCode = 1;
};

let register;
try {
  ({ register } = await import("tsx/esm/api"));
} catch (e) {
  fail("tsx is not installed: the CLI runs from its TypeScript sources (npm ci, without --omit=dev)", e);
}
if (register !== undefined) {
  register();
  try {
    const { main } = await import("./cli.ts");
    process.exitCode = await main(process.argv);
  } catch (e) {
    // only a failure to load the CLI gets here
    fail(e instanceof Error ? e.message.split("\n")[0] : String(e), e);
  }
}
