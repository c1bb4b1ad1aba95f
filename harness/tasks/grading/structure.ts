// Structure of a normalised answer: several answers (a list: separated by ",", ";", "and", "or",
// or \pm), tuples and intervals, sets (\{…\}), unions (\cup), matrices (pmatrix, bmatrix, array,
// …; vmatrix is a determinant), relations (=, <, >, \le, \ge, \ne, \approx, chains such as
// a < x \le b), and leaves (one expression, number or word). Parsing only splits at top-level
// separators of balanced brackets; it is bounded in depth and in the number of items.
import { SEP } from './normalize.ts';

export type RelOp = '=' | '<' | '>' | '\\le' | '\\ge' | '\\ne';

export type AnswerNode =
  | { t: 'list'; items: AnswerNode[] }
  | { t: 'seq'; open: '(' | '['; close: ')' | ']'; items: AnswerNode[] }
  | { t: 'set'; items: AnswerNode[] }
  | { t: 'union'; parts: AnswerNode[] }
  | { t: 'matrix'; det: boolean; rows: AnswerNode[][] }
  | { t: 'rel'; sides: string[]; ops: RelOp[] }
  | { t: 'leaf'; s: string };

/** Most items a list, tuple, set or matrix may have; beyond it the answer is one opaque leaf. */
export const MAX_ITEMS = 64;
const MAX_DEPTH = 8;

/**
 * Splits `s` at each top-level occurrence of one of `seps` (outside (), [], {}, \{ \} and
 * \begin…\end). Returns null when the brackets do not balance.
 */
export function splitTop(s: string, seps: readonly string[]): string[] | null {
  const out: string[] = [];
  let depth = 0, start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\') {
      if (s[i + 1] === '{' || s[i + 1] === '}') {
        depth += s[i + 1] === '{' ? 1 : -1;
        i++;
        continue;
      }
      if (s.startsWith('\\begin{', i)) depth++;
      else if (s.startsWith('\\end{', i)) depth--;
    }
    if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') depth--;
    else if (depth === 0) {
      for (const sep of seps) {
        // A command separator (\cup, \le) must not be the prefix of a longer command (\cupdot).
        if (s.startsWith(sep, i) && !(sep[0] === '\\' && /[a-zA-Z]/.test(s[i + sep.length] ?? ''))) {
          out.push(s.slice(start, i));
          start = i + sep.length;
          i += sep.length - 1;
          break;
        }
      }
    }
    if (depth < 0) return null;
  }
  if (depth !== 0) return null;
  out.push(s.slice(start));
  return out;
}

/** The items between brackets enclosing the whole of `s`, or null. */
function bracketed(s: string): { open: string; close: string; items: string[] } | null {
  let open: string, close: string, inner: string;
  if (s.startsWith('\\{') && s.endsWith('\\}')) {
    open = '{';
    close = '}';
    inner = s.slice(2, -2);
  } else {
    open = s[0]!;
    close = s[s.length - 1]!;
    if (s.length < 2 || !'(['.includes(open) || !')]'.includes(close)) return null;
    inner = s.slice(1, -1);
  }
  // The opening bracket must close at the very end: "(1,2)+(3,4)" is not one tuple.
  if (splitTop(inner, []) === null) return null;
  let items = splitTop(inner, [',']);
  // "(0;0;0)": a semicolon separates coordinates when no comma does.
  if (items && items.length === 1 && splitTop(inner, [';'])!.length > 1) items = splitTop(inner, [';']);
  return items ? { open, close, items } : null;
}

const MATRIX = /^\\begin\{([pbBvV]?matrix|smallmatrix|array)\}(?:\{[^{}]*\})?([^]*)\\end\{\1\}$/;

function matrixRows(s: string): { det: boolean; rows: string[][] } | null {
  const m = MATRIX.exec(s);
  if (!m) return null;
  const rows = m[2]!.split('\\\\').map((r) => r.trim()).filter((r) => r.length && !/^\\hline$/.test(r));
  if (rows.length > MAX_ITEMS) return null;
  return { det: /^[vV]matrix$/.test(m[1]!), rows: rows.map((r) => r.split('&').map((c) => c.replace(/\\hline/g, ''))) };
}

const REL_OPS: readonly string[] = ['\\approx', '\\le', '\\ge', '\\ne', '=', '<', '>'];

/** Splits a relation chain "a = b \le c" into sides and operators; null when there is none. */
function relation(s: string): { sides: string[]; ops: RelOp[] } | null {
  const sides: string[] = [];
  const ops: string[] = [];
  let depth = 0, start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\' && (s[i + 1] === '{' || s[i + 1] === '}')) {
      depth += s[i + 1] === '{' ? 1 : -1;
      i++;
      continue;
    }
    if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') depth--;
    else if (depth === 0) {
      const op = REL_OPS.find((o) => s.startsWith(o, i) && !(o[0] === '\\' && /[a-zA-Z]/.test(s[i + o.length] ?? '')));
      if (op) {
        sides.push(s.slice(start, i).trim());
        ops.push(op);
        start = i + op.length;
        i += op.length - 1;
      }
    }
  }
  if (!ops.length) return null;
  sides.push(s.slice(start).trim());
  if (sides.some((x) => !x.length) || sides.length > MAX_ITEMS) return null;
  // "x = 5+5+1 = 1/3 \approx 0.33": what follows an \approx after an equation is a remark.
  const approx = ops.indexOf('\\approx');
  if (approx >= 0) {
    if (ops.slice(0, approx).includes('=')) {
      sides.length = approx + 1;
      ops.length = approx;
    } else {
      for (let k = 0; k < ops.length; k++) if (ops[k] === '\\approx') ops[k] = '=';
    }
  }
  return { sides, ops: ops as RelOp[] };
}

/**
 * Whether a relation's first side names what the answer is rather than stating an equation:
 * `x`, `f(x)`, `|AB|`, `A:B`, `\frac{NO}{BO}`, `(p,q)`, `S_{MBCN}`, but not `2x+z` or `7`.
 */
export function isNameLike(s: string): boolean {
  if (s.length > 60) return false;
  let t = s.replace(/_\{[^{}]*\}|_\\?[a-zA-Z0-9]+/g, '');
  t = t.replace(/([a-zA-Z])\([^()]*\)/g, '$1');
  t = t.replace(/\\frac\{([^{}]*)\}\{([^{}]*)\}/g, '$1/$2');
  t = t.replace(/\\(?:max|min|mathbf|vec|overline|angle|triangle)\b/g, '');
  return /[a-zA-Z]/.test(t) && /^[a-zA-Z\\{}()|:,'/]+$/.test(t);
}

export function isEquation(n: AnswerNode): n is Extract<AnswerNode, { t: 'rel' }> {
  return n.t === 'rel' && n.ops.every((o) => o === '=');
}

export function isAssignment(n: AnswerNode): boolean {
  return isEquation(n) && isNameLike(n.sides[0]!);
}

/** Expands `a \pm b` into a + b and a − b (one \pm per item). */
function expandPm(item: string): string[] {
  const k = item.indexOf('\\pm');
  if (k < 0 || item.indexOf('\\pm', k + 1) >= 0 || /[a-zA-Z]/.test(item[k + 3] ?? '')) return [item];
  const head = item.slice(0, k), tail = item.slice(k + 3);
  return [`${head}+${tail}`, `${head}-${tail}`];
}

/** Parses a normalised answer into structure. */
export function parseAnswer(s: string, depth = 0): AnswerNode {
  if (depth > MAX_DEPTH || !s.length) return { t: 'leaf', s };
  const sub = (x: string) => parseAnswer(x, depth + 1);
  // Several answers: separators first (lowest precedence), then commas.
  const groups = splitTop(s, [SEP, ';']);
  if (groups && groups.length > 1) {
    if (groups.length > MAX_ITEMS) return { t: 'leaf', s };
    const parts = groups.map(sub);
    // "p=5,q=2;p=7,q=2": each group of assignments is one tuple of values.
    const semis = splitTop(s, [';'])!.length > 1;
    const items: AnswerNode[] = [];
    for (const p of parts) {
      if (semis && p.t === 'list' && p.items.length > 1 && p.items.every(isAssignment)) {
        items.push({ t: 'seq', open: '(', close: ')', items: p.items.map((a) => sub((a as Extract<AnswerNode, { t: 'rel' }>).sides.at(-1)!)) });
      } else if (p.t === 'list') items.push(...p.items);
      else items.push(p);
    }
    return { t: 'list', items };
  }
  const commas = splitTop(s, [',']);
  if (commas && commas.length > 1) {
    if (commas.length > MAX_ITEMS) return { t: 'leaf', s };
    return { t: 'list', items: commas.flatMap(expandPm).map(sub) };
  }
  const pm = expandPm(s);
  if (pm.length > 1) return { t: 'list', items: pm.map(sub) };

  const mat = matrixRows(s);
  if (mat) return { t: 'matrix', det: mat.det, rows: mat.rows.map((r) => r.map(sub)) };
  // A matrix in brackets: \left[\begin{array}…\end{array}\right], (\begin{pmatrix}…\end{pmatrix}).
  if (/^[([]\\begin\{/.test(s) && /\\end\{[a-zA-Z]+\}[)\]]$/.test(s) && matrixRows(s.slice(1, -1))) return sub(s.slice(1, -1));

  const union = splitTop(s, ['\\cup']);
  if (union && union.length > 1) return { t: 'union', parts: union.map(sub) };

  const rel = relation(s);
  if (rel) return { t: 'rel', ...rel };

  const br = bracketed(s);
  if (br) {
    if (br.items.length > MAX_ITEMS) return { t: 'leaf', s };
    if (br.open === '{') return { t: 'set', items: br.items.flatMap(expandPm).map(sub) };
    // "(x)" is x.
    if (br.items.length === 1 && br.open === '(' && br.close === ')') return sub(br.items[0]!);
    if (br.items.length > 1) return { t: 'seq', open: br.open as '(' | '[', close: br.close as ')' | ']', items: br.items.map(sub) };
  }
  return { t: 'leaf', s };
}
