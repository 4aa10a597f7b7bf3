import { describe, expect, it } from 'vitest';
import { accountPageOf, tokenFromHash } from './accountRoutes';

describe('account pages', () => {
  it('maps paths to pages', () => {
    expect(accountPageOf('/register')).toBe('register');
    expect(accountPageOf('/forgot-password/')).toBe('forgot-password');
    expect(accountPageOf('/verify')).toBe('verify');
    expect(accountPageOf('/reset-password')).toBe('reset-password');
    expect(accountPageOf('/calls')).toBeNull();
    expect(accountPageOf('/')).toBeNull();
  });
  it('reads the token from the fragment only', () => {
    const t = 'A'.repeat(43);
    expect(tokenFromHash(`#token=${t}`)).toBe(t);
    expect(tokenFromHash('#token=')).toBeNull();
    expect(tokenFromHash('#token=<script>')).toBeNull();
    expect(tokenFromHash('')).toBeNull();
  });
});
