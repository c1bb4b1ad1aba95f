// The tokenizer contract between text and the policy: what the runs layer needs from any
// tokenizer, the built-in CharTokenizer and a Hugging Face checkpoint's tokenizer alike. Kept in
// its own file, free of imports, so that code speaking only to this contract never loads the
// Hugging Face libraries.

export interface EncodeOptions {
  /**
   * Add the tokenizer's own special tokens (its post-processor's BOS/EOS, as
   * `tokenizer(text)` does in transformers). Default false: the text is tokenized as it stands,
   * which is what a chat-template prompt (it carries its own BOS) or a response needs.
   */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Leave special tokens (BOS, EOS, PAD, chat markers) out of the text. */
  skipSpecialTokens?: boolean;
}

export interface Tokenizer {
  /** Ids run from 0 to vocabSize - 1. */
  readonly vocabSize: number;
  /** Special ids where the tokenizer defines them. */
  readonly pad?: number;
  readonly bos?: number;
  readonly eos?: number;
  encode(text: string, opts?: EncodeOptions): Int32Array;
  /**
   * The text of `ids`. The CharTokenizer always leaves PAD/BOS out and stops at the first EOS;
   * a Hugging Face tokenizer keeps special tokens unless told to skip them, as transformers does.
   */
  decode(ids: ArrayLike<number>, opts?: DecodeOptions): string;
  /** The id of one token of the vocabulary (for a character tokenizer, one character), or undefined. */
  tokenToId(token: string): number | undefined;
}
