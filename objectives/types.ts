// The contract between objectives and the engine (see ../shared/DESIGN.md, "The one idea that
// keeps objectives small"). An objective never touches the model: it maps a batch of rollouts
// and the current per-token log-probs to a loss and dLoss/dlogp per token.

/** Per-token numbers: Float32Array from the engine, Float64Array or number[] elsewhere. */
export type TokenValues = ArrayLike<number>;

/** One completion of one prompt. Rollouts of the same prompt share `group`. */
export interface Rollout {
  group: string;
  /** Number of response tokens |y|; equals the length of every per-token array below. */
  length: number;
  /** Response token ids, when the engine produced the rollout. */
  tokens?: Int32Array;
  /** Behaviour-policy log-probs of the response tokens (o_it). */
  logpOld: TokenValues;
  /** Reference-policy log-probs (f_it), present when the objective needs a reference. */
  logpRef?: TokenValues;
  /** Grader reward: 1 correct, 0 not (objectives test r > 0 for correctness). */
  reward: number;
  /** The response hit the token limit. */
  truncated: boolean;
}

export interface LossResult {
  loss: number;
  /** grad[i][t] = dLoss / dlogp[i][t], aligned with the batch; zeros where a rollout contributes nothing. */
  grad: Float64Array[];
  metrics: Record<string, number>;
}

/** A JSON Schema object (draft-07 subset that ajv validates). */
export type JsonSchema = Record<string, unknown>;

export interface Objective<C = any> {
  /** Registry id, e.g. 'grpo'. Lower-case, digits and dashes. */
  id: string;
  title: string;
  /** Paper reference, e.g. 'Shao et al. 2024, DeepSeekMath, arXiv:2402.03300'. */
  reference: string;
  /** Settings schema: ajv fills defaults and rejects unknown keys. */
  schema: JsonSchema;
  /**
   * Optional: derived defaults and cross-field checks, run after the schema has been validated
   * and its defaults filled (e.g. GRPO's clipEps fills epsLow/epsHigh). Throw a UsageError
   * naming `where` (e.g. 'objectives[2].config') on bad values. Returns the final config.
   */
  finalizeConfig?(cfg: C, where: string): C;
  /** Whether logpRef must be computed for this configuration (e.g. klCoef > 0). */
  needsReference(cfg: C): boolean;
  /** Optional group filter applied before the loss (DAPO dynamic sampling). */
  filter?(groups: Rollout[][], cfg: C): Rollout[][];
  loss(batch: readonly Rollout[], logp: readonly TokenValues[], cfg: C): LossResult;
}
