interface LogoProps {
  size?: number;
  /** Show the "Parley" word mark next to the symbol. */
  withName?: boolean;
  className?: string;
}

/** Parley's mark: a speech bubble holding three dots, on the accent colour. */
export function LogoMark({ size = 28 }: { size?: number }) {
  return (
    <svg class="logo-mark" width={size} height={size} viewBox="0 0 32 32" aria-hidden="true" focusable="false">
      <rect width="32" height="32" rx="8" class="logo-mark-bg" />
      <path
        class="logo-mark-bubble"
        d="M9 10.5A2.5 2.5 0 0 1 11.5 8h9A2.5 2.5 0 0 1 23 10.5v6a2.5 2.5 0 0 1-2.5 2.5H15l-4.2 3.6c-.5.4-1.3.1-1.3-.6V19.4A2.5 2.5 0 0 1 9 17z"
      />
      <circle class="logo-mark-dot" cx="13" cy="13.5" r="1.3" />
      <circle class="logo-mark-dot" cx="16" cy="13.5" r="1.3" />
      <circle class="logo-mark-dot" cx="19" cy="13.5" r="1.3" />
    </svg>
  );
}

export function Logo({ size = 28, withName = true, className = '' }: LogoProps) {
  return (
    <span class={`logo ${className}`.trim()}>
      <LogoMark size={size} />
      {withName && <span class="logo-name">Parley</span>}
    </span>
  );
}
