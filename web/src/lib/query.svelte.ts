/** Data loading with loading/error states that re-runs when what it reads (URL, live ticks) changes. */
import { untrack } from 'svelte';
import { live } from './live.svelte';

export class Query<T> {
  data = $state<T | undefined>(undefined);
  error = $state<string | null>(null);
  loading = $state(true);
  refreshing = $state(false);
  #seq = 0;

  constructor(
    private readonly fn: () => Promise<T>,
    opts: { live?: boolean } = {},
  ) {
    $effect(() => {
      if (opts.live) void live.tick; // refetch after each batch of new listens
      const promise = this.fn(); // reactive reads happen synchronously in here
      // Only what fn reads is a dependency: not the state settle() itself reads and writes.
      untrack(() => void this.settle(promise));
    });
  }

  private async settle(promise: Promise<T>): Promise<void> {
    const seq = ++this.#seq;
    if (this.data === undefined) this.loading = true;
    else this.refreshing = true;
    try {
      const value = await promise;
      if (seq !== this.#seq) return;
      this.data = value;
      this.error = null;
    } catch (e) {
      if (seq !== this.#seq) return;
      this.error = e instanceof Error ? e.message : String(e);
    } finally {
      if (seq === this.#seq) {
        this.loading = false;
        this.refreshing = false;
      }
    }
  }

  /** Run again now (after a write). */
  reload(): void {
    void this.settle(this.fn());
  }
}

export function query<T>(fn: () => Promise<T>, opts: { live?: boolean } = {}): Query<T> {
  return new Query(fn, opts);
}
