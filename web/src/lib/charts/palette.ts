/** Chart colours read from the CSS custom properties of the current theme. */
import type { Palette } from './options';

export function readPalette(el: Element = document.documentElement): Palette {
  const s = getComputedStyle(el);
  const v = (name: string, fallback: string) => s.getPropertyValue(name).trim() || fallback;
  return {
    text: v('--text', '#1d1d24'),
    muted: v('--muted', '#6b6b7b'),
    grid: v('--line', '#e6e6ee'),
    accent: v('--accent', '#e0457b'),
    accent2: v('--accent-2', '#f4a6c0'),
    surface: v('--surface', '#ffffff'),
  };
}
