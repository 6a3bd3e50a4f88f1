/** The typed API client: openapi-fetch over the generated schema (plus the spec's pending endpoints). */
import createClient from 'openapi-fetch';
import type { paths } from './schema';
import type { pending } from './pending';

export type AllPaths = paths & Omit<pending, keyof paths>;

export const api = createClient<AllPaths>({ baseUrl: '' });

// The operator's admin key, when this browser has one, goes with every call (users, config writes).
api.use({
  onRequest({ request }) {
    const key = adminKey();
    if (key && !request.headers.has('X-Api-Key')) request.headers.set('X-Api-Key', key);
    return request;
  },
});

/** An API failure with the server's `{error, detail}` turned into one readable sentence. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly path: string,
  ) {
    super(message);
  }
}

export function describeError(status: number, path: string, body: unknown): string {
  const detail =
    body && typeof body === 'object'
      ? [(body as { error?: unknown }).error, (body as { detail?: unknown }).detail]
          .filter((x) => x !== undefined && x !== null && x !== '')
          .map((x) => (typeof x === 'string' ? x : JSON.stringify(x)))
          .join(': ')
      : typeof body === 'string'
        ? body.slice(0, 200)
        : '';
  if (status === 404 && /no route|not found/i.test(detail || 'not found') && path.startsWith('/api/') && !/\/(\d+|[0-9a-f-]{36})$/.test(path)) {
    return `${path} is not available on this server yet (404). ${detail}`.trim();
  }
  if (status === 0) return `Cannot reach the server (${path}).`;
  return `${status}${detail ? ` ${detail}` : ''} (${path})`;
}

/** Unwrap an openapi-fetch result: the data, or an ApiError. */
export async function unwrap<T>(
  call: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T> {
  let result: { data?: T; error?: unknown; response: Response };
  try {
    result = await call;
  } catch (e) {
    throw new ApiError(`Cannot reach the server: ${(e as Error).message}`, 0, '');
  }
  const { data, error, response } = result;
  const path = new URL(response.url, location.origin).pathname;
  if (!response.ok || error !== undefined) {
    throw new ApiError(describeError(response.status, path, error), response.status, path);
  }
  return data as T;
}

/** A write the generated client does not describe (multipart, DELETE with query): plain fetch, same errors. */
export async function send<T = unknown>(method: string, path: string, init: RequestInit = {}): Promise<T> {
  const headers = new Headers(init.headers);
  const key = adminKey();
  if (key) headers.set('X-Api-Key', key);
  let response: Response;
  try {
    response = await fetch(path, { ...init, method, headers });
  } catch (e) {
    throw new ApiError(`Cannot reach the server: ${(e as Error).message}`, 0, path);
  }
  const text = await response.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    /* not JSON: keep the text */
  }
  if (!response.ok) throw new ApiError(describeError(response.status, path.split('?')[0], body), response.status, path);
  return body as T;
}

const KEY = 'scrobbler.adminKey';

/** The operator's admin key (X-Api-Key), kept in this browser only. */
export function adminKey(): string {
  try {
    return localStorage.getItem(KEY) ?? '';
  } catch {
    return '';
  }
}

export function setAdminKey(value: string): void {
  try {
    if (value) localStorage.setItem(KEY, value);
    else localStorage.removeItem(KEY);
  } catch {
    /* storage disabled */
  }
}

/** Headers for admin writes through the typed client. */
export function adminHeaders(): Record<string, string> {
  const key = adminKey();
  return key ? { 'X-Api-Key': key } : {};
}
