import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createAdmission } from '../../src/pipeline/inbox-turns.ts';

const turn = () => new Promise((r) => setImmediate(r));

describe('daemon admission', () => {
  test('a lone event is taken at once, synchronously', () => {
    const taken: number[] = [];
    const a = createAdmission<number>((n) => taken.push(n), 4);
    a.open();
    a.add(1);
    assert.deepEqual(taken, [1]);
    assert.equal(a.pending(), 0);
  });

  test('a burst is taken in arrival order, at most perTurn per event-loop turn, and other callbacks run in between', async () => {
    const log: string[] = [];
    const a = createAdmission<number>((n) => log.push(`e${n}`), 4);
    a.open();
    for (let i = 0; i < 10; i++) a.add(i);
    assert.deepEqual(log, ['e0', 'e1', 'e2', 'e3'], 'the first slice goes at once');
    assert.equal(a.pending(), 6);
    setImmediate(() => log.push('other work'));
    while (a.pending() > 0) await turn();
    await turn();
    assert.deepEqual(log.filter((x) => x.startsWith('e')), Array.from({ length: 10 }, (_, i) => `e${i}`), 'order kept');
    const other = log.indexOf('other work');
    assert.ok(other > 4 && other < log.length - 1, `other work ran between two slices: ${log.join(' ')}`);
    // the turn after a burst takes a lone event at once again
    await turn();
    a.add(99);
    assert.equal(log.at(-1), 'e99');
  });

  test('a later event never overtakes one still waiting for its turn', async () => {
    const taken: number[] = [];
    const a = createAdmission<number>((n) => taken.push(n), 2);
    a.open();
    for (let i = 0; i < 5; i++) a.add(i);
    await turn();
    a.add(5); // some are still waiting: this one queues behind them
    while (a.pending() > 0) await turn();
    assert.deepEqual(taken, [0, 1, 2, 3, 4, 5]);
  });

  test('events before open() wait, then go out a slice per turn; drop() returns what was not taken', async () => {
    const taken: number[] = [];
    const a = createAdmission<number>((n) => taken.push(n), 3);
    for (let i = 0; i < 7; i++) a.add(i);
    await turn();
    assert.deepEqual(taken, [], 'nothing before open()');
    a.open();
    await turn();
    assert.deepEqual(taken, [0, 1, 2]);
    assert.deepEqual(a.drop(), [3, 4, 5, 6]);
    await turn();
    await turn();
    assert.deepEqual(taken, [0, 1, 2]);
    assert.equal(a.pending(), 0);
  });

  test('10,000 events: all taken, in order, one slice of 64 per turn', async () => {
    const taken: number[] = [];
    let turns = 0;
    const a = createAdmission<number>((n) => taken.push(n), 64);
    a.open();
    for (let i = 0; i < 10_000; i++) a.add(i);
    while (a.pending() > 0) {
      await turn();
      turns++;
    }
    assert.equal(taken.length, 10_000);
    assert.ok(taken.every((n, i) => n === i));
    assert.ok(turns >= Math.floor(10_000 / 64) - 1, `took ${turns} turns`);
  });
});
