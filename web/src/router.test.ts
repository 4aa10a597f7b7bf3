import { describe, expect, it } from 'vitest';
import { homeFor, routeAllowed, routeOf } from './router';

describe('routeOf', () => {
  it('maps paths to pages', () => {
    expect(routeOf('/')).toBe('calls');
    expect(routeOf('/calls')).toBe('calls');
    expect(routeOf('/calls/')).toBe('calls');
    expect(routeOf('/agents')).toBe('agents');
    expect(routeOf('/inventory')).toBe('inventory');
    expect(routeOf('/conferences')).toBe('conferences');
    expect(routeOf('/settings/sso')).toBe('sso');
    expect(routeOf('/settings/audit')).toBe('audit');
    expect(routeOf('/utilization')).toBe('utilization');
    expect(routeOf('/quality/')).toBe('quality');
    expect(routeOf('/nope')).toBe('not-found');
    expect(routeOf('/agents/x')).toBe('not-found');
  });
});

describe('role-aware routes', () => {
  it('maps the account, users and platform pages', () => {
    expect(routeOf('/account')).toBe('account');
    expect(routeOf('/users')).toBe('users');
    expect(routeOf('/admin/tenants')).toBe('tenants');
    expect(routeOf('/admin/agents')).toBe('platform-agents');
  });
  it('keeps the platform admin on platform pages and tenants off them', () => {
    expect(homeFor('platform_admin')).toBe('/admin/tenants');
    expect(homeFor('viewer')).toBe('/calls');
    expect(routeAllowed('calls', 'platform_admin')).toBe(false);
    expect(routeAllowed('tenants', 'platform_admin')).toBe(true);
    expect(routeAllowed('audit', 'tenant_admin')).toBe(true);
    expect(routeAllowed('audit', 'analyst')).toBe(false);
    expect(routeAllowed('account', 'platform_admin')).toBe(true);
    expect(routeAllowed('tenants', 'tenant_admin')).toBe(false);
    expect(routeAllowed('users', 'tenant_admin')).toBe(true);
    expect(routeAllowed('users', 'analyst')).toBe(false);
    expect(routeAllowed('account', 'viewer')).toBe(true);
  });
});
