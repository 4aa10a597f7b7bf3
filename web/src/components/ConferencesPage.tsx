import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, api, describeError } from '../api';
import { formatDateTime, formatDevice, formatDuration, formatInt, formatParty, secondsBetween, titleCase } from '../format';
import { overallLevel, worstQuality } from '../quality';
import type { Conference, Participant } from '../types';
import { LevelBadge, MetricValue, THRESHOLD_NOTE } from './Quality';
import { EmptyState, ErrorState, LoadingState } from './States';

export const CONF_PAGE = 50;
const COLS = 8;

interface Props {
  onUnauthorized: () => void;
}

type Phase = { kind: 'loading' } | { kind: 'error'; message: string } | { kind: 'ready' };

export function confKey(c: Pick<Conference, 'source' | 'id'>): string {
  return `${c.source}\u0000${c.id}`;
}

export function ConferencesPage({ onUnauthorized }: Props) {
  const [phase, setPhase] = useState<Phase>({ kind: 'loading' });
  const [items, setItems] = useState<Conference[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [more, setMore] = useState<{ busy: boolean; error: string | null }>({ busy: false, error: null });
  const [open, setOpen] = useState<ReadonlySet<string>>(new Set());
  const alive = useRef(true);

  const fail = useCallback(
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
    setPhase({ kind: 'loading' });
    try {
      const page = await api.conferences(CONF_PAGE);
      if (!alive.current) return;
      setItems(page.conferences);
      setNext(page.next_cursor);
      setPhase({ kind: 'ready' });
    } catch (e) {
      const msg = fail(e);
      if (msg && alive.current) setPhase({ kind: 'error', message: msg });
    }
  }, [fail]);

  useEffect(() => {
    alive.current = true;
    void load();
    return () => {
      alive.current = false;
    };
  }, [load]);

  async function loadMore() {
    if (!next || more.busy) return;
    setMore({ busy: true, error: null });
    try {
      const page = await api.conferences(CONF_PAGE, next);
      if (!alive.current) return;
      setItems((cur) => {
        const known = new Set(cur.map(confKey));
        return [...cur, ...page.conferences.filter((c) => !known.has(confKey(c)))];
      });
      setNext(page.next_cursor);
      setMore({ busy: false, error: null });
    } catch (e) {
      const msg = fail(e);
      if (alive.current) setMore({ busy: false, error: msg });
    }
  }

  function toggle(key: string) {
    setOpen((cur) => {
      const n = new Set(cur);
      if (n.has(key)) n.delete(key);
      else n.add(key);
      return n;
    });
  }

  return (
    <div class="page">
      <div class="page-header">
        <div>
          <h1 class="page-title">Conferences</h1>
          <p class="page-subtitle">Meetings on your bridges and virtual meeting rooms, newest first. Expand a row to see its participants.</p>
        </div>
      </div>

      <section class="card table-card">
        {phase.kind === 'loading' && <LoadingState label="Loading conferences…" testId="conferences-loading" />}
        {phase.kind === 'error' && (
          <ErrorState title="Could not load conferences" message={phase.message} onRetry={() => void load()} testId="conferences-error" />
        )}
        {phase.kind === 'ready' && items.length === 0 && (
          <EmptyState
            title="No conferences yet"
            testId="conferences-empty"
            icon={
              <svg class="state-icon" viewBox="0 0 48 48" width="48" height="48" aria-hidden="true">
                <circle cx="17" cy="18" r="6" />
                <circle cx="32" cy="20" r="5" />
                <path d="M6 38c0-6 5-10 11-10s11 4 11 10zM30 38c0-4-1-7-3-9 1-.5 3-1 5-1 5 0 10 3 10 8v2z" />
              </svg>
            }
          >
            Conferences appear when a source that knows about meetings (DMA, RPRM, Pexip) reports them.
          </EmptyState>
        )}
        {phase.kind === 'ready' && items.length > 0 && (
          <>
            <table class="table table-expandable" data-testid="conferences-table">
              <thead>
                <tr>
                  <th scope="col" class="col-toggle">
                    <span class="sr-only">Expand</span>
                  </th>
                  <th scope="col">Start</th>
                  <th scope="col" class="num">
                    Duration
                  </th>
                  <th scope="col">Conference</th>
                  <th scope="col" class="num">
                    Participants
                  </th>
                  <th scope="col">Quality</th>
                  <th scope="col">Bridge</th>
                  <th scope="col">Source</th>
                </tr>
              </thead>
              <tbody>
                {items.map((c) => {
                  const key = confKey(c);
                  return <ConferenceRows key={key} c={c} open={open.has(key)} onToggle={() => toggle(key)} />;
                })}
              </tbody>
            </table>
            <div class="table-footer">
              <span class="muted tabular">Showing {formatInt(items.length)} conferences</span>
              {more.error && (
                <span class="inline-error" role="alert">
                  {more.error}
                </span>
              )}
              {next ? (
                <button class="btn btn-secondary" type="button" onClick={() => void loadMore()} disabled={more.busy} data-testid="conferences-load-more">
                  {more.busy ? 'Loading…' : 'Load more'}
                </button>
              ) : (
                <span class="muted">All conferences loaded</span>
              )}
            </div>
          </>
        )}
      </section>
    </div>
  );
}

function conferenceTitle(c: Conference): { primary: string; secondary: string; hidden: boolean } {
  const name = c.name?.trim();
  if (name) return { primary: name, secondary: c.room ? `Room ${c.room}` : c.id, hidden: false };
  if (c.room) return { primary: `Room ${c.room}`, secondary: c.id, hidden: c.name === undefined };
  return { primary: c.id, secondary: '', hidden: c.name === undefined };
}

function ConferenceRows({ c, open, onToggle }: { c: Conference; open: boolean; onToggle: () => void }) {
  const [date, time] = formatDateTime(c.start).split(' ');
  const t = conferenceTitle(c);
  const w = worstQuality(c.participants.flatMap((p) => p.quality ?? []));
  const level = overallLevel(w);
  const stored = c.participants_stored;
  const detailId = `conf-${c.source}-${c.id}`.replace(/[^A-Za-z0-9_-]/g, '_');
  return (
    <>
      <tr class={`conf-row${open ? ' is-open' : ''}`} data-testid="conferences-row" onClick={onToggle}>
        <td class="col-toggle">
          <button
            class="toggle"
            type="button"
            aria-expanded={open}
            aria-controls={detailId}
            aria-label={open ? 'Hide participants' : 'Show participants'}
            onClick={(e) => {
              e.stopPropagation();
              onToggle();
            }}
            data-testid="conference-toggle"
          >
            <svg viewBox="0 0 20 20" width="14" height="14" aria-hidden="true">
              <path d="M7 4.5 12.5 10 7 15.5 5.9 14.4 10.3 10 5.9 5.6z" />
            </svg>
          </button>
        </td>
        <td class="nowrap tabular" title={`${c.start} (UTC)`}>
          <div class="cell-stack">
            <span class="cell-primary">{time ?? date}</span>
            {time && <span class="cell-secondary">{date}</span>}
          </div>
        </td>
        <td class="num tabular">{formatDuration(secondsBetween(c.start, c.end))}</td>
        <td>
          <div class="cell-stack col-conf">
            <span class="cell-primary" title={t.primary}>
              {t.primary}
            </span>
            {t.secondary && <span class="cell-secondary mono">{t.secondary}</span>}
          </div>
        </td>
        <td class="num tabular">
          <div class="cell-stack cell-stack-end">
            <span class="cell-primary">{formatInt(c.participant_count)}</span>
            {stored !== c.participant_count && <span class="cell-secondary">{formatInt(stored)} stored</span>}
          </div>
        </td>
        <td class="nowrap">
          {w.measured > 0 ? (
            <LevelBadge level={level} title={`Worst participant. ${THRESHOLD_NOTE}`} />
          ) : (
            <span class="not-measured">not measured</span>
          )}
        </td>
        <td class="nowrap">{c.mcu || <span class="muted">—</span>}</td>
        <td class="nowrap">
          <span class="source-tag">{c.source}</span>
        </td>
      </tr>
      {open && (
        <tr class="conf-detail" id={detailId} data-testid="conference-detail">
          <td colSpan={COLS}>
            <Participants c={c} />
          </td>
        </tr>
      )}
    </>
  );
}

function Participants({ c }: { c: Conference }) {
  if (c.participants.length === 0) {
    return (
      <div class="detail-empty">
        No participant records for this conference. {c.participant_count > 0 && `Its source reported ${formatInt(c.participant_count)} participants but not their individual legs.`}
      </div>
    );
  }
  return (
    <div class="detail">
      <table class="subtable" data-testid="participants-table">
        <thead>
          <tr>
            <th scope="col">Participant</th>
            <th scope="col">Device</th>
            <th scope="col">Protocol</th>
            <th scope="col">Role</th>
            <th scope="col" class="num">
              Duration
            </th>
            <th scope="col" class="num">
              Packet loss
            </th>
            <th scope="col" class="num">
              Jitter
            </th>
            <th scope="col" class="num">
              Latency
            </th>
            <th scope="col" class="num">
              MOS
            </th>
          </tr>
        </thead>
        <tbody>
          {c.participants.map((p, i) => (
            <ParticipantRow key={p.id} p={p} index={i} />
          ))}
        </tbody>
      </table>
      {c.participants_stored > c.participants.length && (
        <div class="detail-note">
          Showing the first {formatInt(c.participants.length)} of {formatInt(c.participants_stored)} stored participants.
        </div>
      )}
      <div class="detail-note">Worst stream of each participant (average values). {THRESHOLD_NOTE}</div>
    </div>
  );
}

function ParticipantRow({ p, index }: { p: Participant; index: number }) {
  const party = formatParty(p.party);
  const personalHidden = p.party.name === undefined && p.party.number === undefined && p.party.uri === undefined;
  const device = formatDevice(p.party);
  const w = worstQuality(p.quality);
  return (
    <tr data-testid="participant-row">
      <td>
        <div class="cell-stack col-party-wide">
          {personalHidden ? (
            <span class="cell-primary muted" title="Names and addresses are personal data, hidden for your role">
              Participant {index + 1}
            </span>
          ) : (
            <span class="cell-primary" title={party.all || undefined}>
              {party.primary}
            </span>
          )}
          {!personalHidden && party.secondary && <span class="cell-secondary">{party.secondary}</span>}
          {p.party.site && <span class="cell-secondary">{p.party.site}</span>}
        </div>
      </td>
      <td class="nowrap">{device || <span class="muted">—</span>}</td>
      <td class="nowrap">{p.protocol ? p.protocol.toUpperCase() : <span class="muted">—</span>}</td>
      <td class="nowrap">{p.role ? titleCase(p.role) : <span class="muted">—</span>}</td>
      <td class="num tabular" title={p.disconnect_reason || undefined}>
        {formatDuration(p.duration_s)}
      </td>
      {w.measured === 0 ? (
        <td class="num" colSpan={4}>
          <span class="not-measured">quality not measured</span>
        </td>
      ) : (
        <>
          <td class="num tabular">
            <MetricValue metric="loss" value={w.loss} />
          </td>
          <td class="num tabular">
            <MetricValue metric="jitter" value={w.jitter} />
          </td>
          <td class="num tabular">
            <MetricValue metric="latency" value={w.latency} />
          </td>
          <td class="num tabular">
            <MetricValue metric="mos" value={w.mos} />
          </td>
        </>
      )}
    </tr>
  );
}
