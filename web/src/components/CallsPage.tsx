import { useCallback, useEffect, useMemo, useReducer, useRef, useState } from 'preact/hooks';
import { ApiError, api, describeError } from '../api';
import { appendPage, computeStats, formatClock, formatInt, mergeFirstPage } from '../format';
import type { Call, CallsPage as Page } from '../types';
import { CallsTable } from './CallsTable';
import { Kpis } from './Kpis';

export const PAGE_SIZE = 50;
export const REFRESH_MS = 5000;

const KIND_NAMES: Record<NonNullable<Page['party_kind']>, string> = {
  phone: 'phone number',
  sip: 'SIP URI',
  email: 'e-mail address',
  ip: 'IP address',
};

interface State {
  phase: 'loading' | 'ready' | 'error';
  error: string | null;
  calls: Call[];
  nextCursor: string | null;
  total: number | null;
  loadingMore: boolean;
  moreError: string | null;
  live: 'ok' | 'error';
  liveError: string | null;
  updatedAt: Date | null;
  fresh: Set<string>;
}

type Action =
  | { type: 'load' }
  | { type: 'loaded'; page: Page; at: Date }
  | { type: 'loadFailed'; error: string }
  | { type: 'more' }
  | { type: 'moreLoaded'; page: Page }
  | { type: 'moreFailed'; error: string }
  | { type: 'refreshed'; page: Page; at: Date }
  | { type: 'refreshFailed'; error: string };

const initial: State = {
  phase: 'loading',
  error: null,
  calls: [],
  nextCursor: null,
  total: null,
  loadingMore: false,
  moreError: null,
  live: 'ok',
  liveError: null,
  updatedAt: null,
  fresh: new Set(),
};

function reducer(s: State, a: Action): State {
  switch (a.type) {
    case 'load':
      return { ...s, phase: 'loading', error: null };
    case 'loaded':
      return {
        ...s,
        phase: 'ready',
        error: null,
        calls: a.page.calls,
        nextCursor: a.page.next_cursor,
        total: a.page.total,
        live: 'ok',
        liveError: null,
        updatedAt: a.at,
        fresh: new Set(),
      };
    case 'loadFailed':
      return { ...s, phase: 'error', error: a.error };
    case 'more':
      return { ...s, loadingMore: true, moreError: null };
    case 'moreLoaded':
      return {
        ...s,
        loadingMore: false,
        calls: appendPage(s.calls, a.page.calls),
        nextCursor: a.page.next_cursor,
        total: a.page.total,
      };
    case 'moreFailed':
      return { ...s, loadingMore: false, moreError: a.error };
    case 'refreshed': {
      if (s.phase !== 'ready') return s;
      const m = mergeFirstPage(s.calls, a.page.calls);
      const restart = m.gap || s.calls.length === 0;
      return {
        ...s,
        calls: m.calls,
        nextCursor: restart ? a.page.next_cursor : s.nextCursor,
        total: a.page.total,
        live: 'ok',
        liveError: null,
        updatedAt: a.at,
        fresh: s.calls.length === 0 ? new Set() : new Set(m.added),
      };
    }
    case 'refreshFailed':
      return { ...s, live: 'error', liveError: a.error };
    default:
      return s;
  }
}

interface Props {
  /** Called when the API says the session is gone (401). */
  onUnauthorized: () => void;
}

export function CallsPage({ onUnauthorized }: Props) {
  const [s, dispatch] = useReducer(reducer, initial);
  const refreshing = useRef(false);
  const alive = useRef(true);
  // The party whose calls are listed (null: every call). A ref for the
  // loaders, so a page asked for under another filter is dropped.
  const party = useRef<string | null>(null);
  const [shownParty, setShownParty] = useState<{ value: string; kind: Page['party_kind'] } | null>(null);
  const [draft, setDraft] = useState('');
  const [searching, setSearching] = useState(false);
  const [searchError, setSearchError] = useState<string | null>(null);

  const handle = useCallback(
    (e: unknown): string | null => {
      if (e instanceof ApiError && e.status === 401) {
        onUnauthorized();
        return null;
      }
      return describeError(e);
    },
    [onUnauthorized],
  );

  const load = useCallback(async () => {
    dispatch({ type: 'load' });
    const asked = party.current;
    try {
      const page = await api.calls(PAGE_SIZE, null, asked);
      if (alive.current && asked === party.current) dispatch({ type: 'loaded', page, at: new Date() });
    } catch (e) {
      const msg = handle(e);
      if (msg && alive.current) dispatch({ type: 'loadFailed', error: msg });
    }
  }, [handle]);

  useEffect(() => {
    alive.current = true;
    void load();
    return () => {
      alive.current = false;
    };
  }, [load]);

  // Live refresh: re-read the first page every REFRESH_MS and prepend new calls,
  // keeping every page already loaded. Skipped while the tab is hidden.
  useEffect(() => {
    if (s.phase !== 'ready') return undefined;
    const tick = async () => {
      if (refreshing.current || document.hidden) return;
      refreshing.current = true;
      const asked = party.current;
      try {
        const page = await api.calls(PAGE_SIZE, null, asked);
        if (alive.current && asked === party.current) dispatch({ type: 'refreshed', page, at: new Date() });
      } catch (e) {
        const msg = handle(e);
        if (msg && alive.current) dispatch({ type: 'refreshFailed', error: msg });
      } finally {
        refreshing.current = false;
      }
    };
    const id = window.setInterval(tick, REFRESH_MS);
    return () => window.clearInterval(id);
  }, [s.phase, handle]);

  async function loadMore() {
    if (!s.nextCursor || s.loadingMore) return;
    dispatch({ type: 'more' });
    const asked = party.current;
    try {
      const page = await api.calls(PAGE_SIZE, s.nextCursor, asked);
      if (alive.current && asked === party.current) dispatch({ type: 'moreLoaded', page });
    } catch (e) {
      const msg = handle(e);
      if (msg && alive.current) dispatch({ type: 'moreFailed', error: msg });
    }
  }

  // Finds the calls of the typed party; a value the server refuses (not a
  // number, URI, address or IP; a viewer's search) keeps the list as it was.
  async function find(e: Event) {
    e.preventDefault();
    const value = draft.trim();
    if (!value) {
      clearParty();
      return;
    }
    setSearching(true);
    setSearchError(null);
    try {
      const page = await api.calls(PAGE_SIZE, null, value);
      if (!alive.current) return;
      party.current = value;
      setShownParty({ value, kind: page.party_kind });
      dispatch({ type: 'loaded', page, at: new Date() });
    } catch (err) {
      const msg = handle(err);
      if (msg && alive.current) setSearchError(msg);
    } finally {
      if (alive.current) setSearching(false);
    }
  }

  function clearParty() {
    setDraft('');
    setSearchError(null);
    if (party.current === null) return;
    party.current = null;
    setShownParty(null);
    void load();
  }

  const stats = useMemo(() => computeStats(s.calls), [s.calls]);

  return (
    <div class="page">
      <div class="page-header">
        <div>
          <h1 class="page-title">Calls</h1>
          <p class="page-subtitle" data-testid="calls-subtitle">
            {shownParty ? (
              <>
                Calls of <strong>{shownParty.value}</strong>
                {shownParty.kind ? ` (${KIND_NAMES[shownParty.kind]})` : ''}, newest first.
              </>
            ) : (
              'Call detail records from your call servers and SIP infrastructure, newest first.'
            )}
          </p>
        </div>
        {s.phase === 'ready' && <LiveIndicator live={s.live} error={s.liveError} updatedAt={s.updatedAt} />}
      </div>

      <form class="party-search" role="search" onSubmit={(e) => void find(e)} data-testid="party-search">
        <label class="search">
          <svg viewBox="0 0 20 20" width="16" height="16" aria-hidden="true" class="search-icon">
            <path d="M8.5 3a5.5 5.5 0 0 1 4.4 8.8l3.7 3.7-1.1 1.1-3.7-3.7A5.5 5.5 0 1 1 8.5 3zm0 1.5a4 4 0 1 0 0 8 4 4 0 0 0 0-8z" />
          </svg>
          <span class="sr-only">Find calls by number, SIP URI, e-mail or IP</span>
          <input
            class="input input-search input-party"
            type="search"
            placeholder="Find calls by number, SIP URI, e-mail or IP"
            value={draft}
            onInput={(e) => setDraft(e.currentTarget.value)}
            maxLength={512}
            aria-invalid={searchError ? 'true' : undefined}
            data-testid="party-input"
          />
        </label>
        <button class="btn btn-primary" type="submit" disabled={searching} data-testid="party-find">
          {searching ? 'Finding…' : 'Find'}
        </button>
        {shownParty && (
          <button class="btn btn-secondary" type="button" onClick={clearParty} data-testid="party-clear">
            Show all calls
          </button>
        )}
        {searchError && (
          <span class="inline-error" role="alert" data-testid="party-error">
            {searchError}
          </span>
        )}
      </form>

      <Kpis
        stats={stats}
        total={s.total}
        loading={s.phase !== 'ready'}
        totalSub={shownParty ? 'of this party' : undefined}
      />

      <section class="card table-card">
        {s.phase === 'loading' && (
          <div class="state" data-testid="calls-loading">
            <span class="spinner" aria-hidden="true" />
            <span>Loading calls…</span>
          </div>
        )}
        {s.phase === 'error' && (
          <div class="state state-error" role="alert" data-testid="calls-error">
            <div class="state-title">Could not load calls</div>
            <div class="state-text">{s.error}</div>
            <button class="btn btn-secondary" type="button" onClick={() => void load()}>
              Try again
            </button>
          </div>
        )}
        {s.phase === 'ready' && s.calls.length === 0 && shownParty && (
          <div class="state" data-testid="calls-empty-party">
            <div class="state-title">No calls of {shownParty.value}</div>
            <div class="state-text">
              Parley matches the whole {shownParty.kind ? KIND_NAMES[shownParty.kind] : 'value'} in any spelling of it
              (spaces, dashes, upper or lower case), not a part of it.
            </div>
          </div>
        )}
        {s.phase === 'ready' && s.calls.length === 0 && !shownParty && (
          <div class="state" data-testid="calls-empty">
            <svg class="state-icon" viewBox="0 0 48 48" width="48" height="48" aria-hidden="true">
              <rect x="6" y="12" width="26" height="24" rx="4" />
              <path d="M34 20l8-5v18l-8-5z" />
            </svg>
            <div class="state-title">No calls yet — the agent has not sent any data</div>
            <div class="state-text">
              Enroll <code>parley-agent</code> on a machine that can reach your DMA, RPRM or SIP servers and start it with{' '}
              <code>parley-agent run</code>. Calls appear here within seconds; this page refreshes automatically.
            </div>
          </div>
        )}
        {s.phase === 'ready' && s.calls.length > 0 && (
          <>
            <CallsTable calls={s.calls} fresh={s.fresh} />
            <div class="table-footer">
              <span class="muted tabular">
                Showing {formatInt(s.calls.length)} of {formatInt(Math.max(s.total ?? 0, s.calls.length))} calls
              </span>
              {s.moreError && (
                <span class="inline-error" role="alert">
                  {s.moreError}
                </span>
              )}
              {s.nextCursor ? (
                <button
                  class="btn btn-secondary"
                  type="button"
                  onClick={() => void loadMore()}
                  disabled={s.loadingMore}
                  data-testid="load-more"
                >
                  {s.loadingMore ? 'Loading…' : 'Load more'}
                </button>
              ) : (
                <span class="muted">All calls loaded</span>
              )}
            </div>
          </>
        )}
      </section>
    </div>
  );
}

function LiveIndicator({ live, error, updatedAt }: { live: 'ok' | 'error'; error: string | null; updatedAt: Date | null }) {
  const ok = live === 'ok';
  return (
    <div
      class={`live ${ok ? 'live-ok' : 'live-error'}`}
      title={ok ? `Refreshes every ${REFRESH_MS / 1000} s` : (error ?? undefined)}
      data-testid="live-indicator"
    >
      <span class="live-dot" aria-hidden="true" />
      <span class="live-label">{ok ? 'Live' : 'Reconnecting…'}</span>
      {updatedAt && <span class="live-time tabular">updated {formatClock(updatedAt)}</span>}
    </div>
  );
}
