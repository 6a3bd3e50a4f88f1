/** Light/dark: the system's preference, or the user's choice stored in this browser. */
export type ThemeChoice = 'system' | 'light' | 'dark';
const KEY = 'scrobbler.theme';

class Theme {
  choice = $state<ThemeChoice>('system');
  systemDark = $state(false);

  constructor() {
    if (typeof window === 'undefined') return;
    try {
      const stored = localStorage.getItem(KEY);
      if (stored === 'light' || stored === 'dark') this.choice = stored;
    } catch {
      /* storage disabled */
    }
    const mq = window.matchMedia?.('(prefers-color-scheme: dark)');
    this.systemDark = mq?.matches ?? false;
    mq?.addEventListener?.('change', (e) => (this.systemDark = e.matches));
  }

  get dark(): boolean {
    return this.choice === 'dark' || (this.choice === 'system' && this.systemDark);
  }

  set(choice: ThemeChoice): void {
    this.choice = choice;
    try {
      if (choice === 'system') localStorage.removeItem(KEY);
      else localStorage.setItem(KEY, choice);
    } catch {
      /* storage disabled */
    }
    if (choice === 'system') delete document.documentElement.dataset.theme;
    else document.documentElement.dataset.theme = choice;
  }

  toggle(): void {
    this.set(this.dark ? 'light' : 'dark');
  }
}

export const theme = new Theme();
