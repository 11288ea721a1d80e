// syntax: a module that does not transpile or parse cannot be checked (nor built for the device).
import * as acorn from "acorn";
import { transformSync, type Message } from "esbuild";
import type { DeviceRule, Violation } from "../types.js";

export const syntax: DeviceRule = {
  id: "syntax",
  description: "the module does not transpile or parse.",
};

function loaderFor(fileName: string): "ts" | "tsx" | "js" | "jsx" {
  if (/\.[cm]?tsx$/.test(fileName)) return "tsx";
  if (/\.[cm]?jsx$/.test(fileName)) return "jsx";
  if (/\.[cm]?js$/.test(fileName)) return "js";
  return "ts";
}

export type Parsed = { js: string; map: string | undefined; program: acorn.Program } | { violations: Violation[] };

/** Transpiles one module on its own (no bundling, so `const` stays `const`) and parses it; or its syntax violations. */
export function transpileAndParse(code: string, fileName: string): Parsed {
  let js: string;
  let map: string | undefined;
  try {
    const out = transformSync(code, {
      loader: loaderFor(fileName),
      format: "esm",
      target: "es2022",
      sourcemap: "external",
      sourcefile: fileName,
      // Keep every value import as written (as `verbatimModuleSyntax` does in our
      // tsconfig), so an import kept only for its side effects is still seen.
      tsconfigRaw: { compilerOptions: { verbatimModuleSyntax: true, useDefineForClassFields: true } },
      logLevel: "silent",
    });
    js = out.code;
    map = out.map;
  } catch (err) {
    const errors = (err as { errors?: Message[] }).errors;
    if (errors && errors.length > 0) {
      return {
        violations: errors.map((e) => ({
          file: fileName,
          line: e.location?.line ?? 1,
          column: (e.location?.column ?? 0) + 1,
          rule: "syntax",
          message: `does not transpile: ${e.text}`,
        })),
      };
    }
    return { violations: [{ file: fileName, line: 1, column: 1, rule: "syntax", message: `does not transpile: ${String(err)}` }] };
  }
  try {
    return { js, map, program: acorn.parse(js, { ecmaVersion: "latest", sourceType: "module", locations: true }) };
  } catch (err) {
    return { violations: [{ file: fileName, line: 1, column: 1, rule: "syntax", message: `does not parse after transpiling: ${String(err)}` }] };
  }
}
