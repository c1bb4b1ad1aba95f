// The process-level settings of harness/engine/session.ts: the glibc malloc tunables, added to a
// child's environment once, without overriding tunables the user set.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { envWithMallocTunables, mallocTunablesActive, MALLOC_TUNABLES } from '../../harness/engine/session.ts';

test('envWithMallocTunables adds the missing tunables once and keeps the others', () => {
  const ours = MALLOC_TUNABLES.join(':');
  assert.equal(envWithMallocTunables({}).GLIBC_TUNABLES, ours);
  const other = 'glibc.malloc.arena_max=2';
  const env = envWithMallocTunables({ GLIBC_TUNABLES: other, KEEP: 'x' });
  assert.equal(env.GLIBC_TUNABLES, `${other}:${ours}`);
  assert.equal(env.KEEP, 'x');
  assert.equal(envWithMallocTunables(env).GLIBC_TUNABLES, env.GLIBC_TUNABLES);
  assert.ok(mallocTunablesActive(env));
  assert.ok(!mallocTunablesActive({ GLIBC_TUNABLES: other }));
});

test("a tunable the user set is left as it is (and the set is then not the engine's)", () => {
  const env = envWithMallocTunables({ GLIBC_TUNABLES: 'glibc.malloc.hugetlb=0' });
  assert.deepEqual(env.GLIBC_TUNABLES!.split(':'), ['glibc.malloc.hugetlb=0', ...MALLOC_TUNABLES.filter((t) => !t.startsWith('glibc.malloc.hugetlb='))]);
  assert.ok(!mallocTunablesActive(env));
});
