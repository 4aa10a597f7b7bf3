// Client-side routing with the history API. The server answers index.html for
// every non-file path, so /agents etc. can be reloaded and bookmarked.
import { useEffect, useState } from 'preact/hooks';

export type RouteId =
  | 'calls'
  | 'conferences'
  | 'utilization'
  | 'quality'
  | 'inventory'
  | 'agents'
  | 'account'
  | 'users'
  | 'tenants'
  | 'platform-agents'
  | 'sso'
  | 'audit'
  | 'not-found';

export const ROUTES: Record<Exclude<RouteId, 'not-found'>, string> = {
  calls: '/calls',
  conferences: '/conferences',
  utilization: '/utilization',
  quality: '/quality',
  inventory: '/inventory',
  agents: '/agents',
  account: '/account',
  users: '/users',
  tenants: '/admin/tenants',
  'platform-agents': '/admin/agents',
  sso: '/settings/sso',
  audit: '/settings/audit',
};

/** Pages of the platform admin, who sees no tenant's data (docs/admin.md). */
export const PLATFORM_ROUTES: ReadonlySet<RouteId> = new Set<RouteId>(['tenants', 'platform-agents', 'account', 'not-found']);

/** Where a role lands; a page the role cannot use redirects there. */
export function homeFor(role: string): string {
  return role === 'platform_admin' ? ROUTES.tenants : ROUTES.calls;
}

/** Whether `role` may open `route` (the server enforces it; this only avoids dead pages). */
export function routeAllowed(route: RouteId, role: string): boolean {
  if (role === 'platform_admin') return PLATFORM_ROUTES.has(route);
  if (route === 'tenants' || route === 'platform-agents') return false;
  if (route === 'users' || route === 'sso' || route === 'audit') return role === 'tenant_admin';
  return true;
}

/** The page for a path ("/" and "/calls" → calls; a trailing slash is ignored). */
export function routeOf(pathname: string): RouteId {
  const p = pathname.replace(/\/+$/, '') || '/';
  if (p === '/' || p === '/calls') return 'calls';
  for (const [id, path] of Object.entries(ROUTES)) if (p === path) return id as RouteId;
  return 'not-found';
}

const listeners = new Set<() => void>();

export function navigate(path: string, replace = false): void {
  if (path === window.location.pathname + window.location.search) return;
  if (replace) window.history.replaceState(null, '', path);
  else window.history.pushState(null, '', path);
  window.scrollTo(0, 0);
  listeners.forEach((l) => l());
}

/** The current path, re-rendering on navigate() and on back/forward. */
export function usePath(): string {
  const [path, setPath] = useState(() => window.location.pathname);
  useEffect(() => {
    const update = () => setPath(window.location.pathname);
    listeners.add(update);
    window.addEventListener('popstate', update);
    return () => {
      listeners.delete(update);
      window.removeEventListener('popstate', update);
    };
  }, []);
  return path;
}

/** onClick for <a href>: a plain left click navigates in-app; modified clicks open normally. */
export function linkClick(e: MouseEvent): void {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = e.currentTarget as HTMLAnchorElement | null;
  if (!a || !a.href || a.target) return;
  const url = new URL(a.href);
  if (url.origin !== window.location.origin) return;
  e.preventDefault();
  navigate(url.pathname + url.search);
}
