import { describe, expect, it } from 'vitest';
import { routeOf } from './router';

describe('routeOf', () => {
  it('maps paths to pages', () => {
    expect(routeOf('/')).toBe('calls');
    expect(routeOf('/calls')).toBe('calls');
    expect(routeOf('/calls/')).toBe('calls');
    expect(routeOf('/agents')).toBe('agents');
    expect(routeOf('/inventory')).toBe('inventory');
    expect(routeOf('/conferences')).toBe('conferences');
    expect(routeOf('/utilization')).toBe('utilization');
    expect(routeOf('/quality/')).toBe('quality');
    expect(routeOf('/nope')).toBe('not-found');
    expect(routeOf('/agents/x')).toBe('not-found');
  });
});
