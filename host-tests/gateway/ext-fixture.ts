// A stand-in for targets/rpi/gateway.ts in the CLI's tests: a module that adds a subcommand
// through the CLI's extension contract, `registerCommands(program)`.
import type { Command } from "commander";

export const calls: string[][] = [];

export function registerCommands(program: Command): void {
  program
    .command("hello")
    .description("a command from another module")
    .argument("<who>")
    .option("--loud", "shout")
    .action((who: string, opts: { loud?: boolean }) => {
      calls.push([who, opts.loud ? "loud" : "quiet"]);
    });
}
