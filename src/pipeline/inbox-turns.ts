// The inbox's admission (src/pipeline/inbox.ts): events are taken in arrival order, at most
// `perTurn` per event-loop turn; the rest wait for the next turn (setImmediate, never a timer).
//
// Why a slice per turn: a lease file rewritten with 10,000 new clients hands over 10,000 events in
// one synchronous loop; taken all at once, every one of them is in flight at the same moment
// (records, jobs, their promises), thousands of scavenges promote all of it, and the old space
// balloons before a major GC can finish (docs/performance.md, finding 5). A few dozen per turn keep
// the work in flight small and let V8's GC tasks and other I/O (command exits, the control socket)
// run in between. Nothing is dropped: a lone event is taken at once, a burst goes out in slices.
import { INBOX_PER_TURN } from '../timing.ts';

/** Events taken per event-loop turn before the rest wait for the next turn (src/timing.ts). */
export const PER_TURN = INBOX_PER_TURN;

/** A FIFO that hands items to `take` at most a slice per event-loop turn. */
export interface Admission<T> {
  /** take `item` now when this turn has room, else queue it (FIFO) */
  add(item: T): void;
  /** start taking items (added ones wait until then) */
  open(): void;
  /** remove and return every item not taken yet (at stop) */
  drop(): T[];
  /** items waiting */
  pending(): number;
}

/** `take` must not throw: it is called from setImmediate. */
export function createAdmission<T>(take: (item: T) => void, perTurn: number = PER_TURN): Admission<T> {
  let items: T[] = [];
  let head = 0;
  let used = 0;
  let scheduled = false;
  let opened = false;
  const limit = Math.max(1, Math.floor(perTurn));

  const waiting = () => items.length - head;
  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(turn);
  };
  function turn(): void {
    scheduled = false;
    used = 0;
    while (opened && head < items.length && used < limit) {
      const item = items[head]!;
      items[head++] = undefined as T; // let it go as soon as it is taken
      used++;
      take(item);
    }
    if (head === items.length) {
      items = [];
      head = 0;
    } else if (head > 4096 && head * 2 > items.length) {
      items = items.slice(head);
      head = 0;
    }
    // a turn that took something leaves a count to reset; one with items left goes on next turn
    if (used > 0 || (opened && waiting() > 0)) schedule();
  }

  return {
    add(item) {
      if (opened && waiting() === 0 && used < limit) {
        used++;
        schedule();
        take(item);
        return;
      }
      items.push(item);
      if (opened) schedule();
    },
    open() {
      opened = true;
      if (waiting() > 0) schedule();
    },
    drop() {
      const rest = items.slice(head);
      items = [];
      head = 0;
      return rest;
    },
    pending: waiting,
  };
}
