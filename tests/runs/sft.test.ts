// SFT data and cache key: targets are the worked solution + EOS (or, for a seeded fraction, the
// bare answer), and the cache hash changes with anything that changes the weights.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultTokenizer as tok } from '../../harness/tasks/tokenizer.ts';
import { trainingProblems, formatTarget } from '../../harness/tasks/curriculum.ts';
import { sftExamples, sftHash, type SftJob } from '../../harness/runs/sft.ts';

const pool = trainingProblems(0, 400);
const job = (over: Partial<SftJob['settings']> = {}, extra: Partial<SftJob> = {}): SftJob => ({
  policyConfig: { vocabSize: tok.vocabSize, contextLength: 64, dModel: 16, nLayers: 1, nHeads: 2, mlpRatio: 2 },
  initSeed: 0,
  settings: { steps: 10, batchSize: 4, lr: 0.01, warmupSteps: 0, decay: 'constant', minLrRatio: 0.1, weightDecay: 0, gradClip: 1, seed: 0, directAnswerFrac: 0, ...over },
  pool,
  dataKey: { dataSeed: 0 },
  version: '0.1.0',
  ...extra,
});

test('targets: worked solution + EOS, or a seeded fraction of bare answers', () => {
  const plain = sftExamples(job(), tok);
  assert.equal(tok.decode(plain[0]!.response), formatTarget(pool[0]!));
  assert.equal(plain[0]!.response[plain[0]!.response.length - 1], tok.eos);
  assert.equal(plain[0]!.prompt[0], tok.bos);
  const mixed = sftExamples(job({ directAnswerFrac: 0.5 }), tok);
  const direct = mixed.filter((e, i) => tok.decode(e.response) === `#### ${pool[i]!.answer}`).length;
  assert.ok(direct > 150 && direct < 250, `about half are bare answers: ${direct}/400`);
  assert.deepEqual(sftExamples(job({ directAnswerFrac: 0.5 }), tok), mixed, 'deterministic for a seed');
});

test('the cache hash follows settings, model, data and version', () => {
  const h = sftHash(job(), tok);
  assert.match(h, /^[0-9a-f]{16}$/);
  assert.equal(sftHash(job(), tok), h);
  assert.notEqual(sftHash(job({ steps: 11 }), tok), h);
  assert.notEqual(sftHash(job({}, { initSeed: 1 }), tok), h);
  assert.notEqual(sftHash(job({}, { version: '0.2.0' }), tok), h);
  assert.notEqual(sftHash(job({}, { pool: pool.slice(1) }), tok), h);
});
