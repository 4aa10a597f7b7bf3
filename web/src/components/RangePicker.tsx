import { useEffect, useState } from 'preact/hooks';
import { PRESETS, activePreset, formatRange, presetRange, rangeProblem, type DateRange } from '../analytics';

interface Props {
  /** The tenant's today (from the server's first answer); null until known. */
  today: string | null;
  range: DateRange | null;
  onChange: (range: DateRange) => void;
  disabled?: boolean;
}

/** Presets (last 7/30/90 days, in the tenant's days) and a custom from–to. */
export function RangePicker({ today, range, onChange, disabled }: Props) {
  const preset = range && today ? activePreset(range, today) : range ? null : 7;
  const [custom, setCustom] = useState(false);
  const [from, setFrom] = useState(range?.from ?? '');
  const [to, setTo] = useState(range?.to ?? '');
  useEffect(() => {
    setFrom(range?.from ?? '');
    setTo(range?.to ?? '');
  }, [range?.from, range?.to]);
  const problem = custom ? rangeProblem({ from, to }) : null;
  const showCustom = custom || (range !== null && preset === null);

  return (
    <div class="range-picker" data-testid="range-picker">
      <div class="segmented" role="group" aria-label="Date range">
        {PRESETS.map((days) => (
          <button
            key={days}
            type="button"
            class={`segment${preset === days && !custom ? ' is-active' : ''}`}
            aria-pressed={preset === days && !custom}
            disabled={disabled || !today}
            onClick={() => {
              setCustom(false);
              if (today) onChange(presetRange(today, days));
            }}
            data-testid={`range-${days}`}
          >
            {days}d
          </button>
        ))}
        <button
          type="button"
          class={`segment${showCustom ? ' is-active' : ''}`}
          aria-pressed={showCustom}
          disabled={disabled || !today}
          onClick={() => setCustom(true)}
          data-testid="range-custom"
        >
          Custom
        </button>
      </div>
      {showCustom ? (
        <form
          class="range-custom"
          onSubmit={(e) => {
            e.preventDefault();
            if (!rangeProblem({ from, to })) {
              setCustom(false);
              onChange({ from, to });
            }
          }}
        >
          <label class="sr-only" for="range-from">
            From
          </label>
          <input id="range-from" class="input input-date" type="date" value={from} max={today ?? undefined} onInput={(e) => { setCustom(true); setFrom(e.currentTarget.value); }} />
          <span class="muted">–</span>
          <label class="sr-only" for="range-to">
            To
          </label>
          <input id="range-to" class="input input-date" type="date" value={to} max={today ?? undefined} onInput={(e) => { setCustom(true); setTo(e.currentTarget.value); }} />
          <button class="btn btn-secondary btn-sm" type="submit" disabled={disabled || !!problem}>
            Apply
          </button>
          {problem && <span class="range-problem">{problem}</span>}
        </form>
      ) : (
        range && <span class="range-text tabular" data-testid="range-text">{formatRange(range)}</span>
      )}
    </div>
  );
}
