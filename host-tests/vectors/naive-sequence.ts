// The reference the Text tests and the trace fixture compare against: one object per character and
// the YjsMod (FugueMax) integration rule written plainly, with no runs, no indexes, no cursor.

/** A character of the naive list: its id (agent, seq) and its left and right origins. */
export interface NaiveNode {
  readonly agent: string;
  readonly seq: number;
  readonly oL: NaiveNode | null;
  readonly oR: NaiveNode | null;
}

/** Inserts `n` into `items` where YjsMod puts it between its origins. */
export function naiveIntegrate<T extends NaiveNode>(items: T[], n: T): void {
  const at = (x: NaiveNode | null, none: number): number => (x === null ? none : items.indexOf(x as T));
  const left = at(n.oL, -1);
  const right = at(n.oR, items.length);
  let dest = left + 1;
  let scanning = false;
  for (let i = dest; ; i++) {
    if (!scanning) dest = i;
    if (i === items.length || i === right) break;
    const o = items[i];
    const ol = at(o.oL, -1);
    const or = at(o.oR, items.length);
    if (ol < left) break;
    if (ol > left) continue;
    if (or < right) scanning = true;
    else if (or === right && n.agent < o.agent) break;
    else scanning = false;
  }
  items.splice(dest, 0, n);
}
