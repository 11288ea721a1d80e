// `lichen gateway`: the gateway daemon's command, registered through cli.ts's extension contract
// (cli.ts imports this file and calls registerCommands in main()). This file stays
// light, since it loads on every `lichen` invocation: MQTT, aedes and the dashboard are imported
// by the action (gateway-daemon.ts).
//
// Configuration: flags, then LICHEN_* environment variables, then a JSON config file
// (--config FILE or LICHEN_CONFIG), then defaults (gateway-config.ts). A bad value prints one
// line and exits non-zero: commander's message and 2 for a bad flag or an unknown option;
// `lichen: <message>` and 2 for a conflict between flags; 1 for a bad environment variable or
// config file, and for a failed start (a port in use, a database that is not lichen's).

import { InvalidArgumentError, Option, type Command } from "commander";
import { LichenError } from "../../src/core/errors.js";
import { loadPolicy, POLICY_ENV } from "./gateway-policy.js";
import { CONFIG_ENV, CONFIG_FLAG, ConfigError, describeConfig, flagName, OPTIONS, parseOption, resolveConfig } from "./gateway-config.js";

/** One line on stderr and the exit code: the daemon's command owns its process. */
function fail(message: string, code: number, e?: unknown): never {
  process.stderr.write(`lichen: ${message.replace(/\s*\n\s*/g, " ").trim()}\n`);
  if (process.env.LICHEN_DEBUG === "1" && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
  process.exit(code);
}

/** A password from stdin: its first line (piped), or typed twice without echo (a terminal). */
async function readPassword(): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) {
    let text = "";
    for await (const chunk of stdin) {
      text += String(chunk);
      if (text.includes("\n")) break;
    }
    return text.split("\n")[0]!.replace(/\r$/, "");
  }
  const ask = (prompt: string): Promise<string> =>
    new Promise((resolve) => {
      process.stderr.write(prompt);
      stdin.setRawMode(true);
      stdin.resume();
      let typed = "";
      const onData = (b: Buffer): void => {
        for (const ch of b.toString("utf8")) {
          if (ch === "\r" || ch === "\n" || ch === "\u0004") {
            stdin.off("data", onData);
            stdin.setRawMode(false);
            stdin.pause();
            process.stderr.write("\n");
            return resolve(typed);
          }
          if (ch === "\u0003") fail("interrupted", 130);
          typed = ch === "\u007f" ? typed.slice(0, -1) : typed + ch;
        }
      };
      stdin.on("data", onData);
    });
  const first = await ask("password: ");
  if ((await ask("again: ")) !== first) fail("the passwords differ", 1);
  return first;
}

export function registerCommands(program: Command): void {
  program
    .command("passwd")
    .description("add a user to the embedded broker's users file (lichen gateway --users FILE), or change its password; the user name is the client id it connects as")
    .argument("<file>", "the users file, created (mode 0600) if missing")
    .argument("<user>", "the user name: a device's replica id, which is its MQTT client id")
    .addHelpText("after", "\nThe password is read from stdin (its first line), or typed twice on a terminal. Stored as scrypt hashes.\n  printf '%s\\n' \"$PASSWORD\" | lichen passwd /etc/lichen/users n1")
    .action(async (file: string, user: string) => {
      const { setPassword } = await import("../../src/transport/users-file-node.js");
      const password = await readPassword();
      try {
        const what = await setPassword(file, user, password);
        process.stdout.write(`${what === "added" ? "added" : "changed the password of"} ${user} in ${file}\n`);
      } catch (e) {
        if (e instanceof LichenError) fail(`${e.message} [${e.code}]`, 1, e);
        throw e;
      }
    });

  const cmd = program
    .command("gateway")
    .description("run the gateway daemon: sync with the nodes and other gateways over MQTT, keep everything in SQLite, serve a live dashboard")
    .addOption(new Option(CONFIG_FLAG, `read options from a JSON file: {"fleet": "greenhouse", "httpPort": 8080, ...} [${CONFIG_ENV}]`));
  for (const o of OPTIONS) {
    const opt = new Option(o.flag, `${o.help} [${o.env}]`);
    if (o.kind !== "bool") {
      opt.argParser((value: string) => {
        try {
          return parseOption(o.key, value, process.cwd());
        } catch (e) {
          if (e instanceof ConfigError) throw new InvalidArgumentError(e.message);
          throw e;
        }
      });
    }
    cmd.addOption(opt);
  }
  cmd
    .option("--print-config", "print the resolved configuration, each value with its source (flag, env, file, default), and exit")
    .option("--policy <file>", `who may write which documents: a JSON policy file (default: each node its own documents, fleet/* read-only) [${POLICY_ENV}]`)
    .addHelpText(
      "after",
      `
Each option comes from its flag, else its environment variable, else the config file, else the
default. Paths in a config file are relative to the file.

Logs: one JSON object per line on stdout ({"ts","level","event",...}). SIGTERM or SIGINT stops it
cleanly. The dashboard: http://127.0.0.1:8080/ by default. See docs/gateway.md.

Examples:
  lichen gateway                                    embedded broker on 127.0.0.1:1883, ./lichen.db
  lichen gateway --fleet greenhouse --broker mqtt://127.0.0.1:1883 --db /var/lib/lichen/lichen.db
  LICHEN_FLEET=greenhouse lichen gateway --config /etc/lichen/gateway.json`,
    )
    .action(async (flags: Record<string, unknown>) => {
      let resolved;
      try {
        resolved = resolveConfig(flags);
      } catch (e) {
        if (e instanceof ConfigError) fail(e.message, e.usage ? 2 : 1, e);
        throw e;
      }
      if (flags[flagName("--print-config")] === true) {
        process.stdout.write(`${JSON.stringify({ file: resolved.file ?? null, options: describeConfig(resolved) }, null, 2)}\n`);
        return;
      }
      const { runDaemon, GatewayStartError, jsonLogger } = await import("./gateway-daemon.js");
      const policyFile = (flags.policy as string | undefined) ?? process.env[POLICY_ENV];
      let policy;
      try {
        policy = policyFile === undefined ? undefined : loadPolicy(policyFile);
      } catch (e) {
        fail((e as Error).message, 2, e);
      }
      try {
        await runDaemon(resolved.config, jsonLogger(resolved.config.logLevel), policy);
      } catch (e) {
        if (e instanceof GatewayStartError) fail(e.message, 1, e);
        if (e instanceof LichenError) fail(`${e.message} [${e.code}]`, 1, e);
        throw e;
      }
    });
}
