// LaTeX parsing: one normalised answer leaf (an expression, no lists or relations) translated into
// mathjs syntax. Only a fixed vocabulary is understood: numbers, single-letter variables (with
// alphanumeric subscripts), Greek letters, + − × ÷ ^ !, \frac, \sqrt[n]{}, \binom, |…|, floor and
// ceiling, and the named functions below (with powers: \sin^2 x, and inverses: \sin^{-1} x).
// Anything else gives null, so the caller falls back to string comparison; nothing is ever
// evaluated here. The translation is recursive with a depth bound.
import { matchBraces } from './extract.ts';

const FUNCS: Record<string, string> = {
  sin: 'sin', cos: 'cos', tan: 'tan', cot: 'cot', sec: 'sec', csc: 'csc',
  arcsin: 'asin', arccos: 'acos', arctan: 'atan', sinh: 'sinh', cosh: 'cosh', tanh: 'tanh',
  ln: 'log', log: 'log', exp: 'exp',
};
const INVERSE: Record<string, string> = { sin: 'asin', cos: 'acos', tan: 'atan' };

const GREEK = new Set([
  'alpha', 'beta', 'gamma', 'delta', 'epsilon', 'varepsilon', 'zeta', 'eta', 'theta', 'vartheta', 'iota', 'kappa',
  'lambda', 'mu', 'nu', 'xi', 'rho', 'sigma', 'tau', 'upsilon', 'phi', 'varphi', 'chi', 'psi', 'omega',
  'Gamma', 'Delta', 'Theta', 'Lambda', 'Xi', 'Sigma', 'Upsilon', 'Phi', 'Psi', 'Omega',
]);

/** Prefix of the mathjs symbol a Greek letter becomes (`\theta` → `G_theta`): never a builtin. */
export const GREEK_PREFIX = 'G_';
const MAX_DEPTH = 40;
const MAX_LITERAL_DIGITS = 400;

/** Translates normalised LaTeX into mathjs syntax; null when something is not understood. */
export function latexToMathjs(s: string): string | null {
  return translate(s, 0);
}

function translate(s: string, depth: number): string | null {
  if (depth > MAX_DEPTH) return null;
  const sub = (t: string): string | null => translate(t, depth + 1);
  /** A brace group or a single character argument at `at` (after spaces). */
  const group = (at: number): { content: string; end: number } | null => {
    while (s[at] === ' ') at++;
    if (s[at] === '{') return matchBraces(s, at);
    if (at < s.length && /[a-zA-Z0-9]/.test(s[at]!)) return { content: s[at]!, end: at + 1 };
    return null;
  };
  let out = '';
  let i = 0;
  let absOpen = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (c === '\\') {
      const m = /^\\([a-zA-Z]+|.)/.exec(s.slice(i, i + 24));
      if (!m) return null;
      const cmd = m[1]!;
      let j = i + m[0].length;
      if (cmd === 'frac' || cmd === 'binom') {
        const a = group(j);
        if (!a) return null;
        const b = group(a.end);
        if (!b) return null;
        const x = sub(a.content), y = sub(b.content);
        if (x === null || y === null) return null;
        out += cmd === 'frac' ? `((${x})/(${y}))` : ` combinations(${x},${y})`;
        i = b.end;
      } else if (cmd === 'sqrt') {
        let index: string | null = null;
        while (s[j] === ' ') j++;
        if (s[j] === '[') {
          const close = s.indexOf(']', j);
          if (close < 0) return null;
          index = sub(s.slice(j + 1, close));
          if (index === null) return null;
          j = close + 1;
        }
        const a = group(j);
        if (!a) return null;
        const x = sub(a.content);
        if (x === null) return null;
        out += index === null ? ` sqrt(${x})` : ` nthRoot(${x},${index})`;
        i = a.end;
      } else if (cmd === 'pi') {
        out += ' pi ';
        i = j;
      } else if (cmd === 'infty') {
        out += ' Infinity ';
        i = j;
      } else if (cmd === 'cdot' || cmd === 'times' || cmd === 'ast') {
        out += '*';
        i = j;
      } else if (cmd === 'div') {
        out += '/';
        i = j;
      } else if (cmd === 'lfloor' || cmd === 'lceil') {
        out += cmd === 'lfloor' ? ' floor(' : ' ceil(';
        i = j;
      } else if (cmd === 'rfloor' || cmd === 'rceil') {
        out += ')';
        i = j;
      } else if (GREEK.has(cmd)) {
        out += ` ${GREEK_PREFIX}${cmd} `;
        i = j;
      } else if (FUNCS[cmd]) {
        const fn = fnCall(s, j, cmd, sub);
        if (!fn) return null;
        out += fn.out;
        i = fn.end;
      } else return null;
    } else if (c === '^') {
      const a = group(i + 1);
      if (!a) return null;
      const x = sub(a.content);
      if (x === null) return null;
      out += `^(${x})`;
      i = a.end;
    } else if (c === '_') {
      // Subscripted variables (a_1, a_{12}) become one symbol; anything else is not arithmetic.
      const a = group(i + 1);
      if (!a || !/^[a-zA-Z0-9]+$/.test(a.content) || !/(?:^|[^a-zA-Z_])[a-zA-Z]$/.test(out)) return null;
      out += `_${a.content}`;
      i = a.end;
    } else if (c === '{') {
      out += '(';
      i++;
    } else if (c === '}') {
      out += ')';
      i++;
    } else if (c === '|') {
      // |x| is abs(x): a bar opens after an operator or at the start, and closes otherwise.
      const prev = out.trimEnd().slice(-1);
      if (absOpen === 0 || prev === '' || '(+-*/^,'.includes(prev)) {
        out += ' abs(';
        absOpen++;
      } else {
        out += ')';
        absOpen--;
      }
      i++;
    } else if (/[a-zA-Z]/.test(c)) {
      // A run of letters is a product of single-letter variables (`ab` = a*b), not a name.
      let j = i;
      while (j < s.length && /[a-zA-Z]/.test(s[j]!)) j++;
      // `f(x)`, `I(0)`: a letter applied to one token is a value of a function, one opaque
      // symbol (f_x): never the product I·0 = 0.
      const call = s[j] === '(' ? /^\(([a-zA-Z0-9]+)\)/.exec(s.slice(j, j + 24)) : null;
      if (call) {
        out += ' ' + s.slice(i, j).split('').join('*') + `_${call[1]} `;
        i = j + call[0].length;
        continue;
      }
      const subscripted = s[j] === '_';
      out += ' ' + s.slice(i, j).split('').join('*') + (subscripted ? '' : ' ');
      // `n(n+1)` is a product: mathjs would read a symbol before a parenthesis as a call.
      if (!subscripted && s[j] === '(') out += '*';
      i = j;
    } else if (/[0-9.]/.test(c)) {
      let j = i;
      while (j < s.length && /[0-9.]/.test(s[j]!)) j++;
      const lit = s.slice(i, j);
      if (!/^(?:\d+\.?\d*|\.\d+)$/.test(lit) || lit.length > MAX_LITERAL_DIGITS) return null;
      out += lit;
      i = j;
    } else if (/[+\-*/()!,=<> ]/.test(c)) {
      out += c;
      i++;
    } else return null;
  }
  return absOpen === 0 ? out : null;
}

/**
 * A named function at `j` (just after `\sin`): optional power (`\sin^2 x`, `\sin^{-1} x` the
 * inverse), optional log base (`\log_2 8`), then a parenthesised, braced or one-token argument
 * (`\sin x`, `\sin 2x`, `\sin\theta`).
 */
function fnCall(s: string, j: number, cmd: string, sub: (t: string) => string | null): { out: string; end: number } | null {
  const skip = () => {
    while (s[j] === ' ') j++;
  };
  const script = (): string | null | undefined => {
    skip();
    const mark = s[j];
    if (mark !== '^' && mark !== '_') return undefined;
    j++;
    skip();
    let content: string;
    if (s[j] === '{') {
      const g = matchBraces(s, j);
      if (!g) return null;
      content = g.content;
      j = g.end;
    } else {
      const t = /^-?[a-zA-Z0-9]/.exec(s.slice(j));
      if (!t) return null;
      content = t[0];
      j += t[0].length;
    }
    return (mark === '^' ? '^' : '_') + content;
  };
  let power: string | null = null, base: string | null = null;
  for (let k = 0; k < 2; k++) {
    const sc = script();
    if (sc === null) return null;
    if (sc === undefined) break;
    if (sc[0] === '^') power = sc.slice(1);
    else if (cmd === 'log') base = sc.slice(1);
    else return null;
  }
  let name = FUNCS[cmd]!;
  if (power !== null && power.replace(/\s/g, '') === '-1') {
    if (!INVERSE[cmd]) return null;
    name = INVERSE[cmd]!;
    power = null;
  }
  skip();
  let arg: string | null;
  if (s[j] === '(') {
    let depth = 0, k = j;
    for (; k < s.length; k++) {
      if (s[k] === '(') depth++;
      else if (s[k] === ')' && --depth === 0) break;
    }
    if (k >= s.length) return null;
    arg = sub(s.slice(j + 1, k));
    j = k + 1;
  } else if (s[j] === '{') {
    const g = matchBraces(s, j);
    if (!g) return null;
    arg = sub(g.content);
    j = g.end;
  } else if (s[j] === '\\') {
    const g = /^\\[a-zA-Z]+/.exec(s.slice(j));
    if (!g || !GREEK.has(g[0].slice(1)) && g[0] !== '\\pi') return null;
    arg = sub(g[0]);
    j += g[0].length;
  } else {
    const t = /^(?:\d+(?:\.\d+)?[a-zA-Z]?|[a-zA-Z])/.exec(s.slice(j));
    if (!t) return null;
    arg = sub(t[0]);
    j += t[0].length;
  }
  if (arg === null) return null;
  let call = base !== null ? `log(${arg},${sub(base) ?? 'NaN'})` : `${name}(${arg})`;
  if (base !== null && sub(base) === null) return null;
  if (power !== null) {
    const p = sub(power);
    if (p === null) return null;
    call = `(${call})^(${p})`;
  }
  return { out: ` ${call}`, end: j };
}
