// Final-answer extraction from a model response: the last \boxed{…} (brace-matched), else the
// last `#### n`, else "the answer is …", else (only when asked) the last number. Linear scans,
// no backtracking regexes, so a long or adversarial response costs O(length).

export interface ExtractOptions {
  /** Fall back to the last number in the response when no marker is found (default false). */
  lastNumberFallback?: boolean;
}

/**
 * Content of the brace group opening at `open` (s[open] === '{'), or null when unbalanced.
 * Escaped braces (`\{`, `\}`) are content, not structure.
 */
export function matchBraces(s: string, open: number): { content: string; end: number } | null {
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 92 /* \ */) {
      const n = s.charCodeAt(i + 1);
      if (n === 123 || n === 125) { i++; continue; }
    } else if (c === 123 /* { */) depth++;
    else if (c === 125 /* } */) {
      depth--;
      if (depth === 0) return { content: s.slice(open + 1, i), end: i + 1 };
    }
  }
  return null;
}

/** The content of the last `\boxed{…}` / `\fbox{…}` (or `\boxed x`) in `s`, or null. */
export function lastBoxed(s: string): string | null {
  let from = s.length;
  // Each unbalanced candidate costs a scan to the end; a few tries bound adversarial inputs.
  for (let tries = 0; from >= 0 && tries < 16; tries++) {
    const b = s.lastIndexOf('\\boxed', from);
    const f = s.lastIndexOf('\\fbox', from);
    const at = Math.max(b, f);
    if (at < 0) return null;
    let i = at + (at === b ? 6 : 5);
    while (s[i] === ' ') i++;
    if (s[i] === '{') {
      const m = matchBraces(s, i);
      if (m) return m.content;
    } else if (i > at + 5 && s[i] !== undefined && /[^\s$\\]/.test(s[i]!)) {
      // `\boxed 5`: the token up to whitespace or `$`.
      let j = i;
      while (j < s.length && !/[\s$]/.test(s[j]!)) j++;
      return s.slice(i, j);
    }
    from = at - 1;
  }
  return null;
}

function afterHashes(s: string): string | null {
  const at = s.lastIndexOf('####');
  if (at < 0) return null;
  let end = s.indexOf('\n', at);
  if (end < 0) end = s.length;
  const v = s.slice(at + 4, end).trim();
  return v.length ? v : null;
}

const ANSWER_IS = /the (?:final )?answer is[:\s]*/gi;

function answerIs(s: string): string | null {
  let last = -1;
  ANSWER_IS.lastIndex = 0;
  for (let m = ANSWER_IS.exec(s); m; m = ANSWER_IS.exec(s)) last = m.index + m[0].length;
  if (last < 0) return null;
  let rest = s.slice(last);
  const nl = rest.indexOf('\n');
  if (nl >= 0) rest = rest.slice(0, nl);
  // A sentence ends at ". " or at a final "."; decimals like 0.5 keep their point.
  const stop = rest.search(/\.(\s|$)/);
  if (stop >= 0) rest = rest.slice(0, stop);
  rest = rest.trim();
  if (rest.startsWith('$') && rest.endsWith('$') && rest.length > 1) rest = rest.replace(/^\$+|\$+$/g, '');
  const boxed = lastBoxed(rest);
  if (boxed !== null) return boxed;
  rest = rest.trim();
  return rest.length ? rest : null;
}

const NUMBER = /-?\d[\d,]*(?:\.\d+)?|-?\.\d+/g;

function lastNumber(s: string): string | null {
  let last: string | null = null;
  NUMBER.lastIndex = 0;
  for (let m = NUMBER.exec(s); m; m = NUMBER.exec(s)) last = m[0];
  return last === null ? null : last.replace(/,+$/, '');
}

/** The final answer in `response`, or null when none is found. */
export function extractAnswer(response: string, opts: ExtractOptions = {}): string | null {
  const boxed = lastBoxed(response);
  if (boxed !== null) return boxed.trim();
  const hashes = afterHashes(response);
  if (hashes !== null) return hashes;
  const said = answerIs(response);
  if (said !== null) return said;
  if (opts.lastNumberFallback) return lastNumber(response);
  return null;
}
