import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiClient, ApiError, describeError, parseRetryAfter } from './api';

function jsonResponse(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json', ...headers },
  });
}

const SESSION = {
  user: { id: 'u1', email: 'ops@example.com', role: 'admin' },
  tenant: { id: 't1', name: 'Acme' },
  csrf_token: 'tok-123',
};

afterEach(() => {
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
});

describe('ApiClient errors', () => {
  it('turns a 401 JSON body into an ApiError with error and detail', async () => {
    const f = vi.fn().mockResolvedValue(
      jsonResponse(401, { error: 'invalid_credentials', detail: 'Wrong e-mail or password.' }),
    );
    const c = new ApiClient('/api/v1', f);
    const err = await c.login('a@b.c', 'x').catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(401);
    expect(err.error).toBe('invalid_credentials');
    expect(err.detail).toBe('Wrong e-mail or password.');
    expect(describeError(err)).toBe('Wrong e-mail or password.');
    expect(c.csrf).toBeNull();
  });

  it('reads Retry-After on 429', async () => {
    const f = vi.fn().mockResolvedValue(
      jsonResponse(429, { error: 'rate_limited', detail: 'Too many sign-in attempts.' }, { 'Retry-After': '42' }),
    );
    const c = new ApiClient('/api/v1', f);
    const err = (await c.login('a@b.c', 'x').catch((e) => e)) as ApiError;
    expect(err.status).toBe(429);
    expect(err.retryAfter).toBe(42);
    expect(describeError(err)).toBe('Too many sign-in attempts. Try again in 42 s.');
  });

  it('maps a rejected fetch to a network ApiError (status 0)', async () => {
    const f = vi.fn().mockRejectedValue(new TypeError('Failed to fetch'));
    const c = new ApiClient('/api/v1', f);
    const err = (await c.calls().catch((e) => e)) as ApiError;
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(0);
    expect(err.isNetwork).toBe(true);
    expect(describeError(err)).toMatch(/Cannot reach the Parley server/);
  });

  it('copes with a non-JSON error body', async () => {
    const f = vi.fn().mockResolvedValue(new Response('<html>bad gateway</html>', { status: 502, statusText: 'Bad Gateway' }));
    const c = new ApiClient('/api/v1', f);
    const err = (await c.calls().catch((e) => e)) as ApiError;
    expect(err.status).toBe(502);
    expect(err.detail).toBe('');
    expect(describeError(err)).toBe('Bad Gateway (HTTP 502)');
  });

  it('rejects a 200 that is not JSON', async () => {
    const f = vi.fn().mockResolvedValue(new Response('<html></html>', { status: 200 }));
    const c = new ApiClient('/api/v1', f);
    const err = (await c.calls().catch((e) => e)) as ApiError;
    expect(err.error).toBe('bad_response');
  });

  it('uses the global fetch when none is given', async () => {
    const f = vi.fn().mockResolvedValue(jsonResponse(500, { error: 'internal', detail: 'Boom.' }));
    vi.stubGlobal('fetch', f);
    const c = new ApiClient();
    const err = (await c.calls().catch((e) => e)) as ApiError;
    expect(f).toHaveBeenCalledOnce();
    expect(describeError(err)).toBe('Boom.');
  });
});

describe('ApiClient requests', () => {
  it('logs in with JSON and keeps the CSRF token for state-changing requests', async () => {
    const f = vi
      .fn()
      .mockResolvedValueOnce(jsonResponse(200, SESSION))
      .mockResolvedValueOnce(new Response(null, { status: 204 }));
    const c = new ApiClient('/api/v1', f);
    const s = await c.login('ops@example.com', 'pw');
    expect(s.tenant.name).toBe('Acme');
    expect(c.csrf).toBe('tok-123');

    const [url, init] = f.mock.calls[0];
    expect(url).toBe('/api/v1/auth/login');
    expect(init.method).toBe('POST');
    expect(init.headers['Content-Type']).toBe('application/json');
    expect(JSON.parse(init.body)).toEqual({ email: 'ops@example.com', password: 'pw' });

    await c.logout();
    const [url2, init2] = f.mock.calls[1];
    expect(url2).toBe('/api/v1/auth/logout');
    expect(init2.method).toBe('POST');
    expect(init2.headers['X-CSRF-Token']).toBe('tok-123');
    expect(c.csrf).toBeNull();
  });

  it('session() returns null on 401 and the session on 200', async () => {
    const f = vi
      .fn()
      .mockResolvedValueOnce(jsonResponse(401, { error: 'unauthenticated', detail: 'No session.' }))
      .mockResolvedValueOnce(jsonResponse(200, SESSION));
    const c = new ApiClient('/api/v1', f);
    expect(await c.session()).toBeNull();
    expect((await c.session())?.user.email).toBe('ops@example.com');
    expect(c.csrf).toBe('tok-123');
  });

  it('session() rethrows other errors', async () => {
    const f = vi.fn().mockResolvedValue(jsonResponse(503, { error: 'unavailable', detail: 'Store down.' }));
    const c = new ApiClient('/api/v1', f);
    await expect(c.session()).rejects.toMatchObject({ status: 503, detail: 'Store down.' });
  });

  it('keeps the CSRF token when logout fails on the network, clears it on 401', async () => {
    const f = vi
      .fn()
      .mockResolvedValueOnce(jsonResponse(200, SESSION))
      .mockRejectedValueOnce(new TypeError('offline'))
      .mockResolvedValueOnce(jsonResponse(401, { error: 'unauthenticated', detail: '' }));
    const c = new ApiClient('/api/v1', f);
    await c.login('a', 'b');
    await expect(c.logout()).rejects.toBeInstanceOf(ApiError);
    expect(c.csrf).toBe('tok-123');
    await c.logout();
    expect(c.csrf).toBeNull();
  });

  it('GETs calls with limit and cursor and no CSRF header', async () => {
    const f = vi.fn().mockResolvedValue(jsonResponse(200, { calls: [], next_cursor: null, total: 0 }));
    const c = new ApiClient('/api/v1', f);
    const page = await c.calls(50, 'abc/+=');
    expect(page).toEqual({ calls: [], next_cursor: null, total: 0 });
    const [url, init] = f.mock.calls[0];
    expect(url).toBe('/api/v1/calls?limit=50&cursor=abc%2F%2B%3D');
    expect(init.method).toBe('GET');
    expect(init.headers['X-CSRF-Token']).toBeUndefined();
  });

  it('sends a party with spaces as %20 and + as %2B, and reads party_kind', async () => {
    const f = vi.fn().mockResolvedValue(jsonResponse(200, { calls: [], next_cursor: null, total: 0, party_kind: 'phone' }));
    const c = new ApiClient('/api/v1', f);
    const page = await c.calls(50, null, '+44 20 7946 0000');
    expect(page.party_kind).toBe('phone');
    expect(f.mock.calls[0][0]).toBe('/api/v1/calls?limit=50&party=%2B44%2020%207946%200000');
  });
});

describe('parseRetryAfter', () => {
  it('parses seconds and HTTP dates', () => {
    expect(parseRetryAfter('30')).toBe(30);
    expect(parseRetryAfter(null)).toBeNull();
    expect(parseRetryAfter('soon')).toBeNull();
    const now = Date.parse('2024-01-01T00:00:00Z');
    expect(parseRetryAfter('Mon, 01 Jan 2024 00:01:00 GMT', now)).toBe(60);
  });
});

describe('ApiClient analytics', () => {
  it('asks for usage with only the parameters given, and tolerates missing arrays', async () => {
    const f = vi.fn().mockImplementation(async () => jsonResponse(200, { from: '2026-01-08', to: '2026-01-14', kpis: {} }));
    const c = new ApiClient('/api/v1', f);
    const r = await c.usage({ grain: 'hour', source: 'dma main' });
    expect(f.mock.calls[0][0]).toBe('/api/v1/analytics/usage?grain=hour&source=dma+main');
    expect(r.buckets).toEqual([]);
    expect(r.sources).toEqual([]);
    await c.usage({ from: '2026-01-01', to: '2026-01-31' });
    expect(f.mock.calls[1][0]).toBe('/api/v1/analytics/usage?from=2026-01-01&to=2026-01-31');
  });
  it('asks for quality per dimension and surfaces a 400 detail', async () => {
    const f = vi
      .fn()
      .mockResolvedValueOnce(jsonResponse(200, { rows: null, total: {} }))
      .mockResolvedValueOnce(jsonResponse(400, { error: 'invalid_argument', detail: 'a range spans at most 400 days' }));
    const c = new ApiClient('/api/v1', f);
    const r = await c.quality({ dimension: 'model' });
    expect(f.mock.calls[0][0]).toBe('/api/v1/analytics/quality?dimension=model');
    expect(r.rows).toEqual([]);
    const err = await c.quality({ from: '2024-01-01', to: '2026-01-01' }).catch((e) => e);
    expect(describeError(err)).toBe('a range spans at most 400 days');
  });
});
