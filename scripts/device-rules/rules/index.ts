// Every device rule, in the order their checks run on a node (which orders findings at one place).
import { bigint } from "./bigint.js";
import { builtinName } from "./builtin-name.js";
import { dynamicCode } from "./dynamic-code.js";
import { frozenOverride } from "./frozen-override.js";
import { importRule } from "./import.js";
import { moduleInstance } from "./module-instance.js";
import { moduleRegexp } from "./module-regexp.js";
import { moduleState } from "./module-state.js";
import { nodeOnly } from "./node-only.js";
import { syntax } from "./syntax.js";
import { textDecoder } from "./text-decoder.js";
import { topLevelCall } from "./top-level-call.js";
import type { DeviceRule } from "../types.js";

export const RULES: readonly DeviceRule[] = Object.freeze([
  moduleState,
  dynamicCode,
  textDecoder,
  moduleRegexp,
  moduleInstance,
  topLevelCall,
  frozenOverride,
  nodeOnly,
  bigint,
  builtinName,
  importRule,
  syntax,
]);
