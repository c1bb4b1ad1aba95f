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

/** What the experiment around an objective fixes, for derived defaults and checks. */
export interface ObjectiveContext {
  /** The rollout response-token limit (rl.maxTokens). */
  maxTokens?: number;
}

/**
 * State an objective carries from one training step to the next (e.g. an adaptive KL
 * coefficient): plain numbers, saved in the run's checkpoint and restored on resume.
 */
export type ObjectiveState = Record<string, number>;

export interface Objective<C = any> {
  /** Registry id, e.g. 'grpo'. Lower-case, digits and dashes. */
  id: string;
  title: string;
  /** Paper reference, e.g. 'Shao et al. 2024, DeepSeekMath, arXiv:2402.03300'. */
  reference: string;
  /** Optional: one line on how this implementation reads the paper (shown by `objective list`). */
  description?: string;
  /** Settings schema: ajv fills defaults and rejects unknown keys. */
  schema: JsonSchema;
  /**
   * Optional: readable titles of the metrics `loss` returns (e.g. clipFrac: 'clip fraction'),
   * recorded in run.json so reports title a plugin's diagnostics properly.
   */
  metricLabels?: Record<string, string>;
  /**
   * Optional: derived defaults and cross-field checks, run after the schema has been validated
   * and its defaults filled (e.g. GRPO's clipEps fills epsLow/epsHigh; DAPO's maxTokens comes
   * from ctx.maxTokens). Throw a UsageError naming `where` (e.g. 'objectives[2].config') on bad
   * values. Returns the final config.
   */
  finalizeConfig?(cfg: C, where: string, ctx?: ObjectiveContext): C;
  /** Whether logpRef must be computed for this configuration (e.g. klCoef > 0). */
  needsReference(cfg: C): boolean;
  /** Optional group filter applied before the loss (DAPO dynamic sampling). */
  filter?(groups: Rollout[][], cfg: C): Rollout[][];
  /** Optional: the state before the first step (see ObjectiveState). */
  initialState?(cfg: C): ObjectiveState;
  /** Optional: the state after a step, from the state before it and the step's mean metrics. */
  nextState?(state: ObjectiveState, metrics: Readonly<Record<string, number>>, cfg: C): ObjectiveState;
  /** `state` is the current ObjectiveState when the objective has one. */
  loss(batch: readonly Rollout[], logp: readonly TokenValues[], cfg: C, state?: Readonly<ObjectiveState>): LossResult;
}
