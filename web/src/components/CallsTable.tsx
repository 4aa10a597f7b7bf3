import type { Call, Party } from '../types';
import {
  callKey,
  formatBitrate,
  formatDateTime,
  formatDevice,
  formatDuration,
  formatParty,
  titleCase,
} from '../format';
import { CallQuality } from './Quality';

function PartyCell({ party }: { party: Party }) {
  const { primary, secondary, all } = formatParty(party);
  const title = party.site ? `${all} (${party.site})` : all;
  return (
    <div class="cell-stack" title={title || undefined}>
      <span class="cell-primary">{primary}</span>
      {secondary && <span class="cell-secondary">{secondary}</span>}
    </div>
  );
}

function StatusBadge({ call }: { call: Call }) {
  const failed = call.status === 'failed';
  const completed = call.status === 'completed';
  const cls = completed ? 'badge badge-ok' : failed ? 'badge badge-fail' : 'badge badge-neutral';
  return (
    <div class="cell-stack">
      <span class={cls} title={failed && call.cause ? `Cause: ${call.cause}` : undefined}>
        <span class="badge-dot" aria-hidden="true" />
        {titleCase(call.status)}
      </span>
      {failed && call.cause && (
        <span class="cell-secondary cell-cause" title={call.cause}>
          {call.cause}
        </span>
      )}
    </div>
  );
}

function DevicesCell({ call }: { call: Call }) {
  const from = formatDevice(call.orig);
  const to = formatDevice(call.dest);
  if (!from && !to) return <span class="muted">—</span>;
  return (
    <div class="cell-stack">
      <span class="cell-secondary" title={from || undefined}>
        {from || '—'}
      </span>
      <span class="cell-secondary" title={to || undefined}>
        <span class="arrow" aria-label="to">
          →{' '}
        </span>
        {to || '—'}
      </span>
    </div>
  );
}

function StartCell({ iso }: { iso: string }) {
  const [date, time] = formatDateTime(iso).split(' ');
  return (
    <div class="cell-stack">
      <span class="cell-primary">{time ?? date}</span>
      {time && <span class="cell-secondary">{date}</span>}
    </div>
  );
}

interface Props {
  calls: Call[];
  fresh: ReadonlySet<string>;
}

export function CallsTable({ calls, fresh }: Props) {
  return (
    <table class="table" data-testid="calls-table">
      <thead>
        <tr>
          <th scope="col">Start</th>
          <th scope="col" class="num">
            Duration
          </th>
          <th scope="col">Status</th>
          <th scope="col">From</th>
          <th scope="col">To</th>
          <th scope="col">Protocol</th>
          <th scope="col">Type</th>
          <th scope="col">Quality</th>
          <th scope="col">Source</th>
          <th scope="col">Devices</th>
        </tr>
      </thead>
      <tbody>
        {calls.map((c) => {
          const key = callKey(c);
          const bitrate = formatBitrate(c.bitrate_kbps);
          return (
            <tr key={key} class={fresh.has(key) ? 'is-new' : undefined} data-testid="calls-row">
              <td class="nowrap tabular" title={`${c.start} (UTC)`}>
                <StartCell iso={c.start} />
              </td>
              <td class="num tabular">{formatDuration(c.duration_s)}</td>
              <td>
                <StatusBadge call={c} />
              </td>
              <td class="col-party">
                <PartyCell party={c.orig} />
              </td>
              <td class="col-party">
                <PartyCell party={c.dest} />
              </td>
              <td class="nowrap">{c.protocol ? c.protocol.toUpperCase() : <span class="muted">—</span>}</td>
              <td class="nowrap">
                <div class="cell-stack">
                  <span>{titleCase(c.call_type)}</span>
                  {bitrate && <span class="cell-secondary tabular">{bitrate}</span>}
                </div>
              </td>
              <td class="nowrap">
                <CallQuality samples={c.quality} />
              </td>
              <td class="nowrap">
                <span class="source-tag" title={c.conference_id ? `Conference ${c.conference_id}` : undefined}>
                  {c.source}
                </span>
              </td>
              <td class="col-devices">
                <DevicesCell call={c} />
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
