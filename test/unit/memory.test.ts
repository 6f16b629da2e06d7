import { test } from 'node:test';
import assert from 'node:assert/strict';
import { memoryTuningOn, startupProfile, tuneRunningHeap } from '../../src/memory.ts';

test('the start-up profile adds the semi-space flag and one malloc arena', () => {
  assert.deepEqual(startupProfile([], {}), { flags: ['--max-semi-space-size=2'], env: { MALLOC_ARENA_MAX: '1' } });
});

test("the caller's own settings win, and nothing left to add means no re-exec", () => {
  assert.deepEqual(startupProfile(['--max-semi-space-size=8'], {}), { flags: [], env: { MALLOC_ARENA_MAX: '1' } });
  assert.deepEqual(startupProfile([], { NODE_OPTIONS: '--max-semi-space-size=4' }), { flags: [], env: { MALLOC_ARENA_MAX: '1' } });
  assert.deepEqual(startupProfile([], { MALLOC_ARENA_MAX: '4' }), { flags: ['--max-semi-space-size=2'], env: {} });
  assert.equal(startupProfile(['--max-semi-space-size=8'], { MALLOC_ARENA_MAX: '4' }), undefined);
});

test('PXEBOOTD_MEMORY_TUNING=off turns every piece off', () => {
  const off = { PXEBOOTD_MEMORY_TUNING: 'off' };
  assert.equal(memoryTuningOn(off), false);
  assert.equal(startupProfile([], off), undefined);
  assert.equal(tuneRunningHeap(off), false);
  assert.equal(memoryTuningOn({}), true);
  assert.equal(memoryTuningOn({ PXEBOOTD_MEMORY_TUNING: 'on' }), true);
});

test('the run-time part is accepted by V8', () => {
  assert.equal(tuneRunningHeap({}), true);
});
