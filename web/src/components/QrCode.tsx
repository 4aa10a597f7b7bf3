import { useMemo } from 'preact/hooks';
import { encode } from 'uqr';

/**
 * A QR code as one SVG path (no canvas, no inline styles: CSP-safe), for the
 * otpauth:// URI an authenticator app scans. Medium error correction, a
 * 4-module quiet zone.
 */
export function QrCode({ value, size = 184, label, testId }: { value: string; size?: number; label: string; testId?: string }) {
  const { d, n } = useMemo(() => {
    const qr = encode(value, { ecc: 'M', border: 4 });
    let path = '';
    qr.data.forEach((row, y) =>
      row.forEach((dark, x) => {
        if (dark) path += `M${x} ${y}h1v1h-1z`;
      }),
    );
    return { d: path, n: qr.size };
  }, [value]);
  return (
    <svg class="qr" viewBox={`0 0 ${n} ${n}`} width={size} height={size} role="img" aria-label={label} data-testid={testId} shape-rendering="crispEdges">
      <rect class="qr-bg" x="0" y="0" width={n} height={n} />
      <path class="qr-fg" d={d} />
    </svg>
  );
}
