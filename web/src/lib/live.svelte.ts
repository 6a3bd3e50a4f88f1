/** Live updates: the query API's server-sent events (`listens` after each cube batch). No polling. */

class Live {
  /** Bumped once per `listens` event; queries that read it refetch. */
  tick = $state(0);
  status = $state<'connecting' | 'live' | 'offline' | 'unavailable'>('connecting');
  lastPosition = $state<number | null>(null);
  #source: EventSource | null = null;
  #retry: ReturnType<typeof setTimeout> | null = null;
  #pending: ReturnType<typeof setTimeout> | null = null;

  start(url = '/api/v1/events'): void {
    if (typeof EventSource === 'undefined' || this.#source) return;
    const source = new EventSource(url);
    this.#source = source;
    this.status = 'connecting';
    source.onopen = () => {
      this.status = 'live';
    };
    source.addEventListener('listens', (event) => {
      try {
        const data = JSON.parse((event as MessageEvent<string>).data) as { position?: number };
        if (typeof data.position === 'number') this.lastPosition = data.position;
      } catch {
        /* a malformed event still means: something changed */
      }
      // Coalesce bursts (one refetch per 150 ms at most) so a busy stream does not flood the API.
      if (this.#pending === null) {
        this.#pending = setTimeout(() => {
          this.#pending = null;
          this.tick++;
        }, 150);
      }
    });
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) {
        // The server refused the stream (e.g. no /api/v1/events yet): try again later, quietly.
        this.status = 'unavailable';
        this.#source = null;
        this.#retry = setTimeout(() => this.start(url), 30_000);
      } else {
        this.status = 'offline'; // the browser reconnects by itself
      }
    };
  }

  stop(): void {
    this.#source?.close();
    this.#source = null;
    if (this.#retry) clearTimeout(this.#retry);
  }
}

export const live = new Live();
