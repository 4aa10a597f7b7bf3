// Pure helpers of the account, users and platform-admin pages (tested in admin.test.ts).
import type { AdminAgent, AdminTenant, AgentHealth } from './types';

/** A base32 secret in groups of four, as people copy it into an authenticator app. */
export function groupSecret(secret: string): string {
  return (secret.replace(/\s+/g, '').match(/.{1,4}/g) ?? []).join(' ');
}

/** "a.example, B.example  c.example" → ["a.example", "b.example", "c.example"] (no duplicates). */
export function parseDomains(text: string): string[] {
  const out: string[] = [];
  for (const d of text.split(/[\s,;]+/)) {
    const v = d.trim().toLowerCase().replace(/^@/, '');
    if (v && !out.includes(v)) out.push(v);
  }
  return out;
}

/** The agent's health word; older servers without "health" are derived from state and sources. */
export function agentHealth(a: { health?: string; state: string; sources: readonly { status: string }[] }): AgentHealth {
  if (a.health === 'online' || a.health === 'degraded' || a.health === 'offline') return a.health;
  if (a.state !== 'online') return 'offline';
  return a.sources.every((s) => s.status === 'ok') ? 'online' : 'degraded';
}

export interface TenantAgentSummary {
  total: number;
  online: number;
  degraded: number;
  offline: number;
}

/** Agents per tenant id, counted by health. */
export function agentsByTenant(agents: readonly AdminAgent[]): Map<string, TenantAgentSummary> {
  const out = new Map<string, TenantAgentSummary>();
  for (const a of agents) {
    const s = out.get(a.tenant.id) ?? { total: 0, online: 0, degraded: 0, offline: 0 };
    s.total++;
    s[agentHealth(a)]++;
    out.set(a.tenant.id, s);
  }
  return out;
}

export type SubscriptionState = 'open' | 'active' | 'ending' | 'ended';

/** Subscription state of a tenant on `today` ("YYYY-MM-DD", UTC): ending = within 30 days. */
export function subscriptionState(t: Pick<AdminTenant, 'subscription_end' | 'subscription_ended'>, today: string): SubscriptionState {
  if (!t.subscription_end) return 'open';
  if (t.subscription_ended || t.subscription_end < today) return 'ended';
  const days = (Date.parse(`${t.subscription_end}T00:00:00Z`) - Date.parse(`${today}T00:00:00Z`)) / 86_400_000;
  return days <= 30 ? 'ending' : 'active';
}

/** Today's date in UTC, "YYYY-MM-DD". */
export function todayUtc(now: number = Date.now()): string {
  return new Date(now).toISOString().slice(0, 10);
}
