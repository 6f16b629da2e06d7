// A reload's re-render jobs never displace real work queued for the same node, and are counted.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mergeJobs, type Job, type RenderTally } from '../../src/pipeline/jobs.ts';

const tally = (): RenderTally => ({ rewritten: 0, unchanged: 0, skipped: 0, failed: 0 });

describe('mergeJobs with re-render jobs', () => {
  test('a queued release or provision is kept; the render is counted as skipped', () => {
    const t = tally();
    const release: Job = { kind: 'release', policy: 'remove', reason: 'cli' };
    assert.equal(mergeJobs(release, { kind: 'render', tally: t }), release);
    const provision: Job = { kind: 'provision', seenAt: 1, sources: ['s'] };
    assert.equal(mergeJobs(provision, { kind: 'render', tally: t }), provision);
    assert.equal(t.skipped, 2);
  });
  test('work arriving after a queued render replaces it; the render is counted as skipped', () => {
    const t = tally();
    const release: Job = { kind: 'release', reason: 'lease gone' };
    assert.equal(mergeJobs({ kind: 'render', tally: t }, release), release);
    assert.equal(t.skipped, 1);
  });
  test('two renders (two reloads): the newer one runs, the older is counted', () => {
    const a = tally();
    const b = tally();
    const newer: Job = { kind: 'render', tally: b };
    assert.equal(mergeJobs({ kind: 'render', tally: a }, newer), newer);
    assert.deepEqual([a.skipped, b.skipped], [1, 0]);
  });
});
