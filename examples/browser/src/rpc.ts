/** The page's side of the worker: typed requests that resolve with the worker's answer. */
import type { Op, RequestMessage, Requests, WorkerMessage } from './protocol.js';

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
    worker.onerror = (ev) => this.rejectAll(new Error(`the training worker failed: ${ev.message || 'unknown error'}`));
  }

  private rejectAll(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  private send(m: Omit<RequestMessage, 'id'>): Promise<unknown> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...m, id });
    });
  }

  call<K extends Op>(op: K, args: Requests[K]['args']): Promise<Requests[K]['result']> {
    return this.send({ op, args } as Omit<RequestMessage, 'id'>) as Promise<Requests[K]['result']>;
  }

  /** Stop after the current training step (handled at once, also while training runs). */
  stop(): void {
    void this.send({ op: 'stop', args: {} });
  }

  /** The test hook that destroys the worker's WebGPU device. */
  async loseDevice(): Promise<void> {
    await this.send({ op: 'loseDevice', args: {} });
  }

  /** Ends the worker (and everything in it); pending requests reject with `why`. */
  terminate(why: Error): void {
    this.worker.terminate();
    this.rejectAll(why);
  }
}
