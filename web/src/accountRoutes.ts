// The pages reachable without signing in: ask for a registration or reset
// link, and choose a password from a mailed link. The links carry their
// token in the URL fragment ("/verify#token=…"), which browsers never send to
// the server, so it appears in no server or proxy log.

export type AccountPage = 'register' | 'forgot-password' | 'verify' | 'reset-password';

export const ACCOUNT_PATHS: Record<AccountPage, string> = {
  register: '/register',
  'forgot-password': '/forgot-password',
  verify: '/verify',
  'reset-password': '/reset-password',
};

/** The account page for a path, or null for every other page. */
export function accountPageOf(pathname: string): AccountPage | null {
  const p = pathname.replace(/\/+$/, '');
  for (const [id, path] of Object.entries(ACCOUNT_PATHS)) if (p === path) return id as AccountPage;
  return null;
}

/** The token of a mailed link from a location hash ("#token=…"), or null. */
export function tokenFromHash(hash: string): string | null {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  const t = params.get('token');
  return t && /^[A-Za-z0-9_-]{20,128}$/.test(t) ? t : null;
}
