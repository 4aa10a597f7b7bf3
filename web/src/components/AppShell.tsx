import type { ComponentChildren } from 'preact';
import type { SessionInfo } from '../types';
import { Logo } from './Logo';
import { roleLabel } from '../format';
import { ROUTES, linkClick, type RouteId } from '../router';

interface NavItem {
  id: string;
  label: string;
  icon: ComponentChildren;
  href?: string;
  soon?: boolean;
  /** Shown to tenant admins only (the API refuses everyone else anyway). */
  adminOnly?: boolean;
}

const icon = (d: string) => (
  <svg class="nav-icon" viewBox="0 0 20 20" width="18" height="18" aria-hidden="true">
    <path d={d} />
  </svg>
);

const NAV: { section: string; items: NavItem[] }[] = [
  {
    section: 'Analytics',
    items: [
      {
        id: 'calls',
        label: 'Calls',
        href: ROUTES.calls,
        icon: icon('M3 5.5A1.5 1.5 0 0 1 4.5 4h7A1.5 1.5 0 0 1 13 5.5v9A1.5 1.5 0 0 1 11.5 16h-7A1.5 1.5 0 0 1 3 14.5zM14 8.2l3-2.1v7.8l-3-2.1z'),
      },
      {
        id: 'conferences',
        label: 'Conferences',
        href: ROUTES.conferences,
        icon: icon('M7 4a2.5 2.5 0 1 1 0 5 2.5 2.5 0 0 1 0-5zm6.5 1a2 2 0 1 1 0 4 2 2 0 0 1 0-4zM2 15c0-2.8 2.2-4.5 5-4.5s5 1.7 5 4.5v1H2zm11 1v-1c0-1.3-.4-2.5-1.1-3.4.5-.1 1-.1 1.6-.1 2.4 0 4.5 1.4 4.5 3.7v.8z'),
      },
      { id: 'utilization', label: 'Utilization', href: ROUTES.utilization, icon: icon('M3 16h14v1.5H3zM4 10h2.5v5H4zm4.5-4H11v9H8.5zM13 8h2.5v7H13z') },
      { id: 'quality', label: 'Quality', href: ROUTES.quality, icon: icon('M2.5 11h3l2-5 3 9 2-6 1.5 2h3.5v1.5h-4.3L12.5 11.6l-2 6-3-9-1.2 3.9H2.5z') },
    ],
  },
  {
    section: 'Infrastructure',
    items: [
      { id: 'inventory', label: 'Inventory', href: ROUTES.inventory, icon: icon('M3 4h14v4H3zm1 5h12v7H4zm3 2v1.5h6V11z') },
      {
        id: 'agents',
        label: 'Agents & sources',
        href: ROUTES.agents,
        icon: icon('M4 3h12a1 1 0 0 1 1 1v5a1 1 0 0 1-1 1H4a1 1 0 0 1-1-1V4a1 1 0 0 1 1-1zm1.5 2.5v2h2v-2zM4 11h12a1 1 0 0 1 1 1v4a1 1 0 0 1-1 1H4a1 1 0 0 1-1-1v-4a1 1 0 0 1 1-1zm1.5 2v2h2v-2z'),
      },
    ],
  },
  {
    section: 'Administration',
    items: [
      {
        id: 'sso',
        label: 'Single sign-on',
        href: ROUTES.sso,
        adminOnly: true,
        icon: icon('M10 2l6 2.5v4.6c0 4-2.6 7.2-6 8.4-3.4-1.2-6-4.4-6-8.4V4.5zm0 4a2 2 0 0 0-1 3.7V13h2V9.7A2 2 0 0 0 10 6z'),
      },
    ],
  },
];

const ACCOUNT_ITEM: NavItem = {
  id: 'account',
  label: 'Account',
  href: ROUTES.account,
  icon: icon('M10 2.5l6 2.2v4.6c0 3.9-2.6 6.9-6 8.2-3.4-1.3-6-4.3-6-8.2V4.7zm-.9 9.6l4.6-4.6-1.1-1.1-3.5 3.5-1.6-1.6-1.1 1.1z'),
};

// The platform admin runs the service and sees no tenant's data: tenants and agents' health only.
const PLATFORM_NAV: { section: string; items: NavItem[] }[] = [
  {
    section: 'Platform',
    items: [
      {
        id: 'tenants',
        label: 'Tenants',
        href: ROUTES.tenants,
        icon: icon('M3 17V6l5-3v4l5-3v13zm2-2h2v-2H5zm0-4h2V9H5zm4 4h2v-2H9zm0-4h2V9H9zm5 6V8l3 1.5V17z'),
      },
      {
        id: 'platform-agents',
        label: 'Agents health',
        href: ROUTES['platform-agents'],
        icon: icon('M2.5 11h3l2-5 3 9 2-6 1.5 2h3.5v1.5h-4.3L12.5 11.6l-2 6-3-9-1.2 3.9H2.5z'),
      },
    ],
  },
  { section: 'Settings', items: [ACCOUNT_ITEM] },
];

const USERS_ITEM: NavItem = {
  id: 'users',
  label: 'Users',
  href: ROUTES.users,
  icon: icon('M7.5 4a3 3 0 1 1 0 6 3 3 0 0 1 0-6zM2 16c0-2.8 2.5-4.5 5.5-4.5S13 13.2 13 16v1H2zm11.5-9.5a2.2 2.2 0 1 1 0 4.4 2.2 2.2 0 0 1 0-4.4zM14.4 17v-1c0-1.5-.5-2.8-1.4-3.8 2.5-.3 5 1 5 3.5V17z'),
};

const AUDIT_ITEM: NavItem = {
  id: 'audit',
  label: 'Audit log',
  href: ROUTES.audit,
  icon: icon('M5 2.5h7l3 3v12H5zm2 5v1.5h6V7.5zm0 3v1.5h6v-1.5zm0 3v1.5h4v-1.5z'),
};

/** The sidebar for a role: tenant pages for tenant users, platform pages for the platform admin. */
function navFor(role: string): { section: string; items: NavItem[] }[] {
  if (role === 'platform_admin') return PLATFORM_NAV;
  const admin = role === 'tenant_admin';
  const settings = admin ? [USERS_ITEM, AUDIT_ITEM, ACCOUNT_ITEM] : [ACCOUNT_ITEM];
  const tenantNav = NAV.map((g) => ({ ...g, items: g.items.filter((i) => !i.adminOnly || admin) })).filter(
    (g) => g.items.length > 0,
  );
  return [...tenantNav, { section: 'Settings', items: settings }];
}

interface Props {
  session: SessionInfo;
  onSignOut: () => void;
  signingOut: boolean;
  banner?: string | null;
  route: RouteId;
  children: ComponentChildren;
}

export function AppShell({ session, onSignOut, signingOut, banner, route, children }: Props) {
  const initial = (session.user.email || '?').charAt(0).toUpperCase();
  return (
    <div class="shell">
      <aside class="sidebar">
        <div class="sidebar-brand">
          <Logo size={28} />
        </div>
        <nav class="nav" aria-label="Main">
          {navFor(session.user.role).map((group) => (
            <div class="nav-group" key={group.section}>
              <div class="nav-section">{group.section}</div>
              {group.items.map((item) =>
                item.soon || !item.href ? (
                  <span key={item.id} class="nav-item is-disabled" aria-disabled="true" title="Coming soon">
                    {item.icon}
                    <span class="nav-label">{item.label}</span>
                    <span class="badge-soon">soon</span>
                  </span>
                ) : (
                  <a
                    key={item.id}
                    class={`nav-item${route === item.id ? ' is-active' : ''}`}
                    href={item.href}
                    onClick={linkClick}
                    aria-current={route === item.id ? 'page' : undefined}
                    data-testid={`nav-${item.id}`}
                  >
                    {item.icon}
                    <span class="nav-label">{item.label}</span>
                  </a>
                ),
              )}
            </div>
          ))}
        </nav>
        <div class="sidebar-foot">
          <span class="sidebar-tenant-label">{session.user.role === 'platform_admin' ? 'Operator' : 'Tenant'}</span>
          <span class="sidebar-tenant">{session.tenant.name}</span>
        </div>
      </aside>
      <div class="main">
        <header class="topbar">
          <div class="topbar-tenant">
            <span class="tenant-dot" aria-hidden="true" />
            <span class="tenant-name" data-testid="tenant-name">
              {session.user.role === 'platform_admin' ? 'Platform administration' : session.tenant.name}
            </span>
          </div>
          <div class="topbar-user">
            <a class="user-link" href={ROUTES.account} onClick={linkClick} title="Account & security" data-testid="user-menu">
              <span class="avatar" aria-hidden="true">
                {initial}
              </span>
              <span class="user-meta">
                <span class="user-email">{session.user.email}</span>
                <span class="user-role">
                  {roleLabel(session.user.role)}
                  {session.user.totp_enabled && <span class="user-2fa"> · 2FA</span>}
                </span>
              </span>
            </a>
            <button class="btn btn-ghost" type="button" onClick={onSignOut} disabled={signingOut} data-testid="signout">
              {signingOut ? 'Signing out…' : 'Sign out'}
            </button>
          </div>
        </header>
        {banner && (
          <div class="banner banner-error" role="alert">
            {banner}
          </div>
        )}
        <main class="content">{children}</main>
      </div>
    </div>
  );
}
