// Final-answer extraction from a model response, in stages, each reported with what it found:
//   'boxed'         the last \boxed{…}/\fbox{…} (brace-matched), joined with the boxes before it
//                   when only a connector separates them ("\boxed{2} and \boxed{3}");
//   'final-answer'  a final-answer phrase: `#### n`, "the final answer is …", "Answer: …",
//                   "… the answer is …" (a "final answer is" sentence after the last box wins);
//   'latex'         the last LaTeX expression ($…$, $$…$$, \(…\), \[…\]), joined with the ones
//                   before it when only "and"/"or"/"," separates them;
//   'number'        the last number or plain arithmetic expression ("1,000.99", "2/3", "28%").
// Strict mode (training rewards) uses the first two stages only, with the phrases "####" and
// "the (final) answer is"; full mode (evaluation, Math-Verify's order) uses all four, the last
// two at one priority: whichever ends later wins. Nothing is evaluated here, every scan is linear
// or bounded by a window, and only the last MAX_SCAN_CHARS of a response are read for phrases,
// LaTeX and numbers (boxes are found anywhere by a backward scan).

import type { ExtractionStage } from '../types.ts';

export type { ExtractionStage };

export interface Extraction {
  answer: string;
  stage: ExtractionStage;
}

export interface ExtractOptions {
  /**
   * 'strict' (default): \boxed{}, `####`, "the (final) answer is". 'full': also the other
   * final-answer phrases, the last LaTeX expression and the last number, as Math-Verify does.
   */
  mode?: 'strict' | 'full';
  /** Strict mode: fall back to the last number when nothing else is found (default false). */
  lastNumberFallback?: boolean;
  /**
   * Several boxes. 'set' (default, Math-Verify's): the last box together with the boxes before
   * it that only a connector (",", ";", "and", "or", \quad, \text{ and }) separates from it, as one
   * answer set. 'last': the last box alone.
   */
  multipleBoxes?: 'set' | 'last';
  /** A "final answer is …" sentence after the last box wins over the box (default true, Math-Verify's). */
  finalSentenceWins?: boolean;
}

/** Only this much of a response's end is read for phrases, LaTeX and numbers. */
export const MAX_SCAN_CHARS = 20000;
const MAX_BOXES = 32;
/** Longest gap between two boxes that are read as one answer set. */
const MAX_BOX_GAP = 80;

/**
 * Content of the brace group opening at `open` (s[open] === '{'), or null when unbalanced
 * before `limit`. Escaped braces (`\{`, `\}`) are content, not structure.
 */
export function matchBraces(s: string, open: number, limit = s.length): { content: string; end: number } | null {
  let depth = 0;
  for (let i = open; i < limit; i++) {
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

interface Box {
  start: number;
  end: number;
  content: string;
}

/** The offset of the last `\boxed` or `\fbox` starting at or before `from` (one backward scan), or -1. */
function lastBoxCommand(s: string, from: number): { at: number; len: number } {
  for (let k = s.lastIndexOf('box', from + 2); k >= 1; k = s.lastIndexOf('box', k - 1)) {
    if (s[k - 1] === '\\' && s.startsWith('ed', k + 3) && k - 1 <= from) return { at: k - 1, len: 6 };
    if (k >= 2 && s[k - 1] === 'f' && s[k - 2] === '\\' && k - 2 <= from) return { at: k - 2, len: 5 };
  }
  return { at: -1, len: 0 };
}

/** The box whose command starts at or before `from` and that closes before `limit`. */
function boxBefore(s: string, from: number, limit: number, tries: number): Box | null {
  for (let t = 0; from >= 0 && t < tries; t++) {
    const { at, len } = lastBoxCommand(s, from);
    if (at < 0) return null;
    let i = at + len;
    while (s[i] === ' ') i++;
    if (s[i] === '{') {
      const m = matchBraces(s, i, limit);
      if (m) return { start: at, end: m.end, content: m.content };
    } else if (i > at + len && i < limit && /[^\s$\\{}]/.test(s[i]!)) {
      // `\boxed 5`: the token up to whitespace or `$`.
      let j = i;
      while (j < limit && !/[\s$]/.test(s[j]!)) j++;
      return { start: at, end: j, content: s.slice(i, j) };
    }
    from = at - 1;
  }
  return null;
}

/** The content of the last `\boxed{…}` / `\fbox{…}` (or `\boxed x`) in `s`, or null. */
export function lastBoxed(s: string): string | null {
  // Each unbalanced candidate costs a scan to the end; a few tries bound adversarial inputs.
  return boxBefore(s, s.length, s.length, 16)?.content ?? null;
}

/** Whether the text between two boxes only connects them ("and", ", ", "\quad \text{and} \quad $"). */
function connects(gap: string): boolean {
  if (gap.length > MAX_BOX_GAP) return false;
  let g = gap
    .replace(/\\(?:text|textbf|mathrm|mbox)\s*\{([^{}]*)\}/g, ' $1 ')
    .replace(/\$|\\\(|\\\)|\\\[|\\\]|\\q?quad|\\[,;: !]|~/g, ' ')
    .trim();
  // "… and \( y_2 = \boxed{…}": a name given to the next answer.
  g = g.replace(/[A-Za-z](?:_\{?[A-Za-z0-9]+\}?)?\s*=\s*$/, '').trim();
  return g === '' || /(?:^|[\s,;])(?:and|or|&)$/i.test(g) || /[,;]$/.test(g);
}

/** The last box and, with the 'set' policy, the boxes joined to it: answer and end offset. */
function boxedAnswer(s: string, policy: 'set' | 'last'): { answer: string; end: number } | null {
  const last = boxBefore(s, s.length, s.length, 16);
  if (!last) return null;
  const parts = [last.content.trim()];
  let head = last;
  if (policy === 'set') {
    for (let k = 1; k < MAX_BOXES; k++) {
      const prev = boxBefore(s, head.start - 1, head.start, 2);
      if (!prev || prev.end > head.start || !connects(s.slice(prev.end, head.start))) break;
      parts.unshift(prev.content.trim());
      head = prev;
    }
  }
  return { answer: parts.filter((p) => p.length).join(', '), end: last.end };
}

// ---------------------------------------------------------------------------------------------
// LaTeX expressions and numbers in running text

interface Span {
  start: number;
  end: number;
  content: string;
}

/** Longest LaTeX span read; a longer one is not an answer (and keeps every scan bounded). */
const MAX_SPAN_CHARS = 2000;

/**
 * Next occurrence of `needle` at or after `from`, remembered per needle: `from` only grows during
 * one scan, so a remembered position at or after `from` is still the next one and every needle
 * is searched across the text at most once (linear even with many unclosed delimiters).
 */
function nextFinder(s: string): (needle: string, from: number) => number {
  const seen = new Map<string, number>();
  return (needle, from) => {
    const last = seen.get(needle);
    if (last !== undefined && (last >= from || last < 0)) return last;
    const at = s.indexOf(needle, from);
    seen.set(needle, at);
    return at;
  };
}

/** $…$ (one line, not after a digit: "$10 and $20" are prices), $$…$$, \(…\) (one line), \[…\]. */
function latexSpans(s: string): Span[] {
  const out: Span[] = [];
  const next = nextFinder(s);
  const OPEN = /\$\$?|\\[([]/g;
  OPEN.lastIndex = 0;
  for (let m = OPEN.exec(s); m && out.length < 5000; m = OPEN.exec(s)) {
    const i = m.index;
    const open = m[0];
    if (open[0] === '$' && i > 0 && s[i - 1] === '\\') {
      // An escaped dollar ("\$5"), not a delimiter; "\$$" still opens at the second one.
      OPEN.lastIndex = i + 1;
      continue;
    }
    const close = open === '$$' ? '$$' : open === '$' ? '$' : open === '\\(' ? '\\)' : '\\]';
    const oneLine = open === '$' || open === '\\(';
    const from = i + open.length;
    let j = next(close, from);
    // An escaped \$ inside inline math is content.
    while (close === '$' && j > 0 && s[j - 1] === '\\' && j - from <= MAX_SPAN_CHARS) j = s.indexOf('$', j + 1);
    const nl = oneLine ? next('\n', from) : -1;
    const ok = j >= 0 && j - from <= MAX_SPAN_CHARS && !(oneLine && nl >= 0 && nl < j) && !(open[0] === '$' && i > 0 && /\d/.test(s[i - 1]!));
    if (ok) {
      out.push({ start: i, end: j + close.length, content: s.slice(from, j) });
      OPEN.lastIndex = j + close.length;
    }
  }
  return out.filter((sp) => sp.content.trim().length > 0);
}

/**
 * A line start about `want` characters before the end of `s` that is outside display math
 * ($$…$$, \[…\]), so that spans found from there pair their delimiters as a scan from the
 * start would; 0 when there is none.
 */
function spanWindowStart(s: string, want: number): number {
  if (s.length <= want) return 0;
  let p = s.lastIndexOf('\n', s.length - want);
  if (p < 0) return 0;
  p += 1;
  let n = 0;
  for (let i = s.indexOf('$$'); i >= 0 && i < p; i = s.indexOf('$$', i + 2)) n++;
  if (n % 2) {
    const close = s.indexOf('$$', p);
    if (close < 0) return 0;
    p = close + 2;
  }
  // A display \[ … \] is at most MAX_SPAN_CHARS long: only an opening that recent can hold p.
  const near = s.slice(Math.max(0, p - MAX_SPAN_CHARS), p);
  if (near.lastIndexOf('\\[') > near.lastIndexOf('\\]')) {
    const close = s.indexOf('\\]', p);
    if (close < 0) return 0;
    p = close + 2;
  }
  return p;
}

/** The last LaTeX span of `s` (joined with the ones "and"/"or"/"," connect to it), read from the end. */
function lastLatex(s: string): { answer: string; start: number; end: number } | null {
  for (let w = 4096; ; w *= 4) {
    const from = spanWindowStart(s, w);
    const win = from ? s.slice(from) : s;
    const spans = latexSpans(win);
    if (spans.length) {
      const j = joinedSpans(win, spans, spans.length - 1);
      return { answer: j.answer, start: from + j.start, end: from + j.end };
    }
    if (from === 0) return null;
  }
}

const PERCENT_AFTER = /^\s*(?:\\?%|percentage\b|percent\b|pct\b)/i;

/** A span's answer text: its content, the box inside it if any, and a percent written after it. */
function spanAnswer(s: string, sp: Span): string {
  let a = sp.content.trim();
  const inner = lastBoxed(a);
  if (inner !== null) a = inner.trim();
  if (PERCENT_AFTER.test(s.slice(sp.end, sp.end + 12))) a += '\\%';
  return a;
}

/** The last span joined with the spans before it that "and"/"or"/"," connect to it. */
function joinedSpans(s: string, spans: Span[], k: number): { answer: string; start: number; end: number } {
  const parts = [spanAnswer(s, spans[k]!)];
  let j = k;
  while (j > 0 && k - j < 5 && /^\s*(?:,|,?\s*and|,?\s*or)\s*$/i.test(s.slice(spans[j - 1]!.end, spans[j]!.start))) {
    j--;
    parts.unshift(spanAnswer(s, spans[j]!));
  }
  return { answer: parts.join(', '), start: spans[j]!.start, end: spans[k]!.end };
}

// Numbers with thousands separators, decimals (point or comma), percent; never inside a word
// ("AZYUK2A" has no number). Arithmetic spans need an operator ("2/3", "(1/2)*(4/3)").
const NUMBER = /(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d{1,3}(?: \d{3})+(?![\d,.])|\d+[.,]\d+|\d+|\.\d+)(?:\s*(?:\\?%|percentage\b|percent\b|pct\b))?/gi;
const EXPRESSION = /(?<![\w.])-?\(?-?\d[\d. ]{0,30}(?:[+\-*×/^÷] ?\(?-?\d[\d. ]{0,30}\)?){1,12}\)?(?=[\s.,:)$]|$)/g;

/** Longest token NUMBER and EXPRESSION can match, which makes a window's last match exact. */
const MAX_TOKEN_CHARS = 512;

/**
 * The last match of a global regex of short tokens, found by scanning growing windows from the
 * end: a match that starts MAX_TOKEN_CHARS or more inside a window is the same as in the whole
 * text, so the typical cost is that of the last kilobytes, not of the whole response.
 */
function lastMatch(re: RegExp, s: string): { text: string; start: number; end: number } | null {
  for (let w = 2048; ; w *= 4) {
    const from = Math.max(0, s.length - w);
    const win = from ? s.slice(from) : s;
    let last: RegExpExecArray | null = null;
    re.lastIndex = 0;
    for (let m = re.exec(win); m; m = re.exec(win)) {
      last = m;
      if (m[0].length === 0) re.lastIndex++;
    }
    if (last && (from === 0 || last.index >= MAX_TOKEN_CHARS)) return { text: last[0].trim(), start: from + last.index, end: from + last.index + last[0].length };
    if (from === 0) return null;
  }
}

function cleanNumber(t: string): string {
  const pct = /\s*(?:\\?%|percentage|percent|pct)$/i;
  return pct.test(t) ? t.replace(pct, '') + '\\%' : t.replace(/\s+$/, '');
}

/** The last number or arithmetic expression in `s`, with its position. */
function lastNumberIn(s: string): { answer: string; start: number; end: number } | null {
  const n = lastMatch(NUMBER, s);
  const e = lastMatch(EXPRESSION, s);
  const best = e && (!n || e.end > n.end || (e.end === n.end && e.start < n.start)) ? e : n;
  if (!best) return null;
  return { answer: cleanNumber(best.text.replace(/[.,]$/, '')), start: best.start, end: best.end };
}

// ---------------------------------------------------------------------------------------------
// Final-answer phrases

/** The answer written at `pos`: a LaTeX span, a box, a number or expression; null otherwise. */
function answerAt(s: string, pos: number, window: number): { answer: string; end: number } | null {
  const w = s.slice(pos, pos + window + 400);
  const lead = /^[\s:*"'`]*/.exec(w)![0].length;
  const at = pos + lead;
  if (lead > window) return null;
  const rest = s.slice(at, at + 1200);
  if (rest.startsWith('\\boxed') || rest.startsWith('\\fbox')) {
    const b = boxBefore(s, at, s.length, 1);
    if (b && b.start === at) return { answer: b.content.trim(), end: b.end };
  }
  if (/^(?:\$|\\\(|\\\[)/.test(rest)) {
    const spans = latexSpans(s.slice(at, at + 1000));
    if (spans.length && spans[0]!.start === 0) {
      let k = 0;
      while (k + 1 < spans.length && k < 5 && /^\s*(?:,|,?\s*and|,?\s*or)\s*$/i.test(s.slice(at + spans[k]!.end, at + spans[k + 1]!.start))) k++;
      const j = joinedSpans(s.slice(at, at + 1000), spans, k);
      return { answer: j.answer, end: at + j.end };
    }
  }
  const num = /^(?:[$€£¥₹])?(-?\(?-?\d[\d,. ]*(?:[+\-*×/^÷] ?\(?-?\d[\d. ]*\)?)*\)?(?:\s*(?:\\?%|percentage\b|percent\b|pct\b))?)/i.exec(rest);
  if (num && /\d/.test(num[1]!)) {
    let t = num[1]!.trim().replace(/[.,]$/, '');
    // "1,000.99" yes, "12, 13" no: a comma followed by a space ends the number.
    const comma = t.search(/,\s/);
    if (comma >= 0) t = t.slice(0, comma);
    return { answer: cleanNumber(t), end: at + num[0].length };
  }
  return null;
}

/** The first answer that starts within `window` characters after `pos`. */
function firstAnswerWithin(s: string, pos: number, window: number): { answer: string; end: number } | null {
  for (let k = pos; k <= pos + window && k < s.length; k++) {
    const c = s[k]!;
    const anchored = k === pos || /[\s=($*]/.test(s[k - 1]!);
    if (c === '$' || (c === '\\' && /^\\(?:\(|\[|boxed|fbox)/.test(s.slice(k, k + 6))) || (anchored && /[\d.-]/.test(c) && /^-?\.?\d/.test(s.slice(k, k + 3)))) {
      const a = answerAt(s, k, 0);
      if (a) return a;
    }
  }
  return null;
}

/** The rest of the sentence after a phrase ("the answer is (C).", "the answer is Evelyn."), when short. */
function sentenceAt(s: string, pos: number): { answer: string; end: number } | null {
  let rest = s.slice(pos, pos + 200);
  const nl = rest.indexOf('\n');
  if (nl >= 0) rest = rest.slice(0, nl);
  // A sentence ends at ". " or at a final "."; decimals like 0.5 keep their point.
  const stop = rest.search(/\.(\s|$)/);
  if (stop >= 0) rest = rest.slice(0, stop);
  rest = rest.replace(/^[\s:*]+/, '').trim();
  if (rest.startsWith('$') && rest.endsWith('$') && rest.length > 1) rest = rest.replace(/^\$+|\$+$/g, '');
  const boxed = lastBoxed(rest);
  if (boxed !== null) rest = boxed;
  rest = rest.trim();
  return rest.length && rest.length <= 80 ? { answer: rest, end: pos + rest.length } : null;
}

/** After the last `####`: the rest of that line. */
function afterHashes(s: string): { answer: string; start: number } | null {
  const at = s.lastIndexOf('####');
  if (at < 0) return null;
  let end = s.indexOf('\n', at);
  if (end < 0) end = s.length;
  const v = s.slice(at + 4, end).trim();
  return v.length ? { answer: v, start: at } : null;
}

/** Most phrase occurrences looked at, from the end: a response full of "answer" costs a bounded amount. */
const MAX_PHRASES = 256;
const isWordChar = (c: string | undefined) => c !== undefined && /[A-Za-z0-9_]/.test(c);

/** Offsets of whole-word occurrences of `word` in `lower`, last first, at or after `from` (lazily). */
function* occurrences(lower: string, word: string, from: number): Generator<number> {
  let n = 0;
  for (let at = lower.lastIndexOf(word); at >= from && n < MAX_PHRASES; at = at > 0 ? lower.lastIndexOf(word, at - 1) : -1) {
    if (!isWordChar(lower[at - 1]) && !isWordChar(lower[at + word.length])) {
      n++;
      yield at;
    }
  }
}

/** "final answer … is" (within 100 characters): the offset just after "is" and an optional colon. */
function afterFinalIs(lower: string, at: number): number | null {
  const m = /^final answer[^]{0,100}?\sis\b:?/.exec(lower.slice(at, at + 130));
  return m ? at + m[0].length : null;
}

/**
 * The strongest final-answer phrase in `s` that starts at or after `from`: "#### n" and
 * "final answer … is X" first, then "answer: X", then "answer … X" within 50 characters, then a
 * short answer in words after "the answer is"; the last occurrence of the strongest kind wins.
 * Strict mode knows only `####` and "the (final) answer is".
 */
function phraseAnswer(s: string, from: number, strict: boolean): { answer: string; start: number } | null {
  const hashes = afterHashes(s);
  if (strict && hashes && hashes.start >= from) return hashes;
  const lower = s.toLowerCase();
  // One backward scan for "answer"; "final answer" occurrences are among them.
  const found = [...occurrences(lower, 'answer', from)];
  const answers = () => found;
  const theAnswerIs = (at: number): number | null => {
    const m = /^(?:final )?answer is[:\s]*/.exec(lower.slice(at, at + 24));
    return m && (lower.endsWith('the ', at) || lower.endsWith('the final ', at)) ? at + m[0].length : null;
  };
  if (strict) {
    for (const at of answers()) {
      const after = theAnswerIs(at);
      const a = after === null ? null : sentenceAt(s, after);
      if (a) return { answer: a.answer, start: at };
    }
    return null;
  }
  // "final answer … is X"
  let best: { answer: string; start: number } | null = null;
  for (const a0 of found) {
    const at = a0 - 6;
    if (at < from || !lower.startsWith('final ', at) || isWordChar(lower[at - 1])) continue;
    const after = afterFinalIs(lower, at);
    const a = after === null ? null : answerAt(s, after, 20);
    if (a) {
      best = { answer: a.answer, start: at };
      break;
    }
  }
  if (hashes && hashes.start >= from && (!best || hashes.start > best.start)) best = hashes;
  if (best) return best;
  // "answer: X", then "answer … X"
  const colonAfter = (at: number): number => {
    let k = at + 6;
    while (k < at + 14 && (s[k] === ' ' || s[k] === '\t')) k++;
    return s[k] === ':' ? k + 1 : -1;
  };
  for (const colon of [true, false]) {
    for (const at of answers()) {
      const after = colon ? colonAfter(at) : at + 6;
      if (after < 0) continue;
      const a = firstAnswerWithin(s, after, 50);
      if (a) return { answer: a.answer, start: at };
    }
  }
  // "the answer is (C)."
  for (const at of answers()) {
    const after = theAnswerIs(at);
    const a = after === null ? null : sentenceAt(s, after);
    if (a) return { answer: a.answer, start: at };
  }
  return null;
}

/** The final answer in `response` and the stage that found it, or null when none is found. */
export function extractFinal(response: string, opts: ExtractOptions = {}): Extraction | null {
  const strict = (opts.mode ?? 'strict') === 'strict';
  const boxed = boxedAnswer(response, opts.multipleBoxes ?? 'set');
  const tailStart = Math.max(0, response.length - MAX_SCAN_CHARS);
  const tail = response.slice(tailStart);
  if (boxed) {
    if (opts.finalSentenceWins ?? true) {
      // "… \boxed{255} … Final Answer: The final answer is $10,455$." The sentence wins.
      const after = response.slice(Math.max(boxed.end, tailStart));
      const lower = after.toLowerCase();
      for (const at of occurrences(lower, 'final answer', 0)) {
        const pos = afterFinalIs(lower, at);
        const a = pos === null ? null : answerAt(after, pos, 20);
        if (a) return { answer: a.answer, stage: 'final-answer' };
      }
    }
    if (boxed.answer.length) return { answer: boxed.answer, stage: 'boxed' };
  }
  const phrase = phraseAnswer(tail, 0, strict);
  if (phrase) return { answer: phrase.answer.trim(), stage: 'final-answer' };
  if (strict) {
    if (!opts.lastNumberFallback) return null;
    const n = lastNumberIn(tail);
    return n ? { answer: n.answer, stage: 'number' } : null;
  }
  // Last LaTeX expression or last number, whichever ends later.
  const latex = lastLatex(tail);
  const frac = lastMatch(/-?\\frac\{-?\d+(?:[.,]\d+)?\}\{-?\d+(?:[.,]\d+)?\}/g, tail);
  const num = lastNumberIn(tail);
  const cands: { answer: string; end: number; stage: ExtractionStage }[] = [];
  if (latex) cands.push({ answer: latex.answer, end: latex.end, stage: 'latex' });
  if (frac && (!latex || frac.start >= latex.end)) cands.push({ answer: frac.text, end: frac.end, stage: 'latex' });
  if (num && !(latex && num.start < latex.end && num.end > latex.start)) cands.push({ answer: num.answer, end: num.end, stage: 'number' });
  if (!cands.length) return null;
  cands.sort((a, b) => b.end - a.end);
  return { answer: cands[0]!.answer.trim(), stage: cands[0]!.stage };
}

/** The final answer in `response`, or null when none is found (the text of `extractFinal`). */
export function extractAnswer(response: string, opts: ExtractOptions = {}): string | null {
  return extractFinal(response, opts)?.answer ?? null;
}
