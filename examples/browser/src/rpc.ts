/** The page's side of the worker: typed requests that resolve with the worker's answer. */
import type { Op, Requests, WorkerMessage } from './protocol.js';

type Listener = (m: Exclude<WorkerMessage, { id: number }>) => void;

export class WorkerClient {
  private next = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  constructor(
    private readonly worker: Worker,
    onEvent: Listener,
  ) {
    worker.onmessage = (ev: MessageEvent<WorkerMessage>) => {
      const m = ev.data;
      if ('id' in m) {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (m.ok) p?.resolve(m.result);
        else p?.reject(new Error(m.error));
      } else onEvent(m);
    };
    worker.onerror = (ev) => {
      const err = new Error(`the training worker failed: ${ev.message || 'unknown error'}`);
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
  }

  call<K extends Op>(op: K, args: Requests[K]['args']): Promise<Requests[K]['result']> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ id, op, args });
    });
  }

  stop(): void {
    this.worker.postMessage({ id: this.next++, op: 'stop', args: {} });
  }
}
