// The tokenizer of a Hugging Face checkpoint: tokenizer.json (the "fast" tokenizer file the Rust
// `tokenizers` library writes) run by @huggingface/tokenizers, a pure-JS port that gives the same
// ids, plus the special tokens that tokenizer_config.json (and an older special_tokens_map.json)
// name. It satisfies the generic Tokenizer contract of harness/tasks/tokenizer-types.ts
// structurally, so the runs layer can hold it beside the CharTokenizer without importing this.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer as JsTokenizer } from '@huggingface/tokenizers';
import { UsageError } from '../../util/errors.ts';
import { readJsonFile } from './config.ts';

/** The special-token fields transformers passes to chat templates (when the tokenizer defines them). */
export const SPECIAL_TOKEN_FIELDS = ['bos_token', 'eos_token', 'unk_token', 'sep_token', 'pad_token', 'cls_token', 'mask_token'] as const;
export type SpecialTokenField = (typeof SPECIAL_TOKEN_FIELDS)[number];

export interface HfEncodeOptions {
  /** Add the post-processor's special tokens (e.g. Llama's BOS), as `tokenizer(text)` does. Default false. */
  addSpecialTokens?: boolean;
}

export interface HfDecodeOptions {
  /** Leave special tokens out of the text, as `decode(ids, skip_special_tokens=True)` does. Default false. */
  skipSpecialTokens?: boolean;
}

/** A special token as tokenizer_config.json writes it: a string, an AddedToken object, or null. */
function tokenContent(v: unknown, path: string, field: string): string | undefined {
  if (v == null) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  throw new UsageError(`${path}: "${field}" must be a string, a {"content": …} token or null, got ${JSON.stringify(v)}`);
}

export class HfTokenizer {
  /** One more than the largest id the tokenizer can produce (base vocabulary and added tokens). */
  readonly vocabSize: number;
  readonly pad: number | undefined;
  readonly bos: number | undefined;
  readonly eos: number | undefined;
  /** The special tokens by field (bos_token: '<s>', …), as chat templates see them. */
  readonly specialTokens: Readonly<Partial<Record<SpecialTokenField, string>>>;
  /** additional_special_tokens (or transformers 5's extra_special_tokens), for templates that use them. */
  readonly additionalSpecialTokens: readonly string[];
  /** Ids of every token marked special (skipped by decode when asked). */
  readonly specialIds: ReadonlySet<number>;
  /** The files it was read from. */
  readonly files: readonly string[];
  private readonly tok: JsTokenizer;

  /**
   * From the parsed files. `where` names the folder in messages. `config` is tokenizer_config.json
   * merged with special_tokens_map.json (its values win, as in transformers).
   */
  constructor(tokenizerJson: Record<string, unknown>, config: Record<string, unknown>, where: string, files: readonly string[] = []) {
    this.files = files;
    const tjPath = join(where, 'tokenizer.json');
    const model = tokenizerJson.model as { type?: unknown } | undefined;
    if (!model || typeof model !== 'object') throw new UsageError(`${tjPath}: no "model" section; not a tokenizers file?`);
    if (!Array.isArray(tokenizerJson.added_tokens)) tokenizerJson = { ...tokenizerJson, added_tokens: [] };
    const cfgPath = join(where, 'tokenizer_config.json');
    const specials: Partial<Record<SpecialTokenField, string>> = {};
    for (const f of SPECIAL_TOKEN_FIELDS) {
      const content = tokenContent(config[f], cfgPath, f);
      if (content !== undefined) specials[f] = content;
    }
    const extra = config.additional_special_tokens ?? config.extra_special_tokens ?? [];
    const extraList = Array.isArray(extra) ? extra : typeof extra === 'object' && extra ? Object.values(extra) : [];
    this.additionalSpecialTokens = extraList.map((v, i) => tokenContent(v, cfgPath, `additional_special_tokens[${i}]`)).filter((s): s is string => s !== undefined);
    // The library reads the special tokens as plain strings. transformers 5 does not clean up
    // spaces around punctuation unless the config asks for it; tokenizers.js would by default.
    const cfg = { ...config, ...specials, additional_special_tokens: this.additionalSpecialTokens, clean_up_tokenization_spaces: config.clean_up_tokenization_spaces ?? false };
    try {
      this.tok = new JsTokenizer(tokenizerJson, cfg);
    } catch (e) {
      throw new UsageError(`${tjPath}: cannot build the tokenizer (${(e as Error).message})`);
    }
    const vocab = this.tok.get_vocab(true);
    let maxId = -1;
    for (const id of vocab.values()) if (id > maxId) maxId = id;
    this.vocabSize = maxId + 1;

    // The ids generation and padding rely on must exist; the other named tokens only reach templates.
    const idOf = (field: 'pad_token' | 'bos_token' | 'eos_token'): number | undefined => {
      const content = specials[field];
      if (content === undefined) return undefined;
      const id = this.tok.token_to_id(content);
      if (id === undefined) throw new UsageError(`${cfgPath}: ${field} ${JSON.stringify(content)} is not in the vocabulary of ${tjPath}`);
      return id;
    };
    this.pad = idOf('pad_token');
    this.bos = idOf('bos_token');
    this.eos = idOf('eos_token');
    this.specialTokens = specials;

    const ids = new Set<number>();
    for (const [id, t] of this.tok.get_added_tokens_decoder()) if (t.special) ids.add(id);
    for (const s of [...Object.values(specials), ...this.additionalSpecialTokens]) {
      const id = this.tok.token_to_id(s);
      if (id !== undefined) ids.add(id);
    }
    this.specialIds = ids;
  }

  /** Token ids of `text` (no special tokens added unless asked). */
  encode(text: string, opts: HfEncodeOptions = {}): Int32Array {
    const { ids } = this.tok.encode(text, { add_special_tokens: opts.addSpecialTokens ?? false });
    const out = new Int32Array(ids.length);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      // A model without an unknown token leaves pieces it cannot spell unmapped.
      if (typeof id !== 'number') throw new UsageError(`tokenizer: piece ${i} of ${JSON.stringify(text.length > 60 ? text.slice(0, 60) + '…' : text)} has no id and the tokenizer has no unknown token`);
      out[i] = id;
    }
    return out;
  }

  /** Text of `ids`. Ids the tokenizer does not know (a model's padded vocabulary) decode to nothing, as in transformers. */
  decode(ids: ArrayLike<number>, opts: HfDecodeOptions = {}): string {
    const list: number[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (!Number.isInteger(id) || id < 0) throw new UsageError(`tokenizer: id ${id} at position ${i} is not a non-negative integer`);
      if (id < this.vocabSize && this.tok.id_to_token(id) !== undefined && !(opts.skipSpecialTokens && this.specialIds.has(id))) list.push(id);
    }
    if (list.length === 0) return '';
    return this.tok.decode(list, { skip_special_tokens: false });
  }

  tokenToId(token: string): number | undefined {
    return this.tok.token_to_id(token);
  }

  idToToken(id: number): string | undefined {
    return this.tok.id_to_token(id);
  }

  /** The text of each id on its own (for display: `model tokenize`); a piece of a multi-byte character shows as U+FFFD. */
  pieces(ids: ArrayLike<number>): string[] {
    return Array.from(ids, (id) => (this.tok.id_to_token(id) === undefined ? `<id ${id}>` : this.decode([id])));
  }
}

/** Reads tokenizer_config.json (if present) overlaid with special_tokens_map.json (if present). */
export function readTokenizerConfig(dir: string): { config: Record<string, unknown>; files: string[] } {
  const files: string[] = [];
  let config: Record<string, unknown> = {};
  const cfgPath = join(dir, 'tokenizer_config.json');
  if (existsSync(cfgPath)) {
    config = readJsonFile(cfgPath);
    files.push('tokenizer_config.json');
  }
  const mapPath = join(dir, 'special_tokens_map.json');
  if (existsSync(mapPath)) {
    const map = readJsonFile(mapPath);
    for (const [k, v] of Object.entries(map)) if (v != null) config[k] = v;
    files.push('special_tokens_map.json');
  }
  return { config, files };
}

/** The tokenizer of checkpoint folder `dir` (tokenizer.json required). */
export function loadHfTokenizer(dir: string): HfTokenizer {
  const path = join(dir, 'tokenizer.json');
  if (!existsSync(path)) {
    const slow = ['tokenizer.model', 'vocab.json'].filter((f) => existsSync(join(dir, f)));
    throw new UsageError(
      `${path}: file not found; rlbench reads the fast-tokenizer file tokenizer.json` +
        (slow.length ? ` (this folder has only ${slow.join(' and ')}: write tokenizer.json with transformers, AutoTokenizer.from_pretrained(DIR).save_pretrained(DIR))` : ''),
    );
  }
  const { config, files } = readTokenizerConfig(dir);
  return new HfTokenizer(readJsonFile(path), config, dir, ['tokenizer.json', ...files]);
}
