// Surface normalisation of one answer string: what LaTeX and prose add around an answer without
// changing it. Delimiters ($, \[ \], \boxed), sizing (\left, \right), fraction and relation
// spellings (\dfrac, \cfrac, >=, \geq, \neq), spacing commands, degrees, percent (\%, "percent",
// "pct"), \text{} wrappers and the units they hold, units written as words after a number,
// thousands separators (1,000 and 1{,}000 and 1,\!000, but never "32, 349": a comma followed by a
// space separates items), the connectors "and"/"or" (separators, never dropped), a leading
// `x \in`, and multiple-choice letters ((C), \text{(C)}, \textbf{C} → C). The result is compared
// as a string first, then parsed into structure (structure.ts). Every regex here is linear.
import { matchBraces } from './extract.ts';

export interface NormalizedAnswer {
  /** Canonical surface form. */
  s: string;
  /** A percent sign or word was removed: 50% may then equal 0.5. */
  percent: boolean;
}

// Words that may follow a number as its unit ("10 inches", "12 square units", "0.06 yuan").
const UNIT_WORDS =
  'cm|m|km|mm|nm|in|inch|inches|ft|foot|feet|yd|yard|yards|mi|mile|miles|meter|meters|metre|metres|kilometer|kilometers|' +
  'centimeter|centimeters|millimeter|millimeters|units|unit|degree|degrees|dollars|dollar|cents|cent|euros|euro|yuan|' +
  's|sec|second|seconds|min|minute|minutes|h|hr|hrs|hour|hours|day|days|week|weeks|month|months|year|years|mph|kph|' +
  'kg|g|gram|grams|pound|pounds|lb|lbs|oz|ounce|ounces|liter|liters|litre|litres|l|ml|people|students|cups|points|ways|times|' +
  'dots|coins|marbles|pages|books|boxes|apples|eggs|cookies|squares|triangles|miles per hour|km/h|m/s|cm/s';
// A unit ends the answer or an item of it; short units ("m", "h") only after a space: "2h" is
// an expression, "2 h" a duration.
const UNIT_AFTER_NUMBER = new RegExp(
  `(?<=[\\d}])(?:\\s+|(?=[a-zA-Z]{3}))(?:(?:square|sq\\.?|cubic)\\s+)?(?:${UNIT_WORDS})(?:\\s*(?:\\^\\s*\\{?\\s*[23]\\s*\\}?|²|³))?(?=\\s*(?:[,;)\\]]|$))`,
  'gi',
);

const TEXT_CMDS = /\\(?:text|textbf|textit|textrm|textnormal|textsf|texttt|mathrm|mathbf|mathit|mathsf|mathtt|mathnormal|boldsymbol|mbox|hbox|operatorname)\s*\{/g;
const CONNECTOR = /^\s*,?\s*(?:and|or)\s*,?\s*$/i;
// Words after a number that change what it means: never dropped as a unit ("8:34 p.m.", "5 million").
const MERIDIEM = /^\s*([ap])\.?\s*m\.?\s*$/i;
const SCALE_WORDS = /\b(?:hundred|thousand|million|billion|trillion|dozen)s?\b/i;
const PERCENT_WORD = /^\s*(?:percent|percentage|pct)\s*$/i;
// A separator that survives whitespace removal and never occurs in LaTeX.
export const SEP = '\u0001';

/**
 * Unwraps \text{…}-like commands. After a number their content is a unit when it holds only
 * words (dropped, with any power: "12\text{ cm}^2"), except a.m./p.m. and scale words
 * ("million"), which change the answer; "and"/"or" are separators; a percent word sets the
 * percent flag. Elsewhere the content is the answer itself ("\text{Evelyn}", "\text{(C)}").
 */
function unwrapTextCommands(s: string, flags: { percent: boolean }): string {
  let out = '';
  let i = 0;
  TEXT_CMDS.lastIndex = 0;
  for (let m = TEXT_CMDS.exec(s); m; m = TEXT_CMDS.exec(s)) {
    const open = m.index + m[0].length - 1;
    const br = matchBraces(s, open);
    if (!br) break;
    out += s.slice(i, m.index);
    const inner = br.content;
    i = br.end;
    TEXT_CMDS.lastIndex = br.end;
    if (CONNECTOR.test(inner)) {
      out += ` ${SEP} `;
      continue;
    }
    if (PERCENT_WORD.test(inner)) {
      flags.percent = true;
      continue;
    }
    const meridiem = MERIDIEM.exec(inner);
    if (meridiem) {
      out += `${meridiem[1]!.toLowerCase()}m`;
      continue;
    }
    if (SCALE_WORDS.test(inner)) {
      out += inner;
      continue;
    }
    const afterValue = /[\d}]\s*$/.test(out);
    const wordsOnly = /^[\s~a-zA-Z/.^{}\\]*$/.test(inner) && /[a-zA-Z]/.test(inner) && !/\\/.test(inner.replace(/\\,|\\ |~|\\!/g, ''));
    if (afterValue && wordsOnly) {
      // A unit's power goes with it.
      const pow = /^\s*\^\s*(?:\{\s*\d\s*\}|\d)/.exec(s.slice(i));
      if (pow) i += pow[0].length;
      continue;
    }
    out += inner;
  }
  return out + s.slice(i);
}

/** `\frac12` → `\frac{1}{2}`, `\sqrt2` → `\sqrt{2}`, `\frac3{3}` → `\frac{3}{3}`. */
function braceShortArgs(s: string): string {
  return s
    .replace(/\\frac\s*(\d)\s*(\d)/g, '\\frac{$1}{$2}')
    .replace(/\\frac\s*(\{[^{}]*\})\s*([a-zA-Z0-9])/g, '\\frac$1{$2}')
    .replace(/\\frac\s*([a-zA-Z0-9])\s*(\{)/g, '\\frac{$1}$2')
    .replace(/\\sqrt\s*([a-zA-Z0-9])/g, '\\sqrt{$1}');
}

/** Removes what encloses a whole answer: \boxed{…}, \[ \], \( \), outer spaces, a final period. */
export function stripOuter(s: string): string {
  let t = s.trim();
  for (let k = 0; k < 6; k++) {
    const before = t;
    if (t.startsWith('\\boxed{') || t.startsWith('\\fbox{')) {
      const m = matchBraces(t, t.indexOf('{'));
      if (m && m.end === t.length) t = m.content.trim();
    }
    if (t.startsWith('\\[') && t.endsWith('\\]')) t = t.slice(2, -2).trim();
    if (t.startsWith('\\(') && t.endsWith('\\)')) t = t.slice(2, -2).trim();
    t = t.replace(/[.\s]+$/, '').trim();
    if (t === before) break;
  }
  return t;
}

/** `\boxed{X}` anywhere inside (e.g. "x = \boxed{5}") becomes X. */
function unwrapInnerBoxes(s: string): string {
  let out = s;
  for (let k = 0; k < 8; k++) {
    const at = out.search(/\\(?:boxed|fbox)\s*\{/);
    if (at < 0) break;
    const open = out.indexOf('{', at);
    const m = matchBraces(out, open);
    if (!m) break;
    out = out.slice(0, at) + m.content + out.slice(m.end);
  }
  return out;
}

/** Canonical surface form of an answer string; `percent` records a removed percent sign or word. */
export function normalizeAnswer(raw: string): NormalizedAnswer {
  const flags = { percent: false };
  let s = raw.replace(/\\\$/g, '').replace(/\$/g, '');
  s = unwrapInnerBoxes(stripOuter(s));
  s = s
    .replace(/\\(?:left|right|bigl|bigr|Bigl|Bigr|biggl|biggr|big|Big|bigg|Bigg|middle)(?![a-zA-Z])\s*/g, '')
    .replace(/\\[dtc]frac(?![a-zA-Z])/g, '\\frac')
    .replace(/\\[dt]binom(?![a-zA-Z])/g, '\\binom')
    .replace(/\\displaystyle|\\textstyle/g, '')
    // Relations: one spelling each.
    .replace(/\\(?:geqslant|geq|ge)(?![a-zA-Z])|>=|≥/g, '\\ge ')
    .replace(/\\(?:leqslant|leq|le)(?![a-zA-Z])|<=|≤/g, '\\le ')
    .replace(/\\(?:neq|ne)(?![a-zA-Z])|(?<![\d)])!=|≠/g, '\\ne ')
    .replace(/\\lt(?![a-zA-Z])/g, '<')
    .replace(/\\gt(?![a-zA-Z])/g, '>')
    // Thousands separators written with a thin negative space or a braced comma: 11,\!111 and 14{,}916.
    .replace(/(\d)\s*,\s*\\!\s*(?=\d)/g, '$1,')
    .replace(/(\d)\s*\{\s*,\s*\}\s*(?=\d)/g, '$1,')
    .replace(/\{\s*,\s*\}/g, ',')
    .replace(/\\q?quad/g, ' ')
    .replace(/\\hspace\*?\{[^{}]*\}/g, ' ')
    .replace(/(?<!\\)\\!/g, '')
    .replace(/(?<!\\)\\(?:,|;|:| |enspace|thinspace)(?![a-zA-Z])/g, ' ')
    .replace(/~/g, ' ')
    .replace(/\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|\\circ|°|\\degree/g, '');
  if (/\\%|%/.test(s)) {
    flags.percent = true;
    s = s.replace(/\\%|%/g, '');
  }
  s = unwrapTextCommands(s, flags);
  s = s.replace(/(?<=[\d}])\s*(?:percentage|percent|pct)(?![a-zA-Z])/gi, () => {
    flags.percent = true;
    return '';
  });
  s = s.replace(UNIT_AFTER_NUMBER, '');
  // "and"/"or" between items separate them ("6 and 8", "(11,7) or (7,11)", "19, 46, and 82").
  s = s.replace(/(?<![A-Za-z\\])(?:and|or)(?![A-Za-z])/g, ` ${SEP} `);
  // "x \in [2, 5)" states the set the variable lies in: the set is the answer.
  s = s.replace(/^\s*[a-zA-Z](?:_\{?[a-zA-Z0-9]+\}?)?\s*\\in(?![a-zA-Z])\s*/, '');
  s = braceShortArgs(s);
  // Thousands groups, decided before spaces go: "1,000" and "1 000" are numbers, "32, 349" is a list.
  const t = s.trim();
  if (/^[+-]?[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?$/.test(t)) s = t.replace(/,/g, '');
  else if (/^[+-]?[1-9]\d{0,2}(?: \d{3})+(?:\.\d+)?$/.test(t)) s = t.replace(/ /g, '');
  // Whitespace carries no meaning except after a command name (`\cot x`) and between two digits
  // ("2 3" is not 23); a comma followed by a space separates items.
  s = s
    .replace(/(\\[a-zA-Z]+)\s+(?=[a-zA-Z])/g, '$1\u0000')
    .replace(/(\d)\s+(?=\d)/g, '$1\u0002')
    .replace(/\s+/g, '')
    .replace(/\u0000/g, ' ')
    .replace(/\u0002/g, ' ');
  // Separators: collapse runs, drop leading and trailing ones.
  s = s.replace(new RegExp(`,?${SEP}(?:,?${SEP})*,?`, 'g'), SEP).replace(new RegExp(`^${SEP}|${SEP}$`, 'g'), '');
  // Grouping braces around the whole answer are invisible in LaTeX: "{1,3}" is "1,3".
  if (s.startsWith('{') && s.endsWith('}')) {
    const m = matchBraces(s, 0);
    if (m && m.end === s.length) s = m.content;
  }
  s = s.replace(/[.\s]+$/, '');
  // Multiple choice: "(C)" and "C" are one answer.
  const choice = /^\(([A-Z])\)$/.exec(s);
  if (choice) s = choice[1]!;
  return { s, percent: flags.percent };
}
