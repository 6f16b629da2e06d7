// Map a key path ("subnets", 0, "cidr") to FILE:LINE:COL using the yaml nodes' ranges, so every
// config problem points where the user has to look. A missing key points at its parent map.
import { isMap, isPair, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';
import type { ConfigProblem } from '../errors.ts';

/** A key path into the document, as zod reports it. */
export type KeyPath = ReadonlyArray<string | number>;

/** ["subnets", 0, "cidr"] -> "subnets[0].cidr" */
export function formatPath(p: KeyPath): string {
  let out = '';
  for (const seg of p) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? seg : `.${seg}`;
  }
  return out;
}

interface Found {
  /** the deepest node reached */
  node: Node | null;
  /** the key scalar of the last pair followed, if any */
  keyNode: Node | null;
  /** how many segments of the path were found */
  depth: number;
}

function walk(doc: Document, p: KeyPath): Found {
  let node = doc.contents as Node | null;
  let keyNode: Node | null = null;
  let depth = 0;
  for (const seg of p) {
    if (isMap(node)) {
      const pair = node.items.find((it) => isPair(it) && isScalar(it.key) && String(it.key.value) === String(seg));
      if (!pair) break;
      keyNode = pair.key as Node;
      node = (pair.value as Node | null) ?? null;
      if (node === null) {
        depth++;
        break;
      }
    } else if (isSeq(node) && typeof seg === 'number' && seg < node.items.length) {
      keyNode = null;
      node = (node.items[seg] as Node | null) ?? null;
      if (node === null) break;
    } else {
      break;
    }
    depth++;
  }
  return { node, keyNode, depth };
}

/** Position helper bound to one parsed file. */
export interface Locator {
  file: string;
  /** offset of the node at `p`, or of its deepest existing ancestor */
  offsetOf(p: KeyPath): number;
  /** offset of the key scalar `key` inside the map at `p` */
  offsetOfKey(p: KeyPath, key: string): number;
  lineCol(offset: number): { line: number; col: number };
  problem(p: KeyPath, message: string, offset?: number): ConfigProblem;
  /** "file:line:col" of the node at `p` (rules carry it for explain) */
  pos(p: KeyPath): string;
}

/** Maps a key path to its file:line:col, so every config problem names where it is. */
export function createLocator(file: string, doc: Document, lc: LineCounter): Locator {
  const startOf = (n: Node | null | undefined): number | undefined => (n && n.range ? n.range[0] : undefined);
  const offsetOf = (p: KeyPath): number => {
    const f = walk(doc, p);
    if (f.depth === p.length) return startOf(f.node) ?? startOf(f.keyNode) ?? 0;
    // missing key: point at the map that should hold it
    return startOf(f.node) ?? startOf(f.keyNode) ?? 0;
  };
  const offsetOfKey = (p: KeyPath, key: string): number => {
    const f = walk(doc, [...p, key]);
    if (f.depth === p.length + 1 && f.keyNode) return startOf(f.keyNode) ?? 0;
    return offsetOf(p);
  };
  const lineCol = (offset: number) => {
    const lp = lc.linePos(offset);
    return { line: lp.line, col: lp.col };
  };
  return {
    file,
    offsetOf,
    offsetOfKey,
    lineCol,
    problem(p, message, offset) {
      const { line, col } = lineCol(offset ?? offsetOf(p));
      return { file, line, col, path: formatPath(p), message };
    },
    pos(p) {
      const { line, col } = lineCol(offsetOf(p));
      return `${file}:${line}:${col}`;
    },
  };
}
