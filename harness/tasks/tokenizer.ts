// Character-level tokenizer for the tiny policies: one id per character of a fixed vocabulary
// (PAD, BOS, EOS, newline, printable ASCII). Fixed so that a checkpoint's ids mean the same
// thing in every run; an unknown character is an input error, never silently mapped.
import { UsageError } from '../util/errors.ts';
import type { Tokenizer } from './tokenizer-types.ts';

export class CharTokenizer implements Tokenizer {
  readonly pad = 0;
  readonly bos = 1;
  readonly eos = 2;
  readonly vocabSize: number;
  /** The characters of ids 3.. in order (id = index + 3). */
  readonly chars: readonly string[];
  private readonly idOf = new Map<string, number>();
  // Fast path for ASCII: code point -> id, -1 when not in the vocabulary.
  private readonly asciiIds = new Int32Array(128).fill(-1);

  constructor(chars: readonly string[]) {
    this.chars = chars;
    chars.forEach((ch, i) => {
      if ([...ch].length !== 1) throw new UsageError(`CharTokenizer: vocabulary entry ${JSON.stringify(ch)} is not one character`);
      if (this.idOf.has(ch)) throw new UsageError(`CharTokenizer: duplicate vocabulary character ${JSON.stringify(ch)}`);
      const id = i + 3;
      this.idOf.set(ch, id);
      const cp = ch.codePointAt(0)!;
      if (cp < 128) this.asciiIds[cp] = id;
    });
    this.vocabSize = chars.length + 3;
  }

  /** Token ids of `text`, no specials added. */
  encode(text: string): Int32Array {
    const out = new Int32Array(text.length);
    let n = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      let id = c < 128 ? this.asciiIds[c]! : -1;
      if (id < 0) {
        const cp = text.codePointAt(i)!;
        const ch = String.fromCodePoint(cp);
        id = this.idOf.get(ch) ?? -1;
        if (id < 0) {
          const hex = 'U+' + cp.toString(16).toUpperCase().padStart(4, '0');
          throw new UsageError(`tokenizer: unknown character ${JSON.stringify(ch)} (${hex}) at position ${i} of ${JSON.stringify(text.length > 60 ? text.slice(0, 60) + '…' : text)}`);
        }
        if (cp > 0xffff) i++;
      }
      out[n++] = id;
    }
    return n === out.length ? out : out.slice(0, n);
  }

  /** Text of `ids`: PAD and BOS are skipped, decoding stops at the first EOS. */
  decode(ids: ArrayLike<number>): string {
    let s = '';
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (id === this.eos) break;
      if (id === this.pad || id === this.bos) continue;
      const ch = this.chars[id - 3];
      if (ch === undefined) throw new UsageError(`tokenizer: id ${id} at position ${i} is outside the vocabulary (size ${this.vocabSize})`);
      s += ch;
    }
    return s;
  }

  /** The id of one character, or undefined (the generic Tokenizer lookup). */
  tokenToId(ch: string): number | undefined {
    return this.idOf.get(ch);
  }

  /** The id of one character (UsageError when it is not in the vocabulary). */
  tokenOf(ch: string): number {
    const id = this.idOf.get(ch);
    if (id === undefined) {
      const cp = ch.codePointAt(0) ?? 0;
      throw new UsageError(`tokenizer: unknown character ${JSON.stringify(ch)} (U+${cp.toString(16).toUpperCase().padStart(4, '0')})`);
    }
    return id;
  }
}

/** Newline and printable ASCII (space .. '~'): ids 3..98, vocabSize 99. */
export const DEFAULT_CHARS: readonly string[] = ['\n', ...Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i))];

export const defaultTokenizer = new CharTokenizer(DEFAULT_CHARS);
