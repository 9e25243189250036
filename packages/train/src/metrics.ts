import { writeFileAtomic } from '@peftjs/core/io';

/** One line of `metrics.jsonl`: a step, an evaluation, a checkpoint or a stop. */
export interface TrainEvent {
  type: 'step' | 'eval' | 'checkpoint' | 'stopped';
  /** Optimizer steps taken (after this step). */
  step: number;
  epoch: number;
  loss?: number;
  /** Sum of the hooks' extra loss terms (included in the gradient, not in `loss`). */
  extra_loss?: number;
  val_loss?: number;
  perplexity?: number;
  accuracy?: number;
  lr?: number;
  /** Global gradient norm before clipping. */
  grad_norm?: number;
  tokens_per_sec?: number;
  /** Seconds of training, across resumes. */
  elapsed_s: number;
  /** Set on steps skipped for a non-finite loss or gradients. */
  skipped?: boolean;
  checkpoint?: string;
  message?: string;
}

export const METRICS_NAME = 'metrics.jsonl';

/** Appends events to `<dir>/metrics.jsonl` (NaN is written as null). */
export class MetricsLog {
  readonly path: string;

  constructor(dir: string) {
    this.path = `${dir.replace(/\/+$/, '')}/${METRICS_NAME}`;
  }

  async append(e: TrainEvent): Promise<void> {
    const fs = await import('node:fs/promises');
    const { dirname } = await import('node:path');
    await fs.mkdir(dirname(this.path), { recursive: true });
    await fs.appendFile(this.path, `${JSON.stringify(e)}\n`);
  }

  /** On resume: drops lines of steps after `step` (written by the run that stopped). */
  async truncateAfter(step: number): Promise<void> {
    const fs = await import('node:fs/promises');
    let text: string;
    try {
      text = await fs.readFile(this.path, 'utf8');
    } catch {
      return;
    }
    const keep = text.split('\n').filter((line) => {
      if (!line.trim()) return false;
      try {
        return (JSON.parse(line) as TrainEvent).step <= step;
      } catch {
        return false;
      }
    });
    await writeFileAtomic(this.path, keep.map((l) => `${l}\n`).join(''));
  }
}

/** Reads `metrics.jsonl` text back into events. */
export function parseMetrics(text: string): TrainEvent[] {
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as TrainEvent);
}
