import { describe, expect, it } from 'vitest';
import { ssoLoginUrl } from './api';
import { roleMapToText, textToRoleMap } from './components/SsoSettingsPage';

describe('SSO settings helpers', () => {
  it('round-trips the role map through "group=role" lines', () => {
    const m = { 'Parley Admins': 'tenant_admin', 'S-1-5=x': 'analyst' };
    expect(textToRoleMap(roleMapToText(m))).toEqual(m);
    expect(textToRoleMap('\n  Viewers = viewer \n\n')).toEqual({ Viewers: 'viewer' });
    expect(() => textToRoleMap('no role here')).toThrow(/group=role/);
  });
  it('builds the SP-initiated login URL', () => {
    expect(ssoLoginUrl(' Example Corp ')).toBe('/saml/login?tenant=Example%20Corp');
    expect(ssoLoginUrl('a&b@example.com')).toBe('/saml/login?tenant=a%26b%40example.com');
  });
});
