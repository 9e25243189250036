import { formatDuration } from './common.js';

export interface ProgressEvent {
  type: string;
  step?: number;
  totalSteps?: number;
  loss?: number;
  val_loss?: number;
  lr?: number;
  tokens_per_s?: number;
  elapsed_ms?: number;
  [k: string]: unknown;
}

export type ProgressMode = 'tty' | 'plain' | 'json';

const fmt = (v: number | undefined, d = 4) => (v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(d));

/**
 * Shows training progress: a redrawn bar with step, loss, val_loss, tokens/s and ETA on a
 * terminal; a plain line every `every` steps otherwise; one JSON object per event with --json.
 */
export class Progress {
  private lastVal: number | undefined;
  private drawn = false;

  constructor(
    private readonly mode: ProgressMode,
    private readonly write: (s: string) => void,
    private readonly every = 10,
  ) {}

  event(e: ProgressEvent): void {
    if (this.mode === 'json') {
      this.write(`${JSON.stringify(e)}\n`);
      return;
    }
    if (e.val_loss !== undefined) this.lastVal = e.val_loss;
    if (e.type === 'step' && e.step !== undefined) {
      const total = e.totalSteps ?? 0;
      const eta = total && e.elapsed_ms ? formatDuration((e.elapsed_ms / e.step) * (total - e.step)) : '-';
      const stats = `loss ${fmt(e.loss)}  val_loss ${fmt(this.lastVal)}  ${e.tokens_per_s ? Math.round(e.tokens_per_s) : '-'} tok/s  ETA ${eta}`;
      if (this.mode === 'tty') {
        const width = 24;
        const filled = total ? Math.round((width * e.step) / total) : 0;
        const bar = `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
        this.write(`\r\x1b[2Kstep ${e.step}/${total || '?'} ▕${bar}▏ ${stats}`);
        this.drawn = true;
      } else if (e.step % this.every === 0 || e.step === total || e.step === 1) {
        this.write(`step ${e.step}/${total || '?'}  ${stats}\n`);
      }
      return;
    }
    if (e.type === 'eval') {
      this.line(
        `eval @ step ${e.step}: val_loss ${fmt(e.val_loss)}${e.perplexity !== undefined ? `  perplexity ${fmt(e.perplexity as number, 2)}` : ''}${e.accuracy !== undefined ? `  accuracy ${fmt(e.accuracy as number, 3)}` : ''}`,
      );
    }
  }

  /** A message on its own line (the bar is redrawn by the next step). */
  line(s: string): void {
    if (this.mode === 'json') return;
    if (this.drawn) this.write('\r\x1b[2K');
    this.drawn = false;
    this.write(`${s}\n`);
  }

  end(): void {
    if (this.mode === 'tty' && this.drawn) this.write('\n');
    this.drawn = false;
  }
}
