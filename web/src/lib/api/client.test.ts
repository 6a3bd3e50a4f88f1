import { describe, expect, it } from 'vitest';
import { describeError } from './client';

describe('describeError', () => {
  it('says when an endpoint is not there yet', () => {
    expect(describeError(404, '/api/v1/stats/kpis', { error: 'not_found', detail: "no route '/api/v1/stats/kpis'" })).toMatch(
      /not available on this server yet/,
    );
  });
  it('keeps the server error and detail', () => {
    expect(describeError(400, '/api/v1/listens', { error: 'bad_request', detail: 'range: bad' })).toBe(
      '400 bad_request: range: bad (/api/v1/listens)',
    );
  });
});
