import { useCallback, useEffect, useState } from 'preact/hooks';
import { ApiError, api, describeError } from '../api';
import { formatDateTime, formatInt } from '../format';
import type { AuditEntry } from '../types';
import { EmptyState, ErrorState, LoadingState, Pill } from './States';

interface Props {
  onUnauthorized: () => void;
}

type Phase = { kind: 'loading' } | { kind: 'error'; message: string } | { kind: 'ready' };

const OUTCOME_TONE: Record<string, 'ok' | 'warn' | 'bad' | 'neutral'> = {
  success: 'ok',
  failure: 'bad',
  denied: 'warn',
};

/** Details as "key: value" pairs, one line each, instead of raw JSON. */
function formatDetails(details: unknown): string {
  if (!details || typeof details !== 'object' || Array.isArray(details)) return JSON.stringify(details ?? '');
  return Object.entries(details as Record<string, unknown>)
    .map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join('\n');
}

/** The tenant admin's audit log: newest first, pages of 100, download of the whole chain as NDJSON. */
export function AuditPage({ onUnauthorized }: Props) {
  const [phase, setPhase] = useState<Phase>({ kind: 'loading' });
  const [entries, setEntries] = useState<AuditEntry[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [loadingMore, setLoadingMore] = useState(false);

  const load = useCallback(
    async (cursor: string | null) => {
      try {
        const page = await api.audit(cursor);
        setEntries((old) => (cursor ? [...old, ...page.entries] : page.entries));
        setNext(page.next_cursor);
        setPhase({ kind: 'ready' });
      } catch (e) {
        if (e instanceof ApiError && e.status === 401) return onUnauthorized();
        setPhase({ kind: 'error', message: describeError(e) });
      }
    },
    [onUnauthorized],
  );

  useEffect(() => {
    void load(null);
  }, [load]);

  return (
    <div class="page">
      <div class="page-header">
        <div>
          <h1 class="page-title">Audit log</h1>
          <p class="page-subtitle">
            Every sign-in, role change, SSO change, export and view of personal data, hash-chained so that an altered,
            removed or reordered entry is detected (<code>parley audit verify</code>). Entries name ids, never personal
            data.
          </p>
        </div>
        <a class="btn btn-secondary" href="/api/v1/audit/export" download data-testid="audit-download">
          Download (NDJSON)
        </a>
      </div>
      <section class="card table-card">
        {phase.kind === 'loading' && <LoadingState label="Loading the audit log…" testId="audit-loading" />}
        {phase.kind === 'error' && (
          <ErrorState title="Could not load the audit log" message={phase.message} onRetry={() => void load(null)} testId="audit-error" />
        )}
        {phase.kind === 'ready' && entries.length === 0 && (
          <EmptyState title="No entries yet" testId="audit-empty">
            Sign-ins, role changes and exports appear here as they happen.
          </EmptyState>
        )}
        {phase.kind === 'ready' && entries.length > 0 && (
          <table class="table" data-testid="audit-table">
            <thead>
              <tr>
                <th scope="col" class="num">#</th>
                <th scope="col">Time</th>
                <th scope="col">Action</th>
                <th scope="col">Outcome</th>
                <th scope="col">Actor</th>
                <th scope="col">Target</th>
                <th scope="col">Details</th>
              </tr>
            </thead>
            <tbody>
              {entries.map((e) => (
                <tr key={e.seq} data-testid="audit-row">
                  <td class="num tabular">{formatInt(e.seq)}</td>
                  <td class="nowrap tabular">{formatDateTime(e.time)}</td>
                  <td class="mono">{e.action}</td>
                  <td>
                    <Pill tone={OUTCOME_TONE[e.outcome] ?? 'neutral'}>{e.outcome}</Pill>
                  </td>
                  <td class="mono cell-secondary cell-id">{e.actor}</td>
                  <td class="mono cell-secondary cell-id">{e.target}</td>
                  <td class="mono cell-secondary cell-details">{formatDetails(e.details)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      {phase.kind === 'ready' && next && (
        <div class="load-more">
          <button
            class="btn btn-secondary"
            type="button"
            disabled={loadingMore}
            data-testid="audit-more"
            onClick={() => {
              setLoadingMore(true);
              void load(next).finally(() => setLoadingMore(false));
            }}
          >
            {loadingMore ? 'Loading…' : 'Older entries'}
          </button>
        </div>
      )}
    </div>
  );
}
