// How events enter the daemon: watcher events (nobody waits) and control requests (wait for an
// answer) go through one admission (a slice per event-loop turn, admission.ts), in arrival order,
// into the intake. Events of one client are taken strictly in order: an IP-only event may wait for
// a neighbour lookup, and later events of that client wait behind it; other clients do not wait.
import type { Logger } from 'pino';
import type { ClientEvent, ReleasePolicy } from '../types.ts';
import { errorMessage } from '../errors.ts';
import { createAdmission } from './admission.ts';
import type { Accepted, Intake, SubmitResult } from './intake.ts';

/** `wait`: answer once the queued job's first attempt is over; `policy`: a release's policy. */
export interface SubmitOptions {
  wait?: boolean;
  policy?: ReleasePolicy;
}

export interface Entry {
  /** a watcher's event: nobody waits for it, a failure is logged */
  event(e: ClientEvent): void;
  /** a request's event: resolves with what happened (after the job with `wait`) */
  submit(e: ClientEvent, opts?: SubmitOptions): Promise<SubmitResult>;
  /** start taking events (those that arrived during start-up first) */
  open(): void;
  /** drop events not taken yet; whoever waits for one is told */
  drop(): void;
}

type Waiting = { e: ClientEvent; opts: SubmitOptions; resolve: (r: SubmitResult | Promise<SubmitResult>) => void; reject: (err: unknown) => void };

/** The one door for watcher events and control requests, so a burst is taken a slice per event-loop turn. */
export function createEntry(intake: Intake, log: Logger, perTurn?: number): Entry {
  const admission = createAdmission<ClientEvent | Waiting>(take, perTurn);
  const chains = new Map<string, Promise<void>>();

  function take(item: ClientEvent | Waiting): void {
    const e = 'kind' in item ? item : item.e;
    const w = 'kind' in item ? undefined : item;
    const key = e.ip ?? e.mac ?? '';
    const prev = chains.get(key);
    if (prev) return void chain(key, prev.then(() => handle(e, w)));
    const r = handle(e, w);
    if (r) chain(key, r);
  }
  function chain(key: string, p: Promise<void>): void {
    chains.set(key, p);
    void p.then(() => {
      if (chains.get(key) === p) chains.delete(key);
    });
  }
  /** Take one event; a promise only when it has to wait (a neighbour lookup). Never rejects. */
  function handle(e: ClientEvent, w: Waiting | undefined): Promise<void> | undefined {
    const wait = w?.opts.wait === true;
    let accepted: Accepted | Promise<Accepted>;
    try {
      accepted = e.kind === 'seen' ? intake.seen(e, wait) : intake.gone(e, w?.opts, wait);
    } catch (err) {
      failed(e, w, err);
      return undefined;
    }
    if (!(accepted instanceof Promise)) return void answer(accepted, w);
    return accepted.then(
      (a) => answer(a, w),
      (err: unknown) => failed(e, w, err),
    );
  }
  function answer(a: Accepted, w: Waiting | undefined): void {
    if (w) w.resolve(w.opts.wait && a.settled ? a.settled : a.now);
  }
  function failed(e: ClientEvent, w: Waiting | undefined, err: unknown): void {
    if (w) w.reject(err);
    else log.error({ err: errorMessage(err), source: e.source }, 'event handling failed');
  }

  return {
    event: (e) => admission.add(e),
    submit: (e, opts = {}) => new Promise((resolve, reject) => admission.add({ e, opts, resolve, reject })),
    open: () => admission.open(),
    drop() {
      for (const item of admission.drop()) if (!('kind' in item)) item.resolve({ outcome: 'failed', error: 'pxebootd is stopping; the request was not taken' });
    },
  };
}
