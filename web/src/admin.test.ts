import { describe, expect, it } from 'vitest';
import { agentHealth, agentsByTenant, groupSecret, parseDomains, subscriptionState, todayUtc } from './admin';
import type { AdminAgent } from './types';

const agent = (tenant: string, over: Partial<AdminAgent>): AdminAgent => ({
  id: Math.random().toString(36),
  name: 'a',
  enrolled_at: '2027-01-01T00:00:00Z',
  last_heartbeat: null,
  state: 'online',
  agent_version: null,
  uptime_s: null,
  sources: [],
  tenant: { id: tenant, name: tenant },
  ...over,
});

describe('account and admin helpers', () => {
  it('groups a TOTP secret by four', () => {
    expect(groupSecret('JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP')).toBe('JBSW Y3DP EHPK 3PXP JBSW Y3DP EHPK 3PXP');
    expect(groupSecret('ABCDE')).toBe('ABCD E');
    expect(groupSecret('')).toBe('');
  });
  it('parses domain lists', () => {
    expect(parseDomains(' a.example, B.example;c.example\n@d.example a.example')).toEqual([
      'a.example',
      'b.example',
      'c.example',
      'd.example',
    ]);
    expect(parseDomains('  ')).toEqual([]);
  });
  it('derives agent health', () => {
    expect(agentHealth({ health: 'degraded', state: 'online', sources: [] })).toBe('degraded');
    expect(agentHealth({ state: 'offline', sources: [] })).toBe('offline');
    expect(agentHealth({ state: 'online', sources: [{ status: 'ok' }, { status: 'failing' }] })).toBe('degraded');
    expect(agentHealth({ state: 'online', sources: [{ status: 'ok' }] })).toBe('online');
  });
  it('counts agents per tenant', () => {
    const m = agentsByTenant([
      agent('t1', { health: 'online' }),
      agent('t1', { health: 'offline', state: 'offline' }),
      agent('t2', { health: 'degraded' }),
    ]);
    expect(m.get('t1')).toEqual({ total: 2, online: 1, degraded: 0, offline: 1 });
    expect(m.get('t2')).toEqual({ total: 1, online: 0, degraded: 1, offline: 0 });
  });
  it('classifies subscriptions', () => {
    expect(subscriptionState({ subscription_end: null, subscription_ended: false }, '2027-01-15')).toBe('open');
    expect(subscriptionState({ subscription_end: '2027-01-14', subscription_ended: true }, '2027-01-15')).toBe('ended');
    expect(subscriptionState({ subscription_end: '2027-02-10', subscription_ended: false }, '2027-01-15')).toBe('ending');
    expect(subscriptionState({ subscription_end: '2028-01-01', subscription_ended: false }, '2027-01-15')).toBe('active');
    expect(todayUtc(Date.UTC(2027, 0, 15, 23, 59))).toBe('2027-01-15');
  });
});
