import type { CallStats } from '../format';
import { formatDuration, formatInt, formatPercent } from '../format';

interface TileProps {
  label: string;
  value: string;
  sub?: string;
  tone?: 'default' | 'good' | 'bad';
  testId?: string;
}

function Tile({ label, value, sub, tone = 'default', testId }: TileProps) {
  return (
    <div class="kpi" data-testid={testId}>
      <div class="kpi-label">{label}</div>
      <div class="kpi-value tabular">{value}</div>
      {sub && <div class={`kpi-sub kpi-sub-${tone}`}>{sub}</div>}
    </div>
  );
}

export function Kpis({
  stats,
  total,
  loading,
  totalSub = 'recorded for this tenant',
}: {
  stats: CallStats;
  total: number | null;
  loading: boolean;
  /** What the total counts (the calls of one party, when the list is filtered). */
  totalSub?: string;
}) {
  const dash = '—';
  return (
    <section class="kpis" aria-label="Key figures">
      <Tile label="Calls shown" value={loading ? dash : formatInt(stats.shown)} sub="loaded in the table below" testId="kpi-shown" />
      <Tile
        label="Total calls"
        value={loading || total == null ? dash : formatInt(total)}
        sub={totalSub}
        testId="kpi-total"
      />
      <Tile
        label="Completed"
        value={loading ? dash : formatPercent(stats.completed, stats.shown)}
        sub={
          loading || stats.shown === 0 ? undefined : stats.failed > 0 ? `${formatInt(stats.failed)} failed` : 'no failures'
        }
        tone={stats.failed > 0 ? 'bad' : stats.shown > 0 ? 'good' : 'default'}
        testId="kpi-completed"
      />
      <Tile
        label="Avg. duration"
        value={loading ? dash : formatDuration(stats.avgDurationS)}
        sub="h:mm:ss, calls shown"
        testId="kpi-duration"
      />
    </section>
  );
}
