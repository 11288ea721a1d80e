// Small questions asked of acorn's nodes by several rules.
import type * as acorn from "acorn";

export function staticString(node: acorn.AnyNode | null | undefined): string | null {
  if (!node) return null;
  if (node.type === "Literal" && typeof node.value === "string") return node.value;
  if (node.type === "TemplateLiteral" && node.expressions.length === 0) {
    return node.quasis[0]?.value.cooked ?? null;
  }
  return null;
}

export function memberName(node: acorn.MemberExpression): string | null {
  if (!node.computed) return node.property.type === "Identifier" ? node.property.name : null;
  return staticString(node.property);
}

/** Roots of an assignment target: the identifiers (or other base expressions) written through. */
export function assignmentRoots(target: acorn.AnyNode, out: acorn.AnyNode[] = []): acorn.AnyNode[] {
  switch (target.type) {
    case "MemberExpression": {
      let obj: acorn.AnyNode = target.object;
      while (obj.type === "MemberExpression") obj = obj.object;
      out.push(obj);
      break;
    }
    case "Identifier":
      out.push(target);
      break;
    case "ObjectPattern":
      for (const p of target.properties) assignmentRoots(p.type === "RestElement" ? p.argument : p.value, out);
      break;
    case "ArrayPattern":
      for (const el of target.elements) if (el) assignmentRoots(el, out);
      break;
    case "RestElement":
      assignmentRoots(target.argument, out);
      break;
    case "AssignmentPattern":
      assignmentRoots(target.left, out);
      break;
    case "ChainExpression":
      assignmentRoots(target.expression, out);
      break;
    default:
      out.push(target);
  }
  return out;
}

/** The function a call invokes right where it is defined (`(() => ...)()`, `(function () {}).call(...)`), if any. */
export function immediatelyInvoked(call: acorn.CallExpression): acorn.AnyNode | null {
  const callee = call.callee;
  if (callee.type === "FunctionExpression" || callee.type === "ArrowFunctionExpression") return callee;
  if (
    callee.type === "MemberExpression" &&
    (callee.object.type === "FunctionExpression" || callee.object.type === "ArrowFunctionExpression") &&
    (memberName(callee) === "call" || memberName(callee) === "apply")
  ) return callee.object;
  return null;
}
