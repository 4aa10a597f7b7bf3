import type { ComponentChildren } from 'preact';
import { ROUTES, linkClick } from '../router';

export function LoadingState({ label, testId }: { label: string; testId?: string }) {
  return (
    <div class="state" data-testid={testId} aria-busy="true">
      <span class="spinner" aria-hidden="true" />
      <span>{label}</span>
    </div>
  );
}

export function ErrorState({
  title,
  message,
  onRetry,
  testId,
}: {
  title: string;
  message: string | null;
  onRetry?: () => void;
  testId?: string;
}) {
  return (
    <div class="state state-error" role="alert" data-testid={testId}>
      <div class="state-title">{title}</div>
      {message && <div class="state-text">{message}</div>}
      {onRetry && (
        <button class="btn btn-secondary" type="button" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}

export function EmptyState({
  title,
  icon,
  children,
  testId,
}: {
  title: string;
  icon?: ComponentChildren;
  children?: ComponentChildren;
  testId?: string;
}) {
  return (
    <div class="state" data-testid={testId}>
      {icon}
      <div class="state-title">{title}</div>
      {children && <div class="state-text">{children}</div>}
    </div>
  );
}

export function NotFoundPage() {
  return (
    <div class="page">
      <section class="card">
        <EmptyState title="This page does not exist" testId="not-found">
          <a class="link" href={ROUTES.calls} onClick={linkClick}>
            Go to Calls
          </a>
        </EmptyState>
      </section>
    </div>
  );
}

/** Small coloured status pill: a dot and a label. */
export function Pill({ tone, children, title, testId }: { tone: 'ok' | 'warn' | 'bad' | 'neutral'; children: ComponentChildren; title?: string; testId?: string }) {
  return (
    <span class={`badge badge-${tone}`} title={title} data-testid={testId}>
      <span class="badge-dot" aria-hidden="true" />
      {children}
    </span>
  );
}

/** A horizontal bar (SVG: no style attributes, so CSP-safe). share is 0..1. */
export function Bar({ share, tone = 'accent' }: { share: number; tone?: 'accent' | 'ok' | 'warn' | 'bad' }) {
  const pct = Math.max(0, Math.min(1, share)) * 100;
  return (
    <svg class="bar" width="100%" height="8" aria-hidden="true" focusable="false">
      <rect class="bar-track" x="0" y="0" width="100%" height="8" rx="4" />
      {pct > 0 && <rect class={`bar-fill bar-fill-${tone}`} x="0" y="0" width={`${Math.max(pct, 1.5)}%`} height="8" rx="4" />}
    </svg>
  );
}
